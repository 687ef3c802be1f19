"""The course gradebook log as a change feed: a quiet course costs one request, what the log
names is read by changeIndex, what it misses is found by the sweep, and a course whose log is
refused falls back to changeIndex, saying so once (docs/strategies.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from tests.sync.sync_support import open_engine
from tests.sync.test_engine import PROBE, Harness

from gradesync.clock import ManualClock
from gradesync.simulator import WorldSpec
from gradesync.sync.cycle import CourseResult

LOG = "v1/courses/{courseId}/gradebook/logs"


class LogHarness(Harness):
    """A harness on the log that also says what each course's cycle asked of Learn."""

    clock: ManualClock
    results: list[CourseResult]

    async def cycle(self, *, full: bool = False) -> list[dict[str, Any]]:
        self.sim.stats.reset()
        self.results = []
        self.courses = await self.syncer.list_courses()
        for course in self.courses:
            result = await self.syncer.sync_course(course, full=full)
            assert result.ok, result.error
            self.results.append(result)
        pending = await self.store.pending(PROBE, 100_000)
        if pending:
            await self.store.mark_delivered(PROBE, pending[-1].seq)
        return [json.loads(e.payload) for e in pending]

    def requests(self) -> dict[str, int]:
        """API requests of the last cycle by route template, the course list and tokens aside."""
        return {
            endpoint: sum(statuses.values())
            for endpoint, statuses in self.sim.stats.by_endpoint().items()
            if endpoint not in ("v3/courses", "v1/oauth2/token", "v1/system/version")
        }


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[LogHarness]:
    spec = WorldSpec(
        seed=11, courses=5, columns_per_course=5, students_per_course=6, cross_listed_parents=1
    )
    async with open_engine(tmp_path, spec, strategy="changelog") as engine:
        await engine.store.register_sinks([PROBE])
        harness = LogHarness(engine.sim, engine.syncer, engine.store)
        harness.clock = engine.clock
        yield harness


async def test_a_quiet_course_costs_exactly_one_request(h: LogHarness) -> None:
    # The newest entries of a course share one instant (a bulk upload just before the first
    # read): the first read takes them all as seen, so the next cycle finds nothing new.
    h.courses = await h.syncer.list_courses()
    course = h.plain_course()
    column_id, user_id = h.graded(course.id)
    others = [u for u in h.world.student_ids(course.id) if u != user_id][:2]
    h.world.set_scores(course.id, {(column_id, u): 3.0 for u in [user_id, *others]})
    first = await h.cycle()
    assert first, "the first read is a whole cycle"
    await h.clock.advance(60)
    assert await h.cycle() == []
    assert h.requests() == {LOG: len(h.courses)}, "one log read per course, nothing else"
    assert all(r.strategy == "changelog" and dict(r.reads) == {"log": 1} for r in h.results)


async def test_a_change_costs_the_log_its_column_and_the_calculated_columns(
    h: LogHarness,
) -> None:
    await h.cycle()
    course = h.plain_course()
    column_id, user_id = h.graded(course.id)
    await h.clock.advance(60)
    h.world.set_score(course.id, column_id, user_id, 2.5)
    events = await h.cycle()
    subject = f"courses/{course.id}/columns/{column_id}/users/{user_id}"
    assert [e["type"] for e in events if e["subject"] == subject] == ["gradesync.grade.updated"]
    others = [e for e in events if e["subject"] != subject]
    assert {(e["data"]["column"]["type"], e["data"]["user"]["id"]) for e in others} <= {
        ("Calculated", user_id)
    }, "besides the edit, only the student's totals can move"
    changed = next(r for r in h.results if r.course_id == course.id)
    calculated = sum(
        1 for c in (await h.store.structure(course.id)).columns.values() if c.calculated
    )
    assert changed.reads["log"] == 1
    assert changed.reads["delta"] == 1 and changed.reads["full"] == calculated
    grades = h.requests()["v2/courses/{courseId}/gradebook/columns/{columnId}/users"]
    assert grades == 1 + calculated
    assert "v2/courses/{courseId}/gradebook/columns" not in h.requests(), "no column list"


async def test_entries_sharing_the_cursor_timestamp_are_neither_lost_nor_repeated(
    h: LogHarness,
) -> None:
    await h.cycle()
    course = h.plain_course()
    column_id, first_user = h.graded(course.id)
    others = [u for u in h.world.student_ids(course.id) if u != first_user][:2]
    await h.clock.advance(60)
    # A bulk edit: two entries at one instant. The cycle reads them; then, at that same
    # instant (the clock has not moved), one more entry is logged.
    h.world.set_scores(course.id, {(column_id, first_user): 1.0, (column_id, others[0]): 1.5})
    bulk = await h.cycle()
    assert {e["data"]["user"]["id"] for e in bulk if e["data"]["column"]["id"] == column_id} == {
        first_user,
        others[0],
    }
    h.world.set_score(course.id, column_id, others[1], 2.0)
    later = await h.cycle()
    assert {e["data"]["user"]["id"] for e in later if e["data"]["column"]["id"] == column_id} == {
        others[1]
    }, "the new entry at the cursor's timestamp is read; the two already read are not again"
    await h.clock.advance(60)
    assert await h.cycle() == []


async def test_an_edit_the_log_never_recorded_is_found_by_the_sweep(h: LogHarness) -> None:
    await h.cycle()
    course = h.plain_course()
    column_id, user_id = h.graded(course.id)
    h.world.log_edits = False  # an unlogged source
    h.world.set_score(course.id, column_id, user_id, 4.0)
    await h.clock.advance(3600)
    assert await h.cycle() == [], "the log says nothing: the course looks quiet"
    await h.clock.advance(timedelta(days=1).total_seconds())
    subject = f"courses/{course.id}/columns/{column_id}/users/{user_id}"
    events = await h.cycle()
    assert [e["type"] for e in events if e["subject"] == subject] == ["gradesync.grade.updated"]
    status = {s.course_id: s for s in await h.store.course_status()}
    assert status[course.id].last_sweep == h.clock.now()


async def test_a_deleted_column_is_found_at_the_next_sweep(h: LogHarness) -> None:
    await h.cycle()
    course = h.plain_course()
    column_id, _ = h.graded(course.id)
    h.world.delete_column(course.id, column_id)
    await h.clock.advance(60)
    assert [e for e in await h.cycle() if e["data"]["column"]["id"] == column_id] == []
    await h.clock.advance(timedelta(days=1).total_seconds())
    deleted = [e for e in await h.cycle() if e["data"]["column"]["id"] == column_id]
    assert deleted and {e["type"] for e in deleted} == {"gradesync.grade.deleted"}


@pytest.mark.parametrize(
    ("fault", "status"),
    [({"forbidden_logs": True}, 403), ({"learn_version": "3900.70.0"}, 404)],
    ids=["entitlements-missing", "older-learn"],
)
async def test_a_refused_log_falls_back_to_changeindex_and_says_so_once(
    h: LogHarness, fault: dict[str, Any], status: int
) -> None:
    for name, value in fault.items():
        setattr(h.sim.faults, name, value)
    with capture_logs() as logs:
        await h.cycle()
        course = h.plain_course()
        column_id, user_id = h.graded(course.id)
        h.world.set_score(course.id, column_id, user_id, 3.0)
        await h.clock.advance(60)
        events = await h.cycle()
        await h.clock.advance(60)
        await h.cycle()
    subject = f"courses/{course.id}/columns/{column_id}/users/{user_id}"
    assert [e["type"] for e in events if e["subject"] == subject] == ["gradesync.grade.updated"]
    warnings = [e for e in logs if e["event"] == "course.log_unavailable"]
    assert len(warnings) == len(h.courses), "one warning per course, not one per cycle"
    assert all(str(status) in w["reason"] for w in warnings)
    assert all(r.strategy == "changeindex" for r in h.results)
    statuses = await h.store.course_status()
    assert all(s.log_fallback and str(status) in s.log_fallback for s in statuses)
    # A day later the log is tried again; it works now.
    for name in fault:
        setattr(h.sim.faults, name, type(h.sim.faults)().model_dump()[name])
    await h.clock.advance(timedelta(days=1).total_seconds())
    await h.cycle()
    assert all(r.strategy == "changelog" for r in h.results)
    await h.clock.advance(60)
    await h.cycle()
    assert h.requests() == {LOG: len(h.courses)}


async def test_a_due_sweep_waits_for_its_share_of_the_budget(h: LogHarness) -> None:
    grades = "v2/courses/{courseId}/gradebook/columns/{columnId}/users"
    room = False
    h.syncer._sweep_room = lambda cost: room  # the sweeps' share of the budget is spent
    await h.cycle()
    await h.clock.advance(timedelta(days=8).total_seconds())
    await h.cycle()  # a week overdue: still on the log alone, no column is read
    assert grades not in h.requests(), "no sweep while its share is spent"
    room = True
    await h.cycle()
    assert h.requests()[grades] >= len(h.courses), "the sweep, once its share allows"
