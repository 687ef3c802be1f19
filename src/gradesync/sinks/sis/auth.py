"""How the SIS sink proves who it is: a static bearer token or OAuth2 client credentials.

A client-credentials token is asked for on first use, kept until shortly before it expires,
and asked for again when the SIS answers 401. The token request sends the client id and secret
with HTTP Basic authentication (RFC 6749 section 2.3.1), as Learn's own token endpoint takes
them. Neither the token nor the secret is ever logged or put into a message.
"""

from __future__ import annotations

import asyncio
import base64

import structlog

from gradesync.clock import Clock
from gradesync.config.sinks import SisSinkConfig
from gradesync.sinks.http import HttpAnswer, HttpSession, url_path

log = structlog.get_logger("gradesync.sinks.sis")

DEFAULT_LIFETIME = 3600.0  # seconds, when the token answer carries no expires_in


class SisAuth:
    """The ``Authorization`` header for each SIS request; see the module docstring."""

    def __init__(self, config: SisSinkConfig, clock: Clock, *, margin: float = 60.0) -> None:
        self._static = config.token.get_secret_value() if config.token else None
        self._oauth = config.oauth
        self._clock = clock
        self._margin = margin
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    @property
    def renewable(self) -> bool:
        """Whether a 401 can be cured by asking for a new token."""
        return self._oauth is not None

    def expire(self) -> None:
        """Forget the current token (the SIS refused it)."""
        self._token = None

    async def header(self, http: HttpSession) -> str | HttpAnswer:
        """``Bearer <token>``, or why no token could be had (status 0: worth retrying)."""
        if self._static is not None:
            return f"Bearer {self._static}"
        async with self._lock:
            if self._token is None or self._clock.monotonic() >= self._expires:
                failed = await self._fetch(http)
                if failed is not None:
                    return failed
            assert self._token is not None
            return f"Bearer {self._token}"

    async def _fetch(self, http: HttpSession) -> HttpAnswer | None:
        oauth = self._oauth
        assert oauth is not None
        pair = f"{oauth.client_id}:{oauth.client_secret.get_secret_value()}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        form = {"grant_type": "client_credentials"}
        # The answer carries the token: its body is kept out of the detail.
        answer = await http.send(
            "POST", oauth.token_url, data=form, headers=headers, quote_body=False
        )
        if answer.status == 0:
            return HttpAnswer(0, f"token request {answer.detail}")
        body = answer.body
        token = body.get("access_token") if isinstance(body, dict) else None
        if answer.status != 200 or not isinstance(token, str) or not token:
            log.error("sis.token_refused", path=url_path(oauth.token_url), status=answer.status)
            # Status 0: no answer to the grade request itself, so it waits and is tried again
            # (a refused client secret is fixed by an operator, not by dropping grades).
            refused = f"token request {answer.detail}: no token issued"
            return HttpAnswer(0, refused, answer.retry_after)
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        seconds = float(lifetime) if isinstance(lifetime, int | float) else DEFAULT_LIFETIME
        self._token = token
        self._expires = self._clock.monotonic() + max(0.0, seconds - self._margin)
        return None
