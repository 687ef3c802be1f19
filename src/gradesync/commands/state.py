"""``gradesync state backup FILE``: a consistent copy of the state while the daemon runs.

The copy is made with SQLite's online backup API on a connection of its own, so cycles and
deliveries carry on; it is one self-contained file (no ``-wal`` beside it) and is checked with
``PRAGMA quick_check`` before the command reports success. Restoring is copying it back with
the daemon stopped (the operator's guide has the steps).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from pathlib import Path

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import open_store
from gradesync.errors import StateError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    backup = actions.add_parser(
        "backup",
        help="copy the state to FILE while gradesync runs",
        description="Copy the state to FILE (replaced if it exists) while gradesync runs.",
    )
    add_config_argument(backup)
    backup.add_argument("file", metavar="FILE", type=Path, help="where to write the copy")


def _check(path: Path) -> tuple[int, int]:
    """The copy's schema version and size, once SQLite found it sound; ``StateError`` if not."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        raise StateError(f"the copy {path} cannot be read: {exc}") from exc
    finally:
        db.close()
    if verdict != "ok":
        raise StateError(f"the copy {path} failed SQLite's check: {verdict}")
    return version, path.stat().st_size


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    source = settings.state.path
    if not source.is_file():
        # Opening the store would create an empty one: there is nothing to back up.
        raise StateError(f"no state file at {source}: nothing to back up")
    dest: Path = args.file
    if not dest.parent.is_dir():
        raise StateError(f"cannot write {dest}: {dest.parent} is not a directory")
    async with open_store(settings) as store:
        await store.backup(dest)
    version, size = await asyncio.to_thread(_check, dest)
    print(f"state {source} backed up to {dest} ({size} bytes, schema {version})")
    return 0
