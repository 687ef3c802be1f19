"""``gradesync replay --sink NAME --since TIME``: deliver a sink's history again.

``TIME`` is an ISO date or time (``2026-01-05``, ``2026-01-05T08:00:00Z``; UTC unless it says
otherwise) or a duration meaning that long ago (``2d``, ``90m``). Events the sink dead-lettered
stay dead letters (``gradesync deadletters retry`` sends those); consumers deduplicate on the
event id, so a replay is safe.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from gradesync.clock import SystemClock
from gradesync.commands.common import add_config_argument, load
from gradesync.config.values import DURATION_FORMS, parse_duration
from gradesync.daemon import open_store

EXIT_OK, EXIT_USAGE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--sink", metavar="NAME", required=True, help="the sink to replay to")
    parser.add_argument(
        "--since",
        metavar="TIME",
        required=True,
        help="an ISO date or time, or a duration meaning that long ago (2d, 12h, 90m)",
    )


def parse_since(text: str, now: datetime) -> datetime:
    """An ISO date or time (UTC unless given), or ``now`` minus a duration."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return now - parse_duration(text)
        except ValueError:
            raise ValueError(
                f"--since {text!r} is neither an ISO date or time nor a duration ({DURATION_FORMS})"
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    try:
        since = parse_since(args.since, SystemClock().now())
    except ValueError as exc:
        print(f"gradesync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    async with open_store(settings) as store:
        sinks = {s.name: s for s in (await store.status()).sinks}
        if args.sink not in sinks:
            print(
                f"gradesync: no sink {args.sink!r} in the state; known: {list(sinks)}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        count = await store.replay(args.sink, since)
    print(f"{count} events from {since.isoformat()} on queued again for {args.sink}")
    if sinks[args.sink].disabled:
        print(
            f"note: {args.sink} is disabled ({sinks[args.sink].disabled_reason}); "
            "nothing is delivered to it until it is enabled"
        )
    return EXIT_OK
