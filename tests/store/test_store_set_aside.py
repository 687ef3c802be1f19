"""Rows set aside (docs/contract.md section 6): kept with their first sighting, counted,
forgotten when resolved or when their column goes, and added to older files by a migration."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import aiosqlite
import pytest
from tests.store.store_builders import COURSE, column

from gradesync.clock import ManualClock
from gradesync.errors import StateError
from gradesync.store import SCHEMA_VERSION, SetAsideRow, SQLiteStateStore, UnitOfWork
from gradesync.store.schema import MIGRATIONS, migrate


def aside(
    clock: ManualClock, column_id: str, user_id: str = "", reason: str = "score is not a number"
) -> SetAsideRow:
    """A grade row set aside ("" for a user id Learn sent unusable)."""
    now = clock.now()
    return SetAsideRow(COURSE, "grade", column_id, user_id, reason, now, now)


def column_aside(clock: ManualClock, column_id: str) -> SetAsideRow:
    now = clock.now()
    return SetAsideRow(COURSE, "column", column_id, "", "score.possible is not a number", now, now)


async def test_rows_set_aside_are_kept_counted_and_listed(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    rows = [aside(clock, "_1_1", "_7_1"), aside(clock, "_1_1", ""), column_aside(clock, "_2_1")]
    await store.commit(UnitOfWork(COURSE, set_aside=rows))
    assert (await store.status()).set_aside == 3
    assert await store.set_aside_rows() == sorted(rows, key=lambda r: (r.kind, *r.key[1:]))
    structure = await store.structure(COURSE)
    assert structure.set_aside == {row.key: row for row in rows}


async def test_a_row_seen_again_keeps_its_first_sighting(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    first = aside(clock, "_1_1", "_7_1")
    await store.commit(UnitOfWork(COURSE, set_aside=[first]))
    await clock.advance(600)
    again = aside(clock, "_1_1", "_7_1", reason="changeIndex is negative")
    await store.commit(UnitOfWork(COURSE, set_aside=[again]))
    (kept,) = await store.set_aside_rows()
    assert (kept.first_seen, kept.last_seen) == (
        first.first_seen,
        first.first_seen + timedelta(seconds=600),
    )
    assert kept.reason == "changeIndex is negative"


async def test_resolved_rows_and_those_of_a_deleted_column_are_forgotten(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    rows = [
        aside(clock, "_1_1", "_7_1"),
        aside(clock, "_1_1", "_8_1"),
        aside(clock, "_2_1", "_9_1"),
    ]
    await store.commit(UnitOfWork(COURSE, columns=[column("_1_1"), column("_2_1")], set_aside=rows))
    await store.commit(UnitOfWork(COURSE, resolved=[("grade", "_1_1", "_7_1")]))
    assert [r.user_id for r in await store.set_aside_rows()] == ["_8_1", "_9_1"]
    await store.commit(UnitOfWork(COURSE, deleted_columns=["_2_1"]))
    assert [r.user_id for r in await store.set_aside_rows()] == ["_8_1"]
    assert (await store.status()).set_aside == 1


async def test_a_row_of_another_course_is_refused_whole(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    stray = SetAsideRow("_99_1", "grade", "_1_1", "_7_1", "x", clock.now(), clock.now())
    with pytest.raises(ValueError, match="sets aside a row of course _99_1"):
        await store.commit(UnitOfWork(COURSE, set_aside=[stray]))
    assert await store.set_aside_rows() == []


async def test_a_file_of_schema_5_gets_the_table_and_keeps_its_data(
    db_path: Path, clock: ManualClock
) -> None:
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        await migrate(db, str(db_path), MIGRATIONS[:5])
        await db.execute(
            "INSERT INTO courses (id, data, selected, first_seen, last_seen) VALUES"
            " (?, '{\"id\":\"_10_1\"}', 1, '2025-09-01T00:00:00.000000+00:00',"
            " '2025-09-01T00:00:00.000000+00:00')",
            (COURSE,),
        )
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 5
    async with SQLiteStateStore(db_path, clock=clock) as store:
        assert (await store.status()).schema_version == SCHEMA_VERSION
        assert set(await store.courses()) == {COURSE}
        await store.commit(UnitOfWork(COURSE, set_aside=[aside(clock, "_1_1", "_7_1")]))
        assert (await store.status()).set_aside == 1


async def test_a_bad_kind_never_reaches_the_file(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    odd = SetAsideRow(COURSE, "user", "_1_1", "_7_1", "x", clock.now(), clock.now())  # type: ignore[arg-type]
    with pytest.raises(StateError, match="CHECK constraint"):
        await store.commit(UnitOfWork(COURSE, set_aside=[odd]))
