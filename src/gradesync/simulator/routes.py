"""The Learn REST endpoints gradesync reads, answered from a ``World``.

Paths, parameters, page sizes and error bodies follow docs/learn-api.md sections 2-5. Default and
maximum ``limit``: courses 100, memberships 200, columns 200, column grades 100, others 100.
A few single-object reads other Learn clients use are served too: one grade, one child course,
the cross-listing set, one category and one user. The gradebook log is ``logapi``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gradesync.simulator import derive
from gradesync.simulator.derive import ColumnInfo, iso, primary
from gradesync.simulator.faults import Faults, spoil_column, spoil_row
from gradesync.simulator.site import NotFound, SimCourse
from gradesync.simulator.wire import (
    ApiError,
    Fields,
    bool_param,
    int_param,
    json_bytes,
    json_response,
    paged,
    paged_encoded,
)
from gradesync.simulator.world import World

PREFIX = "/learn/api/public/"
V3_ONLY_COURSE_FIELDS = frozenset({"modified", "allowObservers", "closedComplete"})
COURSE_SORTS = ("courseId", "name", "externalId", "created", "modified")


def query_date(request: web.Request, name: str) -> datetime | None:
    """A date query parameter (ISO 8601, as ``2025-09-08T15:35:05.817Z``; UTC when it names no
    offset), or None when absent; 400 when it is not a date."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"Invalid date for {name}: {raw}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date_filter(request: web.Request, name: str) -> Callable[[dict[str, Any]], bool]:
    """``created``/``createdCompare`` and friends: greaterOrEqual unless told lessThan."""
    moment = query_date(request, name)
    compare = request.query.get(f"{name}Compare", "greaterOrEqual")
    if compare not in ("greaterOrEqual", "lessThan"):
        raise ApiError(400, f"Invalid value for {name}Compare: {compare}")
    if moment is None:
        return lambda _: True
    if compare == "lessThan":
        return lambda body: datetime.fromisoformat(body[name]) < moment
    return lambda body: datetime.fromisoformat(body[name]) >= moment


def _secondary(value: str, known: tuple[tuple[str, str], ...]) -> str:
    """A ``dataSourceId``/``termId`` filter value as a primary id (``externalId:`` resolved)."""
    if value.startswith("externalId:"):
        wanted = value.removeprefix("externalId:")
        return next((pk for pk, ext in known if ext == wanted), "")
    return value


def raw_colon_check(request: web.Request) -> None:
    """Learn resolves ``externalId:x`` in a path only with a literal colon
    (docs/learn-api.md section 2.5)."""
    raw_path = request.rel_url.raw_path
    if "%3a" not in raw_path.lower():
        return
    for segment in raw_path.split("/"):
        if "%3a" in segment.lower():
            raise ApiError(404, f"Could not find object with ID: {segment}")


class LearnApi:
    """Request handlers over one world; faults that depend on the object (403 columns) live
    here, the rest in the app's gate."""

    def __init__(self, world: World, faults: Faults) -> None:
        self.world = world
        self.faults = faults

    def routes(self) -> list[web.RouteDef]:
        grades = "v2/courses/{courseId}/gradebook/columns/{columnId}/users"
        return [
            web.get(PREFIX + "v1/system/version", self.version),
            web.get(PREFIX + "v3/courses", self.courses),
            web.get(PREFIX + "v3/courses/{courseId}", self.course),
            web.get(PREFIX + "v1/courses/{courseId}/users", self.memberships),
            web.get(PREFIX + "v1/courses/{courseId}/children", self.children),
            web.get(PREFIX + "v1/courses/{courseId}/children/{childCourseId}", self.child),
            web.get(PREFIX + "v1/courses/{courseId}/crossListSet", self.cross_list_set),
            web.get(PREFIX + "v1/courses/{courseId}/gradebook/categories", self.categories),
            web.get(
                PREFIX + "v1/courses/{courseId}/gradebook/categories/{categoryId}", self.category
            ),
            web.get(PREFIX + "v2/courses/{courseId}/gradebook/columns", self.columns),
            web.get(PREFIX + "v2/courses/{courseId}/gradebook/columns/{columnId}", self.column),
            web.get(PREFIX + grades, self.grades),
            web.get(PREFIX + grades + "/lastChanged", self.last_changed),
            web.get(PREFIX + grades + "/{userId}", self.grade),
            web.get(PREFIX + "v1/users/{userId}", self.user),
        ]

    def _course(self, request: web.Request) -> SimCourse:
        raw_colon_check(request)
        try:
            return self.world.resolve_course(request.match_info["courseId"])
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None

    def _column(self, request: web.Request, course: SimCourse) -> ColumnInfo:
        try:
            return self.world.resolve_column(course, request.match_info["columnId"])
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None

    async def version(self, request: web.Request) -> web.Response:
        """``Faults.learn_version``: 3900.123.0 unless a test asks for an older Learn."""
        major, minor, patch = self.faults.version
        build = f"rel.{minor}.{patch}+simulator"
        return json_response(
            {"learn": {"major": major, "minor": minor, "patch": patch, "build": build}}
        )

    async def courses(self, request: web.Request) -> web.Response:
        q = request.query
        dated = [_date_filter(request, "created"), _date_filter(request, "modified")]
        equal: dict[str, Any] = {}
        if "availability.available" in q:
            equal["available"] = q["availability.available"]
        if q.get("dataSourceId"):
            equal["dataSourceId"] = _secondary(q["dataSourceId"], derive.DATA_SOURCES)
        if q.get("termId"):
            equal["termId"] = _secondary(q["termId"], derive.TERMS)
        for flag in ("organization", "allowGuests"):
            if (value := bool_param(request, flag)) is not None:
                equal[flag] = value
        contains = {
            name: q[name].casefold()
            for name in ("courseId", "externalId", "name", "description")
            if q.get(name)
        }

        def wanted(body: dict[str, Any]) -> bool:
            flat = body | {"available": body["availability"]["available"]}
            return (
                all(flat.get(k) == v for k, v in equal.items())
                and all(v in str(flat.get(k, "")).casefold() for k, v in contains.items())
                and all(check(body) for check in dated)
            )

        bodies = [c.body for c in self.world.courses if wanted(c.body)]
        for key in reversed([k for k in q.get("sort", "").split(",") if k]):
            name, descending = key.removesuffix("(desc)"), key.endswith("(desc)")
            if name not in COURSE_SORTS:
                raise ApiError(400, f"Invalid sort field: {name}")
            bodies.sort(key=lambda b: str(b.get(name, "")), reverse=descending)
        return paged(request, bodies, maximum=100)

    async def course(self, request: web.Request) -> web.Response:
        return json_response(Fields.of(request).apply(self._course(request).body))

    async def memberships(self, request: web.Request) -> web.Response:
        course = self._course(request)
        role = request.query.get("role")
        available = request.query.get("availability.available")
        expand = {e.strip() for e in request.query.get("expand", "").split(",")}
        rows = []
        for member, holder in self.world.roster(course):
            body = self.world.membership_body(course, member, holder)
            if role and body["courseRoleId"] != role:
                continue
            if available and body["availability"]["available"] != available:
                continue
            if "user" in expand:
                body["user"] = self.world.user(member.user)
            rows.append(body)
        if request.query.get("sort", "").startswith("created"):
            rows.sort(key=lambda b: str(b["created"]), reverse="(desc)" in request.query["sort"])
        return paged(request, rows, maximum=200)

    def _child_body(
        self, parent: SimCourse, child: SimCourse, expand: bool = False
    ) -> dict[str, Any]:
        """The CourseChild of a cross-listing, with the child's v1 Course when expanded."""
        body: dict[str, Any] = {
            "id": child.id,
            "parentId": parent.id,
            "dataSourceId": child.body["dataSourceId"],
            "created": child.body["created"],
        }
        if expand:
            # A v1 Course: the v3 body without the properties v1 does not have.
            body["childCourse"] = {
                k: v for k, v in child.body.items() if k not in V3_ONLY_COURSE_FIELDS
            }
        return body

    def _parent(self, request: web.Request) -> SimCourse:
        course = self._course(request)
        if not course.children:
            raise ApiError(400, "Course not a cross-listed parent")
        return course

    async def children(self, request: web.Request) -> web.Response:
        course = self._parent(request)
        expand = "childCourse" in {e.strip() for e in request.query.get("expand", "").split(",")}
        rows = [
            self._child_body(course, self.world.courses[index], expand) for index in course.children
        ]
        return paged(request, rows, maximum=100)

    async def child(self, request: web.Request) -> web.Response:
        course = self._parent(request)
        ref = request.match_info["childCourseId"]
        try:
            child = self.world.resolve_course(ref)
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None
        if child.index not in course.children:
            raise ApiError(404, f"Could not find object with ID: {ref}")
        expand = "childCourse" in {e.strip() for e in request.query.get("expand", "").split(",")}
        return json_response(Fields.of(request).apply(self._child_body(course, child, expand)))

    async def cross_list_set(self, request: web.Request) -> web.Response:
        """Every link of the course's cross-listed set, asked of the parent or a child; none
        for a course that is not cross-listed."""
        course = self._course(request)
        parent = course if course.parent is None else self.world.courses[course.parent]
        rows = [self._child_body(parent, self.world.courses[i]) for i in parent.children]
        return paged(request, rows, maximum=100)

    def _categories(self, course: SimCourse) -> list[dict[str, Any]]:
        first = derive.CATEGORY_BASE + course.index * len(derive.CATEGORIES)
        return [
            {"id": primary(first + k), "title": title} for k, title in enumerate(derive.CATEGORIES)
        ]

    async def categories(self, request: web.Request) -> web.Response:
        return paged(request, self._categories(self._course(request)), maximum=100)

    async def category(self, request: web.Request) -> web.Response:
        ref = request.match_info["categoryId"]
        for body in self._categories(self._course(request)):
            if body["id"] == ref:
                return json_response(Fields.of(request).apply(body))
        raise ApiError(404, f"Could not find object with ID: {ref}")

    def _column_body(self, course: SimCourse, column: ColumnInfo) -> dict[str, Any]:
        body: dict[str, Any] = {"id": column.id}
        if column.external_id is not None:
            body["externalId"] = column.external_id
        body |= {
            "name": column.name,
            "displayName": column.name,
            "externalGrade": column.calculated,
            "created": iso(column.created),
            "score": {"possible": self.world.possible(course, column)},
            "availability": {"available": "Yes" if column.available else "No"},
        }
        grading: dict[str, Any] = {"type": column.type}
        due = self.world.due(course, column)
        if due is not None:
            grading["due"] = iso(due)
        if column.type == "Attempts":
            grading |= {"attemptsAllowed": 1, "scoringModel": "Last"}
        body["grading"] = grading
        if column.category is not None:
            number = derive.CATEGORY_BASE + course.index * len(derive.CATEGORIES)
            body["gradebookCategoryId"] = primary(number + column.category)
        body |= {"includeInCalculations": not column.calculated, "showStatisticsToStudents": False}
        return body

    async def columns(self, request: web.Request) -> web.Response:
        course = self._course(request)
        q = request.query
        bodies = [self._column_body(course, c) for c in self.world.columns(course)]
        bad = self.faults.bad_columns
        if bad:
            bodies = [
                spoil_column(b, kind) if (kind := bad.get((course.id, b["id"]))) else b
                for b in bodies
            ]
        if q.get("contentId"):
            bodies = []  # no simulated column is attached to content
        for name in ("name", "displayName"):
            if q.get(name):
                bodies = [b for b in bodies if q[name].casefold() in b[name].casefold()]
        if q.get("gradebookCategoryId"):
            wanted = {c.strip() for c in q["gradebookCategoryId"].split(",")}
            bodies = [b for b in bodies if b.get("gradebookCategoryId") in wanted]
        return paged(request, bodies, maximum=200)

    async def column(self, request: web.Request) -> web.Response:
        course = self._course(request)
        body = self._column_body(course, self._column(request, course))
        return json_response(Fields.of(request).apply(body))

    def _readable_column(self, request: web.Request) -> tuple[SimCourse, ColumnInfo]:
        course = self._course(request)
        column = self._column(request, course)
        if column.id in self.faults.forbidden_columns:
            raise ApiError(403, "Access Denied")
        return course, column

    async def grades(self, request: web.Request) -> web.Response:
        course, column = self._readable_column(request)
        include_disabled = bool_param(request, "includeDisabledMemberships") or False
        bool_param(request, "includeUnpostedGrades")  # accepted; nothing is unposted here
        since = int_param(request, "changeIndex")
        rows = self.world.row_cache.rows(course, column, request.query.get("fields"))
        bodies = [
            row.body
            for row in rows
            if (include_disabled or not row.disabled)
            and (since is None or row.change_index > since)
        ]
        return paged_encoded(request, self._spoiled(course, column, bodies), maximum=100)

    def _spoiled(self, course: SimCourse, column: ColumnInfo, bodies: list[bytes]) -> list[bytes]:
        """The rows with the faults' bad values in those of ``bad_rows``."""
        bad = {
            user: kind
            for (course_id, column_id, user), kind in self.faults.bad_rows.items()
            if course_id == course.id and column_id == column.id
        }
        if not bad:
            return bodies
        out = []
        for body in bodies:
            kind = bad.get(json.loads(body).get("userId", ""))
            out.append(spoil_row(body, kind) if kind else body)
        return out

    async def grade(self, request: web.Request) -> web.Response:
        """One student's GradeV2; one without grade details gets the object without them."""
        course, column = self._readable_column(request)
        ref = request.match_info["userId"]
        try:
            member, _ = self.world.find_member(course, ref)
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None
        user_id = primary(derive.USER_BASE + member.user)
        row = None
        if member.role == "Student":
            row = self.world.grade_row(course, column, member)
        body = row or {"userId": user_id, "columnId": column.id}
        return json_response(Fields.of(request).apply(body))

    async def user(self, request: web.Request) -> web.Response:
        raw_colon_check(request)
        try:
            index = self.world.user_index(request.match_info["userId"])
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None
        return json_response(Fields.of(request).apply(self.world.user(index)))

    async def last_changed(self, request: web.Request) -> web.Response:
        course, column = self._readable_column(request)
        if column.calculated:
            return web.Response(status=204)
        rows = self.world.row_cache.rows(course, column, request.query.get("fields"))
        active = [row for row in rows if not row.disabled]
        if not active:
            return web.Response(status=204)
        latest = max(active, key=lambda row: row.change_index).body
        return json_bytes(self._spoiled(course, column, [latest])[0])
