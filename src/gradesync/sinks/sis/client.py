"""The one way the SIS sink sends a request: authenticated, timed out, failures made answers.

Every request ends as an :class:`~gradesync.sinks.http.HttpAnswer` (transport errors are status
0, see :mod:`gradesync.sinks.http`); a 401 is answered by asking for a new token and trying once
more.
"""

from __future__ import annotations

from typing import Any

from gradesync.clock import Clock
from gradesync.config.sinks import SisSinkConfig
from gradesync.sinks.http import HttpAnswer, HttpSession
from gradesync.sinks.sis.auth import SisAuth

REQUEST_TIMEOUT = 30.0  # seconds for one request, its answer read in full


class SisClient:
    """Sends JSON requests to the SIS; ``open`` before use, ``close`` after."""

    def __init__(self, config: SisSinkConfig, clock: Clock, *, connections: int = 16) -> None:
        self._auth = SisAuth(config, clock)
        # The SIS settings have no verify_tls (the webhook's has): certificates are always checked.
        self._http = HttpSession(clock, timeout=REQUEST_TIMEOUT, connections=connections)

    async def open(self) -> None:
        await self._http.open()

    async def close(self) -> None:
        await self._http.close()

    async def ready(self) -> HttpAnswer | None:
        """Make sure a token is at hand; the failed token request when none can be had, so a
        whole delivery waits instead of failing request by request."""
        header = await self._auth.header(self._http)
        return header if isinstance(header, HttpAnswer) else None

    async def call(self, method: str, url: str, payload: Any = None) -> HttpAnswer:
        """Send one request; a 401 gets one more try with a fresh token when one can be had."""
        answer = await self._send(method, url, payload)
        if answer.status == 401 and self._auth.renewable:
            self._auth.expire()
            answer = await self._send(method, url, payload)
        return answer

    async def _send(self, method: str, url: str, payload: Any) -> HttpAnswer:
        header = await self._auth.header(self._http)
        if isinstance(header, HttpAnswer):
            return header
        headers = {"Authorization": header, "Accept": "application/json"}
        return await self._http.send(method, url, json_body=payload, headers=headers)
