"""What the sync engine needs of Learn: the seam the real client fills (and tests may fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from gradesync.models import (
    BadRow,
    Category,
    Column,
    Course,
    Grade,
    LogEntry,
    Membership,
    SystemVersion,
)


class LearnSource(Protocol):
    def courses(
        self,
        *,
        available: str | None = None,
        created_since: datetime | None = None,
        data_source: str | None = None,
        term: str | None = None,
    ) -> AsyncIterator[Course]: ...

    async def course(self, course_id: str) -> Course: ...

    def memberships(self, course_id: str) -> AsyncIterator[Membership]: ...

    def columns(
        self, course_id: str, *, set_aside: list[BadRow] | None = None
    ) -> AsyncIterator[Column]:
        """The course's columns; those that cannot be represented go to ``set_aside``."""
        ...

    def categories(self, course_id: str) -> AsyncIterator[Category]: ...

    def column_grades(
        self,
        course_id: str,
        column_id: str,
        *,
        change_index: int | None = None,
        include_disabled: bool = False,
        set_aside: list[BadRow] | None = None,
    ) -> AsyncIterator[Grade]:
        """A column's rows; those that cannot be represented go to ``set_aside``."""
        ...

    async def last_changed(self, course_id: str, column_id: str) -> Grade | BadRow | None: ...

    def course_logs(
        self,
        course_id: str,
        *,
        since: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> AsyncIterator[LogEntry]:
        """The course's gradebook log from ``since`` (inclusive), oldest first."""
        ...

    async def system_version(self) -> SystemVersion: ...
