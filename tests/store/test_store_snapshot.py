"""The snapshot round-trips: courses, structure, cursors and grades come back as they went in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tests.store.store_builders import COURSE, column, course, grade, tombstone

from gradesync.clock import ManualClock
from gradesync.errors import StateError
from gradesync.models import Category, Membership
from gradesync.store import ColumnCursor, SQLiteStateStore, StoredGrade, UnitOfWork


def membership(user_id: str, child: str | None = None, available: str = "Yes") -> Membership:
    return Membership.model_validate(
        {
            "id": f"m{user_id}",
            "userId": user_id,
            "courseId": COURSE,
            "childCourseId": child,
            "courseRoleId": "Student",
            "availability": {"available": available},
            "user": {
                "id": user_id,
                "externalId": f"ext{user_id}",
                "userName": f"user{user_id}",
                "studentId": f"S{user_id}",
            },
        }
    )


async def test_save_courses_keeps_only_the_selected_ones_selected(
    store: SQLiteStateStore,
) -> None:
    listed = [course("_10_1"), course("_11_1", name="Biology"), course("_12_1")]
    await store.save_courses(listed, selected_ids={"_11_1", "_12_1"})
    assert set(await store.courses()) == {"_11_1", "_12_1"}
    assert (await store.courses())["_11_1"] == listed[1]

    await store.save_courses(listed[:2], selected_ids={"_10_1", "_11_1"})
    assert set(await store.courses()) == {"_10_1", "_11_1"}  # _12_1 no longer listed


async def test_structure_round_trips_columns_in_order_members_and_categories(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    columns = [column("_3_1"), column("_1_1", kind="Calculated"), column("_2_1")]
    members = [membership("_7_1", child="_20_1"), membership("_8_1", available="Disabled")]
    categories = [Category(id="_5_1", title="Exams")]
    refreshed = clock.now() - timedelta(minutes=5)
    await store.commit(
        UnitOfWork(
            course_id=COURSE,
            columns=columns,
            memberships=members,
            categories=categories,
            refreshed_at=refreshed,
        )
    )
    got = await store.structure(COURSE)
    assert list(got.columns) == ["_3_1", "_1_1", "_2_1"]
    assert list(got.columns.values()) == columns
    assert got.memberships == {m.user_id: m for m in members}
    assert got.memberships["_7_1"].user is not None
    assert got.memberships["_7_1"].user.student_id == "S_7_1"
    assert got.memberships["_8_1"].disabled
    assert got.categories == {"_5_1": categories[0]}
    assert got.memberships_refreshed_at == refreshed
    assert got.categories_refreshed_at == refreshed


async def test_none_leaves_structure_alone_and_a_list_replaces_it(
    store: SQLiteStateStore,
) -> None:
    await store.commit(
        UnitOfWork(
            course_id=COURSE,
            columns=[column("_1_1"), column("_2_1")],
            memberships=[membership("_7_1"), membership("_8_1")],
        )
    )
    await store.commit(UnitOfWork(course_id=COURSE))
    kept = await store.structure(COURSE)
    assert set(kept.columns) == {"_1_1", "_2_1"}
    assert set(kept.memberships) == {"_7_1", "_8_1"}

    await store.commit(
        UnitOfWork(course_id=COURSE, columns=[column("_2_1")], memberships=[membership("_9_1")])
    )
    replaced = await store.structure(COURSE)
    assert set(replaced.columns) == {"_2_1"}
    assert set(replaced.memberships) == {"_9_1"}


async def test_grades_round_trip_with_tombstones_and_versions(store: SQLiteStateStore) -> None:
    live = grade("_1_1", "_7_1", 91.5, change_index=40, version=3)
    gone = tombstone("_1_1", "_8_1", version=2, change_index=41)
    other = grade("_2_1", "_7_1", 70.0)
    await store.commit(UnitOfWork(course_id=COURSE, grade_upserts=[live, gone, other]))

    column_one = await store.grades(COURSE, "_1_1")
    assert column_one == {"_7_1": live, "_8_1": gone}
    assert column_one["_7_1"].live and not column_one["_8_1"].live
    assert column_one["_7_1"].content == {"score": 91.5, "text": "91.5"}
    assert await store.grades(COURSE, "_2_1") == {"_7_1": other}
    assert await store.grades(COURSE, "_9_1") == {}


async def test_digests_come_back_exactly_as_given(store: SQLiteStateStore) -> None:
    digests = ["00ff" * 8, "ABCDEF", "not hex at all", "abc", ""]
    grades = [StoredGrade(COURSE, "_1_1", f"_{n}_1", {}, 0, d, 1) for n, d in enumerate(digests)]
    await store.commit(UnitOfWork(course_id=COURSE, grade_upserts=grades))
    read = await store.grades(COURSE, "_1_1")
    assert [read[f"_{n}_1"].digest for n in range(len(digests))] == digests
    assert (await store.status()).grades == 4  # the empty digest is a tombstone


async def test_upsert_replaces_a_grade_and_delete_removes_it(store: SQLiteStateStore) -> None:
    await store.commit(
        UnitOfWork(course_id=COURSE, grade_upserts=[grade("_1_1", "_7_1"), grade("_1_1", "_8_1")])
    )
    newer = grade("_1_1", "_7_1", 55.0, change_index=9, version=2)
    await store.commit(
        UnitOfWork(course_id=COURSE, grade_upserts=[newer], grade_deletes=[("_1_1", "_8_1")])
    )
    assert await store.grades(COURSE, "_1_1") == {"_7_1": newer}


async def test_deleted_columns_drop_their_cursors_and_grades(store: SQLiteStateStore) -> None:
    await store.commit(
        UnitOfWork(
            course_id=COURSE,
            columns=[column("_1_1"), column("_2_1")],
            cursors={"_1_1": ColumnCursor(5), "_2_1": ColumnCursor(6)},
            grade_upserts=[grade("_1_1", "_7_1"), grade("_2_1", "_7_1")],
        )
    )
    await store.commit(
        UnitOfWork(course_id=COURSE, columns=[column("_2_1")], deleted_columns=["_1_1"])
    )
    structure = await store.structure(COURSE)
    assert set(structure.columns) == {"_2_1"}
    assert set(structure.cursors) == {"_2_1"}
    assert await store.grades(COURSE, "_2_1") == {"_7_1": grade("_2_1", "_7_1")}
    assert await store.grades(COURSE, "_1_1") == {}


async def test_reopening_the_file_resumes_every_cursor(db_path: Path, clock: ManualClock) -> None:
    read_at = clock.now()
    cursors = {
        "_1_1": ColumnCursor(7904733, read_at),
        "_2_1": ColumnCursor(0, None),
        "_3_1": ColumnCursor(12, read_at - timedelta(days=1)),
    }
    async with SQLiteStateStore(db_path, clock=clock) as first:
        await first.save_courses([course()], selected_ids={COURSE})
        await first.commit(UnitOfWork(course_id=COURSE, cursors=cursors))
        await first.commit(UnitOfWork(course_id=COURSE, cursors={"_2_1": ColumnCursor(3)}))
    async with SQLiteStateStore(db_path, clock=clock) as second:
        resumed = (await second.structure(COURSE)).cursors
    assert resumed == {**cursors, "_2_1": ColumnCursor(3)}
    assert resumed["_1_1"].full_read_at == read_at


async def test_a_unit_for_a_course_never_saved_is_refused(store: SQLiteStateStore) -> None:
    with pytest.raises(StateError, match="_99_1 is not in the state"):
        await store.commit(UnitOfWork(course_id="_99_1", cursors={"_1_1": ColumnCursor(1)}))


async def test_a_grade_of_another_course_in_a_unit_is_refused(store: SQLiteStateStore) -> None:
    stray = StoredGrade("_99_1", "_1_1", "_7_1", {}, 0, "", 1)
    with pytest.raises(ValueError, match="holds a grade of course _99_1"):
        await store.commit(UnitOfWork(course_id=COURSE, grade_upserts=[stray]))


async def test_grades_of_some_users_are_exactly_those_users_stored_grades(
    store: SQLiteStateStore,
) -> None:
    """A delta read asks only for the users it returned: live grades and tombstones of those
    users come back, users without a stored grade are absent, other users are not read."""
    await store.save_courses([course()], selected_ids={COURSE})
    stored = [grade("_1_1", f"_{n}_1", score=float(n)) for n in range(1, 6)]
    gone = tombstone("_1_1", "_9_1", version=3)
    other_column = grade("_2_1", "_1_1")
    await store.commit(UnitOfWork(COURSE, grade_upserts=[*stored, gone, other_column]))

    some = await store.grades(COURSE, "_1_1", {"_2_1", "_4_1", "_9_1", "_77_1"})
    assert some == {"_2_1": stored[1], "_4_1": stored[3], "_9_1": gone}
    assert await store.grades(COURSE, "_1_1", set()) == {}
    assert len(await store.grades(COURSE, "_1_1")) == 6
