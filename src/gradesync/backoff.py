"""The one backoff policy of gradesync: exponential, full jitter, capped, ``Retry-After`` a floor.

The Learn client between retries of one request, delivery between tries of a sink and the
scheduler between cycles of a failing course all wait by this rule, so an operator reasons
about one policy. After ``attempt`` failures the wait is drawn uniformly from
``[0, min(cap, base * 2**attempt)]`` ("full jitter": herds of clients spread out at once), and
never shorter than what the server asked for in ``Retry-After``. A server that asks for more
than ``cap`` is honoured too; callers that would rather not hold a request that long (the
Learn client) see it with :meth:`Backoff.beyond_cap` and give the work back to be deferred.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_MAX_EXPONENT = 62  # 2**62 seconds is beyond any cap; larger exponents only overflow floats


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait after a failure, by the rule of the module docstring."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0:
            raise ValueError("a backoff's base and cap cannot be negative")

    def ceiling(self, attempt: int) -> float:
        """The longest wait drawn after ``attempt`` failures (0 for the first), server aside."""
        return min(self.cap, self.base * float(2 ** min(max(attempt, 0), _MAX_EXPONENT)))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``attempt`` earlier failures, at least ``retry_after``."""
        return max(self.rng.uniform(0.0, self.ceiling(attempt)), retry_after or 0.0)

    def beyond_cap(self, retry_after: float | None) -> bool:
        """The server asks for a longer wait than this policy would ever choose by itself."""
        return retry_after is not None and retry_after > self.cap
