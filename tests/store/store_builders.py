"""Small builders of the records the store keeps, so each test states only what it cares about."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gradesync.models import Column, Course, Grade
from gradesync.store import CycleRecord, NewEvent, StoredGrade, UnitOfWork

COURSE = "_10_1"


def course(course_id: str = COURSE, name: str | None = None) -> Course:
    return Course.model_validate(
        {
            "id": course_id,
            "courseId": f"C-{course_id}",
            "externalId": f"ext{course_id}",
            "name": name or f"Course {course_id}",
            "availability": {"available": "Yes"},
        }
    )


def column(column_id: str, name: str | None = None, kind: str = "Manual") -> Column:
    return Column.model_validate(
        {
            "id": column_id,
            "name": name or f"Column {column_id}",
            "score": {"possible": 100.0},
            "grading": {"type": kind},
        }
    )


def grade(
    column_id: str,
    user_id: str,
    score: float = 80.0,
    *,
    change_index: int = 1,
    version: int = 1,
    course_id: str = COURSE,
) -> StoredGrade:
    row = Grade(user_id=user_id, column_id=column_id, score=score, text=f"{score:g}")
    return StoredGrade(
        course_id, column_id, user_id, row.content(), change_index, row.digest(), version
    )


def tombstone(column_id: str, user_id: str, version: int, change_index: int = 0) -> StoredGrade:
    return StoredGrade(COURSE, column_id, user_id, {}, change_index, "", version)


def event(event_id: str, at: datetime, course_id: str = COURSE, **data: Any) -> NewEvent:
    subject = f"courses/{course_id}/columns/_1_1/users/{event_id}"
    payload = {"id": event_id, "subject": subject, "data": data}
    return NewEvent(
        id=event_id,
        type="gradesync.grade.created",
        subject=subject,
        course_id=course_id,
        time=at,
        payload=json.dumps(payload),
    )


def events_unit(ids: list[str], at: datetime, course_id: str = COURSE) -> UnitOfWork:
    return UnitOfWork(course_id=course_id, events=[event(i, at, course_id) for i in ids])


def cycle(
    cycle_id: str,
    started: datetime,
    finished: datetime | None,
    *,
    ok: bool = True,
    error: str | None = None,
    course_id: str = COURSE,
) -> CycleRecord:
    return CycleRecord(
        course_id=course_id,
        cycle_id=cycle_id,
        started=started,
        finished=finished,
        ok=ok,
        error=error,
        counts={"events": {"created": 2}, "reads": {"full": 1}, "requests": 3},
    )
