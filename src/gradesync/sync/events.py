"""CloudEvents for grade changes (CONTRACT.md section 3, ``event.schema.json``).

Ids are deterministic: a hash of the subject, the grade's version after the change, the kind and
the new content's digest. The same change detected twice (after a crash before the commit, or
a re-read) gets the same id; two different changes of one grade differ at least in version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gradesync.models import Category, Column, Course, Membership

EVENT_TYPES = {
    "created": "gradesync.grade.created",
    "updated": "gradesync.grade.updated",
    "deleted": "gradesync.grade.deleted",
}


@dataclass(frozen=True)
class GradeChange:
    """Everything one event says: where the grade lives, who it belongs to, before and after."""

    kind: str  # created | updated | deleted
    source_course: Course
    course: Course  # the child course for a student of a cross-listed child
    column: Column
    category: Category | None
    user_id: str
    membership: Membership | None
    grade: dict[str, Any] | None
    previous: dict[str, Any] | None
    digest: str
    version: int
    column_deleted: bool = False

    @property
    def subject(self) -> str:
        return f"courses/{self.source_course.id}/columns/{self.column.id}/users/{self.user_id}"


def event_id(subject: str, version: int, kind: str, digest: str) -> str:
    blob = f"{subject}|{version}|{kind}|{digest}".encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as Learn writes its dates."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _course_ref(course: Course) -> dict[str, Any]:
    return {"id": course.id, "courseId": course.course_id, "externalId": course.external_id}


def _available(column: Column) -> bool | None:
    """Whether students see the column (Learn's ``availability.available``), if known."""
    if column.availability is None or column.availability.available is None:
        return None
    return column.availability.available == "Yes"


def build_event(change: GradeChange, *, site: str, detected: datetime) -> dict[str, Any]:
    """The CloudEvent (JSON structured mode) for one change."""
    column = change.column
    user = change.membership.user if change.membership else None
    category = (
        {"id": change.category.id, "title": change.category.title or ""}
        if change.category
        else None
    )
    return {
        "specversion": "1.0",
        "id": event_id(change.subject, change.version, change.kind, change.digest),
        "source": f"{site.rstrip('/')}/courses/{change.source_course.id}",
        "type": EVENT_TYPES[change.kind],
        "subject": change.subject,
        "time": iso(detected),
        "datacontenttype": "application/json",
        "data": {
            "course": _course_ref(change.course),
            "sourceCourse": _course_ref(change.source_course),
            "user": {
                "id": change.user_id,
                "externalId": user.external_id if user else None,
                "userName": user.user_name if user else None,
                "studentId": user.student_id if user else None,
            },
            "column": {
                "id": column.id,
                "name": column.title,
                "externalId": column.external_id,
                "type": column.type,
                "scorePossible": column.score_possible,
                "due": iso(column.due) if column.due else None,
                "category": category,
                "externalGrade": column.external_grade,
                "available": _available(column),
                "deleted": change.column_deleted,
            },
            "grade": change.grade,
            "previous": change.previous,
        },
    }


def dumps(event: dict[str, Any]) -> str:
    """Compact JSON, the form stored in the outbox and written by the file sink."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
