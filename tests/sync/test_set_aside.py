"""One bad row never stops its course (docs/contract.md section 6): the real engine, client
and SQLite state against the simulator serving rows and columns no faithful copy can hold."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from tests.sync.sync_support import open_engine

from gradesync.clock import ManualClock
from gradesync.models import BadRow
from gradesync.simulator import Simulator, World, WorldSpec
from gradesync.store import ColumnCursor, SetAsideRow, SQLiteStateStore
from gradesync.sync.cycle import CourseResult, Syncer, SyncOptions
from gradesync.sync.setaside import ColumnRows, reconcile, retry_cursor

PROBE = "probe"


class Harness:
    """Cycles like ``gradesync once`` over one plain course; the events and logs of each."""

    def __init__(self, sim: Simulator, syncer: Syncer, store: SQLiteStateStore) -> None:
        self.sim = sim
        self.world: World = sim.world
        self.syncer = syncer
        self.store = store
        course = next(c for c in self.world.courses if c.parent is None and not c.children)
        self.course = course.id
        kept = [c for c in self.world.columns(course) if not c.calculated]
        self.column, self.other_column = kept[0].id, kept[1].id
        self.users = self.world.student_ids(self.course)
        for n, user in enumerate(self.users):  # every student graded in both columns
            self.world.set_score(self.course, self.column, user, float(n))
            self.world.set_score(self.course, self.other_column, user, float(n) + 0.5)
        self.logs: list[MutableMapping[str, Any]] = []
        self.result: CourseResult | None = None

    async def cycle(self, *, full: bool = False) -> list[dict[str, Any]]:
        courses = {c.id: c for c in await self.syncer.list_courses()}
        with structlog.testing.capture_logs() as logs:
            self.result = await self.syncer.sync_course(courses[self.course], full=full)
        self.logs = logs
        assert self.result.ok, self.result.error
        pending = await self.store.pending(PROBE, 100_000)
        if pending:
            await self.store.mark_delivered(PROBE, pending[-1].seq)
        events = [json.loads(e.payload) for e in pending]
        # The calculated Total follows every edit; what matters here is the kept columns.
        return [e for e in events if e["data"]["column"]["type"] != "Calculated"]

    def logged(self, event: str) -> list[MutableMapping[str, Any]]:
        return [entry for entry in self.logs if entry["event"] == event]

    def subject(self, user: str, column: str | None = None) -> str:
        return f"courses/{self.course}/columns/{column or self.column}/users/{user}"

    async def set_aside(self) -> list[SetAsideRow]:
        return await self.store.set_aside_rows()

    async def cursor(self, column: str | None = None) -> ColumnCursor:
        return (await self.store.structure(self.course)).cursors[column or self.column]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    spec = WorldSpec(
        seed=11, courses=2, columns_per_course=4, students_per_course=5, cross_listed_parents=0
    )
    # Column by column: the column list is read every cycle (on the log, only when the log
    # names an unknown column or a sweep is due).
    async with open_engine(tmp_path, spec, strategy="changeindex") as engine:
        await engine.store.register_sinks([PROBE])
        yield Harness(engine.sim, engine.syncer, engine.store)


async def test_a_bad_row_is_set_aside_retried_and_resolved_while_the_rest_goes_on(
    harness: Harness,
) -> None:
    h = harness
    bad_user = h.users[2]
    bad_index = h.world.grade(h.course, h.column, bad_user)["changeIndex"]  # type: ignore[index]
    h.sim.faults.bad_rows = {(h.course, h.column, bad_user): "nan"}

    subjects = {e["subject"] for e in await h.cycle()}
    others = {h.subject(u) for u in h.users if u != bad_user}
    assert others | {h.subject(u, h.other_column) for u in h.users} <= subjects
    assert h.subject(bad_user) not in subjects
    (row,) = await h.set_aside()
    assert (row.course_id, row.kind, row.column_id, row.user_id) == (
        h.course,
        "grade",
        h.column,
        bad_user,
    )
    assert row.reason.startswith("score is not a finite number")
    (logged,) = h.logged("row.set_aside")
    assert (logged["column_id"], logged["user_id"]) == (h.column, bad_user)
    assert set(logged) == {"event", "log_level", "kind", "column_id", "user_id", "reason"}
    assert (await h.store.status()).set_aside == 1 == h.result.set_aside  # type: ignore[union-attr]
    assert (await h.cursor()).change_index < bad_index  # the next read reaches it again

    assert await h.cycle() == []  # retried, still bad: nothing new, logged no more
    assert h.logged("row.set_aside") == []
    assert [r.first_seen for r in await h.set_aside()] == [row.first_seen]

    h.sim.faults.bad_rows = {}  # Learn sends a good row
    events = await h.cycle()
    assert [(e["type"], e["subject"]) for e in events] == [
        ("gradesync.grade.created", h.subject(bad_user))
    ]
    assert await h.set_aside() == []
    (resolved,) = h.logged("row.resolved")
    assert (resolved["column_id"], resolved["user_id"]) == (h.column, bad_user)
    assert (await h.cursor()).change_index >= bad_index


async def test_a_known_grade_that_turns_bad_is_neither_deleted_nor_changed(
    harness: Harness,
) -> None:
    h = harness
    await h.cycle()
    user = h.users[0]
    h.sim.faults.bad_rows = {(h.course, h.column, user): "string"}
    assert await h.cycle(full=True) == []  # a full read: the row is there, just unreadable
    assert len(await h.set_aside()) == 1
    h.world.set_score(h.course, h.column, h.users[1], 42.0)
    assert [e["subject"] for e in await h.cycle()] == [h.subject(h.users[1])]
    h.sim.faults.bad_rows = {}
    assert await h.cycle() == []  # the same grade as before: no event
    assert await h.set_aside() == []


@pytest.mark.parametrize("kind", ["empty_id", "negative_change_index", "huge_change_index"])
async def test_a_row_a_delta_read_cannot_find_again_gets_a_full_read(
    harness: Harness, kind: str
) -> None:
    h = harness
    await h.cycle()
    user = h.users[3]
    h.world.set_score(h.course, h.column, user, 1.25)
    h.sim.faults.bad_rows = {(h.course, h.column, user): kind}  # type: ignore[dict-item]
    assert await h.cycle() == []
    (row,) = await h.set_aside()
    assert row.user_id == ("" if kind == "empty_id" else user)
    assert (await h.cursor()).full_read_at is None  # read in full next cycle
    assert await h.cycle() == []  # still bad, still set aside, not logged again
    assert h.logged("row.set_aside") == [] and len(await h.set_aside()) == 1
    h.sim.faults.bad_rows = {}
    assert [e["subject"] for e in await h.cycle()] == [h.subject(user)]
    assert await h.set_aside() == []
    assert (await h.cursor()).full_read_at is not None


async def test_a_bad_column_is_set_aside_never_taken_for_deleted(harness: Harness) -> None:
    h = harness
    await h.cycle()
    h.sim.faults.bad_columns = {(h.course, h.column): "nan"}
    h.world.set_score(h.course, h.other_column, h.users[0], 9.75)
    events = await h.cycle()
    assert [e["subject"] for e in events] == [h.subject(h.users[0], h.other_column)]
    (row,) = await h.set_aside()
    assert (row.kind, row.column_id, row.user_id) == ("column", h.column, "")
    assert row.reason.startswith("score.possible is not a finite number")
    assert h.column in (await h.store.structure(h.course)).columns
    h.sim.faults.bad_columns = {}
    assert await h.cycle() == []
    assert await h.set_aside() == []
    assert [e["column_id"] for e in h.logged("row.resolved")] == [h.column]


async def test_a_column_without_a_usable_id_deletes_no_column(harness: Harness) -> None:
    h = harness
    await h.cycle()
    h.sim.faults.bad_columns = {(h.course, h.column): "dot_id"}
    assert await h.cycle() == []  # the column cannot be told apart: nothing is deleted
    (row,) = await h.set_aside()
    assert (row.kind, row.column_id) == ("column", "")
    h.sim.faults.bad_columns = {}
    assert await h.cycle() == []
    assert await h.set_aside() == []


async def test_lastchanged_reads_a_column_in_full_when_its_last_row_is_bad(
    harness: Harness,
) -> None:
    h = harness
    h.syncer._options = SyncOptions(site=h.sim.base_url, strategy="lastchanged")
    await h.cycle()
    user = h.users[1]
    h.world.set_score(h.course, h.column, user, 3.5)  # now the column's last changed row
    h.sim.faults.bad_rows = {(h.course, h.column, user): "inf"}
    assert await h.cycle() == []
    assert [r.user_id for r in await h.set_aside()] == [user]
    h.sim.faults.bad_rows = {}
    assert [e["subject"] for e in await h.cycle()] == [h.subject(user)]
    assert await h.set_aside() == []


# -- the rules alone --------------------------------------------------------------------------

NOW = ManualClock().now()


def known(kind: str, column: str, user: str) -> SetAsideRow:
    return SetAsideRow("_1_1", kind, column, user, "x", NOW, NOW)  # type: ignore[arg-type]


def test_a_delta_read_resolves_only_the_users_it_saw_good() -> None:
    rows = {r.key: r for r in (known("grade", "_5_1", "_7_1"), known("grade", "_5_1", "_8_1"))}
    later = NOW + timedelta(minutes=5)
    changes = reconcile(
        "_1_1",
        rows,
        later,
        bad_columns=[],
        reads=[ColumnRows("_5_1", False, [BadRow("_9_1", 4, "y")], {"_7_1"})],
        dropped_columns=(),
    )
    assert [r.user_id for r in changes.resolved] == ["_7_1"]
    assert [(r.user_id, r.first_seen, r.last_seen) for r in changes.new] == [("_9_1", later, later)]


def test_rows_of_columns_not_read_stay_and_of_dropped_columns_go() -> None:
    rows = {r.key: r for r in (known("grade", "_5_1", "_7_1"), known("grade", "_6_1", "_7_1"))}
    changes = reconcile("_1_1", rows, NOW, bad_columns=[], reads=[], dropped_columns={"_6_1"})
    assert [r.column_id for r in changes.resolved] == ["_6_1"]


def test_the_cursor_stays_below_the_rows_set_aside() -> None:
    cursor = ColumnCursor(100, NOW)
    assert retry_cursor(cursor, []) == cursor
    assert retry_cursor(cursor, [BadRow("_7_1", 60, "x"), BadRow("_8_1", 80, "x")]) == (
        ColumnCursor(59, NOW)
    )
    assert retry_cursor(cursor, [BadRow("_7_1", None, "x")]) == ColumnCursor(100, None)
    assert retry_cursor(cursor, [BadRow(None, 60, "x")]) == ColumnCursor(100, None)
    assert retry_cursor(cursor, [BadRow("_7_1", 0, "x")]) == ColumnCursor(100, None)
