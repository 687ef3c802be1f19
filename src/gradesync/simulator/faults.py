"""What can go wrong between a client and Learn, as parameters, and a log of what was asked.

``Faults`` is mutable while the simulator runs (from Python or ``POST /__simulator__/faults``);
the decisions draw from one seeded RNG so a test run repeats. ``Stats`` counts responses per
endpoint template and status for tests and benchmarks.
"""

from __future__ import annotations

import random
from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

# The X-Rate-Limit-Limit reported when no daily quota is set.
UNLIMITED = 2_147_483_647

# The status recorded in Stats for a connection dropped without a response.
DROPPED = 0


class Faults(BaseModel):
    """Fault parameters; rates are probabilities per API request, times are seconds."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    rate_429: float = Field(0.0, ge=0, le=1)
    rate_5xx: float = Field(0.0, ge=0, le=1)
    latency: float = Field(0.0, ge=0)  # added to every request
    slow_rate: float = Field(0.0, ge=0, le=1)  # the share of requests that are slow ...
    slow_latency: float = Field(0.0, ge=0)  # ... and by how much more
    forbidden_columns: frozenset[str] = frozenset()  # primary ids of columns that answer 403
    malformed_rate: float = Field(0.0, ge=0, le=1)  # 200 with a truncated JSON body
    drop_rate: float = Field(0.0, ge=0, le=1)  # the connection closes without a response
    token_lifetime: int = Field(3600, ge=1)
    daily_quota: int | None = Field(None, ge=0)  # None: unlimited; Learn's default is 10,000
    retry_after: int = Field(2, ge=0)  # Retry-After of an injected (not quota) 429
    seed: int = 0


class Dice:
    """The seeded RNG behind every fault decision."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def pick(self, options: tuple[int, ...]) -> int:
        return self._rng.choice(options)


class Stats:
    """Responses counted by endpoint template (``"v3/courses"``, ``"v1/oauth2/token"``: the
    path under ``/learn/api/public/``) and status; a dropped connection counts as status 0."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        self._counts[endpoint, status] += 1

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        return sum(
            n
            for (e, s), n in self._counts.items()
            if (endpoint is None or e == endpoint) and (status is None or s == status)
        )

    @property
    def total(self) -> int:
        return self.count()

    def by_endpoint(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for (endpoint, status), n in sorted(self._counts.items()):
            out.setdefault(endpoint, {})[status] = n
        return out

    def reset(self) -> None:
        self._counts.clear()
