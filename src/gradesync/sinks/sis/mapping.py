"""What a grade event means to a SIS: identities, values, and the field limits of its format.

Identity (docs/contract.md section 5): the course is ``data.course.externalId`` (the child course
where there is one), the user is the field that ``user_id`` names. An event without either is
unmapped, and so is one whose identity holds a control character (never sent anywhere). Where
an identity becomes a segment of a URL path (the ``upsert`` protocol), :func:`segment_problem`
refuses what could reach another resource: the event is unmapped with the reason.

The grade's numbers: points are the row's ``score``, else ``displayGrade.score``; the letter is
the row's ``text``, else ``displayGrade.text``, else ``""``.

Besides the fields of ``event.schema.json`` this module reads three optional ones of
``data.column`` when an event carries them: ``externalGrade`` and ``available`` (booleans, as
Learn reports them) and ``deleted`` (true when the column itself is gone from Learn).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome

DELETED_TYPE = "gradesync.grade.deleted"

# The Grades Journey v2 incoming format's maximum sizes, per endpoint and field.
LIMITS: dict[str, dict[str, int]] = {
    "gradeValueAPI": {"courseId": 333, "userId": 333, "name": 333, "value": 333},
    "gradableItemsAPI": {
        "courseId": 256,
        "name": 333,
        "itemType": 333,
        "instructions": 2000,
        "gradeSchema": 333,
        "optionalData": 2000,
    },
    "gradeColumnDeleteAPI": {"courseId": 333, "name": 333},
    "externalGradeColumnAPI": {"courseId": 333, "name": 333},
    "gradeSchemasAPI": {"title": 333, "symbols": 2000, "optionalData": 2000},
    "userMetadataAPI": {"courseId": 333, "userId": 333, "optionalData": 2000},
}


@dataclass(frozen=True)
class GradeTarget:
    """One grade change as a SIS sees it: where it goes, for whom, and the grade (None when
    deleted)."""

    course: str
    user: str
    column_name: str
    column_external_id: str | None
    column_type: str
    score_possible: float | None
    due: str | None
    external_grade: bool
    available: bool | None
    column_deleted: bool
    grade: dict[str, Any] | None
    parent_course: str | None  # the source course's externalId, for a cross-listed student

    @property
    def deleted(self) -> bool:
        return self.grade is None


def map_event(event: OutboxEvent, user_field: str) -> GradeTarget | Outcome:
    """The event as a :class:`GradeTarget`, or the final outcome when it cannot be one."""
    try:
        data = json.loads(event.payload)["data"]
        course, source, user, column = (
            data["course"],
            data["sourceCourse"],
            data["user"],
            data["column"],
        )
        grade = None if event.type == DELETED_TYPE else data["grade"]
    except (ValueError, KeyError, TypeError) as exc:
        return Outcome.dead(f"not a grade event: {type(exc).__name__} {exc}")
    course_key = _text(course.get("externalId"))
    if course_key is None:
        return Outcome.unmapped(f"course {course.get('id')} has no externalId")
    user_key = _text(user.get(user_field))
    if user_key is None:
        return Outcome.unmapped(f"user {user.get('id')} has no {user_field}")
    for owner, field, key in (
        (f"course {course.get('id')}", "externalId", course_key),
        (f"user {user.get('id')}", user_field, user_key),
    ):
        if _CONTROL.search(key):
            return Outcome.unmapped(f"{owner}: its {field} holds a control character")
    parent = _text(source.get("externalId")) if source.get("id") != course.get("id") else None
    return GradeTarget(
        course=course_key,
        user=user_key,
        column_name=str(column.get("name") or column.get("id")),
        column_external_id=_text(column.get("externalId")),
        column_type=str(column.get("type") or "Manual"),
        score_possible=_number(column.get("scorePossible")),
        due=_text(column.get("due")),
        external_grade=column.get("externalGrade") is True,
        available=column.get("available") if isinstance(column.get("available"), bool) else None,
        column_deleted=column.get("deleted") is True,
        grade=grade if isinstance(grade, dict) else None,
        parent_course=parent,
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What ends, splits or escapes a path segment, besides the control characters.
_PATH_BREAKERS = {"/": "'/'", "\\": "'\\'", "?": "'?'", "#": "'#'"}


def segment_problem(value: str) -> str | None:
    """Why ``value`` cannot be one segment of a URL path, or None when it can: empty, ``.`` or
    ``..``, or holding ``/``, ``\\``, ``?``, ``#`` or a control character, also when hidden
    behind percent-encoding (``%2F``, ``%2e%2e``: a server or proxy may decode it before
    routing). Never names the value itself."""
    seen = value
    for _ in range(4):  # decoded until nothing changes: %252F is %2F is /
        found = _segment_fault(seen)
        if found is not None:
            return found if seen == value else f"{found} once percent-decoded"
        decoded = unquote(seen)
        if decoded == seen:
            return None
        seen = decoded
    return "is percent-encoded too many times"


def _segment_fault(value: str) -> str | None:
    if value in ("", ".", ".."):
        return "is empty, '.' or '..'"
    for char, name in _PATH_BREAKERS.items():
        if char in value:
            return f"holds {name}"
    if _CONTROL.search(value):
        return "holds a control character"
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def points(grade: dict[str, Any] | None) -> float | None:
    """The row's ``score``, else ``displayGrade.score``."""
    if grade is None:
        return None
    score = _number(grade.get("score"))
    return score if score is not None else _number((grade.get("displayGrade") or {}).get("score"))


def letter(grade: dict[str, Any] | None) -> str:
    """The row's ``text``, else ``displayGrade.text``, else ``""``."""
    if grade is None:
        return ""
    display = grade.get("displayGrade") or {}
    return _text(grade.get("text")) or _text(display.get("text")) or ""


def number_text(value: float) -> str:
    """A score as the SIS reads it: ``8`` for 8.0, ``8.5`` for 8.5."""
    return str(int(value)) if value.is_integer() else repr(value)


def schema_symbol(score: float, possible: float, bounds: tuple[tuple[str, float], ...]) -> str:
    """The symbol whose percent lower bound the score reaches (the lowest symbol below all)."""
    percent = score / possible * 100
    for symbol, bound in bounds:
        if percent >= bound:
            return symbol
    return bounds[-1][0]


def grade_value(
    target: GradeTarget, mode: str, bounds: tuple[tuple[str, float], ...]
) -> str | Outcome:
    """The Grades Journey ``value`` of a change (``""`` for a deletion), or a rejection."""
    if target.deleted:
        return ""
    score = points(target.grade)
    if mode == "text":
        return letter(target.grade) or ("" if score is None else number_text(score))
    if mode == "score":
        return "" if score is None else number_text(score)
    if score is None or not target.score_possible:
        return Outcome.rejected(
            "value: a grade schema symbol needs a score and the column's scorePossible"
        )
    return schema_symbol(score, target.score_possible, bounds)


def over_limit(endpoint: str, item: dict[str, Any]) -> str | None:
    """A message naming the first field of ``item`` longer than the format allows, if any."""
    for field, limit in LIMITS[endpoint].items():
        value = item.get(field)
        if isinstance(value, str) and len(value) > limit:
            return f"{field} is {len(value)} characters, over the {limit} that {endpoint} allows"
    return None


def optional_data(pairs: dict[str, str | None]) -> str:
    """``key1=value1:key2=value2``; a value the format cannot carry (``:`` or ``=``) is left out."""
    return ":".join(
        f"{key}={value}"
        for key, value in pairs.items()
        if value and ":" not in value and "=" not in value
    )
