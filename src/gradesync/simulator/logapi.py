"""The gradebook log endpoints (docs/learn-api.md section 4.9), answered from a ``World``.

    GET v1/courses/{courseId}/gradebook/logs
    GET v1/courses/{courseId}/gradebook/columns/{columnId}/logs

Both take ``since`` (logged at or after: inclusive), ``until`` (logged before: exclusive),
``user.userId``, ``sort`` (``id``, ``gradebookColumnId``, ``logged``, each with an optional
``(desc)``; by ``id`` when absent), and ``offset``, ``limit`` (default and maximum 100) and
``fields`` as the other lists. A date that is not ISO 8601 is a 400, as is an unknown sort field.
``Faults.learn_version`` below 3900.71 makes both paths answer 404, ``Faults.forbidden_logs`` 403.
What an entry holds, and which edits make one, is ``gradelog``'s.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gradesync.simulator.derive import ColumnInfo
from gradesync.simulator.faults import Faults
from gradesync.simulator.gradelog import Entry, entry_body, to_ms
from gradesync.simulator.routes import PREFIX, query_date, raw_colon_check
from gradesync.simulator.site import NotFound, SimCourse
from gradesync.simulator.wire import ApiError, paged_rendered
from gradesync.simulator.world import World

LOG_SORTS: dict[str, Callable[[Entry], int]] = {
    "id": lambda e: e.number,
    "gradebookColumnId": lambda e: e.column,
    "logged": lambda e: e.logged,
}


def sort_keys(raw: str) -> list[tuple[Callable[[Entry], int], bool]]:
    """A ``sort`` parameter as (key, descending) pairs, the first the most significant."""
    keys = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        name, descending = part.removesuffix("(desc)"), part.endswith("(desc)")
        if name not in LOG_SORTS:
            raise ApiError(400, f"Invalid sort field: {name}")
        keys.append((LOG_SORTS[name], descending))
    return keys


class LogApi:
    """The two log endpoints over one world."""

    def __init__(self, world: World, faults: Faults) -> None:
        self.world = world
        self.faults = faults

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(PREFIX + "v1/courses/{courseId}/gradebook/logs", self.course_log),
            web.get(
                PREFIX + "v1/courses/{courseId}/gradebook/columns/{columnId}/logs",
                self.column_log,
            ),
        ]

    def _course(self, request: web.Request) -> SimCourse:
        if not self.faults.serves_logs:
            # An older Learn has no such path: the 404 of an unknown resource.
            raise ApiError(404, f"No resource at {request.path}")
        raw_colon_check(request)
        try:
            course = self.world.resolve_course(request.match_info["courseId"])
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None
        if self.faults.forbidden_logs:
            raise ApiError(403, "Access Denied")
        return course

    async def course_log(self, request: web.Request) -> web.Response:
        course = self._course(request)
        return self._answer(request, course, self.world.columns(course))

    async def column_log(self, request: web.Request) -> web.Response:
        course = self._course(request)
        try:
            column = self.world.resolve_column(course, request.match_info["columnId"])
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None
        return self._answer(request, course, [column])

    def _answer(
        self, request: web.Request, course: SimCourse, columns: list[ColumnInfo]
    ) -> web.Response:
        """The entries of ``columns`` that the query asks for, a page of them."""
        since, until = query_date(request, "since"), query_date(request, "until")
        keys = sort_keys(request.query.get("sort", ""))
        world = self.world
        user: int | None = None
        wanted = request.query.get("user.userId")
        if wanted:
            try:
                user = world.user_index(wanted)
            except NotFound:
                return paged_rendered(request, [], entry_body)  # nobody: no entry
        entries = world.log.entries(
            course,
            columns,
            since=None if since is None else to_ms(since),
            until=None if until is None else to_ms(until),
            user=user,
        )
        for key, descending in reversed(keys):
            entries.sort(key=key, reverse=descending)
        return paged_rendered(request, entries, entry_body, maximum=100)
