"""The state behind the simulated Learn site: who is enrolled where, which columns exist,
which grades were edited, and how each object renders as Learn's JSON (grade rows are written,
and kept between requests, by ``rows``).

Untouched objects are derived from the seed (see ``derive``); a site stores only memberships,
added columns and grade edits, so 5,000 courses x 25 columns x 40 students fit in little memory.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gradesync.clock import Clock, SystemClock
from gradesync.simulator import derive
from gradesync.simulator.derive import ColumnInfo, GradeState, iso, primary
from gradesync.simulator.gradelog import GradebookLog
from gradesync.simulator.rows import GradeFields, RowCache, Writer, counted

# How many courses' derived columns are kept at hand (they are cheap to derive again).
COLUMN_CACHE = 1024


class NotFound(LookupError):
    """The course, column, user or grade named does not exist (a 404 at the wire)."""


@dataclass(frozen=True)
class WorldSpec:
    """The shape of an institution; the same spec always builds the same world."""

    seed: int = 1
    courses: int = 20
    columns_per_course: int = 8
    students_per_course: int = 25
    cross_listed_parents: int = 2
    user_pool: int | None = None  # distinct students; default: a quarter of all seats
    epoch: datetime = datetime(2025, 9, 1, tzinfo=UTC)

    def __post_init__(self) -> None:
        if self.courses < 3 * self.cross_listed_parents:
            raise ValueError("each cross-listed parent needs two more courses as its children")
        if self.columns_per_course < 1 or self.students_per_course < 0 or self.courses < 0:
            raise ValueError("sizes must be positive (a course has at least its Total column)")

    @property
    def pool(self) -> int:
        wanted = self.user_pool or self.courses * self.students_per_course // 4
        return max(wanted, 2 * self.students_per_course, 1)


@dataclass(slots=True)
class Member:
    """One enrolment, held by the course the user is directly enrolled in."""

    number: int
    user: int
    role: str
    base: bool  # enrolled when the world was built, so derived grades apply
    disabled: bool
    created: str


@dataclass(slots=True)
class SimCourse:
    """One course: its CourseV2 body, its place in a cross-listed set, and what was changed."""

    index: int
    body: dict[str, Any]
    parent: int | None = None
    children: list[int] = field(default_factory=list)
    enrolled: dict[int, Member] | None = None  # built on first use; see Site.members
    deleted: set[int] = field(default_factory=set)
    added: list[ColumnInfo] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.body["created"])


# The due date something gives a course's column over its own: the realistic activity's plan
# answers when it has the column due, None for a column it does not grade.
PlannedDue = Callable[[SimCourse, ColumnInfo], datetime | None]


class Site:
    """The stored state of a simulated Learn site and how the REST API reads it."""

    def __init__(self, spec: WorldSpec | None = None, *, clock: Clock | None = None) -> None:
        self.spec = spec = spec or WorldSpec()
        self.clock: Clock = clock or SystemClock()
        # The world's start: its derived past (the gradebook log's history) ends before it.
        self.started = self.clock.now()
        self._columns = spec.columns_per_course
        self._pool = spec.pool
        self._edits: dict[tuple[int, int], GradeState] = {}
        self._added_columns: dict[int, ColumnInfo] = {}
        self._next_column = derive.COLUMN_BASE + spec.courses * self._columns
        self._next_user = self._pool + spec.courses
        self._next_member = spec.courses * (spec.students_per_course + 1)
        self._random_calls = 0
        # Set while the realistic activity plays: the due dates its plan gives the columns.
        self.planned_due: PlannedDue | None = None
        self._baseline_stride = spec.courses * self._columns
        self._counter = derive.CHANGE_INDEX_BASE + self._pool * self._baseline_stride + 1
        self.courses: list[SimCourse] = []
        self._aliases: dict[str, int] = {}
        self._base_columns: OrderedDict[int, tuple[ColumnInfo, ...]] = OrderedDict()
        self.row_cache = RowCache(self)
        self._build()
        self.log = GradebookLog(self)

    # -- construction ------------------------------------------------------------------------

    def _build(self) -> None:
        spec = self.spec
        for index in range(spec.courses):
            body = derive.course_body(spec.seed, index, spec.epoch, spec.students_per_course)
            course = SimCourse(index, body)
            self.courses.append(course)
            for kind in ("externalId", "courseId", "uuid"):
                self._aliases[f"{kind}:{body[kind]}"] = index
        for k in range(spec.cross_listed_parents):
            parent = self.courses[3 * k]
            parent.body["hasChildren"] = True
            parent.body["name"] += " (cross-listed)"
            for child_index in (3 * k + 1, 3 * k + 2):
                parent.children.append(child_index)
                self.courses[child_index].parent = parent.index
                self.courses[child_index].body["parentId"] = parent.id
        for course in self.courses:
            if (
                not course.children
                and course.parent is None
                and derive.mix(spec.seed, 8, course.index) % 12 == 0
            ):
                course.body["availability"]["available"] = "No"

    def members(self, course: SimCourse) -> dict[int, Member]:
        """The enrolments ``course`` holds, by user index. Built from the seed on first use, so
        a large world costs nothing for courses nobody looks at."""
        if course.enrolled is not None:
            return course.enrolled
        spec = self.spec
        first = course.index * (spec.students_per_course + 1)
        created = course.body["created"]
        instructor = Member(
            first, self.instructor(course.index), "Instructor", True, False, created
        )
        course.enrolled = {instructor.user: instructor}
        for k, user in enumerate(self._seeded_students(course)):
            disabled = derive.mix(spec.seed, 10, course.index, user) % 40 == 0
            course.enrolled[user] = Member(first + 1 + k, user, "Student", True, disabled, created)
        return course.enrolled

    def _seeded_students(self, course: SimCourse) -> list[int]:
        """The students ``course`` itself held when the world was built (a parent holds none:
        its students are its children's)."""
        if course.children:
            return []
        spec = self.spec
        # The two children of a parent get disjoint windows of the pool: a student is in at
        # most one course of a cross-listed set.
        owner = course.index if course.parent is None else course.parent
        start = derive.mix(spec.seed, 4, owner) % self._pool
        if course.parent is not None:
            start += self.courses[course.parent].children.index(course.index) * (
                spec.students_per_course
            )
        return [(start + k) % self._pool for k in range(spec.students_per_course)]

    def base_students(self, course: SimCourse) -> list[int]:
        """The students of ``course``'s gradebook when the world was built (through the children
        for a parent), whatever enrolments changed since."""
        students = self._seeded_students(course)
        for child in course.children:
            students += self._seeded_students(self.courses[child])
        return students

    def instructor(self, course_index: int) -> int:
        """The user index of the course's instructor."""
        return self._pool + course_index

    def enrol(self, course: SimCourse, user: int, role: str) -> Member:
        member = Member(self._next_member, user, role, False, False, iso(self.clock.now()))
        self._next_member += 1
        self.members(course)[user] = member
        self.row_cache.clear()
        return member

    # -- lookups -----------------------------------------------------------------------------

    def resolve_course(self, ref: str) -> SimCourse:
        """A course by primary id or ``externalId:``/``courseId:``/``uuid:`` (404 otherwise)."""
        number = derive.parse_primary(ref)
        if number is not None:
            index = number - derive.COURSE_BASE
            if 0 <= index < len(self.courses):
                return self.courses[index]
        elif ref in self._aliases:
            return self.courses[self._aliases[ref]]
        raise NotFound(f"Could not find object with ID: {ref}")

    def columns(self, course: SimCourse) -> list[ColumnInfo]:
        """The course's current gradebook columns. Children of a cross-listed set have none:
        the set's grades are kept, and read, in the parent."""
        if course.parent is not None:
            return list(course.added)
        base = self.base_columns(course)
        return [c for c in base if c.number not in course.deleted] + course.added

    def base_columns(self, course: SimCourse) -> tuple[ColumnInfo, ...]:
        """The columns the course had when the world was built, deleted ones included."""
        if course.parent is not None:
            return ()
        base = self._base_columns.get(course.index)
        if base is None:
            base = tuple(
                derive.base_column(self.spec.seed, course.index, j, self._columns, course.created)
                for j in range(self._columns)
            )
            self._base_columns[course.index] = base
            if len(self._base_columns) > COLUMN_CACHE:
                self._base_columns.popitem(last=False)
        else:
            self._base_columns.move_to_end(course.index)
        return base

    def resolve_column(self, course: SimCourse, ref: str) -> ColumnInfo:
        """A column of ``course`` by primary id, ``externalId:`` or ``finalGrade``."""
        # Compared by number and by suffix: formatting every column's ids was most of a lookup.
        number = derive.parse_primary(ref)
        kind, _, external = ref.partition(":")
        if kind != "externalId":
            external = ""
        for column in self.columns(course):
            if (
                (number == column.number and ref == column.id)
                or (ref == "finalGrade" and column.calculated)
                or (external and external == column.external_id)
            ):
                return column
        raise NotFound(f"Could not find object with ID: {ref}")

    def user_index(self, ref: str) -> int:
        """A user by primary id, ``externalId:`` or ``userName:`` (404 when nobody has it)."""
        number = derive.parse_primary(ref)
        if number is not None:
            index = number - derive.USER_BASE
        else:
            kind, _, value = ref.partition(":")
            index = -1
            if kind == "externalId" and value[3:].isdigit():
                index = int(value[3:])
            elif kind == "userName" and value.rpartition(".")[2].isdigit():
                index = int(value.rpartition(".")[2])
            if index >= 0 and self.user(index).get(kind) != value:
                index = -1
        if not 0 <= index < self._next_user:
            raise NotFound(f"Could not find object with ID: {ref}")
        return index

    def user(self, index: int) -> dict[str, Any]:
        """The User body; instructors sit between the student pool and the users added later."""
        instructor = self._pool <= index < self._pool + self.spec.courses
        return derive.user_body(
            self.spec.seed, index, student=not instructor, epoch=self.spec.epoch
        )

    def roster(self, course: SimCourse) -> Iterator[tuple[Member, SimCourse]]:
        """Every membership seen from ``course``, with the course that holds it (a child's for
        students of a cross-listed parent)."""
        for member in self.members(course).values():
            yield member, course
        for child_index in course.children:
            child = self.courses[child_index]
            for member in self.members(child).values():
                yield member, child

    def find_member(self, course: SimCourse, user_id: str) -> tuple[Member, SimCourse]:
        index = self.user_index(user_id)
        for member, holder in self.roster(course):
            if member.user == index:
                return member, holder
        raise NotFound(f"User {user_id} is not enrolled in the course {course.id}")

    # -- grades ------------------------------------------------------------------------------

    def state(self, column: ColumnInfo, member: Member) -> GradeState | None:
        edited = self._edits.get((column.number, member.user))
        if edited is not None or not member.base:
            return edited
        return derive.base_grade(
            self.spec.seed, column, member.user, self._baseline(column, member.user)
        )

    def states(self, column: ColumnInfo, members: list[Member]) -> list[GradeState | None]:
        """``state`` of each member in a non-calculated column, deriving the column once."""
        edits, number, stride = self._edits, column.number, self._baseline_stride
        start = derive.grade_hash(self.spec.seed, column)
        first = self._baseline(column, 0)
        out: list[GradeState | None] = []
        for member in members:
            state = edits.get((number, member.user))
            if state is None and member.base and column.graded:
                h = derive.mix_on(start, member.user)
                state = derive.hashed_grade(column, h, first + member.user * stride)
            out.append(state)
        return out

    def _baseline(self, column: ColumnInfo, user: int) -> int:
        """The ``changeIndex`` of an untouched grade: below the counter, unique per grade."""
        offset = user * self._baseline_stride + column.number - derive.COLUMN_BASE
        return derive.CHANGE_INDEX_BASE + offset + 1

    def grade_row(
        self, course: SimCourse, column: ColumnInfo, member: Member
    ) -> dict[str, Any] | None:
        """The GradeV2 row of one student as Learn would serve it, or None when there is none."""
        writer = Writer(column, GradeFields(), self.possible(course, column))
        if column.calculated:
            inputs = [c for c in self.columns(course) if not c.calculated]
            scores = [s for c in inputs if (s := counted(self.state(c, member))) is not None]
            body = writer.total(member.user, scores)
        else:
            state = self.state(column, member)
            body = None if state is None else writer.grade(member.user, state)
        if body is None:
            return None
        row: dict[str, Any] = json.loads(body)
        return row

    def grade_rows(
        self, course: SimCourse, column: ColumnInfo, *, include_disabled: bool = False
    ) -> list[dict[str, Any]]:
        """Every row of a column, in roster order; disabled memberships only when asked."""
        return [
            json.loads(row.body)
            for row in self.row_cache.rows(course, column, None)
            if include_disabled or not row.disabled
        ]

    def possible(self, course: SimCourse, column: ColumnInfo) -> float:
        """``score.possible``; for the Total, the sum over the columns it adds up."""
        if not column.calculated:
            return column.possible
        return sum(c.possible for c in self.columns(course) if not c.calculated)

    def due(self, course: SimCourse, column: ColumnInfo) -> datetime | None:
        """``grading.due`` as served. While a plan sets due dates (``planned_due``), a column it
        grades is due when the plan says, and a base column it does not grade has none: the
        derived due dates follow the course's creation, not the plan's term. An added column
        the plan does not grade keeps the due date it was added with. (``columns`` keeps each
        column's own ``due``: the plan reads the columns to draw its due dates.)"""
        if self.planned_due is None:
            return column.due
        planned = self.planned_due(course, column)
        if planned is not None or column.number not in self._added_columns:
            return planned
        return column.due

    def membership_body(
        self, course: SimCourse, member: Member, holder: SimCourse
    ) -> dict[str, Any]:
        """The CourseMembership body as seen from ``course`` (``childCourseId`` for a child's)."""
        body: dict[str, Any] = {
            "id": primary(derive.MEMBERSHIP_BASE + member.number),
            "userId": primary(derive.USER_BASE + member.user),
            "courseId": course.id,
        }
        if holder is not course:
            body["childCourseId"] = holder.id
        body["dataSourceId"] = holder.body["dataSourceId"]
        body["created"] = member.created
        body["availability"] = {"available": "Disabled" if member.disabled else "Yes"}
        body["courseRoleId"] = member.role
        return body
