"""A unit of work is one transaction: all of it or none of it, and readers never see half."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest
from tests.store.store_builders import COURSE, column, event, events_unit, grade

from gradesync.clock import ManualClock
from gradesync.errors import StateError
from gradesync.store import ColumnCursor, NewEvent, SQLiteStateStore, StoredGrade, UnitOfWork

SINK = "probe"


class Gate:
    """Holds the writer's thread in the middle of a batch until the test lets it go."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.release = threading.Event()
        self._loop = asyncio.get_running_loop()

    def hold(self) -> None:
        self._loop.call_soon_threadsafe(self.reached.set)
        if not self.release.wait(timeout=10):
            raise TimeoutError("the test never released the gate")


class Batch(list[StoredGrade]):
    """Grades whose iteration (done by the writer while it inserts) stops at ``at``: either on
    a gate or with an exception, to fail a commit half-way through a batched step."""

    def __init__(self, grades: list[StoredGrade], at: int, *, gate: Gate | None = None) -> None:
        super().__init__(grades)
        self.at = at
        self.gate = gate

    def __iter__(self) -> Iterator[StoredGrade]:
        for index, item in enumerate(super().__iter__()):
            if index == self.at:
                if self.gate is None:
                    raise RuntimeError("the batch broke half-way")
                self.gate.hold()
            yield item


def big_unit(clock: ManualClock, grades: list[StoredGrade], *events: NewEvent) -> UnitOfWork:
    return UnitOfWork(
        course_id=COURSE,
        columns=[column("_1_1")],
        cursors={"_1_1": ColumnCursor(99, clock.now())},
        grade_upserts=grades,
        events=list(events),
    )


def many_grades(count: int) -> list[StoredGrade]:
    return [grade("_1_1", f"_{n}_1", float(n % 100), change_index=n) for n in range(count)]


def journal_mode(store: SQLiteStateStore) -> str:
    with closing(sqlite3.connect(store.path)) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


async def assert_untouched(store: SQLiteStateStore) -> None:
    structure = await store.structure(COURSE)
    assert structure.columns == {} and structure.cursors == {}
    assert await store.grades(COURSE, "_1_1") == {}
    assert await store.pending(SINK, 10) == []
    assert (await store.status()).events == 0


async def test_a_constraint_failing_at_the_end_leaves_nothing_of_the_unit(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks([SINK])
    broken = NewEvent("e2", "gradesync.grade.created", "s", COURSE, clock.now(), "{not json")
    unit = big_unit(clock, many_grades(1000), event("e1", clock.now()), broken)
    with pytest.raises(StateError, match="CHECK constraint failed") as caught:
        await store.commit(unit)
    assert str(store.path) in str(caught.value)
    await assert_untouched(store)


async def test_an_exception_inside_a_batched_step_rolls_back_everything(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks([SINK])
    unit = big_unit(clock, Batch(many_grades(1000), at=500), event("e1", clock.now()))
    with pytest.raises(RuntimeError, match="half-way"):
        await store.commit(unit)
    await assert_untouched(store)

    assert await store.commit(big_unit(clock, many_grades(10), event("e1", clock.now()))) == 1
    assert len(await store.grades(COURSE, "_1_1")) == 10


async def test_a_commit_cancelled_mid_batch_is_rolled_back_and_the_store_goes_on(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks([SINK])
    gate = Gate()
    unit = big_unit(clock, Batch(many_grades(1000), at=400, gate=gate), event("e1", clock.now()))
    task = asyncio.create_task(store.commit(unit))
    try:
        await gate.reached.wait()
        task.cancel()
    finally:
        gate.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_untouched(store)
    assert await store.commit(big_unit(clock, many_grades(5), event("e1", clock.now()))) == 1


async def test_readers_see_the_last_commit_while_a_commit_is_running(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks([SINK])
    before = many_grades(3)
    await store.commit(big_unit(clock, before, event("e0", clock.now())))
    gate = Gate()
    grown = [grade("_1_1", g.user_id, 1.0, version=2) for g in before] + many_grades(2000)[3:]
    writing = asyncio.create_task(
        store.commit(big_unit(clock, Batch(grown, at=1500, gate=gate), event("e1", clock.now())))
    )
    try:
        await gate.reached.wait()
        # The writer holds its transaction open: reads neither wait for it nor see any of it.
        assert await store.grades(COURSE, "_1_1") == {g.user_id: g for g in before}
        assert [e.id for e in await store.pending(SINK, 10)] == ["e0"]
        assert not writing.done()
    finally:
        gate.release.set()
    assert await writing == 1
    assert journal_mode(store) == "wal"
    after = await store.grades(COURSE, "_1_1")
    assert len(after) == 2000 and after[before[0].user_id].version == 2
    assert [e.id for e in await store.pending(SINK, 10)] == ["e0", "e1"]


async def test_an_event_id_already_recorded_is_recorded_once(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks([SINK])
    now = clock.now()
    assert await store.commit(events_unit(["a", "b"], now)) == 2
    assert await store.commit(events_unit(["b", "c"], now)) == 1
    assert await store.commit(events_unit(["d", "d", "a"], now)) == 1
    pending = await store.pending(SINK, 100)
    assert [e.id for e in pending] == ["a", "b", "c", "d"]
    assert [e.seq for e in pending] == sorted(e.seq for e in pending)


async def test_concurrent_commits_are_serialised_and_all_land(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks([SINK])

    async def one(n: int) -> int:
        unit = UnitOfWork(
            course_id=COURSE,
            cursors={f"_{n}_1": ColumnCursor(n)},
            grade_upserts=[grade(f"_{n}_1", "_7_1")],
            events=[event(f"e{n}", clock.now())],
        )
        return await store.commit(unit)

    assert await asyncio.gather(*(one(n) for n in range(20))) == [1] * 20
    assert len((await store.structure(COURSE)).cursors) == 20
    assert [len(await store.grades(COURSE, f"_{n}_1")) for n in range(20)] == [1] * 20
    assert await store.outbox_depth(SINK) == 20
