"""Opening a file: old schemas are upgraded in place, newer, foreign or broken files refused."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import aiosqlite
import pytest
from tests.store.store_builders import COURSE, course, events_unit, grade

from gradesync.clock import ManualClock
from gradesync.errors import StateError
from gradesync.store import SCHEMA_VERSION, ColumnCursor, SQLiteStateStore, UnitOfWork
from gradesync.store.schema import MIGRATIONS, Migration, migrate


def overwrite(path: Path, offset: int, junk: bytes) -> None:
    """Write ``junk`` over ``path`` at ``offset`` (creating the file if need be)."""
    with path.open("r+b" if path.exists() else "wb") as handle:
        handle.seek(offset)
        handle.write(junk)


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


async def test_a_file_at_the_first_version_is_upgraded_in_place_keeping_its_data(
    db_path: Path, clock: ManualClock
) -> None:
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        assert await migrate(db, str(db_path), MIGRATIONS[:1]) == 0
        await db.execute(
            "INSERT INTO courses (id, data, selected, first_seen, last_seen)"
            " VALUES (?, ?, 1, '2025-09-01T00:00:00.000000+00:00', "
            "'2025-09-01T00:00:00.000000+00:00')",
            (COURSE, course().model_dump_json(by_alias=True, exclude_none=True)),
        )
        await db.execute(
            "INSERT INTO cursors VALUES (?, '_1_1', 4242, '2025-09-01T00:00:00.000000+00:00')",
            (COURSE,),
        )
        await db.execute(
            "INSERT INTO grades VALUES (?, '_1_1', '_7_1', 4242, 1, ?, ?)",
            (COURSE, grade("_1_1", "_7_1").digest, '{"score":80.0,"text":"80"}'),
        )
    assert user_version(db_path) == 1

    async with SQLiteStateStore(db_path, clock=clock) as store:
        assert (await store.status()).schema_version == SCHEMA_VERSION
        assert (await store.status()).grades == 1
        assert set(await store.courses()) == {COURSE}
        assert (await store.structure(COURSE)).cursors["_1_1"].change_index == 4242
        assert await store.grades(COURSE, "_1_1") == {
            "_7_1": grade("_1_1", "_7_1", change_index=4242)
        }
        await store.register_sinks(["file"])
        assert await store.commit(events_unit(["a"], clock.now())) == 1
    assert user_version(db_path) == SCHEMA_VERSION


async def test_a_failing_migration_leaves_the_file_at_its_old_version(db_path: Path) -> None:
    broken = (*MIGRATIONS, Migration("a step that cannot run", ("CREATE TABLE grades (x)",)))
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        await migrate(db, str(db_path), MIGRATIONS[:1])
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            await migrate(db, str(db_path), broken)
        assert not db.in_transaction
    assert user_version(db_path) == 1


async def test_a_file_from_a_newer_gradesync_is_refused_and_left_alone(
    db_path: Path, clock: ManualClock
) -> None:
    async with SQLiteStateStore(db_path, clock=clock):
        pass
    with closing(sqlite3.connect(db_path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match="newer than the") as caught:
        await SQLiteStateStore(db_path, clock=clock).open()
    assert str(db_path) in str(caught.value)
    assert f"version {SCHEMA_VERSION + 1}" in str(caught.value)
    assert user_version(db_path) == SCHEMA_VERSION + 1


async def test_a_file_that_is_not_a_database_is_a_state_error_naming_it(
    db_path: Path, clock: ManualClock
) -> None:
    overwrite(db_path, 0, b"grades, but not in SQLite\n" * 400)
    with pytest.raises(StateError) as caught:
        await SQLiteStateStore(db_path, clock=clock).open()
    assert str(db_path) in str(caught.value)
    assert "not a database" in str(caught.value)


async def test_damaged_pages_are_a_state_error_naming_the_file(
    db_path: Path, clock: ManualClock
) -> None:
    async with SQLiteStateStore(db_path, clock=clock) as store:
        await store.save_courses([course()], selected_ids={COURSE})
        grades = [grade("_1_1", f"_{n}_1") for n in range(3000)]
        await store.commit(
            UnitOfWork(COURSE, cursors={"_1_1": ColumnCursor(1)}, grade_upserts=grades)
        )
    overwrite(db_path, 8 * 4096, b"\xa5" * 16 * 4096)
    with pytest.raises(StateError) as caught:
        async with SQLiteStateStore(db_path, clock=clock) as store:
            await store.grades(COURSE, "_1_1")
    assert str(db_path) in str(caught.value)
    assert "malformed" in str(caught.value)


async def test_another_programs_database_is_not_taken_for_state(
    db_path: Path, clock: ManualClock
) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(StateError, match="not a gradesync state file"):
        await SQLiteStateStore(db_path, clock=clock).open()


async def test_a_missing_directory_is_a_state_error_naming_the_path(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "no-such-dir" / "state.db"
    with pytest.raises(StateError, match="No such file or directory") as caught:
        await SQLiteStateStore(path, clock=clock).open()
    assert str(path) in str(caught.value)


async def test_a_current_file_opens_while_another_process_is_writing(
    db_path: Path, clock: ManualClock
) -> None:
    async with SQLiteStateStore(db_path, clock=clock) as store:
        await store.save_courses([course()], selected_ids={COURSE})
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE courses SET last_seen = last_seen")
        async with SQLiteStateStore(db_path, clock=clock, busy_timeout=0.05) as reader:
            assert set(await reader.courses()) == {COURSE}
        other.execute("ROLLBACK")


@pytest.mark.parametrize("kept", [(4, 5), ()], ids=["some-pruned", "all-pruned"])
async def test_the_outbox_rebuild_keeps_events_their_numbers_and_the_counter(
    db_path: Path, clock: ManualClock, kept: tuple[int, ...]
) -> None:
    """Version 5 rebuilds the outbox with its duplicate check keyed by course. Sinks keep
    their places, and the numbers of pruned events are never given out again."""
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        await migrate(db, str(db_path), MIGRATIONS[:4])
        await db.execute(
            "INSERT INTO courses (id, data, selected, first_seen, last_seen)"
            " VALUES (?, '{}', 1, '2025-09-01T00:00:00.000000+00:00',"
            " '2025-09-01T00:00:00.000000+00:00')",
            (COURSE,),
        )
        for n in range(1, 6):
            await db.execute(
                "INSERT INTO outbox (id, type, subject, course_id, time, payload)"
                " VALUES (?, 'gradesync.grade.created', 's', ?,"
                " '2025-09-01T00:00:00.000000+00:00', ?)",
                (f"e{n}", COURSE, f'{{"n":{n}}}'),
            )
        await db.execute(
            "INSERT INTO sinks (name, position, registered_at)"
            " VALUES ('file', 3, '2025-09-01T00:00:00.000000+00:00')"
        )
        await db.execute(f"DELETE FROM outbox WHERE seq NOT IN ({','.join(map(str, kept)) or 0})")
    assert user_version(db_path) == 4

    async with SQLiteStateStore(db_path, clock=clock) as store:
        pending = await store.pending("file", 10)
        assert [(e.seq, e.id, e.payload) for e in pending] == [
            (n, f"e{n}", f'{{"n":{n}}}') for n in kept if n > 3
        ]
        # A new event is numbered after every event ever appended, pruned or not.
        assert await store.commit(events_unit(["e6"], clock.now())) == 1
        assert [e.seq for e in await store.pending("file", 10)][-1] == 6
        # The duplicate check still holds: an id already there is skipped.
        assert await store.commit(events_unit(["e6", "e7"], clock.now())) == 1
        assert [e.id for e in await store.pending("file", 10)][-2:] == ["e6", "e7"]
    assert user_version(db_path) == SCHEMA_VERSION
