"""Which courses and columns to pull (docs/contract.md section 2, the ``[selection]`` section).

Learn filters what it can on the server (availability, created, data source, term), which saves
pages; the rest (allow/deny lists in any id form, the due-date window, column availability,
calculated columns) is decided here. Child courses are never pulled: their grades come through
the parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gradesync.models import Column, Course


@dataclass(frozen=True)
class Selection:
    availability: Sequence[str] = ("Yes",)
    created_since: datetime | None = None
    data_source: str | None = None
    term: str | None = None
    courses: Sequence[str] = ()
    exclude_courses: Sequence[str] = ()
    include_disabled_memberships: bool = False
    include_calculated: bool = True
    column_availability: Sequence[str] = ()
    due_after: timedelta | None = None
    due_before: timedelta | None = None
    _allow: frozenset[str] = field(init=False, repr=False, compare=False)
    _deny: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allow", frozenset(self.courses))
        object.__setattr__(self, "_deny", frozenset(self.exclude_courses))

    @property
    def server_availability(self) -> str | None:
        """The ``availability.available`` filter Learn can apply: only when there is one value."""
        return self.availability[0] if len(self.availability) == 1 else None

    def selects_course(self, course: Course) -> bool:
        """Whether ``course`` is pulled directly (children never are)."""
        if course.parent_id:
            return False
        if self.availability and course.available not in self.availability:
            return False
        if self.created_since and course.created and course.created < self.created_since:
            return False
        names = course_names(course)
        if self._allow and not (names & self._allow):
            return False
        return not (names & self._deny)

    def selects_column(self, column: Column, now: datetime) -> bool:
        """Whether ``column``'s grades are read this cycle."""
        if column.calculated and not self.include_calculated:
            return False
        if self.column_availability:
            available = column.availability.available if column.availability else None
            if available not in self.column_availability:
                return False
        due = column.due
        if due is not None:
            if self.due_after is not None and due < now - self.due_after:
                return False
            if self.due_before is not None and due > now + self.due_before:
                return False
        return True


def course_names(course: Course) -> frozenset[str]:
    """Every form in which an operator may name ``course`` in an allow or deny list."""
    names = {course.id}
    if course.course_id:
        names |= {course.course_id, f"courseId:{course.course_id}"}
    if course.external_id:
        names |= {course.external_id, f"externalId:{course.external_id}"}
    if course.uuid:
        names |= {course.uuid, f"uuid:{course.uuid}"}
    return frozenset(names)
