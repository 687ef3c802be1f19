"""``gradesync state backup FILE``: a consistent copy of the state while the daemon runs.

The copy is made with SQLite's online backup API on a connection of its own, so cycles and
deliveries carry on; it is one self-contained, owner-only file (no ``-wal`` beside it), written
beside FILE, checked with ``PRAGMA quick_check`` and the schema version, and only then renamed
over FILE: a copy that fails its check leaves an existing FILE as it was. Restoring is copying
it back with the daemon stopped (the operator's guide has the steps).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import open_store
from gradesync.errors import StateError
from gradesync.store import SCHEMA_VERSION


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    backup = actions.add_parser(
        "backup",
        help="copy the state to FILE while gradesync runs",
        description="Copy the state to FILE (replaced if it exists) while gradesync runs.",
    )
    add_config_argument(backup)
    backup.add_argument("file", metavar="FILE", type=Path, help="where to write the copy")


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    dest: Path = args.file
    if not dest.parent.is_dir():
        raise StateError(f"cannot write {dest}: {dest.parent} is not a directory")
    async with open_store(settings) as store:
        await store.backup(dest)
    size = await asyncio.to_thread(os.path.getsize, dest)
    print(
        f"state {settings.state.path} backed up to {dest} ({size} bytes, schema {SCHEMA_VERSION})"
    )
    return 0
