"""The due dates the simulator serves: the realistic activity's plan for the columns it grades
(its sittings come after them), the derived ones when the realistic activity is off.

The async tests come first (see test_activity_model.py: looptime's plugin and a plain test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from tests.simulator.simclient import Api

from gradesync.clock import ManualClock
from gradesync.simulator import Simulator, World, WorldSpec, derive, serve
from gradesync.simulator.activity import ActivityModel
from gradesync.simulator.plan import ActivityPlan

MONDAY = datetime(2026, 10, 5, tzinfo=UTC)
SMALL = WorldSpec(seed=9, courses=30, columns_per_course=8, students_per_course=20)
# Week 6: columns due behind and ahead, and a column added mid-term by every active course.
MODEL = ActivityModel(seed=4, start_week=6, added_column_share=1.0)


@asynccontextmanager
async def _served(
    world: World, clock: ManualClock, model: ActivityModel | None
) -> AsyncIterator[tuple[Simulator, Api]]:
    async with serve(world, clock=clock, activity=model) as sim, aiohttp.ClientSession() as s:
        yield sim, Api(sim, s)


async def _columns(api: Api, world: World) -> dict[str, list[dict[str, Any]]]:
    """Every gradebook's columns as served, by course id (on a fresh token: the clock may have
    passed the last one's expiry)."""
    await api.fetch_token()
    return {
        course.id: await api.walk(f"v2/courses/{course.id}/gradebook/columns")
        for course in world.courses
        if course.parent is None
    }


def _due(body: dict[str, Any]) -> datetime | None:
    due = body["grading"].get("due")
    return None if due is None else datetime.fromisoformat(due)


def _planned(plan: ActivityPlan, course: str, body: dict[str, Any]) -> datetime | None:
    """The plan's due date of a served column: by primary id, or by ``externalId:`` for the
    column the plan added."""
    dues = plan.due_dates(course)
    external = body.get("externalId")
    return dues.get(body["id"], dues.get(f"externalId:{external}" if external else ""))


def _own(plan: ActivityPlan, course: str) -> dict[str, datetime]:
    """The plan's due dates of the course's own columns (not of the column it adds)."""
    return {ref: due for ref, due in plan.due_dates(course).items() if ref.startswith("_")}


async def test_the_columns_the_plan_grades_are_served_due_when_it_says_and_graded_after() -> None:
    clock = ManualClock(MONDAY)
    world = World(SMALL, clock=clock)
    async with _served(world, clock, MODEL) as (sim, api):
        plan = sim.activity_plan
        assert plan is not None
        served = await _columns(api, world)
        graded = 0
        for course, bodies in served.items():
            wanted = [_planned(plan, course, body) for body in bodies]
            # Every column the plan grades is served due when the plan says; the others, with
            # no due date.
            assert [_due(body) for body in bodies] == wanted, course
            assert len([due for due in wanted if due]) == len(_own(plan, course)), course
            graded += len(_own(plan, course))
        assert graded > 20
        # Four weeks of play: the plan adds columns (each due ten days later) and grades them.
        await clock.advance(0)
        for _ in range(4 * 7 * 4):
            await clock.advance(6 * 3600)
        served = await _columns(api, world)
    edits = world.edit_log()
    dues: dict[str, datetime] = {}  # by column id, every column the plan grades
    added: set[str] = set()
    for course, bodies in served.items():
        for body in bodies:
            planned = _planned(plan, course, body)
            assert _due(body) == planned, (course, body)
            if planned is not None:
                dues[body["id"]] = planned
                if body.get("externalId", "").startswith("ACT-"):
                    added.add(body["id"])
    assert len(added) > 3
    # Every grade edit is of a column the plan grades, after its served due date.
    assert len(edits) > 500
    for edit in edits:
        assert edit.at >= dues[edit.column_id], edit
    assert any(edit.column_id in added for edit in edits)  # an added column is graded too


def _derived(world: World, course: str, column_id: str) -> datetime | None:
    """The due date ``derive`` gives a base column."""
    sim_course = world.resolve_course(course)
    count = world.spec.columns_per_course
    j = int(column_id[1:-2]) - derive.COLUMN_BASE - sim_course.index * count
    return derive.base_column(world.spec.seed, sim_course.index, j, count, sim_course.created).due


async def test_without_the_realistic_activity_the_derived_due_dates_are_served() -> None:
    clock = ManualClock(MONDAY)
    world = World(SMALL, clock=clock)
    async with _served(world, clock, None) as (sim, api):
        sim.set_activity(120)  # the uniform activity leaves the due dates alone
        await clock.advance(0)
        await clock.advance(600)
        assert sim.edits
        served = await _columns(api, world)
    dated = 0
    for course, bodies in served.items():
        for body in bodies:
            due = _derived(world, course, body["id"])
            assert _due(body) == due, body
            dated += due is not None
    assert dated > 100


async def test_the_same_seed_serves_the_same_due_dates_and_stopping_restores_the_derived() -> None:
    clock = ManualClock(MONDAY)
    world, twin = World(SMALL, clock=clock), World(SMALL, clock=clock)
    async with _served(world, clock, MODEL) as (sim, api):
        first = await _columns(api, world)
        async with _served(twin, clock, MODEL) as (_, twin_api):
            assert await _columns(twin_api, twin) == first
        sim.set_activity_model(ActivityModel(seed=5, start_week=6, added_column_share=1.0))
        other = await _columns(api, world)
        assert other != first
        sim.set_activity_model(None)
        stopped = await _columns(api, world)
    assert all(
        _due(body) == _derived(world, course, body["id"])
        for course, bodies in stopped.items()
        for body in bodies
    )


# -- the world's rules, without HTTP ------------------------------------------------------------


def test_a_column_the_plan_does_not_grade_has_no_due_date_unless_it_was_added_with_one() -> None:
    world = World(SMALL, clock=ManualClock(MONDAY))
    plan = ActivityPlan(world, MODEL, start=MONDAY)
    course = next(
        c for c in world.courses if c.parent is None and plan.due_dates(c.id) and not c.children
    )
    due = MONDAY + timedelta(days=3)
    added = world.add_column(course.id, "Quiz", due=due)
    world.planned_due = plan.column_due
    dues = plan.due_dates(course.id)
    columns = world.columns(course)
    assert [world.due(course, c) for c in columns] == [dues.get(c.id) for c in columns[:-1]] + [due]
    assert added not in dues and any(c.due is not None and c.id not in dues for c in columns)
    child = next(c for c in world.courses if c.parent is not None)
    assert plan.column_due(child, columns[0]) is None
    world.planned_due = None
    assert [world.due(course, c) for c in columns] == [c.due for c in columns]
