"""Learn's request quota as the client sees it, shared by every request of one client.

Learn reports what is left on each API response (``X-Rate-Limit-Limit`` and
``-Remaining``, docs/learn-api.md section 6). When a 429 says the bucket refills later than we are
willing to wait, the daily quota is spent: the quota view turns "exhausted until T" and every
request fails fast, without touching the network, until T.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from gradesync.clock import Clock
from gradesync.errors import RateLimitedError

log = structlog.get_logger("gradesync.learn.quota")


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


class RequestGate(Protocol):
    """A limit of the caller's own on API calls (gradesync's daily request budget): ``acquire``
    before each API request, ``observe`` Learn's count of what is left after it."""

    async def acquire(self) -> None: ...

    def observe(self, remaining: int | None) -> None: ...


class LearnQuota:
    """What Learn says is left of the quota, and whether it is spent."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._limit: int | None = None
        self._remaining: int | None = None
        self._exhausted_until: datetime | None = None

    @property
    def limit(self) -> int | None:
        """``X-Rate-Limit-Limit`` as last seen; None before the first API response."""
        return self._limit

    @property
    def remaining(self) -> int | None:
        """``X-Rate-Limit-Remaining`` as last seen; None before the first API response."""
        return self._remaining

    @property
    def exhausted_until(self) -> datetime | None:
        """When the spent quota refills; None while requests may be sent."""
        return self._expire()

    def _expire(self) -> datetime | None:
        """Forget a refill time that has passed (logging the recovery once); the one left."""
        if self._exhausted_until is not None and self._clock.now() >= self._exhausted_until:
            self._exhausted_until = None
            log.info("learn.budget.available")
        return self._exhausted_until

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the quota headers of one API response."""
        limit = _header_int(headers, "X-Rate-Limit-Limit")
        remaining = _header_int(headers, "X-Rate-Limit-Remaining")
        if limit is not None:
            self._limit = limit
        if remaining is not None:
            self._remaining = remaining

    def exhaust(self, retry_after: float) -> None:
        """The quota is spent for ``retry_after`` seconds (a 429 we will not wait out)."""
        until = self._clock.now() + timedelta(seconds=retry_after)
        if self._exhausted_until is None or until > self._exhausted_until:
            if self._exhausted_until is None:
                log.warning("learn.budget.exhausted", retry_after_s=round(retry_after, 1))
            self._exhausted_until = until
        self._remaining = 0

    def check(self, method: str, endpoint: str) -> None:
        """Raise :class:`RateLimitedError` at once while the quota is spent."""
        until = self._expire()
        if until is None:
            return
        wait = (until - self._clock.now()).total_seconds()
        raise RateLimitedError(
            f"{method} {endpoint}: not sent, the Learn request quota is spent for {wait:.0f} s",
            method=method,
            endpoint=endpoint,
            status=429,
            retry_after=wait,
        )

    async def wait_until_available(self) -> None:
        """Wait (on the injected clock) until the spent quota refills; at once if it is not."""
        until = self._expire()
        if until is not None:
            await self._clock.sleep((until - self._clock.now()).total_seconds())
            self._expire()
