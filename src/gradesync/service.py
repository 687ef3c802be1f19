"""The one owner of a running gradesync's lifecycle: a daemon (``run``) or a single pass.

A :class:`Service` holds the Learn client, the state, the sync engine and one deliverer per
sink, all built by the composition root (:mod:`gradesync.daemon`). Both ways of running it
share one shape (:meth:`Service._operate`): the deliverers start, the work runs (the scheduler
until stopped, or one cycle over every course), the delivery loops stop after the batch in
hand and one last drain per sink delivers what is left within a deadline. A failure of the
work cancels the deliveries at once; what they held stays in the outbox for next time.

Around the daemon: the health endpoint and metrics (``[health] listen``), systemd's
``READY=1``/``WATCHDOG=1``/``STATUS=``/``STOPPING=1``, hourly pruning of delivered events past
``state.outbox_retention``, and reload on SIGHUP (what can change while running is applied,
what cannot is logged as needing a restart, and a bad file changes nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import structlog

from gradesync import logs
from gradesync.clock import Clock, sleep_or_event
from gradesync.config import Settings, load_settings
from gradesync.config.reload import changed_keys, effective, needs_restart
from gradesync.errors import ConfigError, GradesyncError, LearnError, StateError
from gradesync.health import HealthApp, heartbeat_deadline, serve_health
from gradesync.learn import LearnClient
from gradesync.metrics import DaemonStats, MetricsCollector
from gradesync.notify import Notifier
from gradesync.sinks.delivery import Deliverer
from gradesync.store import StateStore
from gradesync.sync.budget import BUDGET_STATE, DailyBudget
from gradesync.sync.cycle import CourseResult, Syncer
from gradesync.sync.scheduler import Scheduler, SchedulerOptions

T = TypeVar("T")

log = structlog.get_logger("gradesync.service")

STATUS_EVERY = 10.0  # seconds between two STATUS= updates to systemd
PRUNE_EVERY = 3600.0  # seconds between two prunings of delivered events past their retention

ResultObserver = Callable[[CourseResult], None]


class Assembly(Protocol):
    """What the service asks of the composition root when a reload changes its settings."""

    def learn_client(self, settings: Settings, previous: LearnClient) -> LearnClient:
        """A new, unopened client for ``settings`` that carries on ``previous``'s counters."""
        ...

    def syncer(self, settings: Settings, client: LearnClient) -> Syncer: ...

    def scheduler_options(self, settings: Settings) -> SchedulerOptions: ...


@dataclass(frozen=True)
class PassReport:
    """How one pass over every course ended (``gradesync once``)."""

    results: list[CourseResult]
    delivered: bool  # every sink's outbox emptied before the wait ran out
    refused: int  # events the sinks refused for good during the pass
    set_aside: int = 0  # rows from Learn set aside after the pass (docs/contract.md section 6)

    @property
    def incomplete(self) -> list[CourseResult]:
        return [r for r in self.results if not r.complete]

    @property
    def events(self) -> int:
        return sum(sum(r.events.values()) for r in self.results)


def first_error(group: BaseExceptionGroup[GradesyncError]) -> GradesyncError:
    """The first gradesync error of a (possibly nested) group, for the command to report."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, GradesyncError)
    return error


class Service:
    """A running gradesync: see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        client: LearnClient,
        store: StateStore,
        syncer: Syncer,
        budget: DailyBudget,
        deliverers: Sequence[Deliverer],
        assembly: Assembly,
        config: str | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.started_with = settings
        self.settings = settings  # in effect: the live keys as last reloaded, the others as started
        self.clock = clock
        self.client = client
        self.store = store
        self.syncer = syncer
        self.budget = budget
        self.deliverers = list(deliverers)
        self.notifier = notifier or Notifier(None)
        self.observers: list[ResultObserver] = []
        self.stats = DaemonStats(clock)
        self._assembly = assembly
        self.scheduler = Scheduler(
            syncer,
            clock,
            assembly.scheduler_options(settings),
            on_result=self._on_result,
            heartbeat=self._heartbeat,
            store=store,
            budget=budget,
        )
        # The scheduler replaces this dict when a course-list read succeeds: the first plan.
        self._unplanned = self.scheduler.courses
        self.ready = False
        self._report_now = asyncio.Event()
        self._clients = AsyncExitStack()  # Learn clients opened by reloads
        self.drained = True  # whether the last final drain emptied every sink's outbox
        self._stop_deadline = 0.0  # monotonic; when a stopping daemon gives up delivering

    # -- the two ways to run -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event, reload: asyncio.Event | None = None) -> None:
        """The daemon: cycles and deliveries until ``stop``; then the running cycles and the
        final delivery get ``sync.drain_timeout`` in all."""
        async with AsyncExitStack() as stack:
            address = self.settings.health.address
            if address is not None:
                health = HealthApp(
                    self,
                    MetricsCollector(self),
                    stale_after=heartbeat_deadline(self.settings.learn),
                )
                await stack.enter_async_context(serve_health(address, health))
            # A client replaced by a reload may still serve a running cycle: all close at the end.
            await stack.enter_async_context(self._clients)
            log.info("daemon.started", sinks=[d.sink.name for d in self.deliverers])
            loops: list[Callable[[], Coroutine[Any, Any, None]]] = [
                lambda: self._announce_stop(stop),
                lambda: self._reloads(reload or asyncio.Event()),
                self._prune,
            ]
            if self.notifier.enabled:
                loops.append(self._report_status)
            # One deadline for the whole shutdown, set when the stop comes: the running cycles
            # and then the final delivery share ``sync.drain_timeout``.
            await self._operate(
                lambda: self.scheduler.run(stop),
                drain_within=lambda: max(0.0, self._stop_deadline - self.clock.monotonic()),
                loops=loops,
            )
            log.info("daemon.stopped", cycles=self.stats.cycles)

    async def run_once(self, *, full: bool = False) -> PassReport:
        """One cycle over every selected course while the sinks take what each commit adds
        (events reach them during a long first read rather than after it), then what is left
        within ``delivery.once_wait``, then prune."""
        results = await self._operate(
            lambda: self.sync_courses(full=full),
            drain_within=lambda: self.settings.delivery.once_wait.total_seconds(),
        )
        delivered = self.drained
        await self.prune_outbox()
        refused = sum(sum(d.stats.refused.values()) for d in self.deliverers)
        set_aside = len(await self.store.set_aside_rows())
        return PassReport(results, delivered, refused, set_aside)

    async def _operate(
        self,
        work: Callable[[], Awaitable[T]],
        *,
        drain_within: Callable[[], float],
        loops: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> T:
        """Deliver while ``work`` runs, with ``loops`` beside it; then the final drain.

        A gradesync error of any task reaches the caller as itself (the command turns it into
        its exit code), never as a group."""
        delivery_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                for deliverer in self.deliverers:
                    group.create_task(deliverer.run(delivery_stop))
                side = [group.create_task(loop()) for loop in loops]
                outcome = await work()
                for task in side:
                    task.cancel()
                # The delivery loops stop after the batch in hand; one last drain per sink then
                # delivers what is left, beginning no batch after the deadline.
                delivery_stop.set()
                deadline = self.clock.monotonic() + drain_within()
                self.drained = await self.deliver_pending(deadline)
        except* GradesyncError as group:
            raise first_error(group) from None
        return outcome

    # -- the pieces --------------------------------------------------------------------------

    async def sync_courses(self, *, full: bool = False) -> list[CourseResult]:
        """One cycle over every selected course, ``sync.concurrency`` at a time."""
        courses = await self.syncer.list_courses()
        limit = asyncio.Semaphore(self.settings.sync.concurrency)
        results: list[CourseResult] = []

        async def one(course_index: int) -> None:
            async with limit:
                result = await self.syncer.sync_course(courses[course_index], full=full)
                results.append(result)
                await self._on_result(result)

        async with asyncio.TaskGroup() as group:
            for index in range(len(courses)):
                group.create_task(one(index))
        return results

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

    async def prune_outbox(self) -> int:
        """Drop events every sink has delivered and that are older than the retention."""
        before = self.clock.now() - self.settings.state.outbox_retention
        pruned = await self.store.prune_outbox(before)
        if pruned:
            log.info("outbox.pruned", events=pruned, before=before.isoformat())
        return pruned

    def stuck_courses(self) -> dict[str, float]:
        """Courses whose cycle has run longer than ``sync.stuck_after``, with its age (s)."""
        return self.scheduler.stuck(self.settings.sync.stuck_after.total_seconds())

    def notify_deliverers(self) -> None:
        for deliverer in self.deliverers:
            deliverer.wake.set()

    async def _on_result(self, result: CourseResult) -> None:
        # What the daily budget holds goes to the state with every cycle: a restart, even
        # after a crash, takes it up instead of a fresh burst.
        await self.store.set_scheduler_state(BUDGET_STATE, self.budget.to_json(self.clock.now()))
        log_cycle(result)
        self.stats.observe(result)
        for observe in self.observers:
            observe(result)
        self.notify_deliverers()

    def _heartbeat(self) -> None:
        self.stats.heartbeat()
        self.notifier.watchdog()
        if not self.ready and self.scheduler.courses is not self._unplanned:
            self.ready = True
            courses = len(self.scheduler.courses)
            log.info("daemon.ready", courses=courses)
            self.notifier.ready(f"{courses} courses planned")
            self._report_now.set()

    async def _prune(self) -> None:
        """Drop events every sink has delivered once ``state.outbox_retention`` has passed."""
        while True:
            try:
                await self.prune_outbox()
            except StateError as exc:  # the next cycle's commit will say more, if it persists
                log.warning("outbox.prune_failed", reason=str(exc))
            await self.clock.sleep(PRUNE_EVERY)

    # -- systemd -----------------------------------------------------------------------------

    async def status_line(self) -> str:
        """One line for ``systemctl status``: courses, cycles, events, outbox depth per sink."""
        states = self.scheduler.states.values()
        failing = sum(1 for s in states if s.failing_since is not None)
        try:
            depths = [
                f"{d.sink.name}={await self.store.outbox_depth(d.sink.name)}"
                for d in self.deliverers
            ]
            outbox = "outbox " + " ".join(depths)
        except GradesyncError as exc:
            outbox = f"state unreadable: {exc}"
        line = (
            f"{len(states)} courses, {self.stats.cycles} cycles, "
            f"{sum(self.stats.events.values())} events, {outbox}"
        )
        return line + (f", {failing} courses failing" if failing else "")

    async def _report_status(self) -> None:
        while True:
            self._report_now.clear()
            if self.ready:
                self.notifier.status(await self.status_line())
            await sleep_or_event(self.clock, STATUS_EVERY, self._report_now)

    async def _announce_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop_deadline = (
            self.clock.monotonic() + self.settings.sync.drain_timeout.total_seconds()
        )
        log.info(
            "daemon.stopping", drain_timeout_s=self.settings.sync.drain_timeout.total_seconds()
        )
        self.notifier.stopping()

    # -- SIGHUP ------------------------------------------------------------------------------

    async def _reloads(self, reload: asyncio.Event) -> None:
        while True:
            await reload.wait()
            reload.clear()
            await self.reload()

    async def reload(self) -> bool:
        """Load the configuration again and apply what can change while running.

        A file that does not load, or new Learn settings that get no token (credentials
        refused, Learn unreachable), are refused with one log line; what is in effect stays.
        """
        try:
            new = load_settings(self.config)
            new.require_sinks()
        except ConfigError as exc:
            log.error("config.refused", reason=str(exc), kept=self.settings.source)
            return False
        restart = [k for k in changed_keys(self.started_with, new) if needs_restart(k)]
        new = effective(self.started_with, new)
        live = changed_keys(self.settings, new)
        try:
            await self._apply(new, live)
        except LearnError as exc:
            log.error("config.refused", reason=str(exc), kept=self.settings.source)
            return False
        log.info("config.reloaded", applied=live, source=new.source)
        if restart:
            log.warning("config.restart_needed", keys=restart)
        if any(k.startswith("logging.") for k in live):
            logs.configure_from(new.logging)
        return True

    async def _apply(self, new: Settings, keys: list[str]) -> None:
        """Apply the live ``keys`` of ``new``; anything that can fail happens before a change."""
        client = self.client
        if any(k.startswith("learn.") for k in keys):
            client = await self._open_client(new)
        if any(k.startswith(("learn.", "selection.", "sync.")) for k in keys):
            syncer = self._assembly.syncer(new, client)
            self.client, self.syncer, self.scheduler.syncer = client, syncer, syncer
        self.scheduler.options = self._assembly.scheduler_options(new)
        self.settings = new

    async def _open_client(self, new: Settings) -> LearnClient:
        """A client with the new Learn settings whose credentials Learn accepted."""
        client = self._assembly.learn_client(new, self.client)
        async with AsyncExitStack() as attempt:
            await attempt.enter_async_context(client)
            await client.authenticate()
            self._clients.push_async_exit(attempt.pop_all())
        return client


def log_cycle(result: CourseResult) -> None:
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
        set_aside=result.set_aside,
        duration_s=duration,
        error=result.error,
    )
