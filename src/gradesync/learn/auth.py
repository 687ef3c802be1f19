"""OAuth2 client credentials (docs/learn-api.md section 1): one token, reused, refreshed one
request at a time.

Learn hands back the same token while it is valid, with a shrinking ``expires_in``. So a
token is refreshed ``margin`` seconds before it expires; if the refresh returns the same token
(it cannot be renewed early), it is kept to its real end and a 401 covers the race.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import structlog

from gradesync.clock import Clock
from gradesync.errors import AuthenticationError, MalformedResponseError
from gradesync.learn.endpoints import TOKEN
from gradesync.learn.http import Transport, classify, decode_json
from gradesync.learn.settings import LearnSettings

log = structlog.get_logger("gradesync.learn.auth")


class TokenManager:
    """Hands out a valid bearer token; at most one token request is in flight at a time.

    A failed token request is not retried here: it fails the API call that needed it, whose
    own retries then ask again.
    """

    def __init__(self, settings: LearnSettings, transport: Transport, clock: Clock) -> None:
        self._settings = settings
        self._transport = transport
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def _current(self) -> str | None:
        if self._token is not None and self._clock.monotonic() < self._refresh_at:
            return self._token
        return None

    async def token(self) -> str:
        """A token that is not about to expire, fetching one if needed (once for all waiters)."""
        current = self._current()
        if current is not None:
            return current
        async with self._lock:
            current = self._current()
            if current is not None:
                return current
            return await self._fetch()

    def invalidate(self, token: str) -> None:
        """Learn refused ``token`` (401): forget it, unless another request already did."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> str:
        settings = self._settings
        response = await self._transport.send(
            TOKEN,
            TOKEN.url(settings.base_url),
            headers={"Authorization": _basic(settings)},
            data={"grant_type": "client_credentials"},
            api=False,
        )
        error = classify(TOKEN, response, self._clock.now())
        if isinstance(error, AuthenticationError):
            raise AuthenticationError(
                f"Learn refused the client credentials of client id {self._settings.client_id!r}"
                f" ({error}); check the application key and secret",
                method=TOKEN.method,
                endpoint=TOKEN.template,
                status=response.status,
            )
        if error is not None:
            raise error
        token, expires_in = self._parse(decode_json(TOKEN, response))
        self._remember(token, expires_in)
        return token

    def _parse(self, body: Any) -> tuple[str, float]:
        token = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if (
            not isinstance(token, str)
            or not token
            or not isinstance(expires_in, int | float)
            or isinstance(expires_in, bool)
        ):
            raise MalformedResponseError(
                f"{TOKEN}: the token response lacks access_token or expires_in",
                method=TOKEN.method,
                endpoint=TOKEN.template,
                status=200,
            )
        return token, float(expires_in)

    def _remember(self, token: str, expires_in: float) -> None:
        now = self._clock.monotonic()
        margin = self._settings.token_refresh_margin
        if expires_in > margin:
            lead = margin
        elif token == self._token:
            lead = 0.0  # renewed too early, Learn gave the same token back: use it to its end
        else:
            lead = expires_in / 2  # a new token shorter-lived than the margin: half its life
        self._token = token
        self._refresh_at = now + expires_in - lead
        log.debug("learn.token", expires_in_s=expires_in, refresh_in_s=expires_in - lead)


def _basic(settings: LearnSettings) -> str:
    """HTTP Basic credentials, ``base64("<application key>:<secret>")``
    (docs/learn-api.md section 1)."""
    pair = f"{settings.client_id}:{settings.client_secret.get_secret_value()}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")
