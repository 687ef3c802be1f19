"""Grade rows kept between requests: every edit is in the next answer, whatever was kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.simulator.simclient import Api

from gradesync.clock import ManualClock
from gradesync.learn.client import GRADE_FIELDS
from gradesync.simulator import World, WorldSpec
from gradesync.simulator.rows import RowCache
from gradesync.simulator.site import SimCourse
from gradesync.simulator.wire import Fields

SPEC = WorldSpec(seed=11, courses=9, columns_per_course=5, students_per_course=14)
# The client's selection, none, and the corners of the ``fields`` rule for nested objects.
SELECTIONS = (
    GRADE_FIELDS,
    None,
    "userId,changeIndex",
    "displayGrade.text,userId",
    "displayGrade.score.x,score.y,exempt",
    "displayGrade,displayGrade.score",
    "displayGrade.possible,displayGrade.text,text,feedback,notes,overridden",
    "corrupt,status",
    "nothing",
)


def _plain(world: World) -> SimCourse:
    """A course with its own gradebook (not part of a cross-listed set)."""
    return next(c for c in world.courses if not c.children and c.parent is None)


async def _rows(api: Api, course: str, column: str, query: str = "") -> dict[str, Any]:
    """A column's rows over HTTP as the client asks for them, by user id."""
    fields = f"?fields={GRADE_FIELDS}" + (f"&{query}" if query else "")
    path = f"v2/courses/{course}/gradebook/columns/{column}/users{fields}"
    return {row["userId"]: row for row in await api.walk(path)}


def _everything(world: World, fields: str | None) -> list[list[Any]]:
    """Every column's rows under ``fields``, disabled memberships and their change index too."""
    return [
        [(row.change_index, row.disabled, json.loads(row.body)) for row in rows]
        for course in world.courses
        for column in world.columns(course)
        for rows in [world.row_cache.rows(course, column, fields)]
    ]


def _edits(world: World) -> list[Callable[[], object]]:
    """One of each edit, then random ones: what a busy term does to a gradebook."""
    course = _plain(world)
    columns, students = world.column_ids(course.id), world.student_ids(course.id)
    parent = next(c for c in world.courses if c.children)
    child = world.courses[parent.children[0]].id

    def enrol_in_child() -> None:
        new = world.add_student(parent.id, child_course_id=child)
        world.set_score(parent.id, world.column_ids(parent.id)[0], new, 9.5)

    return [
        lambda: world.set_score(course.id, columns[0], students[0], 7.25),
        lambda: world.set_text(course.id, columns[1], students[1], 'A- "late" \u2603'),
        lambda: world.set_exempt(course.id, columns[0], students[2], True),
        lambda: world.set_score(course.id, columns[2], students[3], 0.5),
        lambda: world.clear_grade(course.id, columns[2], students[3]),
        lambda: world.remove_student(course.id, students[4]),
        lambda: world.disable_membership(course.id, students[5]),
        lambda: world.set_score(course.id, columns[2], world.add_student(course.id), 3.0),
        lambda: world.add_column(course.id, "Lab", possible=12.0),
        lambda: world.delete_column(course.id, columns[1]),
        enrol_in_child,
        lambda: world.random_edits(120, seed=5),
    ]


def test_each_edit_is_in_the_next_read_of_a_world_read_before_it() -> None:
    read = World(SPEC, clock=ManualClock())
    edits = _edits(read)
    for made, edit in enumerate(edits, start=1):
        for fields in SELECTIONS[:2]:
            _everything(read, fields)
        edit()
        fresh = World(SPEC, clock=ManualClock())
        for same in _edits(fresh)[:made]:
            same()
        for fields in SELECTIONS[:2]:
            assert _everything(read, fields) == _everything(fresh, fields), f"edit {made}"


@pytest.mark.parametrize("fields", SELECTIONS)
def test_a_selection_narrows_rows_as_fields_narrows_any_object(fields: str | None) -> None:
    world = World(SPEC, clock=ManualClock())
    for edit in _edits(world):
        edit()
    narrowed = [
        [(change, disabled, Fields(fields).apply(body)) for change, disabled, body in rows]
        for rows in _everything(world, None)
    ]
    assert _everything(world, fields) == narrowed


async def test_each_grade_edit_is_in_the_next_page_of_its_column_and_the_total(
    api: Api, world: World
) -> None:
    course = _plain(world)
    column = world.columns(course)[0]
    user = next(u for u, r in (await _rows(api, course.id, column.id)).items() if "score" in r)
    total = (await _rows(api, course.id, "finalGrade"))[user]["score"]
    old = (await _rows(api, course.id, column.id))[user]["score"]

    index = world.set_score(course.id, column.id, user, old + 2.5)
    row = (await _rows(api, course.id, column.id))[user]
    assert (row["score"], row["changeIndex"]) == (old + 2.5, index)
    assert (await _rows(api, course.id, "finalGrade"))[user]["score"] == pytest.approx(total + 2.5)

    world.set_text(course.id, column.id, user, "Pass")
    assert (await _rows(api, course.id, column.id))[user]["displayGrade"]["text"] == "Pass"
    world.set_exempt(course.id, column.id, user, True)
    assert (await _rows(api, course.id, column.id))[user]["exempt"] is True
    assert (await _rows(api, course.id, "finalGrade"))[user]["score"] == pytest.approx(total - old)
    index = world.clear_grade(course.id, column.id, user)
    row = (await _rows(api, course.id, column.id))[user]
    assert (row["changeIndex"], "score" in row, "displayGrade" in row) == (index, False, False)


async def test_roster_and_column_changes_are_in_the_next_page(api: Api, world: World) -> None:
    course = _plain(world)
    column = world.columns(course)[0]
    rows = await _rows(api, course.id, column.id)
    before = next(iter((await _rows(api, course.id, "finalGrade")).values()))
    possible = before["displayGrade"]["possible"]
    gone, hidden = list(rows)[:2]

    new = world.add_student(course.id)
    world.set_score(course.id, column.id, new, 1.0)
    world.remove_student(course.id, gone)
    world.disable_membership(course.id, hidden)
    rows = await _rows(api, course.id, column.id)
    assert list(rows)[-1] == new
    assert gone not in rows and hidden not in rows
    assert hidden in await _rows(api, course.id, column.id, "includeDisabledMemberships=true")
    assert gone not in await _rows(api, course.id, "finalGrade")

    world.add_column(course.id, "Lab", possible=12.0)
    total = next(iter((await _rows(api, course.id, "finalGrade")).values()))
    assert total["displayGrade"]["possible"] == pytest.approx(possible + 12.0)
    world.delete_column(course.id, column.id)
    total = next(iter((await _rows(api, course.id, "finalGrade")).values()))
    assert total["displayGrade"]["possible"] == pytest.approx(possible + 12.0 - column.possible)


def test_the_cache_keeps_at_most_its_size_and_reads_past_it_stay_right() -> None:
    world, fresh = World(SPEC, clock=ManualClock()), World(SPEC, clock=ManualClock())
    world.row_cache = RowCache(world, size=3)
    for fields in (GRADE_FIELDS, None):
        _everything(world, fields)
        assert len(world.row_cache) == 3
    for edit in [*_edits(world), *_edits(fresh)]:
        edit()
    assert _everything(world, GRADE_FIELDS) == _everything(fresh, GRADE_FIELDS)
    assert len(world.row_cache) == 3
