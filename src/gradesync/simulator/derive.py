"""Deterministic derivation of the simulated institution from a seed.

Nothing here is stored: every course, user, column and untouched grade is a pure function of
the seed and a few indices, so a 5M-grade world costs only what its edits cost. ``World`` owns
the state; this module only answers "what was it like before anyone touched it".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_MASK = (1 << 64) - 1

# Number ranges for primary ids (``_<n>_1``). Different kinds of object get different ranges so
# that a client which mixes a user id up with a course id gets a 404 instead of a lucky hit.
COURSE_BASE = 1_000
USER_BASE = 100_000
CATEGORY_BASE = 40_000_000
COLUMN_BASE = 50_000_000
MEMBERSHIP_BASE = 90_000_000
LOG_BASE = 300_000_000  # gradebook log entries: each course's history, then the edits
CHANGE_INDEX_BASE = 1_000_000

CATEGORIES = ("Assignment", "Test", "Participation")
TERMS = (("_11_1", "2025-FA"), ("_12_1", "2026-SP"))
DATA_SOURCES = (("_2_1", "SYSTEM"), ("_21_1", "SIS.2025-FA"), ("_22_1", "SIS.2026-SP"))
SUBJECTS = ("BIO", "CHEM", "HIST", "MATH", "PHYS", "ENGL", "ECON", "PSYC", "PHIL", "ARTS")
GIVEN = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jamal",
    "Kaia", "Liam", "Mei", "Noah", "Olu", "Priya", "Quinn", "Rosa", "Sami", "Tariq",
)  # fmt: skip
FAMILY = (
    "Abara", "Berg", "Costa", "Dubois", "Eze", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Quispe", "Rossi", "Singh",
)  # fmt: skip
OVERRIDE_TEXTS = ("A", "B+", "C-", "Incomplete", "Pass")
FEEDBACK = ("Good work.", "See the rubric comments.", "Late submission accepted.")


def mix(*parts: int) -> int:
    """A fast, stable 64-bit hash of integers (unlike ``hash``, the same in every process)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        h = mix_on(h, part)
    return h


def mix_on(h: int, part: int) -> int:
    """One more integer into a ``mix``: ``mix_on(mix(a, b), c) == mix(a, b, c)``, so a prefix
    that many hashes share is mixed once."""
    h = ((h ^ (part & _MASK)) * 0x9E3779B97F4A7C15) & _MASK
    return h ^ (h >> 29)


def iso(moment: datetime) -> str:
    """Learn's timestamp form: ISO-8601 UTC with milliseconds and a ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def primary(number: int) -> str:
    return f"_{number}_1"


def parse_primary(value: str) -> int | None:
    """The number inside ``_<n>_1``, or None when ``value`` is not a primary id."""
    if not (value.startswith("_") and value.endswith("_1")):
        return None
    digits = value[1:-2]
    return int(digits) if digits.isdigit() else None


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One gradebook column: base columns are derived, added ones are kept by the world."""

    number: int
    course: int
    name: str
    type: str  # Attempts | Manual | Calculated
    possible: float
    category: int | None  # index into CATEGORIES
    due: datetime | None
    available: bool
    graded: bool  # derived grades exist (False for new columns and those not graded yet)
    created: datetime
    external_id: str | None

    @property
    def id(self) -> str:
        return primary(self.number)

    @property
    def calculated(self) -> bool:
        return self.type == "Calculated"


@dataclass(slots=True)
class GradeState:
    """What one grade holds; a grade with no score, text or exemption is a cleared grade."""

    score: float | None
    text: str | None
    exempt: bool
    feedback: str | None
    notes: str | None
    overridden: str | None
    change_index: int

    @property
    def is_grade(self) -> bool:
        return self.score is not None or self.text is not None or self.exempt


def course_body(seed: int, index: int, epoch: datetime, students: int) -> dict[str, Any]:
    """The CourseV2 body of course ``index`` before cross-listing and availability are set."""
    h = mix(seed, 1, index)
    subject = SUBJECTS[h % len(SUBJECTS)]
    level = 100 + (h >> 8) % 400
    term = 1 if index % 5 == 4 else 0
    term_id, term_code = TERMS[term]
    source = 0 if index % 23 == 22 else term + 1
    created = epoch - timedelta(days=30 + (h >> 20) % 90, seconds=(h >> 32) % 86_400)
    created += timedelta(milliseconds=(h >> 40) % 1000)
    number = COURSE_BASE + index
    course_code = f"{subject}{level}-{term_code}-{index:05d}"
    return {
        "id": primary(number),
        "uuid": f"{mix(seed, 2, index):016x}{mix(seed, 3, index):016x}",
        "externalId": f"{term_code}.{subject}.{level}.{index:05d}",
        "dataSourceId": DATA_SOURCES[source][0],
        "courseId": course_code,
        "name": f"{subject} {level}: section {index % 40 + 1} ({students} seats)",
        "description": f"{subject} {level}, {term_code}.",
        "created": iso(created),
        "modified": iso(created + timedelta(days=2, minutes=(h >> 12) % 600)),
        "organization": False,
        "ultraStatus": "Ultra" if h % 3 else "Classic",
        "allowGuests": False,
        "allowObservers": False,
        "closedComplete": False,
        "termId": term_id,
        "availability": {"available": "Yes", "duration": {"type": "Continuous"}},
        "enrollment": {"type": "InstructorLed"},
        "locale": {"force": False},
        "hasChildren": False,
        "externalAccessUrl": f"https://learn.example.edu/ultra/courses/{primary(number)}/outline",
    }


def user_body(seed: int, index: int, *, student: bool, epoch: datetime) -> dict[str, Any]:
    """The User body of user ``index``: students carry a ``studentId``, instructors do not."""
    h = mix(seed, 5, index)
    given = GIVEN[h % len(GIVEN)]
    family = FAMILY[(h >> 16) % len(FAMILY)]
    body: dict[str, Any] = {
        "id": primary(USER_BASE + index),
        "uuid": f"{mix(seed, 6, index):016x}{mix(seed, 7, index):016x}",
        "externalId": f"{'STU' if student else 'FAC'}{index:07d}",
        "dataSourceId": DATA_SOURCES[1][0],
        "userName": f"{given}.{family}.{index}".lower(),
        "created": iso(epoch - timedelta(days=200 + h % 900)),
        "institutionRoleIds": ["STUDENT" if student else "FACULTY"],
        "systemRoleIds": ["User"],
        "availability": {"available": "Yes"},
        "name": {"given": given, "family": family},
        "contact": {"email": f"{given}.{family}.{index}@example.edu".lower()},
    }
    if student:
        body["studentId"] = f"{2_000_000 + index:08d}"
    return body


def base_column(seed: int, course: int, j: int, count: int, created: datetime) -> ColumnInfo:
    """Column ``j`` of ``count`` in a course: the last is the calculated Total."""
    number = COLUMN_BASE + course * count + j
    if j == count - 1:
        return ColumnInfo(
            number, course, "Total", "Calculated", 0.0, None, None, True, True, created, None
        )
    h = mix(seed, 9, course, j)
    kind = "Manual" if j % 3 == 2 else "Attempts"
    category = 2 if kind == "Manual" else (1 if j % 4 == 1 else 0)
    label = CATEGORIES[category]
    possible = float((10, 20, 25, 50, 100)[h % 5])
    due = (
        created + timedelta(days=7 * (j + 1), hours=23, minutes=59) if kind == "Attempts" else None
    )
    # A few columns per institution are not graded yet: an assignment due later in the term.
    graded = not (j == count - 2 and course % 3 == 0)
    return ColumnInfo(
        number,
        course,
        f"{label} {j + 1}",
        kind,
        possible,
        category,
        due,
        h % 9 != 0,
        graded,
        created + timedelta(hours=j),
        None if j % 5 == 4 else f"C{course:05d}-{j + 1:02d}",
    )


def grade_hash(seed: int, column: ColumnInfo) -> int:
    """What every grade hash of a column starts from: ``mix_on`` it with the user's index."""
    return mix(seed, 11, column.number)


def total_number(course: int, count: int) -> int:
    """The primary number of the calculated Total of a course with ``count`` base columns."""
    return COLUMN_BASE + course * count + count - 1


def base_grade(seed: int, column: ColumnInfo, user: int, change_index: int) -> GradeState | None:
    """The untouched grade of ``user`` in a non-calculated base column, or None if ungraded."""
    return hashed_grade(column, mix_on(grade_hash(seed, column), user), change_index)


def hashed_grade(column: ColumnInfo, h: int, change_index: int) -> GradeState | None:
    """``base_grade`` from the user's grade hash, for callers that derive a whole column."""
    if not column.graded or h % 100 >= 92:
        return None
    score = round(column.possible * (0.35 + 0.65 * (((h >> 8) % 1000) / 1000)), 2)
    text = overridden = None
    if (h >> 20) % 37 == 0:
        text = OVERRIDE_TEXTS[(h >> 24) % len(OVERRIDE_TEXTS)]
        overridden = iso(column.created + timedelta(days=10, seconds=(h >> 30) % 86_400))
    feedback = FEEDBACK[(h >> 44) % len(FEEDBACK)] if (h >> 40) % 11 == 0 else None
    notes = "Checked with the grader." if (h >> 48) % 53 == 0 else None
    # Positional: this runs once per derived grade, and keywords cost a third of it.
    return GradeState(score, text, (h >> 36) % 61 == 0, feedback, notes, overridden, change_index)
