"""Request counters and latencies per route template, for logs and later for Prometheus.

Latencies are wall-clock network time (``time.perf_counter``), not the injected clock: they
measure the wire, which a manual clock in tests does not model.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

RESERVOIR = 512  # the most recent latencies per route, enough for a steady p95


@dataclass
class Latency:
    """Count, total and maximum of one route's latencies, and a ring of the recent ones."""

    count: int = 0
    total: float = 0.0
    max: float = 0.0
    recent: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        if len(self.recent) < RESERVOIR:
            self.recent.append(seconds)
        else:
            self.recent[self.count % RESERVOIR] = seconds
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)

    def quantile(self, q: float) -> float:
        """The nearest-rank quantile of the recent latencies (0 when there are none)."""
        if not self.recent:
            return 0.0
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    def snapshot(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "total_s": round(self.total, 6),
            "max_s": round(self.max, 6),
            "p50_s": round(self.quantile(0.5), 6),
            "p95_s": round(self.quantile(0.95), 6),
        }


class Metrics:
    """What one client has done: responses per route and status, retries, token fetches.

    A request that got no response counts under the status ``"transport"``; one the spent
    quota stopped before the network counts under ``"quota"``.
    """

    def __init__(self) -> None:
        self.responses: Counter[tuple[str, str]] = Counter()
        self.latencies: dict[str, Latency] = {}
        self.retries: Counter[str] = Counter()
        self.reauthentications = 0
        self.token_requests = 0
        self.api_requests = 0

    def record(self, endpoint: str, status: int | str, seconds: float | None) -> None:
        """One request's outcome; ``seconds`` is None when nothing was sent."""
        self.responses[endpoint, str(status)] += 1
        if seconds is not None:
            self.latencies.setdefault(endpoint, Latency()).add(seconds)

    def count(self, endpoint: str | None = None, status: int | str | None = None) -> int:
        """Responses recorded, optionally for one route and/or one status."""
        return sum(
            n
            for (e, s), n in self.responses.items()
            if (endpoint is None or e == endpoint) and (status is None or s == str(status))
        )

    def snapshot(self) -> dict[str, Any]:
        """A plain, JSON-ready copy of every counter."""
        by_endpoint: dict[str, dict[str, int]] = {}
        for (endpoint, status), n in sorted(self.responses.items()):
            by_endpoint.setdefault(endpoint, {})[status] = n
        return {
            "api_requests": self.api_requests,
            "token_requests": self.token_requests,
            "reauthentications": self.reauthentications,
            "retries": dict(sorted(self.retries.items())),
            "responses": by_endpoint,
            "latency": {e: lat.snapshot() for e, lat in sorted(self.latencies.items())},
        }
