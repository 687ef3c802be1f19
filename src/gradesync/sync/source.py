"""What the sync engine needs of Learn: the seam the real client fills (and tests may fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from gradesync.models import Category, Column, Course, Grade, Membership


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

    def columns(self, course_id: str) -> AsyncIterator[Column]: ...

    def categories(self, course_id: str) -> AsyncIterator[Category]: ...

    def column_grades(
        self,
        course_id: str,
        column_id: str,
        *,
        change_index: int | None = None,
        include_disabled: bool = False,
    ) -> AsyncIterator[Grade]: ...

    async def last_changed(self, course_id: str, column_id: str) -> Grade | None: ...
