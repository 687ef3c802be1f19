"""``gradesync deadletters list|retry``: the events sinks refused for good, and sending them
again once the cause is mended.

``list`` prints them (``--json`` for scripts); ``retry`` queues them for delivery ahead of new
events. Both take ``--sink`` and ``--kind`` (dead, rejected, unmapped) to narrow the choice.
"""

from __future__ import annotations

import argparse
import json
import sys

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import open_store
from gradesync.store import DEAD_LETTER_KINDS

EXIT_OK, EXIT_USAGE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show the dead letters")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    retry = actions.add_parser("retry", help="deliver the dead letters again, before new events")
    for sub in (listing, retry):
        add_config_argument(sub)
        sub.add_argument("--sink", metavar="NAME", help="only this sink's dead letters")
        sub.add_argument("--kind", choices=DEAD_LETTER_KINDS, help="only dead letters of this kind")


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    async with open_store(settings) as store:
        known = [s.name for s in (await store.status()).sinks]
        if args.sink is not None and args.sink not in known:
            print(f"gradesync: no sink {args.sink!r} in the state; known: {known}", file=sys.stderr)
            return EXIT_USAGE
        if args.action == "retry":
            count = await store.retry_dead_letters(args.sink, args.kind)
            print(f"{count} dead letters queued for delivery")
            return EXIT_OK
        letters = await store.dead_letters(args.sink, args.kind)
    if args.json:
        rows = [
            {
                "sink": d.sink,
                "seq": d.seq,
                "event_id": d.event_id,
                "kind": d.kind,
                "reason": d.reason,
                "at": d.at.isoformat(),
                "subject": d.subject,
            }
            for d in letters
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for d in letters:
        print(f"{d.sink}\t{d.kind}\t{d.at:%Y-%m-%d %H:%M:%S}\t{d.event_id}\t{d.subject or '-'}")
        print(f"\t{d.reason}")
    print(f"{len(letters)} dead letters")
    return EXIT_OK
