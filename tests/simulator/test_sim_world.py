"""The world itself: determinism, the one changeIndex counter, derived totals, memory."""

from __future__ import annotations

import tracemalloc

import pytest

from gradesync.clock import ManualClock
from gradesync.simulator import NotFound, World, WorldSpec

SMALL = WorldSpec(seed=5, courses=9, columns_per_course=5, students_per_course=12)


def _snapshot(world: World) -> list[object]:
    out: list[object] = []
    for course in world.courses:
        out.append(course.body)
        out += [m.model_dump() for m in world.memberships(course.id)]
        for column in world.columns(course):
            out += world.grade_rows(course, column, include_disabled=True)
    return out


def _graded(world: World) -> tuple[str, str, str]:
    """(course, column, user) of a graded, non-exempt row in a course's first column."""
    for course in world.courses:
        if course.parent is None and not course.children:
            column = world.columns(course)[0]
            for row in world.grade_rows(course, column):
                if "score" in row and not row["exempt"]:
                    return course.id, column.id, row["userId"]
    raise AssertionError("no graded row")


def test_same_seed_builds_the_same_world_and_edits() -> None:
    first, second = World(SMALL, clock=ManualClock()), World(SMALL, clock=ManualClock())
    assert _snapshot(first) == _snapshot(second)
    assert first.random_edits(40) == second.random_edits(40) == 40
    assert _snapshot(first) == _snapshot(second)
    assert _snapshot(World(WorldSpec(seed=6, courses=9))) != _snapshot(first)


def test_every_edit_takes_the_next_value_of_one_global_counter() -> None:
    world = World(SMALL)
    baseline = max(
        row["changeIndex"]
        for course in world.courses
        for column in world.columns(course)
        for row in world.grade_rows(course, column, include_disabled=True)
    )
    assert world.change_index > baseline
    course, column, user = _graded(world)
    other_course = next(c.id for c in world.courses[4:] if world.columns(c))
    other_column = world.column_ids(other_course)[1]
    other_user = world.student_ids(other_course)[0]
    indexes = [
        world.set_score(course, column, user, 1.5),
        world.set_text(other_course, other_column, other_user, "B"),
        world.set_exempt(course, column, user, True),
        world.clear_grade(course, column, user),
    ]
    assert indexes == list(range(indexes[0], indexes[0] + 4))
    assert world.change_index == indexes[-1]
    row = world.grade(course, column, user)
    assert row == {"userId": user, "columnId": column, "exempt": False, "changeIndex": indexes[-1]}


def test_calculated_total_follows_an_input_and_keeps_change_index_zero() -> None:
    world = World(SMALL)
    course, column, user = _graded(world)
    before = world.grade(course, "finalGrade", user)
    score = world.grade(course, column, user)
    assert before is not None and score is not None
    world.set_score(course, column, user, score["score"] + 3)
    after = world.grade(course, "finalGrade", user)
    assert after is not None
    assert after["score"] == pytest.approx(before["score"] + 3)
    assert after["changeIndex"] == before["changeIndex"] == 0
    with pytest.raises(ValueError, match="calculated"):
        world.set_score(course, "finalGrade", user, 1.0)


def test_removed_student_vanishes_without_moving_any_change_index() -> None:
    world = World(SMALL)
    course, column, user = _graded(world)
    counter = world.change_index
    world.remove_student(course, user)
    assert user not in world.student_ids(course)
    assert world.change_index == counter
    course_state = world.resolve_course(course)
    assert user not in {r["userId"] for r in world.grade_rows(course_state, world.columns(
        course_state)[0], include_disabled=True)}  # fmt: skip
    with pytest.raises(NotFound):
        world.grade(course, column, user)


def test_users_are_named_by_primary_external_id_or_user_name() -> None:
    world = World(SMALL)
    course, column, user = _graded(world)
    member = next(m for m in world.memberships(course) if m.user_id == user)
    body = world.user(world.user_index(user))
    assert member.course_role_id == "Student"
    for ref in (f"externalId:{body['externalId']}", f"userName:{body['userName']}"):
        assert world.grade(course, column, ref) == world.grade(course, column, user)
    with pytest.raises(NotFound):
        world.user_index("externalId:STU9999999")


def test_added_and_deleted_columns() -> None:
    world = World(SMALL)
    course, column, _ = _graded(world)
    new = world.add_column(course, "Lab 1", type="Attempts", possible=10)
    assert world.column_ids(course)[-1] == new
    state = world.resolve_course(course)
    assert world.grade_rows(state, world.resolve_column(state, new)) == []
    world.delete_column(course, column)
    assert column not in world.column_ids(course)
    with pytest.raises(ValueError, match="external grade"):
        world.delete_column(course, "finalGrade")
    with pytest.raises(ValueError, match="Manual or Attempts"):
        world.add_column(course, "Sum", type="Calculated")


def test_institution_scale_world_is_built_in_little_memory() -> None:
    spec = WorldSpec(seed=1, courses=5_000, columns_per_course=25, students_per_course=40)
    tracemalloc.start()
    try:
        world = World(spec)
        course = world.courses[2_500]
        rows = world.grade_rows(course, world.columns(course)[3])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(world.courses) == 5_000
    assert rows
    assert peak < 40 * 1024 * 1024  # 5M grades, none of them stored
