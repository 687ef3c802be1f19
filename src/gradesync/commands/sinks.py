"""``gradesync sinks enable NAME``: deliver again to a sink that was disabled (a webhook that
answered 410 Gone), once its owner says it is back. Its events waited in the outbox."""

from __future__ import annotations

import argparse
import sys

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import open_store

EXIT_OK, EXIT_USAGE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    enable = actions.add_parser("enable", help="deliver to a disabled sink again")
    add_config_argument(enable)
    enable.add_argument("name", metavar="NAME", help="the sink's name")


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    async with open_store(settings) as store:
        sinks = {s.name: s for s in (await store.status()).sinks}
        sink = sinks.get(args.name)
        if sink is None:
            print(
                f"gradesync: no sink {args.name!r} in the state; known: {sorted(sinks)}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if not sink.disabled:
            print(f"sink {args.name!r} is not disabled")
            return EXIT_OK
        await store.enable_sink(args.name)
    print(
        f"sink {args.name!r} enabled; {sink.depth} events wait for it (was: {sink.disabled_reason})"
    )
    return EXIT_OK
