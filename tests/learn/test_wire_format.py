"""What the client puts on the wire, seen by a real local HTTP server: paths, queries, auth."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.learn.learn_support import SECRET, JumpClock, make_settings

from gradesync.learn import LearnClient
from gradesync.learn.client import GRADE_FIELDS, MEMBERSHIP_FIELDS


@dataclass
class Seen:
    """Every request the server got: raw path with query, headers, form body."""

    paths: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)


async def _answer(seen: Seen, request: web.Request) -> web.Response:
    seen.paths.append(request.raw_path)
    seen.authorizations.append(request.headers.get("Authorization", ""))
    if request.path.endswith("/oauth2/token"):
        seen.forms.append(await request.text())
        token = {"access_token": "tok-A", "token_type": "bearer", "expires_in": 3600}
        return web.json_response(token)
    if "/v3/courses/" in request.path:
        return web.json_response({"id": "_7_1", "externalId": "a/b c"})
    return web.json_response({"results": []})


@pytest.fixture
async def server() -> AsyncIterator[tuple[TestServer, Seen]]:
    seen = Seen()

    async def handler(request: web.Request) -> web.Response:
        return await _answer(seen, request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as test_server:
        yield test_server, seen


def _query(raw_path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(raw_path).query)


async def test_secondary_ids_keep_their_colon_and_encode_the_rest(
    server: tuple[TestServer, Seen], clock: JumpClock
) -> None:
    test_server, seen = server
    settings = make_settings(base_url=str(test_server.make_url("")))
    async with LearnClient(settings, clock=clock) as client:
        course = await client.course("externalId:a/b c")
    assert course.id == "_7_1"
    path = urlsplit(seen.paths[-1]).path
    assert path == "/learn/api/public/v3/courses/externalId:a%2Fb%20c"


async def test_the_token_request_is_basic_auth_with_a_form_body(
    server: tuple[TestServer, Seen], clock: JumpClock
) -> None:
    test_server, seen = server
    settings = make_settings(base_url=str(test_server.make_url("")))
    async with LearnClient(settings, clock=clock) as client:
        await client.authenticate()
        [_ async for _ in client.columns("_1_1")]
    assert seen.paths[0] == "/learn/api/public/v1/oauth2/token"  # nothing in the query
    expected = base64.b64encode(f"gradesync-app:{SECRET}".encode()).decode()
    assert seen.authorizations[0] == f"Basic {expected}"
    assert seen.forms == ["grant_type=client_credentials"]
    assert seen.authorizations[1] == "Bearer tok-A"


async def test_lists_ask_for_only_the_needed_fields_at_the_largest_page(
    server: tuple[TestServer, Seen], clock: JumpClock
) -> None:
    test_server, seen = server
    settings = make_settings(base_url=str(test_server.make_url("")))
    async with LearnClient(settings, clock=clock) as client:
        [_ async for _ in client.memberships("_1_1")]
        [_ async for _ in client.column_grades("_1_1", "_2_1", change_index=41)]
        [_ async for _ in client.column_grades("_1_1", "_2_1", include_disabled=True)]
        [_ async for _ in client.categories("_1_1")]
    memberships, grades, disabled, categories = (_query(p) for p in seen.paths[1:])
    assert memberships == {"expand": ["user"], "fields": [MEMBERSHIP_FIELDS], "limit": ["200"]}
    assert grades == {"fields": [GRADE_FIELDS], "changeIndex": ["41"], "limit": ["100"]}
    assert disabled["includeDisabledMemberships"] == ["true"]
    assert "changeIndex" not in disabled
    assert categories == {}  # the list form takes no fields, and has no published limit
    wanted = set(GRADE_FIELDS.split(","))
    assert {"userId", "changeIndex", "score", "displayGrade", "feedback", "exempt"} <= wanted
    assert "notes" not in wanted  # instructor-private, never copied into events


async def test_course_filters_use_learn_names_and_formats(
    server: tuple[TestServer, Seen], clock: JumpClock
) -> None:
    test_server, seen = server
    settings = make_settings(base_url=str(test_server.make_url("")))
    since = datetime(2025, 8, 1, 6, 30, 5, 250_000, tzinfo=UTC)
    async with LearnClient(settings, clock=clock) as client:
        courses = client.courses(
            available="Yes", created_since=since, data_source="externalId:SIS 2025", term="_3_1"
        )
        [_ async for _ in courses]
    query = _query(seen.paths[-1])
    assert query["availability.available"] == ["Yes"]
    assert query["created"] == ["2025-08-01T06:30:05.250Z"]
    assert query["createdCompare"] == ["greaterOrEqual"]
    assert query["dataSourceId"] == ["externalId:SIS 2025"]
    assert query["termId"] == ["_3_1"]
    assert query["limit"] == ["100"]
    assert "externalId:SIS%202025" in seen.paths[-1]


def test_settings_never_show_the_secret() -> None:
    settings = make_settings()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in json.dumps(settings.model_dump(mode="json"))


async def test_a_session_handed_in_is_used_and_left_open(
    server: tuple[TestServer, Seen], clock: JumpClock
) -> None:
    test_server, seen = server
    settings = make_settings(base_url=str(test_server.make_url("")))
    async with aiohttp.ClientSession() as session:
        async with LearnClient(settings, clock=clock, session=session) as client:
            [_ async for _ in client.categories("_1_1")]
        assert not session.closed
    assert seen.authorizations[-1] == "Bearer tok-A"
