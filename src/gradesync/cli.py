"""The command line: the only place with asyncio.run, signal handlers, exit codes and log set-up."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gradesync import __version__

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradesync", description="Keep other systems up to date with the grades in Learn."
    )
    parser.add_argument("--version", action="version", version=f"gradesync {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    print(f"gradesync: command {args.command!r} is not available yet", file=sys.stderr)
    return EXIT_USAGE
