"""``gradesync once``: one cycle over every selected course, deliver what is pending, exit."""

from __future__ import annotations

import argparse
import asyncio

import structlog

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import Runtime, open_runtime
from gradesync.sync.cycle import CourseResult

EXIT_OK, EXIT_INCOMPLETE = 0, 3

log = structlog.get_logger("gradesync.once")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--full",
        action="store_true",
        help="re-read every selected column in full (reconciliation: finds deleted grades)",
    )


async def _sync_while_delivering(runtime: Runtime, *, full: bool) -> list[CourseResult]:
    """Sync every course while the sinks take what each commit adds, as ``run`` does: events
    reach them during a long first read rather than after it, and the sinks' writes and the
    outbox reads overlap the sync. What is left after the sync is for ``deliver_pending``."""
    stop = asyncio.Event()
    delivering = [asyncio.create_task(d.run(stop)) for d in runtime.deliverers]
    try:
        results = await runtime.sync_courses(full=full)
    except BaseException:
        # Interrupted (Ctrl-C) or failed: stop delivering at once rather than drain. A batch
        # cut short is delivered again next time (at least once); nothing is lost.
        for task in delivering:
            task.cancel()
        await asyncio.gather(*delivering, return_exceptions=True)
        raise
    stop.set()
    outcomes = await asyncio.gather(*delivering, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return results


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    settings.require_sinks()
    async with open_runtime(settings) as runtime:
        results = await _sync_while_delivering(runtime, full=args.full)
        deadline = runtime.clock.monotonic() + settings.delivery.once_wait.total_seconds()
        delivered = await runtime.deliver_pending(deadline)
        await runtime.prune_outbox()
        refused = sum(sum(d.stats.refused.values()) for d in runtime.deliverers)
    failed = [r for r in results if not r.complete]
    events = sum(sum(r.events.values()) for r in results)
    log.info(
        "once.done",
        courses=len(results),
        events=events,
        incomplete_courses=len(failed),
        undelivered=not delivered,
        refused=refused,
    )
    return EXIT_INCOMPLETE if failed or not delivered or refused else EXIT_OK
