"""Responses the simulator does not produce, pinned with aioresponses: loops, bad bodies,
unusual-but-legal forms of "no grade", HTTP-date Retry-After, fatal 400s, dropped sockets."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from tests.learn.learn_support import (
    SECRET,
    TOKEN_URL,
    JumpClock,
    Wire,
    make_settings,
    result,
    route,
)

from gradesync.errors import (
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from gradesync.learn import LearnClient
from gradesync.models import BadRow

GRADES = r"v2/courses/_1_1/gradebook/columns/_9_1/users"
LAST = GRADES + "/lastChanged"


def calls(wire: Wire, method: str, fragment: str) -> int:
    """How many requests went to a URL containing ``fragment``."""
    return sum(
        len(requests)
        for (m, url), requests in wire.requests.items()
        if m == method and fragment in str(url)
    )


async def walk_course_ids(client: LearnClient, seen: list[str]) -> None:
    async for course in client.courses():
        seen.append(course.id)


async def test_a_next_page_link_seen_before_is_refused(wire: Wire, clock: JumpClock) -> None:
    link = "/learn/api/public/v3/courses?limit=100&offset=1"
    wire.get(
        route("v3/courses"), payload={"results": [{"id": "_1_1"}], "paging": {"nextPage": link}}
    )
    wire.get(
        route("v3/courses"), payload={"results": [{"id": "_2_1"}], "paging": {"nextPage": link}}
    )
    seen: list[str] = []
    async with LearnClient(make_settings(), clock=clock) as client:
        with pytest.raises(
            MalformedResponseError, match=r"GET v3/courses: paging.nextPage repeats"
        ):
            await walk_course_ids(client, seen)
    assert seen == ["_1_1", "_2_1"]


async def test_a_server_that_ignores_the_offset_is_caught_before_rows_repeat(
    wire: Wire, clock: JumpClock
) -> None:
    offsets = iter(range(1, 100))

    def same_rows(url: Any, **_: Any) -> Any:
        link = f"/learn/api/public/v3/courses?offset={next(offsets)}"
        return result(payload={"results": [{"id": "_1_1"}], "paging": {"nextPage": link}})

    wire.get(route("v3/courses"), callback=same_rows, repeat=True)
    seen: list[str] = []
    async with LearnClient(make_settings(), clock=clock) as client:
        with pytest.raises(MalformedResponseError, match="same page twice"):
            await walk_course_ids(client, seen)
    assert seen == ["_1_1"]


async def test_a_chain_longer_than_the_page_cap_stops(wire: Wire, clock: JumpClock) -> None:
    counter = iter(range(1, 100))

    def endless(url: Any, **_: Any) -> Any:
        n = next(counter)
        link = f"/learn/api/public/v3/courses?offset={n}"
        return result(payload={"results": [{"id": f"_{n}_1"}], "paging": {"nextPage": link}})

    wire.get(route("v3/courses"), callback=endless, repeat=True)
    seen: list[str] = []
    async with LearnClient(make_settings(max_pages=3), clock=clock) as client:
        with pytest.raises(MalformedResponseError, match="more than 3 pages"):
            await walk_course_ids(client, seen)
    assert seen == ["_1_1", "_2_1", "_3_1"]


async def test_a_next_page_on_another_host_is_not_followed(wire: Wire, clock: JumpClock) -> None:
    link = "https://elsewhere.example.com/learn/api/public/v3/courses?offset=1"
    wire.get(
        route("v3/courses"), payload={"results": [{"id": "_1_1"}], "paging": {"nextPage": link}}
    )
    seen: list[str] = []
    async with LearnClient(make_settings(), clock=clock) as client:
        with pytest.raises(MalformedResponseError, match="not a path under"):
            await walk_course_ids(client, seen)
    assert calls(wire, "GET", "elsewhere") == 0


@pytest.mark.parametrize(
    "tail",
    [{}, {"paging": {}}, {"paging": None}, {"paging": {"nextPage": None}}],
    ids=["no-paging", "empty-paging", "null-paging", "null-next"],
)
async def test_every_form_of_last_page_ends_the_walk(
    wire: Wire, clock: JumpClock, tail: dict[str, Any]
) -> None:
    wire.get(route("v3/courses"), payload={"results": [{"id": "_1_1"}], **tail})
    seen: list[str] = []
    async with LearnClient(make_settings(), clock=clock) as client:
        await walk_course_ids(client, seen)
    assert seen == ["_1_1"]
    assert calls(wire, "GET", "v3/courses") == 1


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        ("<html><body>Please log in</body></html>", "text/html", "not JSON"),
        ('{"results": [{"id": "_1_', "application/json", "invalid JSON"),
        ('["_1_1"]', "application/json", "not a JSON object"),
        ('{"results": {"id": "_1_1"}}', "application/json", "no results list"),
    ],
    ids=["html", "truncated", "array", "results-not-a-list"],
)
async def test_a_body_that_is_not_the_promised_json_is_malformed(
    wire: Wire, clock: JumpClock, body: str, content_type: str, problem: str
) -> None:
    wire.get(route("v3/courses"), body=body, content_type=content_type)
    async with LearnClient(make_settings(), clock=clock) as client:
        with pytest.raises(MalformedResponseError, match=problem) as info:
            await walk_course_ids(client, [])
    assert info.value.endpoint == "v3/courses"
    assert calls(wire, "GET", "v3/courses") == 1  # malformed is skippable, not retried


async def test_one_bad_row_is_set_aside_and_the_others_come_through(
    wire: Wire, clock: JumpClock
) -> None:
    rows = [
        {"userId": "_5_1", "score": 10.0, "changeIndex": 3},
        {"userId": "_6_1", "score": "ninety-one", "changeIndex": 4},
    ]
    wire.get(route(GRADES), payload={"results": rows})
    bad: list[BadRow] = []
    async with LearnClient(make_settings(), clock=clock) as client:
        got = [g.user_id async for g in client.column_grades("_1_1", "_9_1", set_aside=bad)]
    assert got == ["_5_1"]
    assert bad == [BadRow("_6_1", 4, "score is a string where a number belongs")]
    assert "ninety-one" not in repr(bad)


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (204, "", "application/json"),
        (200, "", "application/json"),
        (200, "", "text/plain"),
        (200, "{}", "application/json"),
        (
            404,
            '{"status":404,"message":"Grade detail values have not yet been populated"}',
            "application/json",
        ),
    ],
    ids=["204", "empty-200", "empty-200-text", "empty-object", "404"],
)
async def test_last_changed_reads_every_no_grade_form_as_none(
    wire: Wire, clock: JumpClock, status: int, body: str, content_type: str
) -> None:
    wire.get(route(LAST), status=status, body=body, content_type=content_type)
    async with LearnClient(make_settings(), clock=clock) as client:
        assert await client.last_changed("_1_1", "_9_1") is None


async def test_last_changed_returns_the_bare_row(wire: Wire, clock: JumpClock) -> None:
    row = {
        "userId": "_28626_1",
        "columnId": "_9_1",
        "displayGrade": {"scaleType": "Score", "score": 3.3, "possible": 10.0},
        "exempt": False,
        "changeIndex": 7904733,
    }
    wire.get(route(LAST), payload=row)
    async with LearnClient(make_settings(), clock=clock) as client:
        grade = await client.last_changed("_1_1", "_9_1")
    assert grade is not None
    assert (grade.user_id, grade.change_index) == ("_28626_1", 7904733)


async def test_retry_after_as_an_http_date_is_waited_out_on_the_clock(
    wire: Wire, clock: JumpClock
) -> None:
    when = format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
    wire.get(route("v3/courses"), status=429, headers={"Retry-After": when})
    wire.get(route("v3/courses"), payload={"results": [{"id": "_1_1"}]})
    seen: list[str] = []
    async with LearnClient(make_settings(), clock=clock) as client:
        await walk_course_ids(client, seen)
    assert seen == ["_1_1"]
    assert clock.slept == [30.0]


async def test_a_quota_429_is_not_waited_out_and_later_calls_fail_fast(
    wire: Wire, clock: JumpClock
) -> None:
    wire.get(route("v3/courses"), status=429, headers={"Retry-After": "7200"}, repeat=True)
    async with LearnClient(make_settings(retry_max_wait=60), clock=clock) as client:
        with pytest.raises(RateLimitedError) as first:
            await walk_course_ids(client, [])
        with pytest.raises(RateLimitedError) as second:
            await walk_course_ids(client, [])
        assert client.quota.exhausted_until == clock.now() + timedelta(seconds=7200)
    assert first.value.retry_after == 7200
    assert second.value.retry_after == pytest.approx(7200)
    assert calls(wire, "GET", "v3/courses") == 1
    assert clock.slept == []


async def test_a_400_is_fatal_and_not_retried(wire: Wire, clock: JumpClock) -> None:
    error = {"status": 400, "message": "Invalid changeIndex value", "extraInfo": "ab" * 16}
    wire.get(route(GRADES), status=400, payload=error, repeat=True)
    async with LearnClient(make_settings(), clock=clock) as client:
        with pytest.raises(BadRequestError) as info:
            async for _ in client.column_grades("_1_1", "_9_1", change_index=-1):
                pass
    message = str(info.value)
    assert message == (
        "GET v2/courses/{courseId}/gradebook/columns/{columnId}/users: "
        "400 Bad Request: Invalid changeIndex value"
    )
    assert calls(wire, "GET", "gradebook/columns/_9_1/users") == 1


async def test_a_400_on_children_of_a_course_that_is_no_parent_means_no_children(
    wire: Wire, clock: JumpClock
) -> None:
    error = {"status": 400, "message": "Course not a cross-listed parent"}
    wire.get(route("v1/courses/_1_1/children"), status=400, payload=error)
    async with LearnClient(make_settings(), clock=clock) as client:
        assert [c async for c in client.children("_1_1")] == []


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (aiohttp.ServerDisconnectedError(), "connection dropped"),
        (TimeoutError(), "timed out"),
        (aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError), "connection failed"),
    ],
    ids=["dropped", "timeout", "refused"],
)
async def test_transport_failures_are_retried_then_raised_as_transport_errors(
    wire: Wire, clock: JumpClock, failure: Exception, kind: str
) -> None:
    wire.get(route("v3/courses"), exception=failure, repeat=True)
    async with LearnClient(make_settings(max_retries=3), clock=clock) as client:
        with pytest.raises(TransportError, match=kind) as info:
            await walk_course_ids(client, [])
        assert client.metrics.count("v3/courses", "transport") == 4
    assert "?" not in str(info.value)
    assert info.value.__cause__ is failure


async def test_server_errors_are_retried_with_growing_jittered_waits(
    wire: Wire, clock: JumpClock
) -> None:
    wire.get(route("v3/courses"), status=503, repeat=True)
    settings = make_settings(max_retries=4, backoff_base=1.0, retry_max_wait=5.0)
    async with LearnClient(settings, clock=clock) as client:
        with pytest.raises(ServerError):
            await walk_course_ids(client, [])
    assert len(clock.slept) == 4
    caps = [1.0, 2.0, 4.0, 5.0]  # base * 2**attempt, capped by retry_max_wait
    assert all(0.0 <= wait <= cap for wait, cap in zip(clock.slept, caps, strict=True))


async def test_refused_credentials_name_the_client_but_never_the_secret(
    clock: JumpClock,
) -> None:
    refusal = {"error": "invalid_client", "error_description": "Invalid client credentials"}
    with Wire() as wire:
        wire.post(TOKEN_URL, status=401, payload=refusal, repeat=True)
        async with LearnClient(make_settings(), clock=clock) as client:
            with pytest.raises(AuthenticationError) as info:
                await walk_course_ids(client, [])
        assert calls(wire, "POST", "oauth2/token") == 1
    message = str(info.value)
    assert "refused" in message and "gradesync-app" in message
    assert SECRET not in message and SECRET not in repr(info.value)


async def test_columns_with_the_guides_spelling_and_omitted_fields_are_read(
    wire: Wire, clock: JumpClock
) -> None:
    rows = [
        {"id": "_1_1", "name": "Essay", "grading": {"type": "Attempt"}},
        {"id": "_2_1"},
        {"id": "_3_1", "grading": {"type": "Calculated"}, "score": {"possible": 0}},
    ]
    wire.get(route("v2/courses/_1_1/gradebook/columns"), payload={"results": rows})
    async with LearnClient(make_settings(), clock=clock) as client:
        columns = [c async for c in client.columns("_1_1")]
    assert [c.type for c in columns] == ["Attempts", "Manual", "Calculated"]
    assert columns[1].title == "_2_1" and columns[1].due is None
