from datetime import UTC, datetime, timedelta

from gradesync.models import Column, Course
from gradesync.sync.selection import Selection

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def course(**fields: object) -> Course:
    return Course.model_validate({"id": "_1_1", "availability": {"available": "Yes"}, **fields})


def test_child_courses_are_never_pulled_directly() -> None:
    assert not Selection().selects_course(course(parentId="_9_1"))
    assert Selection().selects_course(course(hasChildren=True))


def test_allow_and_deny_lists_accept_every_id_form() -> None:
    c = course(externalId="MATH-101", courseId="math101")
    assert Selection(courses=["externalId:MATH-101"]).selects_course(c)
    assert Selection(courses=["courseId:math101"]).selects_course(c)
    assert not Selection(courses=["externalId:OTHER"]).selects_course(c)
    assert not Selection(exclude_courses=["_1_1"]).selects_course(c)


def test_unavailable_and_old_courses_are_left_out() -> None:
    assert not Selection().selects_course(course(availability={"available": "No"}))
    assert Selection(availability=["Yes", "No"]).selects_course(
        course(availability={"available": "No"})
    )
    old = course(created="2020-01-01T00:00:00.000Z")
    assert not Selection(created_since=datetime(2024, 1, 1, tzinfo=UTC)).selects_course(old)


def test_due_window_and_calculated_filters() -> None:
    long_past = Column.model_validate(
        {"id": "_2_1", "grading": {"type": "Manual", "due": "2025-01-01T00:00:00.000Z"}}
    )
    far_future = Column.model_validate(
        {"id": "_3_1", "grading": {"type": "Manual", "due": "2027-01-01T00:00:00.000Z"}}
    )
    total = Column.model_validate({"id": "_4_1", "grading": {"type": "Calculated"}})
    window = Selection(due_after=timedelta(days=30), due_before=timedelta(days=30))
    assert not window.selects_column(long_past, NOW)
    assert not window.selects_column(far_future, NOW)
    assert window.selects_column(total, NOW)
    assert not Selection(include_calculated=False).selects_column(total, NOW)
