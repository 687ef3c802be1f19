"""The one way the SIS sink sends a request: authenticated, timed out, failures made answers.

Every request ends as an :class:`~gradesync.sinks.base.HttpAnswer`: aiohttp's errors are turned
into status 0 here, a 401 is answered by asking for a new token and trying once more.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from gradesync.clock import Clock
from gradesync.config.sinks import SisSinkConfig
from gradesync.httputil import retry_after_seconds
from gradesync.sinks.base import HttpAnswer
from gradesync.sinks.sis.auth import SisAuth

_EXCERPT = 200
REQUEST_TIMEOUT = 30.0  # seconds for one request, its answer read in full


class SisClient:
    """Sends JSON requests to the SIS; ``open`` before use, ``close`` after."""

    def __init__(self, config: SisSinkConfig, clock: Clock, *, connections: int = 16) -> None:
        self._auth = SisAuth(config, clock)
        self._clock = clock
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(limit=self._connections),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def ready(self) -> HttpAnswer | None:
        """Make sure a token is at hand; the failed token request when none can be had, so a
        whole delivery waits instead of failing request by request."""
        if self._session is None:
            await self.open()
        assert self._session is not None
        header = await self._auth.header(self._session)
        return header if isinstance(header, HttpAnswer) else None

    async def call(self, method: str, url: str, payload: Any = None) -> HttpAnswer:
        """Send one request; a 401 gets one more try with a fresh token when one can be had."""
        answer = await self._send(method, url, payload)
        if answer.status == 401 and self._auth.renewable:
            self._auth.expire()
            answer = await self._send(method, url, payload)
        return answer

    async def _send(self, method: str, url: str, payload: Any) -> HttpAnswer:
        if self._session is None:
            await self.open()
        assert self._session is not None
        header = await self._auth.header(self._session)
        if isinstance(header, HttpAnswer):
            return header
        where = f"{method} /{url.split('://', 1)[-1].partition('/')[2]}"
        headers = {"Authorization": header, "Accept": "application/json"}
        try:
            async with self._session.request(method, url, json=payload, headers=headers) as resp:
                raw = await resp.read()
                wait = retry_after_seconds(resp.headers.get("Retry-After"), self._clock.now())
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return HttpAnswer(0, f"{where} failed: {type(exc).__name__} {exc}".rstrip())
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        excerpt = raw[:_EXCERPT].decode("utf-8", "replace")
        return HttpAnswer(status, f"{where} -> {status} {excerpt}".rstrip(), wait, body)
