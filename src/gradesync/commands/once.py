"""``gradesync once``: one cycle over every selected course, deliver what is pending, exit."""

from __future__ import annotations

import argparse

import structlog

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import open_service

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
    async with open_service(settings, config=args.config) as service:
        report = await service.run_once(full=args.full)
    log.info(
        "once.done",
        courses=len(report.results),
        events=report.events,
        incomplete_courses=len(report.incomplete),
        undelivered=not report.delivered,
        refused=report.refused,
        set_aside=report.set_aside,
    )
    incomplete = report.incomplete or not report.delivered or report.refused or report.set_aside
    return EXIT_INCOMPLETE if incomplete else EXIT_OK
