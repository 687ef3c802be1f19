"""CloudEvents for grade changes (docs/contract.md section 3, ``event.schema.json``).

Ids are deterministic: a hash of the subject, the grade's version after the change, the kind and
the new content's digest. The same change detected twice (after a crash before the commit, or
a re-read) gets the same id; two different changes of one grade differ at least in version.
:class:`EventEncoder` writes them as the compact JSON the outbox keeps.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from gradesync.jsontext import compact
from gradesync.models import Category, Column, Course, Membership

EVENT_TYPES = {
    "created": "gradesync.grade.created",
    "updated": "gradesync.grade.updated",
    "deleted": "gradesync.grade.deleted",
}


class GradeChange(NamedTuple):
    """Everything one event says: where the grade lives, who it belongs to, before and after.
    A named tuple: a first read makes one per grade, faster than a frozen dataclass."""

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


def _encode(value: dict[str, Any] | None) -> str:
    # A created grade has no previous, a deleted one no grade: no encoder call for a null.
    return "null" if value is None else compact(value)


def _column_ref(column: Column, category: Category | None, deleted: bool) -> dict[str, Any]:
    return {
        "id": column.id,
        "name": column.title,
        "externalId": column.external_id,
        "type": column.type,
        "scorePossible": column.score_possible,
        "due": iso(column.due) if column.due else None,
        "category": {"id": category.id, "title": category.title or ""} if category else None,
        "externalGrade": column.external_grade,
        "available": _available(column),
        "deleted": deleted,
    }


def _user_ref(user_id: str, membership: Membership | None) -> dict[str, Any]:
    user = membership.user if membership else None
    return {
        "id": user_id,
        "externalId": user.external_id if user else None,
        "userName": user.user_name if user else None,
        "studentId": user.student_id if user else None,
    }


class EncodedEvent(NamedTuple):
    id: str
    payload: str  # the CloudEvent in compact JSON: what the outbox stores and sinks send


class _Place(NamedTuple):
    """Where a cycle's events happen, encoded: one per source course, course and column."""

    pinned: tuple[object, ...]  # the objects whose identities key it, kept alive
    origin: str
    courses: str
    column: str


class EventEncoder:
    """CloudEvents (JSON structured mode) for the changes of one cycle, as compact JSON text.

    The course, column and user parts repeat across a cycle's events and are most of each
    event's bytes: each is encoded once per object and reused, which makes a first read's
    events several times cheaper than encoding every event whole.
    """

    def __init__(self, *, site: str, detected: datetime) -> None:
        self._site = site.rstrip("/")
        self._time = compact(iso(detected))
        # Keyed by the identity of the objects a part is made of; each entry keeps its objects
        # alive, so an identity cannot be reused by another object while the encoder lives.
        self._places: dict[tuple[Any, ...], _Place] = {}
        self._users: dict[tuple[str, int], tuple[Membership | None, str]] = {}

    def _place(self, change: GradeChange) -> _Place:
        """The source, course and column parts of ``change``, encoded once for all its peers."""
        source, course, column, category = (
            change.source_course,
            change.course,
            change.column,
            change.category,
        )
        deleted = change.column_deleted
        key = (id(source), id(course), id(column), id(category), deleted)
        place = self._places.get(key)
        if place is None:
            place = self._places[key] = _Place(
                pinned=(source, course, column, category),
                origin=compact(f"{self._site}/courses/{source.id}"),
                courses=f'"course":{compact(_course_ref(course))},'
                f'"sourceCourse":{compact(_course_ref(source))}',
                column=compact(_column_ref(column, category, deleted)),
            )
        return place

    def _user(self, user_id: str, membership: Membership | None) -> str:
        key = (user_id, id(membership))
        hit = self._users.get(key)
        if hit is None:
            hit = self._users[key] = (membership, compact(_user_ref(user_id, membership)))
        return hit[1]

    def encode(self, change: GradeChange) -> EncodedEvent:
        place = self._place(change)
        subject = change.subject
        eid = event_id(subject, change.version, change.kind, change.digest)
        payload = (
            f'{{"specversion":"1.0","id":"{eid}","source":{place.origin},'
            f'"type":"{EVENT_TYPES[change.kind]}","subject":{compact(subject)},'
            f'"time":{self._time},"datacontenttype":"application/json",'
            f'"data":{{{place.courses},"user":{self._user(change.user_id, change.membership)},'
            f'"column":{place.column},"grade":{_encode(change.grade)},'
            f'"previous":{_encode(change.previous)}}}}}'
        )
        return EncodedEvent(eid, payload)


def build_event(change: GradeChange, *, site: str, detected: datetime) -> dict[str, Any]:
    """The CloudEvent of one change as a dict: what an :class:`EventEncoder` payload decodes to."""
    event: dict[str, Any] = json.loads(
        EventEncoder(site=site, detected=detected).encode(change).payload
    )
    return event
