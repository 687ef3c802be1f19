"""The Learn REST client: typed reads of courses, memberships, columns and grades.

Every list is an async iterator that fetches one page at a time and asks, with ``fields``, for
only what gradesync keeps. Every call goes through one path: token, quota, the caller's gate,
concurrency slot, rate throttle, the response judged by :func:`~gradesync.learn.http.classify`,
retries on the injected clock.

A row that cannot be represented faithfully (:class:`~gradesync.models.BadRow`) never costs the
rest of its list: the grade and column lists hand such rows to the caller's ``set_aside`` list,
which records them; the other lists skip them with a ``learn.row_skipped`` warning.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
import structlog
from yarl import URL

from gradesync import __version__
from gradesync.backoff import Backoff
from gradesync.clock import Clock, SystemClock
from gradesync.errors import BadRequestError, MalformedResponseError, NotFoundError
from gradesync.learn import endpoints as ep
from gradesync.learn.auth import TokenManager
from gradesync.learn.endpoints import Endpoint, learn_time
from gradesync.learn.http import (
    Response,
    Transport,
    check_body,
    classify,
    decode_json,
    retrying,
)
from gradesync.learn.metrics import Metrics
from gradesync.learn.paging import parse_item, parse_row, walk
from gradesync.learn.quota import LearnQuota, RequestGate
from gradesync.learn.settings import LearnSettings
from gradesync.models import (
    GRADE_CONTENT_FIELDS,
    BadRow,
    Category,
    Column,
    Course,
    CourseChild,
    Grade,
    LearnModel,
    LogEntry,
    Membership,
    SystemVersion,
)

M = TypeVar("M", bound=LearnModel)
R = TypeVar("R")

log = structlog.get_logger("gradesync.learn")

# What gradesync reads of each object (docs/learn-api.md section 2.3: unlisted fields are omitted).
COURSE_FIELDS = (
    "id,uuid,externalId,courseId,name,dataSourceId,termId,created,"
    "availability.available,hasChildren,parentId"
)
MEMBERSHIP_FIELDS = (
    "id,userId,courseId,childCourseId,courseRoleId,availability.available,"
    "user.id,user.externalId,user.userName,user.studentId"
)
CHILD_FIELDS = "id,parentId,dataSourceId,created"
COLUMN_FIELDS = (
    "id,externalId,name,displayName,externalGrade,score.possible,availability.available,"
    "grading.type,grading.due,gradebookCategoryId"
)
# Every field an event copies (docs/contract.md section 3), plus the row's identity and change
# index.
GRADE_FIELDS = ",".join(("userId", "columnId", *GRADE_CONTENT_FIELDS, "changeIndex"))


class LearnClient:
    """An async context manager over one pooled HTTP session to one Learn site.

    ``gate`` is an optional limit of the caller's own (a daily request budget): every API
    request passes it before taking a connection, and it hears Learn's remaining count after.
    """

    def __init__(
        self,
        settings: LearnSettings,
        *,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
        rng: random.Random | None = None,
        gate: RequestGate | None = None,
    ) -> None:
        self.settings = settings
        self._gate = gate
        self.clock: Clock = clock or SystemClock()
        self.metrics = Metrics()
        self.quota = LearnQuota(self.clock)
        self._session = session
        self._owns_session = session is None
        self._policy = Backoff(
            base=settings.backoff_base, cap=settings.retry_max_wait, rng=rng or random.Random()
        )
        self._max_retries = settings.max_retries
        self._transport: Transport | None = None
        self._auth: TokenManager | None = None

    @property
    def request_count(self) -> int:
        """API requests sent to Learn so far (token requests are in ``metrics``)."""
        return self.metrics.api_requests

    async def __aenter__(self) -> Self:
        settings = self.settings
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=settings.concurrency + 1, ssl=settings.verify_tls
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": f"gradesync/{__version__}"},
            )
        self._transport = Transport(
            self._session,
            concurrency=settings.concurrency,
            requests_per_second=settings.requests_per_second,
            timeout=aiohttp.ClientTimeout(
                total=settings.request_timeout,
                sock_connect=settings.connect_timeout,
                sock_read=settings.read_timeout,
            ),
            max_body=settings.max_response_bytes,
            quota=self.quota,
            metrics=self.metrics,
            gate=self._gate,
        )
        self._auth = TokenManager(settings, self._transport, self.clock)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._transport = None
        self._auth = None

    async def authenticate(self) -> None:
        """Make sure a token can be had: the credentials check, with the usual retries.

        Raises :class:`~gradesync.errors.AuthenticationError` when Learn refuses them.
        """
        _, auth = self._started()
        await self._retry(ep.TOKEN, auth.token)

    # -- typed reads ------------------------------------------------------------------------

    def courses(
        self,
        *,
        available: str | None = None,
        created_since: datetime | None = None,
        data_source: str | None = None,
        term: str | None = None,
        modified_since: datetime | None = None,
    ) -> AsyncIterator[Course]:
        """Courses matching Learn's own filters (docs/learn-api.md section 4.1); ``data_source`` and
        ``term`` take a primary id or ``externalId:x``."""
        query: dict[str, str] = {}
        if available is not None:
            query["availability.available"] = available
        if created_since is not None:
            query |= {"created": learn_time(created_since), "createdCompare": "greaterOrEqual"}
        if modified_since is not None:
            query |= {"modified": learn_time(modified_since), "modifiedCompare": "greaterOrEqual"}
        if data_source is not None:
            query["dataSourceId"] = data_source
        if term is not None:
            query["termId"] = term
        return self._list(ep.COURSES, Course, "courses", {}, query | {"fields": COURSE_FIELDS})

    async def course(self, course_id: str) -> Course:
        """One course by primary id or ``externalId:``/``courseId:``/``uuid:`` id."""
        url = self._url(ep.COURSE, {"courseId": course_id}, {"fields": COURSE_FIELDS})
        return parse_item(ep.COURSE, Course, await self._get_json(ep.COURSE, url))

    def memberships(self, course_id: str) -> AsyncIterator[Membership]:
        """Every membership of a course with the user's ids (``expand=user``)."""
        query = {"expand": "user", "fields": MEMBERSHIP_FIELDS}
        return self._list(ep.MEMBERSHIPS, Membership, "memberships", {"courseId": course_id}, query)

    async def children(self, course_id: str) -> AsyncIterator[CourseChild]:
        """The cross-listed children of a parent; nothing for a course that is no parent."""
        ids = {"courseId": course_id}
        query = {"fields": CHILD_FIELDS}
        seen = False
        try:
            async for child in self._list(ep.CHILDREN, CourseChild, "children", ids, query):
                seen = True
                yield child
        except BadRequestError as exc:
            # Learn answers 400 "Course not a cross-listed parent" rather than an empty list.
            if seen or "parent" not in str(exc).lower():
                raise

    def columns(
        self, course_id: str, *, set_aside: list[BadRow] | None = None
    ) -> AsyncIterator[Column]:
        """Every gradebook column of a course; one that cannot be represented goes to
        ``set_aside`` when given."""
        query = {"fields": COLUMN_FIELDS}
        ids = {"courseId": course_id}
        return self._list(ep.COLUMNS, Column, "columns", ids, query, set_aside)

    def categories(self, course_id: str) -> AsyncIterator[Category]:
        """Gradebook categories (the list form takes no ``fields``, docs/learn-api.md
        section 4.5)."""
        return self._list(ep.CATEGORIES, Category, "categories", {"courseId": course_id}, {})

    def column_grades(
        self,
        course_id: str,
        column_id: str,
        *,
        change_index: int | None = None,
        include_disabled: bool = False,
        set_aside: list[BadRow] | None = None,
    ) -> AsyncIterator[Grade]:
        """A column's grade rows; with ``change_index`` only rows changed after it. A row that
        cannot be represented goes to ``set_aside`` when given."""
        query = {"fields": GRADE_FIELDS}
        if change_index is not None:
            query["changeIndex"] = str(change_index)
        if include_disabled:
            query["includeDisabledMemberships"] = "true"
        ids = {"courseId": course_id, "columnId": column_id}
        return self._list(ep.GRADES, Grade, "grades", ids, query, set_aside)

    async def last_changed(self, course_id: str, column_id: str) -> Grade | BadRow | None:
        """The column's row with the highest change index; None when it has no grade yet
        (Learn says so with 204, an empty 200, ``{}`` or 404, docs/learn-api.md section 4.7);
        a :class:`BadRow` when the row cannot be represented."""
        ids = {"courseId": course_id, "columnId": column_id}
        url = self._url(ep.LAST_CHANGED, ids, {"fields": GRADE_FIELDS})
        try:
            body = await self._get_json(ep.LAST_CHANGED, url, empty_ok=True)
        except NotFoundError:
            return None
        if body is None or body == {}:
            return None
        return parse_row(Grade, body)

    def course_logs(
        self,
        course_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        user_id: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> AsyncIterator[LogEntry]:
        """A course's gradebook log (Learn 3900.71+, docs/learn-api.md section 4.9), oldest
        first (``newest_first``: the other way), from ``since`` (inclusive) to ``until``
        (exclusive). ``limit`` sets the page size (one page of one entry: the newest)."""
        ids = {"courseId": course_id}
        query = _log_query(since, until, user_id, newest_first, limit)
        return self._list(ep.COURSE_LOGS, LogEntry, "logs", ids, query)

    def column_logs(
        self,
        course_id: str,
        column_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        user_id: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> AsyncIterator[LogEntry]:
        """One column's gradebook log; as :meth:`course_logs`."""
        ids = {"courseId": course_id, "columnId": column_id}
        query = _log_query(since, until, user_id, newest_first, limit)
        return self._list(ep.COLUMN_LOGS, LogEntry, "logs", ids, query)

    async def system_version(self) -> SystemVersion:
        """Learn's version: a cheap health check that also proves the credentials work."""
        url = self._url(ep.VERSION, {}, {})
        return parse_item(ep.VERSION, SystemVersion, await self._get_json(ep.VERSION, url))

    # -- the one request path ---------------------------------------------------------------

    def _url(self, endpoint: Endpoint, ids: Mapping[str, str], query: Mapping[str, str]) -> URL:
        return endpoint.url(self.settings.base_url, ids, query)

    async def _list(
        self,
        endpoint: Endpoint,
        model: type[M],
        limit_name: str,
        ids: Mapping[str, str],
        query: Mapping[str, str],
        set_aside: list[BadRow] | None = None,
    ) -> AsyncIterator[M]:
        limit = self.settings.page_limit(limit_name)
        if limit is not None and "limit" not in query:
            query = {**query, "limit": str(limit)}

        async def fetch(url: URL) -> bytes:
            response = await self._retry(endpoint, lambda: self._authorized(endpoint, url))
            return check_body(endpoint, response) or b""

        pages = walk(
            fetch,
            self._url(endpoint, ids, query),
            model,
            endpoint=endpoint,
            base_url=self.settings.base_url,
            max_pages=self.settings.max_pages,
        )
        async for page in pages:
            for row in page.rows:
                yield row
            if set_aside is not None:
                set_aside.extend(page.bad)
                continue
            for bad in page.bad:
                log.warning(
                    "learn.row_skipped", endpoint=str(endpoint), id=bad.id, reason=bad.reason
                )

    async def _get_json(self, endpoint: Endpoint, url: URL, *, empty_ok: bool = False) -> Any:
        response = await self._retry(endpoint, lambda: self._authorized(endpoint, url))
        body = decode_json(endpoint, response, empty_ok=empty_ok)
        if body is not None and not isinstance(body, dict):
            raise MalformedResponseError(
                f"{endpoint}: the body is not a JSON object",
                method=endpoint.method,
                endpoint=endpoint.template,
                status=response.status,
            )
        return body

    async def _authorized(self, endpoint: Endpoint, url: URL) -> Response:
        """One attempt with a bearer token; a 401 gets one new token and one more try."""
        transport, auth = self._started()
        await transport.admit()
        token = await auth.token()
        response = await transport.send(endpoint, url, headers=_bearer(token))
        if response.status == 401:
            auth.invalidate(token)
            self.metrics.reauthentications += 1
            await transport.admit()
            token = await auth.token()
            response = await transport.send(endpoint, url, headers=_bearer(token))
        error = classify(endpoint, response, self.clock.now())
        if error is not None:
            raise error
        return response

    async def _retry(self, endpoint: Endpoint, call: Callable[[], Awaitable[R]]) -> R:
        return await retrying(
            call,
            endpoint=endpoint,
            policy=self._policy,
            max_retries=self._max_retries,
            clock=self.clock,
            quota=self.quota,
            metrics=self.metrics,
        )

    def _started(self) -> tuple[Transport, TokenManager]:
        if self._transport is None or self._auth is None:
            raise RuntimeError("LearnClient is used outside its `async with` block")
        return self._transport, self._auth


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


LOG_FIELDS = "id,gradebookColumnId,logged,user.userId"


def _log_query(
    since: datetime | None,
    until: datetime | None,
    user_id: str | None,
    newest_first: bool,
    limit: int | None,
) -> dict[str, str]:
    query = {"sort": "logged(desc)" if newest_first else "logged", "fields": LOG_FIELDS}
    if since is not None:
        query["since"] = learn_time(since)
    if until is not None:
        query["until"] = learn_time(until)
    if user_id is not None:
        query["user.userId"] = user_id
    if limit is not None:
        query["limit"] = str(limit)
    return query
