"""The sync engine end to end: the real client against the simulator, a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.sync.sync_support import open_engine

from gradesync.learn import LearnClient
from gradesync.models import Course, Grade
from gradesync.simulator import Simulator, World, WorldSpec
from gradesync.store import SQLiteStateStore
from gradesync.sync.cycle import Syncer, SyncOptions

PROBE = "probe"


class Harness:
    """Runs cycles like ``gradesync once`` and hands back the events each one committed."""

    def __init__(self, sim: Simulator, syncer: Syncer, store: SQLiteStateStore) -> None:
        self.sim = sim
        self.world: World = sim.world
        self.syncer = syncer
        self.store = store
        self.courses: list[Course] = []

    async def cycle(self, *, full: bool = False) -> list[dict[str, Any]]:
        self.courses = await self.syncer.list_courses()
        for course in self.courses:
            result = await self.syncer.sync_course(course, full=full)
            assert result.ok, result.error
        pending = await self.store.pending(PROBE, 100_000)
        if pending:
            await self.store.mark_delivered(PROBE, pending[-1].seq)
        return [json.loads(e.payload) for e in pending]

    def parent_with_children(self) -> Course:
        return next(c for c in self.courses if c.has_children)

    def plain_course(self) -> Course:
        return next(c for c in self.courses if not c.has_children)

    def graded(self, course_id: str, *, calculated: bool = False) -> tuple[str, str]:
        """A (column, user) of ``course_id`` that has a grade, in a non-calculated column."""
        for column_id in self.world.column_ids(course_id):
            for user_id in self.world.student_ids(course_id):
                row = self.world.grade(course_id, column_id, user_id)
                if (
                    row
                    and Grade.model_validate(row).is_grade
                    and ((row.get("changeIndex", 0) == 0) == calculated)
                ):
                    return column_id, user_id
        raise AssertionError("the world has no graded row there")


@pytest.fixture(params=["changeindex", "changelog"])
async def harness(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The engine against the simulator, on each strategy: every change below must be found
    by the next cycle whether the course is read column by column or from its log."""
    spec = WorldSpec(
        seed=11, courses=5, columns_per_course=5, students_per_course=6, cross_listed_parents=1
    )
    async with open_engine(tmp_path, spec, strategy=request.param) as engine:
        await engine.store.register_sinks([PROBE])
        yield Harness(engine.sim, engine.syncer, engine.store)


def by_subject(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["subject"]: e for e in events}


async def test_baseline_then_quiet_cycle(harness: Harness, validate_event: Any) -> None:
    events = await harness.cycle()
    expected = set()
    for course in harness.courses:
        for column_id in harness.world.column_ids(course.id):
            for user_id in harness.world.student_ids(course.id):
                row = harness.world.grade(course.id, column_id, user_id)
                if row is not None and Grade.model_validate(row).is_grade:
                    expected.add(f"courses/{course.id}/columns/{column_id}/users/{user_id}")
    assert {e["type"] for e in events} == {"gradesync.grade.created"}
    assert set(by_subject(events)) == expected
    assert len(events) == len(expected)
    for event in events:
        validate_event(event)
    assert await harness.cycle() == []


async def test_score_override_and_exempt_changes_are_updates(harness: Harness) -> None:
    await harness.cycle()
    course = harness.plain_course()
    column_id, user_id = harness.graded(course.id)
    before = harness.world.grade(course.id, column_id, user_id)
    harness.world.set_score(course.id, column_id, user_id, 3.25)
    subject = f"courses/{course.id}/columns/{column_id}/users/{user_id}"
    (event,) = [e for e in await harness.cycle() if e["subject"] == subject]
    assert event["type"] == "gradesync.grade.updated"
    assert event["data"]["grade"]["score"] == 3.25
    assert event["data"]["previous"]["changeIndex"] == before["changeIndex"]  # type: ignore[index]

    harness.world.set_text(course.id, column_id, user_id, "B+")
    (event,) = [e for e in await harness.cycle() if e["subject"] == subject]
    assert event["data"]["grade"]["text"] == "B+"

    harness.world.set_exempt(course.id, column_id, user_id, True)
    (event,) = [e for e in await harness.cycle() if e["subject"] == subject]
    assert event["data"]["grade"]["exempt"] is True
    assert event["type"] == "gradesync.grade.updated"


async def test_calculated_total_follows_its_input(harness: Harness) -> None:
    await harness.cycle()
    course = harness.plain_course()
    column_id, user_id = harness.graded(course.id)
    harness.world.set_score(course.id, column_id, user_id, 0.5)
    events = await harness.cycle()
    totals = [
        e
        for e in events
        if e["data"]["column"]["type"] == "Calculated" and e["data"]["user"]["id"] == user_id
    ]
    assert [e["type"] for e in totals] == ["gradesync.grade.updated"]
    assert totals[0]["data"]["grade"]["changeIndex"] == 0


async def test_cleared_grade_emits_deleted(harness: Harness, validate_event: Any) -> None:
    await harness.cycle()
    course = harness.plain_course()
    column_id, user_id = harness.graded(course.id)
    harness.world.clear_grade(course.id, column_id, user_id)
    subject = f"courses/{course.id}/columns/{column_id}/users/{user_id}"
    (event,) = [e for e in await harness.cycle() if e["subject"] == subject]
    assert event["type"] == "gradesync.grade.deleted"
    assert event["data"]["grade"] is None
    assert event["data"]["previous"] is not None
    validate_event(event)


async def test_new_column_and_new_student_grades_are_created(harness: Harness) -> None:
    await harness.cycle()
    course = harness.plain_course()
    column_id = harness.world.add_column(course.id, "Quiz 9", possible=20.0)
    events = await harness.cycle()  # a column with no grades yet: only the total may move
    assert {e["data"]["column"]["type"] for e in events} <= {"Calculated"}
    assert all(e["data"]["column"]["id"] != column_id for e in events)
    user_id = harness.world.add_student(course.id)
    harness.world.set_score(course.id, column_id, user_id, 17.0)
    events = await harness.cycle()
    new = [e for e in events if e["data"]["column"]["id"] == column_id]
    assert [e["type"] for e in new] == ["gradesync.grade.created"]
    user = new[0]["data"]["user"]
    assert user["id"] == user_id
    assert user["externalId"]  # the membership was refreshed for the unknown student


async def test_child_course_student_is_attributed_to_the_child(harness: Harness) -> None:
    await harness.cycle()
    parent = harness.parent_with_children()
    child_ids = {c.id for c in harness.courses}  # children are not selected...
    column_id, _ = harness.graded(parent.id)
    user_id = harness.world.add_student(parent.id, child_course_id=_first_child(harness, parent))
    harness.world.set_score(parent.id, column_id, user_id, 9.0)
    (event,) = [
        e
        for e in await harness.cycle()
        if e["data"]["user"]["id"] == user_id and e["data"]["column"]["id"] == column_id
    ]
    assert event["data"]["sourceCourse"]["id"] == parent.id
    assert event["data"]["course"]["id"] == _first_child(harness, parent)
    assert event["data"]["course"]["id"] not in child_ids  # ...but grades are attributed to them


def _first_child(harness: Harness, parent: Course) -> str:
    children = sorted(
        {m.child_course_id for m in harness.world.memberships(parent.id) if m.child_course_id}
    )
    assert children, "the parent has no child course students"
    return children[0]


# The log records no column deletion: on the log it is found at the next column-list read
# (tests/sync/test_changelog.py), here by the column list every changeIndex cycle reads.
@pytest.mark.parametrize("harness", ["changeindex"], indirect=True)
async def test_deleted_column_deletes_its_grades(harness: Harness) -> None:
    await harness.cycle()
    course = harness.plain_course()
    column_id, _ = harness.graded(course.id)
    graded = sum(
        1
        for u in harness.world.student_ids(course.id)
        if (row := harness.world.grade(course.id, column_id, u))
        and Grade.model_validate(row).is_grade
    )
    harness.world.delete_column(course.id, column_id)
    events = [e for e in await harness.cycle() if e["data"]["column"]["id"] == column_id]
    assert len(events) == graded
    assert {e["type"] for e in events} == {"gradesync.grade.deleted"}


# An enrolment change leaves no log entry: on the log the course stays quiet until a sweep.
@pytest.mark.parametrize("harness", ["changeindex"], indirect=True)
async def test_removed_membership_is_found_by_a_full_read(harness: Harness) -> None:
    await harness.cycle()
    course = harness.plain_course()
    _, user_id = harness.graded(course.id)
    harness.world.remove_student(course.id, user_id)
    # No changeIndex moved: a delta read cannot see it; only the Calculated column, read in
    # full every cycle, loses the student's total at once.
    quick = await harness.cycle()
    assert {(e["type"], e["data"]["column"]["type"]) for e in quick} == {
        ("gradesync.grade.deleted", "Calculated")
    }
    events = [e for e in await harness.cycle(full=True) if e["data"]["user"]["id"] == user_id]
    assert events
    assert {e["type"] for e in events} == {"gradesync.grade.deleted"}
    assert {e["data"]["column"]["type"] for e in events} <= {"Attempts", "Manual"}
    assert await harness.cycle(full=True) == []


class FilterIgnoringSource:
    """Learn as an older or odd server: the ``changeIndex`` filter is accepted and ignored."""

    def __init__(self, client: LearnClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def column_grades(self, course_id: str, column_id: str, **options: Any) -> Any:
        options.pop("change_index", None)
        return self._client.column_grades(course_id, column_id, **options)


async def test_a_server_ignoring_the_filter_is_read_as_full(harness: Harness) -> None:
    await harness.cycle()
    syncer = harness.syncer
    syncer._source = FilterIgnoringSource(syncer._source)  # type: ignore[arg-type, assignment]
    assert await harness.cycle() == []  # every row comes back: nothing is mistaken for new
    course = harness.plain_course()
    column_id, user_id = harness.graded(course.id)
    harness.world.clear_grade(course.id, column_id, user_id)
    harness.world.remove_student(course.id, harness.world.student_ids(course.id)[-1])
    kinds = {(e["type"], e["data"]["user"]["id"]) for e in await harness.cycle()}
    assert ("gradesync.grade.deleted", user_id) in kinds  # and the full read finds removals


async def test_lastchanged_strategy_reads_only_columns_that_moved(harness: Harness) -> None:
    harness.syncer._options = SyncOptions(site=harness.sim.base_url, strategy="lastchanged")
    await harness.cycle()
    before = harness.sim.stats.count(endpoint=GRADES)
    assert await harness.cycle() == []
    quiet_reads = harness.sim.stats.count(endpoint=GRADES) - before
    course = harness.plain_course()
    column_id, user_id = harness.graded(course.id)
    harness.world.set_score(course.id, column_id, user_id, 1.5)
    before = harness.sim.stats.count(endpoint=GRADES)
    events = await harness.cycle()
    assert [e["type"] for e in events if e["data"]["column"]["id"] == column_id] == [
        "gradesync.grade.updated"
    ]
    assert harness.sim.stats.count(endpoint=GRADES) - before == quiet_reads + 1


GRADES = "v2/courses/{courseId}/gradebook/columns/{columnId}/users"


async def test_without_baseline_the_first_cycle_is_silent(harness: Harness) -> None:
    harness.syncer._options = SyncOptions(site=harness.sim.base_url, emit_baseline=False)
    assert await harness.cycle() == []
    course = harness.plain_course()
    column_id, user_id = harness.graded(course.id)
    harness.world.set_score(course.id, column_id, user_id, 2.0)
    events = [e for e in await harness.cycle() if e["data"]["column"]["id"] == column_id]
    assert [(e["type"], e["data"]["previous"] is not None) for e in events] == [
        ("gradesync.grade.updated", True)
    ]
