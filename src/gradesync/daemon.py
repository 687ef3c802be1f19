"""The composition root: builds the concrete client, store, sinks and engine from settings.

Only this module names concrete classes; everything else depends on protocols.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from gradesync.clock import Clock, SystemClock
from gradesync.config import Settings
from gradesync.learn import LearnClient, LearnSettings
from gradesync.sinks.base import Sink
from gradesync.sinks.delivery import Deliverer
from gradesync.sinks.file import FileSink
from gradesync.sinks.sis import GradesJourneySink, UpsertSink
from gradesync.sinks.webhook import WebhookSink
from gradesync.store import SQLiteStateStore, StateStore
from gradesync.sync.budget import DailyBudget
from gradesync.sync.cycle import CourseResult, Syncer, SyncOptions
from gradesync.sync.selection import Selection

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
        reconciliation_interval=cfg.reconciliation_interval,
        membership_refresh=cfg.membership_refresh,
        emit_baseline=cfg.emit_baseline,
    )


def build_sink(cfg: Any, clock: Clock | None = None) -> Sink:
    """One sink from its config section (a union on ``type``)."""
    if cfg.type == "file":
        return FileSink(cfg.path, name=cfg.name, fsync=cfg.fsync)
    if cfg.type == "webhook":
        return WebhookSink(cfg, clock=clock)
    if cfg.protocol == "gradesjourney":
        return GradesJourneySink(cfg, clock=clock)
    return UpsertSink(cfg, clock=clock)


@dataclass
class Runtime:
    """Everything a running gradesync holds, opened and closed together."""

    settings: Settings
    clock: Clock
    client: LearnClient
    store: StateStore
    syncer: Syncer
    budget: DailyBudget
    deliverers: list[Deliverer] = field(default_factory=list)

    async def sync_courses(self, *, full: bool = False) -> list[CourseResult]:
        """One cycle over every selected course, ``sync.concurrency`` at a time."""
        courses = await self.syncer.list_courses()
        limit = asyncio.Semaphore(self.settings.sync.concurrency)
        results: list[CourseResult] = []

        async def one(course_index: int) -> None:
            async with limit:
                result = await self.syncer.sync_course(courses[course_index], full=full)
                results.append(result)
                self.log_cycle(result)
                self.notify_deliverers()

        async with asyncio.TaskGroup() as group:
            for index in range(len(courses)):
                group.create_task(one(index))
        return results

    async def prune_outbox(self) -> int:
        """Drop events every sink has delivered and that are older than the retention."""
        before = self.clock.now() - self.settings.state.outbox_retention
        pruned = await self.store.prune_outbox(before)
        if pruned:
            log.info("outbox.pruned", events=pruned, before=before.isoformat())
        return pruned

    def log_cycle(self, result: CourseResult) -> None:
        """The one canonical line per course cycle: counts and duration, no names or scores."""
        duration = (result.finished - result.started).total_seconds() if result.finished else None
        log.info(
            "cycle.done",
            course_id=result.course_id,
            cycle_id=result.cycle_id,
            ok=result.ok,
            events=dict(result.events),
            reads=dict(result.reads),
            skipped=len(result.skipped),
            duration_s=duration,
            error=result.error,
        )

    def notify_deliverers(self) -> None:
        for deliverer in self.deliverers:
            deliverer.wake.set()

    async def deliver_pending(self, deadline: float) -> bool:
        """Deliver everything pending, waiting out retries until ``deadline`` (monotonic); a
        batch under way at the deadline is finished, no new one is begun. True when every
        sink's outbox is empty."""
        done = True
        for deliverer in self.deliverers:
            while True:
                wait = await deliverer.drain(deadline=deadline)
                if wait is None:
                    break
                if self.clock.monotonic() + wait >= deadline:
                    done = False
                    break
                await self.clock.sleep(wait)
        return done


@asynccontextmanager
async def open_store(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[StateStore]:
    """The state store alone, for commands that only read or mend the state."""
    async with SQLiteStateStore(settings.state.path, clock=clock) as store:
        yield store


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, clock: Clock | None = None, sinks: Sequence[Sink] | None = None
) -> AsyncIterator[Runtime]:
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(SQLiteStateStore(settings.state.path, clock=clock))
        budget = DailyBudget(settings.learn.daily_request_budget, clock)
        client = await stack.enter_async_context(
            LearnClient(learn_settings(settings), clock=clock, gate=budget)
        )
        built = list(sinks) if sinks is not None else [build_sink(s, clock) for s in settings.sinks]
        for sink in built:
            await sink.open()
            stack.push_async_callback(sink.close)
        await store.register_sinks([s.name for s in built])
        syncer = Syncer(client, store, selection(settings), sync_options(settings), clock)
        runtime = Runtime(settings, clock, client, store, syncer, budget)
        runtime.deliverers = [
            Deliverer(
                store,
                sink,
                clock,
                batch_size=settings.delivery.batch_size,
                retry_max_wait=settings.delivery.retry_max_wait.total_seconds(),
            )
            for sink in built
        ]
        yield runtime
