"""The composition root: builds the concrete client, store, sinks and engine from settings.

Only this module names concrete classes; everything else depends on protocols. What it
builds is handed to a :class:`~gradesync.service.Service`, which owns the lifecycle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog

from gradesync import statelock
from gradesync.clock import Clock, SystemClock
from gradesync.config import Settings
from gradesync.config.exposure import exposures
from gradesync.errors import StateError
from gradesync.learn import LearnClient, LearnSettings
from gradesync.notify import Notifier
from gradesync.service import Service
from gradesync.sinks.base import Sink
from gradesync.sinks.delivery import Deliverer
from gradesync.sinks.registry import build_sink
from gradesync.store import AdminStore, SQLiteStateStore, StateStore
from gradesync.sync.budget import BUDGET_STATE, DailyBudget, SweepShare
from gradesync.sync.cycle import Syncer, SyncOptions
from gradesync.sync.scheduler import SchedulerOptions
from gradesync.sync.selection import Selection

__all__ = ["build_sink", "open_service", "open_store"]

log = structlog.get_logger("gradesync.daemon")


def learn_settings(settings: Settings) -> LearnSettings:
    cfg = settings.learn
    return LearnSettings(
        base_url=str(cfg.base_url),
        client_id=cfg.client_id,
        client_secret=cfg.client_secret.get_secret_value(),
        verify_tls=cfg.verify_tls,
        connect_timeout=cfg.connect_timeout.total_seconds(),
        read_timeout=cfg.read_timeout.total_seconds(),
        request_timeout=cfg.request_timeout.total_seconds(),
        max_response_bytes=cfg.max_response_bytes,
        concurrency=cfg.concurrency,
        requests_per_second=cfg.requests_per_second,
        max_retries=cfg.max_retries,
        retry_max_wait=cfg.retry_max_wait.total_seconds(),
        token_refresh_margin=cfg.token_refresh_margin.total_seconds(),
    )


def selection(settings: Settings) -> Selection:
    cfg = settings.selection
    return Selection(
        availability=tuple(cfg.availability),
        created_since=cfg.created_since,
        data_source=cfg.data_source,
        term=cfg.term,
        courses=tuple(cfg.courses),
        exclude_courses=tuple(cfg.exclude_courses),
        include_disabled_memberships=cfg.include_disabled_memberships,
        include_calculated=cfg.include_calculated,
        column_availability=tuple(cfg.column_availability),
        due_after=cfg.due_after,
        due_before=cfg.due_before,
    )


def sync_options(settings: Settings) -> SyncOptions:
    cfg = settings.sync
    return SyncOptions(
        site=str(settings.learn.base_url),
        strategy=cfg.strategy,
        sweep_interval=cfg.sweep_interval,
        reconciliation_interval=cfg.reconciliation_interval,
        membership_refresh=cfg.membership_refresh,
        emit_baseline=cfg.emit_baseline,
    )


def scheduler_options(settings: Settings) -> SchedulerOptions:
    cfg = settings.sync
    return SchedulerOptions(
        interval=cfg.interval,
        jitter=cfg.jitter,
        concurrency=cfg.concurrency,
        drain_timeout=cfg.drain_timeout,
        max_interval=cfg.max_interval,
        mode=cfg.scheduler,
    )


@dataclass(frozen=True)
class Assembly:
    """What the service builds again when a reload changes its settings."""

    store: StateStore
    clock: Clock
    budget: DailyBudget
    sweeps: SweepShare

    def learn_client(self, settings: Settings, previous: LearnClient | None = None) -> LearnClient:
        """A new, unopened client; it carries on ``previous``'s counters and view of Learn's
        quota, so metrics stay continuous and a spent quota stays spent."""
        client = LearnClient(learn_settings(settings), clock=self.clock, gate=self.budget)
        if previous is not None:
            client.metrics, client.quota = previous.metrics, previous.quota
        return client

    def syncer(self, settings: Settings, client: LearnClient) -> Syncer:
        return Syncer(
            client,
            self.store,
            selection(settings),
            sync_options(settings),
            self.clock,
            sweep_room=self.sweeps.room,  # sweeps run within their share of the budget
        )

    def scheduler_options(self, settings: Settings) -> SchedulerOptions:
        return scheduler_options(settings)


@asynccontextmanager
async def open_store(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[AdminStore]:
    """The state store alone, for commands that only read or mend the state. The state must
    exist: a mistyped path is refused, never answered with a new, empty state."""
    path = settings.state.path
    if not path.exists():
        raise StateError(
            f"state {path} does not exist (is state.path right? run or once creates it)"
        )
    async with SQLiteStateStore(path, clock=clock) as store:
        yield store


def warn_exposures(settings: Settings) -> None:
    """One warning per setting that sends grades or secrets unprotected (plain http, an
    unchecked certificate) to anything but a loopback address."""
    for key, exposed in exposures(settings):
        log.warning("config.insecure", key=key, exposed=exposed)


@asynccontextmanager
async def open_service(
    settings: Settings,
    *,
    config: str | None = None,
    clock: Clock | None = None,
    sinks: Sequence[Sink] | None = None,
    notifier: Notifier | None = None,
) -> AsyncIterator[Service]:
    """A service over the state, the Learn client and the sinks of ``settings``, opened for
    the length of the block (``sinks`` replaces the configured ones: tests, benchmarks).
    It holds the state's lock throughout: one daemon per state."""
    clock = clock or SystemClock()
    warn_exposures(settings)
    async with AsyncExitStack() as stack:
        stack.enter_context(statelock.hold(settings.state.path))
        store = await stack.enter_async_context(SQLiteStateStore(settings.state.path, clock=clock))
        budget = DailyBudget(settings.learn.daily_request_budget, clock)
        budget.resume(await store.scheduler_state(BUDGET_STATE), clock.now())
        assembly = Assembly(store, clock, budget, SweepShare(budget, clock))
        client = await stack.enter_async_context(assembly.learn_client(settings))
        built = list(sinks) if sinks is not None else [build_sink(s, clock) for s in settings.sinks]
        for sink in built:
            await sink.open()
            stack.push_async_callback(sink.close)
        await store.register_sinks([s.name for s in built])
        deliverers = [
            Deliverer(
                store,
                sink,
                clock,
                batch_size=settings.delivery.batch_size,
                retry_max_wait=settings.delivery.retry_max_wait.total_seconds(),
            )
            for sink in built
        ]
        yield Service(
            settings,
            clock=clock,
            client=client,
            store=store,
            syncer=assembly.syncer(settings, client),
            budget=budget,
            deliverers=deliverers,
            assembly=assembly,
            config=config,
            notifier=notifier,
        )
