from datetime import UTC, datetime
from typing import Any

from gradesync.models import Category, Column, Course, Membership
from gradesync.sync.events import GradeChange, build_event

PARENT = Course.model_validate({"id": "_1_1", "courseId": "BIO-100", "hasChildren": True})
CHILD = Course.model_validate({"id": "_2_1", "externalId": "BIO-100-02", "parentId": "_1_1"})
COLUMN = Column.model_validate(
    {
        "id": "_7_1",
        "name": "Lab 1",
        "score": {"possible": 10},
        "grading": {"type": "Attempts", "due": "2026-02-01T23:59:00.000Z"},
        "gradebookCategoryId": "_3_1",
    }
)
MEMBER = Membership.model_validate(
    {
        "userId": "_42_1",
        "childCourseId": "_2_1",
        "user": {"id": "_42_1", "externalId": "s42", "userName": "jdoe", "studentId": "900042"},
    }
)


def change(kind: str, grade: Any, previous: Any, version: int = 1) -> GradeChange:
    return GradeChange(
        kind=kind,
        source_course=PARENT,
        course=CHILD,
        column=COLUMN,
        category=Category(id="_3_1", title="Labs"),
        user_id="_42_1",
        membership=MEMBER,
        grade=grade,
        previous=previous,
        digest="d1" if grade else "",
        version=version,
    )


def test_events_of_each_kind_fit_the_contract(validate_event: Any) -> None:
    when = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
    site = "https://learn.example.edu"
    created = build_event(
        change("created", {"score": 8.0, "changeIndex": 5}, None), site=site, detected=when
    )
    updated = build_event(
        change("updated", {"score": 9.0, "changeIndex": 6}, {"score": 8.0, "changeIndex": 5}, 2),
        site=site,
        detected=when,
    )
    deleted = build_event(
        change("deleted", None, {"score": 9.0, "changeIndex": 6}, 3), site=site, detected=when
    )
    for event in (created, updated, deleted):
        validate_event(event)
    assert created["data"]["course"]["id"] == "_2_1"  # the child course, for records
    assert created["data"]["sourceCourse"]["id"] == "_1_1"
    assert created["subject"] == "courses/_1_1/columns/_7_1/users/_42_1"
    assert created["time"] == "2026-02-03T10:00:00.000Z"
    assert created["source"] == "https://learn.example.edu/courses/_1_1"
    assert len({created["id"], updated["id"], deleted["id"]}) == 3


def test_same_change_detected_twice_has_the_same_id() -> None:
    a = build_event(
        change("created", {"score": 8.0, "changeIndex": 5}, None),
        site="https://x",
        detected=datetime(2026, 1, 1, tzinfo=UTC),
    )
    b = build_event(
        change("created", {"score": 8.0, "changeIndex": 5}, None),
        site="https://x",
        detected=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert a["id"] == b["id"]
