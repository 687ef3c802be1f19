"""Cycles, per-course status, the store's status, and backups taken while work goes on."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import aiosqlite
from tests.store.store_builders import (
    COURSE,
    column,
    course,
    cycle,
    event,
    events_unit,
    grade,
    tombstone,
)

from gradesync.clock import ManualClock
from gradesync.store import ColumnCursor, SQLiteStateStore, UnitOfWork


async def cycle_ids(store: SQLiteStateStore) -> list[str]:
    """The cycle log of the course, newest first, as the file holds it."""
    async with aiosqlite.connect(store.path) as db:
        rows = await db.execute_fetchall(
            "SELECT cycle_id FROM cycles WHERE course_id = ? ORDER BY n DESC", (COURSE,)
        )
    return [row[0] for row in rows]


async def test_a_cycle_recorded_with_a_unit_round_trips_with_its_counts(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    started = clock.now()
    await clock.advance(12.5)
    rec = cycle("c1", started, clock.now())
    await store.commit(UnitOfWork(COURSE, cycle=rec))
    assert (await store.status()).last_cycle == rec


async def test_course_status_tracks_success_failure_and_since_when(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    first = clock.now()
    await store.commit(UnitOfWork(COURSE, cycle=cycle("c1", first, first)))
    [status] = await store.course_status()
    assert (status.course_id, status.name) == (COURSE, f"Course {COURSE}")
    assert status.last_success == first and not status.failing

    await clock.advance(300)
    failed_at = clock.now()
    await store.commit(
        UnitOfWork(
            COURSE, cycle=cycle("c2", failed_at, failed_at, ok=False, error="ServerError: 503")
        )
    )
    await clock.advance(300)
    await store.commit(
        UnitOfWork(COURSE, cycle=cycle("c3", clock.now(), clock.now(), ok=False, error="timeout"))
    )
    [status] = await store.course_status()
    assert status.failing and status.error_since == failed_at
    assert (status.last_error, status.last_error_at) == ("timeout", clock.now())
    assert status.last_success == first

    await clock.advance(300)
    await store.commit(
        UnitOfWork(COURSE, cycle=cycle("c4", clock.now(), None))
    )  # still running: no verdict yet
    assert (await store.course_status())[0].failing
    await store.commit(UnitOfWork(COURSE, cycle=cycle("c4", clock.now(), clock.now())))
    [status] = await store.course_status()
    assert not status.failing and status.last_success == clock.now()
    assert (status.last_error, status.last_error_at) == (None, None)  # recovered: cleared
    assert await cycle_ids(store) == ["c4", "c3", "c2", "c1"]


async def test_course_status_counts_columns_and_live_grades_and_shows_next_due(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    first_seen = clock.now()
    await clock.advance(3600)
    await store.save_courses([course(), course("_11_1")], selected_ids={COURSE})
    await store.commit(
        UnitOfWork(
            COURSE,
            columns=[column("_1_1"), column("_2_1")],
            grade_upserts=[
                grade("_1_1", "_7_1"),
                grade("_2_1", "_7_1"),
                tombstone("_1_1", "_8_1", 2),
            ],
        )
    )
    due = clock.now() + timedelta(minutes=15)
    await store.set_pace(COURSE, next_due=due, pace="hot", rate=2.0, estimate=None)
    [status] = await store.course_status()
    assert (status.columns, status.grades, status.next_due) == (2, 2, due)
    assert (status.first_seen, status.last_seen) == (first_seen, clock.now())
    everything = await store.course_status(include_unselected=True)
    assert [(s.course_id, s.selected) for s in everything] == [(COURSE, True), ("_11_1", False)]


async def test_the_cycle_log_keeps_only_the_newest_cycles_of_each_course(
    db_path: Path, clock: ManualClock
) -> None:
    async with SQLiteStateStore(db_path, clock=clock, cycle_history=3) as store:
        await store.save_courses([course()], selected_ids={COURSE})
        for n in range(6):
            await store.commit(UnitOfWork(COURSE, cycle=cycle(f"c{n}", clock.now(), clock.now())))
        assert await cycle_ids(store) == ["c5", "c4", "c3"]


async def test_status_counts_the_state_and_each_sinks_backlog(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["file", "sis"])
    await store.commit(
        UnitOfWork(
            COURSE,
            columns=[column("_1_1")],
            grade_upserts=[grade("_1_1", "_7_1"), tombstone("_1_1", "_8_1", 3)],
            events=[event(n, clock.now()) for n in ("a", "b", "c", "d")],
            cycle=cycle("c1", clock.now(), clock.now()),
        )
    )
    events = {e.id: e for e in await store.pending("sis", 10)}
    await store.dead_letter("sis", events["a"], "no externalId", kind="unmapped")
    await store.dead_letter("sis", events["b"], "closed term", kind="rejected")
    await store.mark_delivered("sis", events["c"].seq)
    await store.retry_dead_letters(sink="sis", kind="rejected")

    status = await store.status()
    assert status.path == str(store.path)
    assert (status.courses, status.columns, status.grades) == (1, 1, 1)
    assert (status.events, status.last_seq) == (4, events["d"].seq)
    assert status.last_cycle is not None and status.last_cycle.cycle_id == "c1"
    file, sis = status.sinks
    assert (file.name, file.position, file.depth, file.dead) == ("file", 0, 4, 0)
    assert (sis.name, sis.position, sis.depth, sis.retrying) == ("sis", events["c"].seq, 2, 1)
    assert (sis.unmapped, sis.rejected, sis.dead) == (1, 0, 0)


async def test_a_backup_taken_during_commits_is_one_consistent_commit(
    store: SQLiteStateStore, clock: ManualClock, tmp_path: Path
) -> None:
    """Every unit writes 200 grades, 200 events and the cursor ``n``; a consistent copy holds
    exactly ``n`` units of each, whatever moment it was taken at."""
    await store.register_sinks(["file"])
    dest = tmp_path / "backup.db"
    stop, first = asyncio.Event(), asyncio.Event()

    async def write() -> int:
        n = 0
        while not stop.is_set() or n < 3:
            n += 1
            grades = [grade("_1_1", f"_{n}_{u}", change_index=n) for u in range(200)]
            unit = UnitOfWork(
                COURSE,
                cursors={"_1_1": ColumnCursor(n)},
                grade_upserts=grades,
                events=[event(f"e{n}.{u}", clock.now()) for u in range(200)],
            )
            await store.commit(unit)
            first.set()
        return n

    writer = asyncio.create_task(write())
    await first.wait()
    await store.backup(dest)
    stop.set()
    written = await writer

    async with SQLiteStateStore(dest, clock=clock) as copy:
        units = (await copy.structure(COURSE)).cursors["_1_1"].change_index
        assert 1 <= units <= written
        assert len(await copy.grades(COURSE, "_1_1")) == 200 * units
        assert await copy.outbox_depth("file") == 200 * units
        assert set(await copy.courses()) == {COURSE}
    assert not dest.with_name("backup.db.partial").exists()
    assert not dest.with_name("backup.db-wal").exists()
    assert await store.outbox_depth("file") == 200 * written


async def test_a_backup_replaces_an_older_one(
    store: SQLiteStateStore, clock: ManualClock, tmp_path: Path
) -> None:
    dest = tmp_path / "backup.db"
    await store.register_sinks(["file"])
    await store.backup(dest)
    await store.commit(events_unit(["a"], clock.now()))
    await store.backup(dest)
    async with SQLiteStateStore(dest, clock=clock) as copy:
        assert [e.id for e in await copy.pending("file", 10)] == ["a"]
