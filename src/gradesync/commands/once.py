"""``gradesync once``: one cycle over every selected course, deliver what is pending, exit."""

from __future__ import annotations

import argparse

import structlog

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import open_runtime

EXIT_OK, EXIT_INCOMPLETE = 0, 3

log = structlog.get_logger("gradesync.once")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--full",
        action="store_true",
        help="re-read every selected column in full (reconciliation: finds deleted grades)",
    )


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    settings.require_sinks()
    async with open_runtime(settings) as runtime:
        results = await runtime.sync_courses(full=args.full)
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
