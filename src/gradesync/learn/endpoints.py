"""Learn's routes as templates, and URLs built from them without a second round of encoding.

Errors and metrics name a route by its template (``GET v3/courses/{courseId}``), never by the
concrete URL: a template carries no ids, no query string and nothing secret.

An id always stays one path segment: reserved characters are percent-encoded, and an id that
would be read as no segment or a step up (empty, ``.``, ``..``) is refused, so a request can
never reach a resource other than the one it names.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from yarl import URL

from gradesync.errors import MalformedResponseError

API_ROOT = "/learn/api/public/"


# Segments a server or proxy reads as "here" or "one up", not as a name.
DOT_SEGMENTS = frozenset(("", ".", ".."))


@functools.lru_cache(maxsize=8192)
def encode_id(value: str) -> str:
    """One path segment: ``externalId:a/b c`` becomes ``externalId:a%2Fb%20c``.

    Learn wants the colon of a secondary id literal (an encoded ``%3A`` gives 404, docs/learn-api.md
    section 2.5); every other reserved character (``/ ? # %``, controls) is percent-encoded so
    it cannot split the path. An empty id, ``.`` or ``..`` raises ``ValueError``: percent-encoded
    or not, servers resolve them as steps in the path.
    """
    if value in DOT_SEGMENTS:
        raise ValueError("an id that is empty, '.' or '..' cannot be a path segment")
    return quote(value, safe=":")


@functools.lru_cache(maxsize=1024)
def _query_part(value: str) -> str:
    return quote(value, safe=",:.")


def encode_query(params: Mapping[str, str]) -> str:
    """A query string whose commas (``fields``) and colons (``externalId:``) stay readable."""
    return "&".join(f"{_query_part(k)}={_query_part(v)}" for k, v in params.items())


def learn_time(value: datetime) -> str:
    """Learn's date format: ISO-8601 UTC with milliseconds; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


@dataclass(frozen=True)
class Endpoint:
    """One route: its method and its template relative to ``/learn/api/public/``."""

    method: str
    template: str

    def __str__(self) -> str:
        return f"{self.method} {self.template}"

    def url(
        self,
        base_url: str,
        ids: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> URL:
        """The full URL, ids encoded once by :func:`encode_id` and never touched again.

        An id that cannot be a path segment is refused as a malformed answer (the ids in paths
        come from Learn's own answers): the course or column is skipped, nothing is sent."""
        encoded: dict[str, str] = {}
        for name, value in (ids or {}).items():
            try:
                encoded[name] = encode_id(value)
            except ValueError as exc:
                raise MalformedResponseError(
                    f"{self}: {{{name}}} from Learn is refused: {exc}",
                    method=self.method,
                    endpoint=self.template,
                ) from None
        path = self.template.format_map(encoded)
        text = f"{base_url}{API_ROOT}{path}"
        if query:
            text += "?" + encode_query(query)
        return URL(text, encoded=True)


TOKEN = Endpoint("POST", "v1/oauth2/token")
COURSES = Endpoint("GET", "v3/courses")
COURSE = Endpoint("GET", "v3/courses/{courseId}")
MEMBERSHIPS = Endpoint("GET", "v1/courses/{courseId}/users")
CHILDREN = Endpoint("GET", "v1/courses/{courseId}/children")
CATEGORIES = Endpoint("GET", "v1/courses/{courseId}/gradebook/categories")
COLUMNS = Endpoint("GET", "v2/courses/{courseId}/gradebook/columns")
GRADES = Endpoint("GET", "v2/courses/{courseId}/gradebook/columns/{columnId}/users")
LAST_CHANGED = Endpoint(
    "GET", "v2/courses/{courseId}/gradebook/columns/{columnId}/users/lastChanged"
)
VERSION = Endpoint("GET", "v1/system/version")
# The gradebook logs (Learn 3900.71 and later, docs/learn-api.md section 4.9).
COURSE_LOGS = Endpoint("GET", "v1/courses/{courseId}/gradebook/logs")
COLUMN_LOGS = Endpoint("GET", "v1/courses/{courseId}/gradebook/columns/{columnId}/logs")


def next_page_url(base_url: str, next_page: str) -> URL | None:
    """``paging.nextPage`` taken verbatim as base URL + nextPage (docs/learn-api.md section 2.1).

    Only a host-relative path under the API root is accepted: anything else would send the
    bearer token somewhere it does not belong. None means the link is unusable.
    """
    if not next_page.startswith(API_ROOT):
        return None
    return URL(base_url + next_page, encoded=True)
