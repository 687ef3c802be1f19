"""The state's files are owner-only whatever the umask, and a backup replaces its file only
once the copy is checked (docs/contract.md section 6)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.store.store_builders import COURSE, course, events_unit

from gradesync.clock import ManualClock
from gradesync.errors import StateError
from gradesync.store import SCHEMA_VERSION, SQLiteStateStore

PAGE = 4096


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
async def test_a_new_state_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with SQLiteStateStore(path, clock=ManualClock()) as store:
        await store.register_sinks(["file"])
        side_files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert [mode(p) for p in side_files] == [0o600] * 3


@pytest.mark.usefixtures("permissive_umask")
async def test_an_existing_state_keeps_the_mode_its_operator_gave_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sqlite3.connect(path).close()
    path.chmod(0o640)
    async with SQLiteStateStore(path, clock=ManualClock()):
        assert mode(path) == 0o640


@pytest.mark.usefixtures("permissive_umask")
async def test_a_backup_is_owner_only_checked_and_alone(tmp_path: Path) -> None:
    clock = ManualClock()
    dest = tmp_path / "backups" / "state.db"
    dest.parent.mkdir()
    async with SQLiteStateStore(tmp_path / "state.db", clock=clock) as store:
        await store.register_sinks(["file"])
        await store.backup(dest)
    assert mode(dest) == 0o600
    assert [p.name for p in dest.parent.iterdir()] == ["state.db"]
    with sqlite3.connect(dest) as copy:
        assert copy.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_copy_that_fails_its_check_leaves_the_previous_backup_untouched(
    tmp_path: Path,
) -> None:
    """A damaged page in the state reaches the copy; SQLite's check finds it before the
    rename, so yesterday's good backup stays and no temporary file is left behind."""
    clock = ManualClock()
    state = tmp_path / "state.db"
    async with SQLiteStateStore(state, clock=clock) as store:
        await store.save_courses([course(COURSE)], selected_ids={COURSE})
        await store.register_sinks(["file"])
        await store.commit(events_unit([f"e{n}" for n in range(2000)], clock.now()))
    pages = state.stat().st_size // PAGE
    with state.open("r+b") as damaged:
        damaged.seek(PAGE * (pages // 2))
        damaged.write(b"\xff" * PAGE)
    backups = tmp_path / "backups"
    backups.mkdir()
    dest = backups / "state.db"
    dest.write_bytes(b"yesterday's backup")

    async with SQLiteStateStore(state, clock=clock) as store:
        with pytest.raises(StateError) as failed:
            await store.backup(dest)
    assert str(failed.value).startswith(f"the copy for {dest} failed SQLite's check (")
    assert str(failed.value).endswith(f"); {dest} was not changed")
    assert dest.read_bytes() == b"yesterday's backup"
    assert [p.name for p in backups.iterdir()] == ["state.db"]
