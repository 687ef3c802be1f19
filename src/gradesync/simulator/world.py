"""The simulated institution: courses, people, gradebooks, and the edits made to them.

Untouched objects are derived from the seed (see ``derive``); the world stores only memberships,
added columns and grade edits, so 5,000 courses x 25 columns x 40 students fit in little memory.

Choices where Learn's behaviour is an open question (docs/learn-api.md section 9):

- Column grades list rows only for students who have a grade record. A student who was never
  graded has no row (the question of whether Learn lists ungraded students is open).
- Clearing a grade is an edit: the row stays, without score, text or display grade, and takes
  a new ``changeIndex``. Removing a membership, by contrast, makes the student's rows vanish
  without moving any ``changeIndex``, and a disabled membership hides its rows unless the
  caller asks for ``includeDisabledMemberships``.
- Every grade edit takes the next value of one site-wide ``changeIndex`` counter, which starts
  above every derived grade's baseline. Calculated columns always report ``changeIndex`` 0.
- Every grade edit is kept with its true time (``edit_log``) and, while ``log_edits`` is on,
  logged in its course's gradebook log (see ``gradelog``); ``set_scores`` edits several grades
  at one instant, as a bulk upload does.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from gradesync.models import Membership
from gradesync.simulator import derive
from gradesync.simulator.derive import ColumnInfo, GradeState, iso, primary
from gradesync.simulator.gradelog import Edit, edit_kind, entry_body, to_ms
from gradesync.simulator.site import Member, NotFound, SimCourse, Site, WorldSpec

__all__ = ["NotFound", "World", "WorldSpec"]


class World(Site):
    """A deterministic Learn site: read it like the REST API does, edit it like instructors do.

    Ids are primary ids (``_<n>_1``); courses also take ``externalId:``, ``courseId:`` and
    ``uuid:``, columns ``externalId:`` and ``finalGrade``. Unknown ids raise ``NotFound``.
    """

    # -- the Python API: reading ---------------------------------------------------------------

    @property
    def change_index(self) -> int:
        """The site-wide counter: the ``changeIndex`` of the latest edit (or above every
        baseline when nothing has been edited yet)."""
        return self._counter

    def course_ids(self) -> list[str]:
        return [course.id for course in self.courses]

    def column_ids(self, course_id: str) -> list[str]:
        return [column.id for column in self.columns(self.resolve_course(course_id))]

    def student_ids(self, course_id: str, *, include_disabled: bool = False) -> list[str]:
        """Students enrolled, through the children for a parent; active ones unless asked."""
        return [
            primary(derive.USER_BASE + member.user)
            for member, _ in self.roster(self.resolve_course(course_id))
            if member.role == "Student" and (include_disabled or not member.disabled)
        ]

    def memberships(self, course_id: str) -> list[Membership]:
        course = self.resolve_course(course_id)
        return [
            Membership.model_validate(self.membership_body(course, member, holder))
            for member, holder in self.roster(course)
        ]

    def grade(self, course_id: str, column_id: str, user_id: str) -> dict[str, Any] | None:
        """The GradeV2 row as served (disabled memberships included), None when there is none."""
        course = self.resolve_course(course_id)
        column = self.resolve_column(course, column_id)
        member, _ = self.find_member(course, user_id)
        if member.role != "Student":
            return None
        return self.grade_row(course, column, member)

    # -- the Python API: editing -------------------------------------------------------------

    def _target(
        self, course_id: str, column_id: str, user_id: str
    ) -> tuple[SimCourse, ColumnInfo, Member]:
        """The course, column and student an edit names; refused for a calculated column."""
        course = self.resolve_course(course_id)
        column = self.resolve_column(course, column_id)
        if column.calculated:
            raise ValueError(f"column {column.id} is calculated: edit its inputs instead")
        member, _ = self.find_member(course, user_id)
        if member.role != "Student":
            raise ValueError(f"user {user_id} is not a student of {course.id}")
        return course, column, member

    def _edit(
        self, course_id: str, column_id: str, user_id: str, at: datetime | None, **changes: Any
    ) -> int:
        _, column, member = self._target(course_id, column_id, user_id)
        return self._apply(column, member, at, **changes)

    def _apply(
        self, column: ColumnInfo, member: Member, at: datetime | None = None, **changes: Any
    ) -> int:
        """Record an edit under the next ``changeIndex`` at ``at`` (default: now) and log it;
        ``cleared`` empties the grade."""
        before = self.state(column, member)
        kind = edit_kind(changes)
        cleared = changes.pop("cleared", False)
        if cleared and before is None:
            raise NotFound(f"user {primary(derive.USER_BASE + member.user)} has no grade")
        current = before
        if current is None or cleared:
            current = GradeState(None, None, False, None, None, None, 0)
        self._counter += 1
        after = replace(current, change_index=self._counter, **changes)
        self._edits[column.number, member.user] = after
        self.row_cache.forget(column.number)
        self.row_cache.forget(derive.total_number(column.course, self._columns))
        self.log.record(column, member, before, after, kind, at or self.clock.now())
        return self._counter

    # Each edit happens now on the world's clock, or at ``at`` for a caller that planned it
    # (the activity player): its true time in ``edit_log`` and its log entry's ``logged``.

    def set_score(
        self,
        course_id: str,
        column_id: str,
        user_id: str,
        score: float,
        *,
        at: datetime | None = None,
    ) -> int:
        """Grade (or regrade) a student; returns the new ``changeIndex``."""
        return self._edit(course_id, column_id, user_id, at, score=float(score))

    def set_text(
        self,
        course_id: str,
        column_id: str,
        user_id: str,
        text: str | None,
        *,
        at: datetime | None = None,
    ) -> int:
        """Override the grade with text (None removes the override)."""
        overridden = iso(at or self.clock.now()) if text is not None else None
        return self._edit(course_id, column_id, user_id, at, text=text, overridden=overridden)

    def set_exempt(
        self,
        course_id: str,
        column_id: str,
        user_id: str,
        exempt: bool,
        *,
        at: datetime | None = None,
    ) -> int:
        return self._edit(course_id, column_id, user_id, at, exempt=exempt)

    def clear_grade(
        self, course_id: str, column_id: str, user_id: str, *, at: datetime | None = None
    ) -> int:
        """Clear a grade: the row stays, with no grade in it and a new ``changeIndex``."""
        return self._edit(course_id, column_id, user_id, at, cleared=True)

    def set_scores(
        self,
        course_id: str,
        scores: Mapping[tuple[str, str], float],
        *,
        at: datetime | None = None,
    ) -> list[int]:
        """A bulk edit: grade several students at one instant (their log entries share one
        ``logged``). ``scores`` maps (column id, user id) to a score; every target is checked
        before any is edited. Returns the new ``changeIndex`` of each, in order."""
        targets = [
            (*self._target(course_id, column_id, user_id)[1:], float(score))
            for (column_id, user_id), score in scores.items()
        ]
        at = at or self.clock.now()
        return [self._apply(column, member, at, score=score) for column, member, score in targets]

    def add_student(self, course_id: str, *, child_course_id: str | None = None) -> str:
        """Enrol a new student (into a child of a cross-listed parent when named)."""
        course = self.resolve_course(course_id)
        holder = course
        if child_course_id is not None:
            holder = self.resolve_course(child_course_id)
            if holder.index not in course.children:
                raise ValueError(f"{holder.id} is not a cross-listed child of {course.id}")
        user = self._next_user
        self._next_user += 1
        self.enrol(holder, user, "Student")
        return primary(derive.USER_BASE + user)

    def remove_student(self, course_id: str, user_id: str) -> None:
        """Delete the membership: the student's rows vanish and no ``changeIndex`` moves."""
        member, holder = self.find_member(self.resolve_course(course_id), user_id)
        del self.members(holder)[member.user]
        self.row_cache.clear()

    def disable_membership(self, course_id: str, user_id: str, *, disabled: bool = True) -> None:
        """Set the membership's availability to Disabled (or back to Yes)."""
        member, _ = self.find_member(self.resolve_course(course_id), user_id)
        member.disabled = disabled
        self.row_cache.clear()

    def add_column(
        self,
        course_id: str,
        name: str,
        *,
        type: str = "Manual",
        possible: float = 100.0,
        due: datetime | None = None,
        external_id: str | None = None,
    ) -> str:
        """Create a column with no grades; Learn makes calculated columns only in its UI."""
        if type not in ("Manual", "Attempts"):
            raise ValueError(f"cannot add a column of type {type!r}: Manual or Attempts only")
        course = self.resolve_course(course_id)
        column = ColumnInfo(
            number=self._next_column,
            course=course.index,
            name=name,
            type=type,
            possible=float(possible),
            category=2 if type == "Manual" else 0,
            due=due,
            available=True,
            graded=False,
            created=self.clock.now(),
            external_id=external_id,
        )
        self._next_column += 1
        course.added.append(column)
        self._added_columns[column.number] = column
        self.row_cache.clear()
        return column.id

    def delete_column(self, course_id: str, column_id: str) -> None:
        """Delete a column and its grades; the external-grade Total cannot be deleted."""
        course = self.resolve_course(course_id)
        column = self.resolve_column(course, column_id)
        if column.calculated:
            raise ValueError(f"column {column.id} is the course's external grade")
        if column.number in self._added_columns:
            course.added.remove(self._added_columns.pop(column.number))
        else:
            course.deleted.add(column.number)
        self.row_cache.clear()

    # -- the gradebook log --------------------------------------------------------------------

    @property
    def log_edits(self) -> bool:
        """Whether new edits are logged; off, they leave no entry (an unlogged source)."""
        return self.log.log_edits

    @log_edits.setter
    def log_edits(self, on: bool) -> None:
        self.log.log_edits = on

    def clear_log(self, course_id: str) -> None:
        """Drop every entry the course's log holds so far (derived history included)."""
        self.log.clear(self.resolve_course(course_id))

    def log_entries(
        self,
        course_id: str,
        column_id: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        user_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The course's (or one column's) log entries in ``[since, until)`` by id, as served."""
        course = self.resolve_course(course_id)
        if column_id is None:
            columns = self.columns(course)
        else:
            columns = [self.resolve_column(course, column_id)]
        entries = self.log.entries(
            course,
            columns,
            since=None if since is None else to_ms(since),
            until=None if until is None else to_ms(until),
            user=None if user_id is None else self.user_index(user_id),
        )
        return [entry_body(entry) for entry in entries]

    def edit_log(self, course_id: str | None = None) -> list[Edit]:
        """Every grade edit made on the simulator, in order, with its true time, logged or not
        (the derived history is not in it: it happened before the world's start)."""
        course = None if course_id is None else self.resolve_course(course_id)
        return self.log.edits(course)

    # -- random activity ---------------------------------------------------------------------

    def random_edits(self, n: int, *, seed: int | None = None) -> int:
        """Make ``n`` pseudo-random grade edits (mostly regrades); the same seed, the same edits."""
        if seed is None:
            seed = derive.mix(self.spec.seed, 13, self._random_calls)
            self._random_calls += 1
        rng = random.Random(seed)
        gradebooks = [c for c in self.courses if c.parent is None]
        # What each course offers, looked up once per call: a churn run touches each often.
        offers: dict[int, tuple[list[ColumnInfo], list[Member]]] = {}
        made = 0
        for _ in range(n * 20):
            if made == n or not gradebooks:
                break
            course = rng.choice(gradebooks)
            if course.index not in offers:
                offers[course.index] = (
                    [c for c in self.columns(course) if not c.calculated],
                    [m for m, _ in self.roster(course) if m.role == "Student"],
                )
            inputs, students = offers[course.index]
            if not inputs or not students:
                continue
            column, member = rng.choice(inputs), rng.choice(students)
            current = self.state(column, member)
            roll = rng.random()
            if roll < 0.1 and current is not None and current.is_grade:
                self._apply(column, member, cleared=True)
            elif roll < 0.2:
                self._apply(column, member, exempt=not (current and current.exempt))
            elif roll < 0.3:
                text = rng.choice([*derive.OVERRIDE_TEXTS, None])
                overridden = iso(self.clock.now()) if text is not None else None
                self._apply(column, member, text=text, overridden=overridden)
            else:
                score = round(column.possible * rng.uniform(0.3, 1.0), 2)
                self._apply(column, member, score=score)
            made += 1
        return made

    def random_bulk_edit(self, most: int = 10, *, seed: int | None = None) -> int:
        """Grade 2 to ``most`` students of one random column at one instant, as a bulk upload
        does; returns how many grades it edited (0 when the column it drew has no students)."""
        if seed is None:
            seed = derive.mix(self.spec.seed, 19, self._random_calls)
            self._random_calls += 1
        rng = random.Random(seed)
        gradebooks = [c for c in self.courses if c.parent is None]
        if not gradebooks:
            return 0
        course = rng.choice(gradebooks)
        inputs = [c for c in self.columns(course) if not c.calculated]
        students = [m for m, _ in self.roster(course) if m.role == "Student"]
        if not inputs or not students:
            return 0
        column = rng.choice(inputs)
        chosen = rng.sample(students, min(len(students), rng.randint(2, max(2, most))))
        at = self.clock.now()
        for member in chosen:
            self._apply(column, member, at, score=round(column.possible * rng.uniform(0.3, 1), 2))
        return len(chosen)
