"""Prometheus metrics of a running daemon, read from the service at scrape time.

The service already counts what it does (the Learn client's ``metrics`` and quota, the
deliverers' ``stats``, the store's ``status()``); :class:`DaemonStats` adds what only the
daemon sees (cycles, their durations, events by type, the scheduler loop's heartbeat). One
custom collector turns all of it into metric families on a registry of its own, so several
daemons (or tests) never share one.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from gradesync.clock import Clock
from gradesync.store import StoreStatus
from gradesync.sync.cycle import CourseResult

if TYPE_CHECKING:
    from gradesync.service import Service

# Upper bounds of the cycle duration histogram, in seconds: a quiet course takes well under a
# second, a first full read of a large one minutes.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Upper bounds of the detection delay histogram, in seconds: from a minute to a day.
DELAY_BUCKETS = (15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0)


@dataclass
class DaemonStats:
    """What the daemon's cycles did since it started, fed by the scheduler's callbacks."""

    clock: Clock
    started: float = 0.0
    cycles_ok: int = 0
    cycles_failed: int = 0
    events: Counter[str] = field(default_factory=Counter)
    duration_counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0
    last_success: float | None = None
    last_heartbeat: float | None = None
    reads: Counter[str] = field(default_factory=Counter)  # log, full, delta, unchanged
    delay_counts: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS) + 1))
    delay_sum: float = 0.0
    log_fallbacks: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock.monotonic()

    @property
    def cycles(self) -> int:
        return self.cycles_ok + self.cycles_failed

    def heartbeat(self) -> None:
        """The scheduler loop turned: it is alive."""
        self.last_heartbeat = self.clock.monotonic()

    def heartbeat_age(self) -> float | None:
        """Seconds since the scheduler loop last turned; None before it first did."""
        if self.last_heartbeat is None:
            return None
        return self.clock.monotonic() - self.last_heartbeat

    def observe(self, result: CourseResult) -> None:
        """Count one finished course cycle."""
        if result.ok:
            self.cycles_ok += 1
            self.last_success = self.clock.monotonic()
        else:
            self.cycles_failed += 1
        self.events.update(result.events)
        self.reads.update(result.reads)
        self.log_fallbacks += int(result.fell_back)
        for delay in result.detection_delays:
            self.delay_counts[bisect.bisect_left(DELAY_BUCKETS, delay)] += 1
            self.delay_sum += delay
        if result.finished is not None:
            seconds = max(0.0, (result.finished - result.started).total_seconds())
            self.duration_counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
            self.duration_sum += seconds

    def since_success(self) -> float:
        """Seconds since the last successful cycle, or since start while there was none."""
        return self.clock.monotonic() - (self.last_success or self.started)


class MetricsCollector(Collector):
    """Every gradesync metric, computed from the service when Prometheus scrapes."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.stats = service.stats
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._state: StoreStatus | None = None

    async def render(self) -> bytes:
        """The exposition text: the store is read first (it is async), then every family."""
        self._state = await self.service.store.status()
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        yield from self._learn()
        yield from self._cycles()
        yield from self._delivery()

    def _learn(self) -> Iterator[Metric]:
        client = self.service.client
        metrics = client.metrics
        requests = CounterMetricFamily(
            "gradesync_learn_requests",
            "Learn responses by route and status (transport: no response; quota: not sent).",
            labels=["endpoint", "status"],
        )
        for (endpoint, status), n in sorted(metrics.responses.items()):
            requests.add_metric([endpoint, status], n)
        latency = SummaryMetricFamily(
            "gradesync_learn_request_seconds",
            "Time from sending a Learn request to its response, by route.",
            labels=["endpoint"],
        )
        for endpoint, lat in sorted(metrics.latencies.items()):
            latency.add_metric([endpoint], lat.count, lat.total)
        retries = CounterMetricFamily(
            "gradesync_learn_retries", "Learn requests retried, by route.", labels=["endpoint"]
        )
        for endpoint, n in sorted(metrics.retries.items()):
            retries.add_metric([endpoint], n)
        yield from (requests, latency, retries)
        yield CounterMetricFamily(
            "gradesync_learn_token_requests",
            "OAuth2 token requests sent to Learn.",
            value=metrics.token_requests,
        )
        quota = client.quota
        if quota.remaining is not None:
            yield GaugeMetricFamily(
                "gradesync_learn_quota_remaining",
                "Learn's X-Rate-Limit-Remaining as last seen.",
                value=quota.remaining,
            )
        until = quota.exhausted_until
        refill = (until - self.service.clock.now()).total_seconds() if until else 0.0
        yield GaugeMetricFamily(
            "gradesync_learn_quota_refill_seconds",
            "Seconds until Learn's spent quota refills; 0 while requests may be sent.",
            value=max(0.0, refill),
        )
        daily = self.service.budget
        yield GaugeMetricFamily(
            "gradesync_daily_budget_available",
            "Requests the daily request budget lets through now without waiting.",
            value=daily.available,
        )
        yield CounterMetricFamily(
            "gradesync_daily_budget_used",
            "API requests counted against the daily request budget.",
            value=daily.used,
        )
        yield GaugeMetricFamily(
            "gradesync_daily_budget_paused",
            "1 while requests wait for the daily request budget to refill.",
            value=int(daily.paused),
        )

    def _cycles(self) -> Iterator[Metric]:
        stats = self.stats
        cycles = CounterMetricFamily(
            "gradesync_cycles", "Course cycles finished, by outcome.", labels=["outcome"]
        )
        cycles.add_metric(["ok"], stats.cycles_ok)
        cycles.add_metric(["failed"], stats.cycles_failed)
        yield cycles
        buckets = _cumulative(DURATION_BUCKETS, stats.duration_counts)
        yield HistogramMetricFamily(
            "gradesync_cycle_duration_seconds",
            "How long course cycles took.",
            buckets=buckets,
            sum_value=stats.duration_sum,
        )
        yield HistogramMetricFamily(
            "gradesync_detection_delay_seconds",
            "From a gradebook log entry's logged time to the commit of its change (changelog).",
            buckets=_cumulative(DELAY_BUCKETS, stats.delay_counts),
            sum_value=stats.delay_sum,
        )
        reads = CounterMetricFamily(
            "gradesync_reads",
            "Reads by kind: log (a course's gradebook log), full, delta, unchanged (columns).",
            labels=["kind"],
        )
        for kind in ("log", "full", "delta", "unchanged"):
            reads.add_metric([kind], stats.reads[kind])
        yield reads
        yield CounterMetricFamily(
            "gradesync_log_fallbacks",
            "Courses whose gradebook log answered 403 or 404: read by changeIndex for a day.",
            value=stats.log_fallbacks,
        )
        events = CounterMetricFamily(
            "gradesync_events", "Grade events recorded, by type.", labels=["type"]
        )
        for kind in ("created", "updated", "deleted"):
            events.add_metric([kind], stats.events[kind])
        yield events
        yield GaugeMetricFamily(
            "gradesync_last_success_age_seconds",
            "Seconds since the last successful course cycle (since start while none).",
            value=stats.since_success(),
        )
        age = stats.heartbeat_age()
        if age is not None:
            yield GaugeMetricFamily(
                "gradesync_heartbeat_age_seconds",
                "Seconds since the scheduler loop last turned.",
                value=age,
            )
        states = self.service.scheduler.states.values()
        yield GaugeMetricFamily(
            "gradesync_courses", "Courses scheduled for cycles.", value=len(states)
        )
        yield GaugeMetricFamily(
            "gradesync_courses_failing",
            "Scheduled courses whose last cycle failed.",
            value=sum(1 for s in states if s.failing_since is not None),
        )
        yield GaugeMetricFamily(
            "gradesync_courses_stuck",
            "Courses whose running cycle has taken longer than sync.stuck_after.",
            value=len(self.service.stuck_courses()),
        )

    def _delivery(self) -> Iterator[Metric]:
        labels = ["sink"]
        delivered = CounterMetricFamily(
            "gradesync_sink_delivered", "Events a sink accepted.", labels=labels
        )
        failures = CounterMetricFamily(
            "gradesync_sink_failures",
            "Deliveries to retry: the sink was unreachable, busy or failed.",
            labels=labels,
        )
        failing = GaugeMetricFamily(
            "gradesync_sink_failing", "1 while deliveries to a sink keep failing.", labels=labels
        )
        refused = CounterMetricFamily(
            "gradesync_sink_refused",
            "Events a sink refused for good, by kind (dead, rejected, unmapped).",
            labels=["sink", "kind"],
        )
        for deliverer in self.service.deliverers:
            name, stats = deliverer.sink.name, deliverer.stats
            delivered.add_metric([name], stats.delivered)
            failures.add_metric([name], stats.failures)
            failing.add_metric([name], int(stats.failing_since is not None))
            for kind, n in sorted(stats.refused.items()):
                refused.add_metric([name, kind], n)
        yield from (delivered, failures, failing, refused)
        state = self._state
        if state is None:
            return
        depth = GaugeMetricFamily(
            "gradesync_outbox_depth", "Events waiting for delivery to a sink.", labels=labels
        )
        dead = GaugeMetricFamily(
            "gradesync_dead_letters",
            "Events set aside for a sink, by kind (dead, rejected, unmapped).",
            labels=["sink", "kind"],
        )
        disabled = GaugeMetricFamily(
            "gradesync_sink_disabled", "1 while a sink is disabled.", labels=labels
        )
        for sink in state.sinks:
            depth.add_metric([sink.name], sink.depth)
            for kind in ("dead", "rejected", "unmapped"):
                dead.add_metric([sink.name, kind], getattr(sink, kind))
            disabled.add_metric([sink.name], int(sink.disabled))
        yield from (depth, dead, disabled)
        yield GaugeMetricFamily(
            "gradesync_state_grades", "Live grades in the state.", value=state.grades
        )
        yield GaugeMetricFamily(
            "gradesync_state_events", "Events kept in the outbox.", value=state.events
        )
        yield GaugeMetricFamily(
            "gradesync_rows_set_aside",
            "Rows from Learn set aside: not representable faithfully, retried each cycle.",
            value=state.set_aside,
        )


def _cumulative(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    """Prometheus histogram buckets (cumulative, with ``+Inf``) from per-bucket counts."""
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, n in zip((*bounds, math.inf), counts, strict=True):
        running += n
        buckets.append(("+Inf" if bound == math.inf else repr(bound), running))
    return buckets
