"""``gradesync run``: the daemon. Pull cycles forever, deliver events, stop cleanly on a signal.

Under systemd (``Type=notify``) it says ``READY=1`` once the state is open and the first course
list is read, pings the watchdog from the scheduler loop, keeps ``STATUS=`` current and says
``STOPPING=1`` on shutdown. With ``[health] listen`` set it serves ``/healthz``, ``/readyz``
and ``/metrics``. Delivered events past ``state.outbox_retention`` are pruned hourly. SIGHUP
reloads the configuration: what can change while running is applied, what cannot is logged as
needing a restart, and a bad file changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import AsyncExitStack

import structlog
from pydantic import BaseModel

from gradesync import logs
from gradesync.commands.common import add_config_argument, load
from gradesync.config import Settings, load_settings
from gradesync.daemon import Runtime, learn_settings, open_runtime, selection, sync_options
from gradesync.errors import ConfigError, GradesyncError, LearnError, StateError
from gradesync.health import HealthApp, heartbeat_deadline, serve_health
from gradesync.learn import LearnClient
from gradesync.metrics import DaemonStats, RuntimeCollector
from gradesync.notify import Notifier
from gradesync.sync.cycle import CourseResult, Syncer
from gradesync.sync.scheduler import Scheduler, SchedulerOptions

log = structlog.get_logger("gradesync.run")

STATUS_EVERY = 10.0  # seconds between two STATUS= updates to systemd
PRUNE_EVERY = 3600.0  # seconds between two prunings of delivered events past their retention
# Sections a reload applies in place; every other key (and these of [learn]) needs a restart.
LIVE_SECTIONS = ("logging", "sync", "selection", "learn")
RESTART_LEARN_KEYS = ("base_url", "daily_request_budget")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def scheduler_options(settings: Settings) -> SchedulerOptions:
    cfg = settings.sync
    return SchedulerOptions(
        interval=cfg.interval,
        jitter=cfg.jitter,
        concurrency=cfg.concurrency,
        drain_timeout=cfg.drain_timeout,
    )


def changed_keys(old: Settings, new: Settings) -> list[str]:
    """The dotted keys whose values differ (secrets compared by value); ``sinks`` as a whole."""
    keys: list[str] = []
    for section in Settings.model_fields:
        before, after = getattr(old, section), getattr(new, section)
        if isinstance(before, BaseModel):
            keys += [
                f"{section}.{name}"
                for name in type(before).model_fields
                if getattr(before, name) != getattr(after, name)
            ]
        elif before != after:
            keys.append(section)
    return keys


def needs_restart(key: str) -> bool:
    section, _, name = key.partition(".")
    return section not in LIVE_SECTIONS or (section == "learn" and name in RESTART_LEARN_KEYS)


def effective(started: Settings, new: Settings) -> Settings:
    """``new`` with every key that needs a restart kept as the daemon started with it."""
    kept = {name: getattr(started, name) for name in Settings.model_fields}
    learn = new.learn.model_copy(update={k: getattr(started.learn, k) for k in RESTART_LEARN_KEYS})
    return new.model_copy(
        update={**{k: v for k, v in kept.items() if k not in LIVE_SECTIONS}, "learn": learn}
    )


class Daemon:
    """One running daemon: the scheduler over a runtime, and what reports on it."""

    def __init__(
        self, config: str | None, settings: Settings, runtime: Runtime, notifier: Notifier
    ) -> None:
        self.config = config
        self.started_with = settings
        self.settings = settings  # in effect: the live keys as last reloaded, the others as started
        self.runtime = runtime
        self.notifier = notifier
        self.stats = DaemonStats(runtime.clock)
        self.scheduler = Scheduler(
            runtime.syncer,
            runtime.clock,
            scheduler_options(settings),
            on_result=self._on_result,
            heartbeat=self._heartbeat,
        )
        # The scheduler replaces this dict when a course-list read succeeds: the first plan.
        self._unplanned = self.scheduler.courses
        self.ready = False
        self._report_now = asyncio.Event()
        self._clients = AsyncExitStack()  # Learn clients opened by reloads

    async def run(self, stop: asyncio.Event, reload: asyncio.Event) -> None:
        """Cycles and deliveries until ``stop``; then drain within ``sync.drain_timeout``."""
        runtime = self.runtime
        async with AsyncExitStack() as stack:
            address = self.settings.health.address
            if address is not None:
                collector = RuntimeCollector(runtime, self.stats, self.scheduler)
                health = HealthApp(
                    runtime,
                    self.stats,
                    collector,
                    stale_after=heartbeat_deadline(self.settings.learn),
                )
                await stack.enter_async_context(serve_health(address, health))
            # A client replaced by a reload may still serve a running cycle: all close at the end.
            await stack.enter_async_context(self._clients)
            log.info("daemon.started", sinks=[d.sink.name for d in runtime.deliverers])
            delivery_stop = asyncio.Event()
            try:
                async with asyncio.TaskGroup() as group:
                    for deliverer in runtime.deliverers:
                        group.create_task(deliverer.run(delivery_stop))
                    side_tasks = [
                        group.create_task(self._announce_stop(stop)),
                        group.create_task(self._reloads(reload)),
                        group.create_task(self._prune()),
                    ]
                    if self.notifier.enabled:
                        side_tasks.append(group.create_task(self._report_status()))
                    await self.scheduler.run(stop)
                    for task in side_tasks:
                        task.cancel()
                    # The delivery loops stop after the batch in hand; one last drain per sink
                    # then delivers what is left, beginning no batch after the drain timeout.
                    delivery_stop.set()
                    timeout = self.settings.sync.drain_timeout.total_seconds()
                    await runtime.deliver_pending(runtime.clock.monotonic() + timeout)
            except* GradesyncError as group:
                raise group.exceptions[0] from None  # the cli turns it into its exit code
            log.info("daemon.stopped", cycles=self.stats.cycles)

    # -- what the scheduler calls ------------------------------------------------------------

    def _heartbeat(self) -> None:
        self.stats.heartbeat()
        self.notifier.watchdog()
        if not self.ready and self.scheduler.courses is not self._unplanned:
            self.ready = True
            courses = len(self.scheduler.courses)
            log.info("daemon.ready", courses=courses)
            self.notifier.ready(f"{courses} courses planned")
            self._report_now.set()

    async def _on_result(self, result: CourseResult) -> None:
        self.runtime.log_cycle(result)
        self.stats.observe(result)
        self.runtime.notify_deliverers()

    async def _prune(self) -> None:
        """Drop events every sink has delivered once ``state.outbox_retention`` has passed."""
        while True:
            try:
                await self.runtime.prune_outbox()
            except StateError as exc:  # the next cycle's commit will say more, if it persists
                log.warning("outbox.prune_failed", reason=str(exc))
            await self.runtime.clock.sleep(PRUNE_EVERY)

    # -- systemd -----------------------------------------------------------------------------

    async def status_line(self) -> str:
        """One line for ``systemctl status``: courses, cycles, events, outbox depth per sink."""
        states = self.scheduler.states.values()
        failing = sum(1 for s in states if s.failing_since is not None)
        try:
            depths = [
                f"{d.sink.name}={await self.runtime.store.outbox_depth(d.sink.name)}"
                for d in self.runtime.deliverers
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
            waiters = [
                asyncio.ensure_future(self.runtime.clock.sleep(STATUS_EVERY)),
                asyncio.ensure_future(self._report_now.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _announce_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
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
            fmt = new.logging.format
            logs.configure(new.logging.level, json=None if fmt == "auto" else fmt == "json")
        return True

    async def _apply(self, new: Settings, keys: list[str]) -> None:
        """Apply the live ``keys`` of ``new``; anything that can fail happens before a change."""
        runtime = self.runtime
        client = runtime.client
        if any(k.startswith("learn.") for k in keys):
            client = await self._open_client(new)
        if any(k.startswith(("learn.", "selection.", "sync.")) for k in keys):
            syncer = Syncer(client, runtime.store, selection(new), sync_options(new), runtime.clock)
            runtime.client, runtime.syncer, self.scheduler.syncer = client, syncer, syncer
        self.scheduler.options = scheduler_options(new)
        self.settings = new

    async def _open_client(self, new: Settings) -> LearnClient:
        """A client with the new Learn settings whose credentials Learn accepted.

        It carries on the old client's counters and quota view, so metrics stay continuous
        and a spent quota stays spent.
        """
        runtime = self.runtime
        client = LearnClient(learn_settings(new), clock=runtime.clock, gate=runtime.budget)
        client.metrics, client.budget = runtime.client.metrics, runtime.client.budget
        async with AsyncExitStack() as attempt:
            await attempt.enter_async_context(client)
            await client.authenticate()
            self._clients.push_async_exit(attempt.pop_all())
        return client


async def main(
    args: argparse.Namespace, stop: asyncio.Event, reload: asyncio.Event | None = None
) -> int:
    settings = load(args)
    settings.require_sinks()
    notifier = Notifier.from_environ()
    try:
        async with open_runtime(settings) as runtime:
            daemon = Daemon(args.config, settings, runtime, notifier)
            await daemon.run(stop, reload or asyncio.Event())
    finally:
        notifier.close()
    return 0
