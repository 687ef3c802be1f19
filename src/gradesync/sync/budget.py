"""The daily request budget: never more than ``limit`` API calls in any 24 hours, spread out.

A token bucket whose burst plus one day's refill equals the limit: in any window of a day at
most ``burst + rate * 86400 = limit`` requests pass. When Learn's ``X-Rate-Limit-Remaining``
says fewer calls remain than the bucket holds, the bucket believes Learn.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import structlog

from gradesync.clock import Clock

DAY = 86_400.0
BUDGET_STATE = "daily_budget"  # the scheduler state's name for what the bucket held

log = structlog.get_logger("gradesync.budget")


class DailyBudget:
    def __init__(self, limit: int, clock: Clock, *, burst_fraction: float = 0.05) -> None:
        if limit < 1:
            raise ValueError("the daily request budget must be at least 1")
        self.limit = limit
        self._clock = clock
        self.capacity = max(1.0, limit * burst_fraction)
        self.rate = (limit - self.capacity) / DAY  # tokens per second
        self._tokens = self.capacity
        self._stamp = clock.monotonic()
        self._lock = asyncio.Lock()
        self.used = 0
        self.paused = False

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens

    async def acquire(self) -> None:
        """Take one request's token, waiting (once, in order) until one is there."""
        async with self._lock:
            self._refill()
            if self.paused and self._tokens >= 2:
                # The budget no longer holds requests back: say so once, as the pause was.
                self.paused = False
                log.info("budget.resumed")
            while self._tokens < 1 - 1e-9:
                if self.rate <= 0:
                    raise RuntimeError("the daily request budget allows no more requests")
                # At least a millisecond: a wait smaller than the clock's resolution would
                # refill nothing and spin.
                wait = max(0.001, (1 - self._tokens) / self.rate)
                if not self.paused:
                    self.paused = True
                    log.warning("budget.paused", wait_seconds=round(wait, 1), limit=self.limit)
                await self._clock.sleep(wait)
                self._refill()
            self._tokens = max(0.0, self._tokens - 1)
            self.used += 1

    def to_json(self, at: datetime) -> str:
        """What the bucket holds at wall-clock ``at``, for the next process (:meth:`resume`)."""
        self._refill()
        return json.dumps({"tokens": round(self._tokens, 3), "at": at.isoformat()})

    def resume(self, saved: str | None, at: datetime) -> None:
        """Take up where the last process left the bucket: what it held then, plus the refill
        since. Without this a restart would begin with a full burst, and a day spanning it
        could hold more than ``limit`` requests (a crash loop, a burst per start)."""
        if not saved:
            return  # a new state: a full burst
        try:
            data = json.loads(saved)
            tokens, then = float(data["tokens"]), datetime.fromisoformat(data["at"])
        except (ValueError, TypeError, KeyError):
            return  # unreadable: a full burst, as before there was a saved one
        elapsed = max(0.0, (at - then).total_seconds())
        self._tokens = min(self.capacity, max(0.0, tokens) + elapsed * self.rate)
        self._stamp = self._clock.monotonic()

    def observe(self, remaining: int | None) -> None:
        """Learn's own count of what is left (``X-Rate-Limit-Remaining``) caps the bucket."""
        if remaining is not None:
            self._refill()
            self._tokens = min(self._tokens, float(remaining))


class SweepShare:
    """The share of the daily budget kept for sweeps: at most ``share`` of it, and no more
    (the adaptive plan leaves it out of what it spends, so sweeps never take the requests of
    the polls, and the polls never starve the sweeps). At 2,000 courses of 20 columns a round
    of sweeps costs some 44,000 requests: with a tenth of 10,000 a day, a course is swept
    every 44 days or so, whatever ``sync.sweep_interval`` asks."""

    def __init__(self, budget: DailyBudget, clock: Clock, *, share: float = 0.1) -> None:
        self._clock = clock
        self.rate = budget.rate * share  # requests a second
        self.capacity = max(1.0, budget.capacity * share * 4)
        self._tokens = self.capacity
        self._stamp = clock.monotonic()

    def room(self, cost: float) -> bool:
        """Whether a sweep of ``cost`` requests may run now; if so, its cost is taken."""
        now = self._clock.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < min(cost, self.capacity):
            return False
        self._tokens -= cost
        return True
