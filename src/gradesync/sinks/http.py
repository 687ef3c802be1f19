"""What the HTTP sinks share: one aiohttp session each, and one way to send a request.

Every request ends as an :class:`HttpAnswer`. Its ``detail`` reads ``METHOD /path -> status``
and an excerpt of the body: never the scheme, host, query or credentials of the URL. aiohttp's
errors and timeouts become status 0 here, once, so the sinks judge answers and never catch
transport errors themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from gradesync.clock import Clock
from gradesync.httputil import retry_after_seconds

EXCERPT = 200  # characters of a body quoted in ``detail``


@dataclass(frozen=True)
class HttpAnswer:
    """How one request of an HTTP sink ended; ``status`` 0 means no response came back.

    ``detail`` names the method, the path and the status with an excerpt of the body, never a
    credential; ``body`` is the JSON the answer carried, if any."""

    status: int
    detail: str
    retry_after: float | None = None
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retriable(self) -> bool:
        """No answer at all, or a status worth sending again."""
        return self.status == 0 or retriable_status(self.status)


def retriable_status(status: int) -> bool:
    """Statuses worth sending again: request timeout, too many requests, server errors."""
    return status in (408, 429) or status >= 500


def url_path(url: str) -> str:
    """The URL's path alone, as messages name a request (the host is in the config)."""
    return urlsplit(url).path or "/"


class HttpSession:
    """The aiohttp session of one sink, with its timeout, TLS check and connection limit;
    opened on first use, ``close`` when done."""

    def __init__(
        self, clock: Clock, *, timeout: float, verify_tls: bool = True, connections: int = 100
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._verify_tls = verify_tls
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(ssl=self._verify_tls, limit=self._connections),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        method: str,
        url: str,
        *,
        data: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        quote_body: bool = True,
    ) -> HttpAnswer:
        """Send one request (``data`` as is, or ``json_body`` as JSON) and read the answer in
        full. ``quote_body=False`` keeps the body out of ``detail``: an answer that carries a
        credential (a token)."""
        if self._session is None:
            await self.open()
        assert self._session is not None
        where = f"{method} {url_path(url)}"
        try:
            async with self._session.request(
                method, url, data=data, json=json_body, headers=headers
            ) as resp:
                raw = await resp.read()
                wait = retry_after_seconds(resp.headers.get("Retry-After"), self._clock.now())
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = _scrubbed(f"{type(exc).__name__} {exc}".rstrip(), url)
            return HttpAnswer(0, f"{where} failed: {reason}")
        # Four bytes at most per UTF-8 character: enough bytes for the excerpt, decoded whole.
        excerpt = raw[: EXCERPT * 4].decode("utf-8", "replace")[:EXCERPT] if quote_body else ""
        return HttpAnswer(status, f"{where} -> {status} {excerpt}".rstrip(), wait, _json(raw))


def _json(raw: bytes) -> Any:
    """The body as JSON; None when empty or not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _scrubbed(text: str, url: str) -> str:
    """An error's text without the URL's user, password or query, should it quote them."""
    parts = urlsplit(url)
    for secret in (parts.netloc.rpartition("@")[0], parts.query):
        if secret:
            text = text.replace(secret, "***")
    return text
