"""Domain types, shared by the client, the store, the sync engine and the sinks.

They mirror Learn's JSON (camelCase on the wire, snake_case here), tolerate omitted fields and
unknown extras, and are frozen. Learn omits null properties, so every optional field defaults to
``None``. :class:`OutboxEvent` is gradesync's own: an event as the outbox hands it to a sink.

They also refuse what cannot be represented faithfully (docs/contract.md section 6): a number
that is NaN, infinite or a string, a ``changeIndex`` that is negative or beyond a signed 64-bit
integer, an id that is empty, ``.`` or ``..``, or holds ``/``, ``?``, ``#``, ``\\`` or a control
character (ids go into URLs and event subjects as path segments). The Learn client sets such a
row aside as a :class:`BadRow` and keeps the others.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, field_validator
from pydantic.alias_generators import to_camel

from gradesync.jsontext import canonical

ColumnType = Literal["Attempts", "Calculated", "Manual"]

# The largest changeIndex the state can keep: SQLite's INTEGER is a signed 64-bit number.
MAX_CHANGE_INDEX = 2**63 - 1

# What no id may hold: C0 and C1 control characters, DEL, and what ends or splits a path segment.
_ID_REFUSED = r"\x00-\x1f\x7f-\x9f/?#\\"
# A non-empty string of allowed characters that is not "." or ".." (no look-around: the pattern
# runs in pydantic's own regex engine, once per row).
ID_PATTERN = (
    rf"^(?:[^{_ID_REFUSED}.][^{_ID_REFUSED}]*"
    rf"|\.[^{_ID_REFUSED}.][^{_ID_REFUSED}]*"
    rf"|\.\.[^{_ID_REFUSED}]+)$"
)
_ID = re.compile(ID_PATTERN)
ID_RULE = "empty, '.' or '..', or holding '/', '?', '#', '\\' or a control character"

LearnId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An id that can be a path segment of a URL and of an event subject."""

Number = Annotated[float, Field(strict=True)]
"""A finite JSON number (the models refuse NaN and infinities); a string is no number."""

ChangeIndex = Annotated[int, Field(strict=True, ge=0, le=MAX_CHANGE_INDEX)]


def usable_id(value: object) -> bool:
    """Whether ``value`` is an id that can be one path segment (see :data:`ID_RULE`)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None and valid_unicode(value)


def valid_unicode(value: str) -> bool:
    """False for a string holding a lone surrogate (JSON's ``\\ud800``), which no UTF-8 file
    or database can store."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def usable_change_index(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_CHANGE_INDEX


class BadRow(NamedTuple):
    """A row Learn sent that cannot be represented faithfully, set aside on its own.

    ``id`` is the row's own id (a grade's ``userId``, a column's ``id``) when that is usable,
    ``change_index`` its ``changeIndex`` when that is usable; ``reason`` names the fields at
    fault, never their values."""

    id: str | None
    change_index: int | None
    reason: str


class LearnModel(BaseModel):
    """Base of every wire-shaped model: camelCase aliases, extras ignored, frozen, no NaN or
    infinity in a number. ``ROW_ID`` is the wire name of the id a set-aside row is known by."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
    )

    ROW_ID: ClassVar[str] = "id"


class Availability(LearnModel):
    available: str | None = None


class Course(LearnModel):
    id: LearnId
    uuid: str | None = None
    external_id: str | None = None
    course_id: str | None = None
    name: str | None = None
    data_source_id: str | None = None
    term_id: str | None = None
    created: datetime | None = None
    availability: Availability | None = None
    has_children: bool = False
    parent_id: str | None = None

    @property
    def available(self) -> str | None:
        return self.availability.available if self.availability else None


class CourseChild(LearnModel):
    """One cross-listed child of a parent course (``id`` is the child course's id)."""

    id: LearnId
    parent_id: str | None = None
    data_source_id: str | None = None
    created: datetime | None = None


class User(LearnModel):
    id: str | None = None
    external_id: str | None = None
    user_name: str | None = None
    student_id: str | None = None


class Membership(LearnModel):
    ROW_ID: ClassVar[str] = "userId"

    id: str | None = None
    user_id: LearnId
    course_id: str | None = None
    child_course_id: LearnId | None = None
    course_role_id: str | None = None
    availability: Availability | None = None
    user: User | None = None

    @property
    def disabled(self) -> bool:
        return self.availability is not None and self.availability.available == "Disabled"


class Category(LearnModel):
    id: LearnId
    title: str | None = None


class Score(LearnModel):
    possible: Number | None = None


class Grading(LearnModel):
    type: ColumnType | None = None
    due: datetime | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _attempt_is_attempts(cls, value: Any) -> Any:
        # Anthology's guide spells it "Attempt"; the specs and servers say "Attempts".
        return "Attempts" if value == "Attempt" else value


class Column(LearnModel):
    id: LearnId
    external_id: str | None = None
    name: str | None = None
    display_name: str | None = None
    external_grade: bool = False
    score: Score | None = None
    availability: Availability | None = None
    grading: Grading | None = None
    gradebook_category_id: str | None = None

    @property
    def type(self) -> ColumnType:
        return (self.grading.type if self.grading else None) or "Manual"

    @property
    def calculated(self) -> bool:
        return self.type == "Calculated"

    @property
    def due(self) -> datetime | None:
        return self.grading.due if self.grading else None

    @property
    def score_possible(self) -> float | None:
        return self.score.possible if self.score else None

    @property
    def title(self) -> str:
        return self.name or self.display_name or self.id


class DisplayGrade(LearnModel):
    scale_type: str | None = None
    score: Number | None = None
    possible: Number | None = None
    text: str | None = None

    def wire(self) -> dict[str, Any]:
        """Learn's form without the nulls, as ``model_dump(by_alias, exclude_none)`` gives it."""
        return _present(
            ("scaleType", self.scale_type),
            ("score", self.score),
            ("possible", self.possible),
            ("text", self.text),
        )


def _present(*fields: tuple[str, Any]) -> dict[str, Any]:
    """The named values that are not None, in the order given."""
    return {name: value for name, value in fields if value is not None}


# How pydantic writes a datetime in JSON mode, for the rare grade that carries one.
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


# The grade fields that events copy, in their wire names (docs/contract.md section 3).
GRADE_CONTENT_FIELDS = (
    "score",
    "text",
    "displayGrade",
    "exempt",
    "overridden",
    "corrupt",
    "gradeNotationId",
    "feedback",
)


def content_digest(content: dict[str, Any]) -> str:
    """A stable hash of a grade's content: equal digests mean no change worth an event."""
    return hashlib.blake2b(canonical(content).encode(), digest_size=16).hexdigest()


class Grade(LearnModel):
    ROW_ID: ClassVar[str] = "userId"

    user_id: LearnId
    column_id: LearnId | None = None
    status: str | None = None
    display_grade: DisplayGrade | None = None
    text: str | None = None
    score: Number | None = None
    overridden: datetime | None = None
    notes: str | None = None
    feedback: str | None = None
    exempt: bool | None = None
    corrupt: bool | None = None
    grade_notation_id: str | None = None
    change_index: ChangeIndex = 0

    @property
    def is_grade(self) -> bool:
        """A row is a grade when it carries a score, text, display grade, notation or exemption."""
        return (
            self.score is not None
            or self.text is not None
            or self.display_grade is not None
            or self.grade_notation_id is not None
            or self.exempt is True
        )

    def content(self) -> dict[str, Any]:
        """The fields an event copies, as Learn names them, in the order of
        ``GRADE_CONTENT_FIELDS``; absent fields stay absent, and ``exempt`` only when true.

        Built from the fields directly: a first read calls this once per grade, and it takes a
        third of the time of ``model_dump``, whose output it equals (a test holds them together).
        """
        display, overridden = self.display_grade, self.overridden
        return _present(
            ("score", self.score),
            ("text", self.text),
            ("displayGrade", display.wire() if display is not None else None),
            ("exempt", True if self.exempt else None),
            ("overridden", _DATETIME.dump_python(overridden, mode="json") if overridden else None),
            ("corrupt", self.corrupt),
            ("gradeNotationId", self.grade_notation_id),
            ("feedback", self.feedback),
        )

    def digest(self) -> str:
        """A stable hash of :meth:`content`: equal digests mean no change worth an event."""
        return content_digest(self.content())


class LogUser(LearnModel):
    user_id: LearnId | None = None


class LogEntry(LearnModel):
    """One entry of a gradebook log (docs/learn-api.md section 4.9). Learn publishes no schema
    for it: what its filters and sort keys name is all that is relied on (``id``,
    ``gradebookColumnId``, ``logged``, ``user.userId``); any other field is ignored. The user
    may be missing: the entry still says the column changed."""

    id: LearnId
    gradebook_column_id: LearnId
    logged: datetime
    user: LogUser | None = None

    @property
    def user_id(self) -> str | None:
        return self.user.user_id if self.user else None


class SystemVersion(LearnModel):
    class Learn(LearnModel):
        major: int | None = None
        minor: int | None = None
        patch: int | None = None
        build: str | None = None

    learn: Learn | None = None


class OutboxEvent(NamedTuple):
    """An event in the outbox; ``seq`` is its place in commit order, ``payload`` the CloudEvent
    as JSON text. ``retried`` marks one that the store served from the sink's retry queue.
    A named tuple, not a model: one per event, built by the thousand."""

    seq: int
    id: str
    type: str
    subject: str
    course_id: str
    time: datetime
    payload: str
    retried: bool = False
