"""The door to the API: OAuth2 client-credentials tokens and the daily request quota.

Both follow docs/learn-api.md sections 1 and 6: one token per application, handed out again with its
remaining lifetime while it is valid; a token bucket of ``daily_quota`` requests that refills
24 hours after the first request of its window. Time comes from the injected clock.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
from dataclasses import dataclass

from aiohttp import web

from gradesync.clock import Clock
from gradesync.simulator.faults import UNLIMITED, Faults

QUOTA_WINDOW = 24 * 3600.0


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


class Tokens:
    """Issues and checks bearer tokens for one application."""

    def __init__(self, client_id: str, client_secret: str, clock: Clock, faults: Faults) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self._clock = clock
        self._faults = faults
        self._token: str | None = None
        self._expires_at = 0.0

    def _credentials_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        key, sep, secret = decoded.partition(":")
        key_ok = secrets.compare_digest(key.encode(), self.client_id.encode())
        secret_ok = secrets.compare_digest(secret.encode(), self.client_secret.encode())
        return bool(sep) and key_ok and secret_ok

    async def handle(self, request: web.Request) -> web.Response:
        """``POST v1/oauth2/token``: grant_type in the form body or, as the spec has it, the
        query."""
        if not self._credentials_ok(request.headers.get("Authorization", "")):
            return _oauth_error(
                401,
                "invalid_client",
                "Invalid client credentials, or no access granted to this Learn server.",
            )
        form = await request.post() if request.can_read_body else {}
        grant = form.get("grant_type") or request.query.get("grant_type")
        grant = grant if isinstance(grant, str) else None
        if not grant:
            return _oauth_error(400, "invalid_request", "Missing grant_type parameter.")
        if grant != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
        now = self._clock.monotonic()
        if self._token is None or self._expires_at - now < 1:
            self._token = secrets.token_hex(16)
            self._expires_at = now + self._faults.token_lifetime
        body = {
            "access_token": self._token,
            "token_type": "bearer",
            "expires_in": round(self._expires_at - now),
        }
        return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def valid(self, header: str) -> bool:
        """Whether an ``Authorization`` header carries the current, unexpired token."""
        scheme, _, token = header.partition(" ")
        return (
            scheme.lower() == "bearer"
            and self._token is not None
            and secrets.compare_digest(token.strip(), self._token)
            and self._clock.monotonic() < self._expires_at
        )

    def expire(self) -> None:
        """Revoke the current token (the next call with it gets 401)."""
        self._token = None


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int = 0


class Quota:
    """The daily request quota as a token bucket refilled 24 h after its window's first call."""

    def __init__(self, clock: Clock, faults: Faults) -> None:
        self._clock = clock
        self._faults = faults
        self._window_start: float | None = None
        self._used = 0

    def take(self) -> Verdict:
        now = self._clock.monotonic()
        if self._window_start is None or now >= self._window_start + QUOTA_WINDOW:
            self._window_start, self._used = now, 0
        quota = self._faults.daily_quota
        limit = UNLIMITED if quota is None else quota
        if self._used >= limit:
            wait = math.ceil(self._window_start + QUOTA_WINDOW - now)
            return Verdict(False, limit, 0, max(wait, 1))
        self._used += 1
        return Verdict(True, limit, limit - self._used)

    def peek(self) -> Verdict:
        """The headers' values without spending a request (for answers refused before it)."""
        quota = self._faults.daily_quota
        limit = UNLIMITED if quota is None else quota
        return Verdict(True, limit, max(limit - self._used, 0))
