"""``gradesync run``: the daemon. Pull cycles forever, deliver events, stop cleanly on a signal."""

from __future__ import annotations

import argparse
import asyncio

import structlog

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import open_runtime
from gradesync.sync.cycle import CourseResult
from gradesync.sync.scheduler import Scheduler, SchedulerOptions

log = structlog.get_logger("gradesync.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


async def main(args: argparse.Namespace, stop: asyncio.Event) -> int:
    settings = load(args)
    settings.require_sinks()
    async with open_runtime(settings) as runtime:

        async def on_result(result: CourseResult) -> None:
            runtime.log_cycle(result)
            runtime.notify_deliverers()

        scheduler = Scheduler(
            runtime.syncer,
            runtime.clock,
            SchedulerOptions(
                interval=settings.sync.interval,
                jitter=settings.sync.jitter,
                concurrency=settings.sync.concurrency,
                drain_timeout=settings.sync.drain_timeout,
            ),
            on_result=on_result,
        )
        log.info("daemon.started", sinks=[d.sink.name for d in runtime.deliverers])
        delivery_stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            for deliverer in runtime.deliverers:
                group.create_task(deliverer.run(delivery_stop))
            await scheduler.run(stop)
            deadline = runtime.clock.monotonic() + settings.sync.drain_timeout.total_seconds()
            await runtime.deliver_pending(deadline)
            delivery_stop.set()
        log.info("daemon.stopped", cycles=scheduler.cycles)
    return 0
