"""The pure rules: how a status is classified, how long a server asks us to wait, backoff,
ids in paths, the quota budget and the metrics snapshot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from gradesync.clock import ManualClock
from gradesync.errors import (
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    LearnError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    RetriableLearnError,
    ServerError,
    SkippableLearnError,
    TransportError,
)
from gradesync.learn import LearnQuota
from gradesync.learn.endpoints import COURSE, GRADES, TOKEN, encode_id, learn_time
from gradesync.learn.http import Response, classify, retry_after
from gradesync.learn.metrics import Metrics

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _response(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Response:
    return Response(status, headers or {}, "application/json", body)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (408, TransportError),
        (401, AuthenticationError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (400, BadRequestError),
        (409, BadRequestError),
        (302, MalformedResponseError),
    ],
)
def test_each_status_maps_to_what_the_caller_must_do(status: int, kind: type[LearnError]) -> None:
    error = classify(GRADES, _response(status), NOW)
    assert type(error) is kind
    assert error.status == status
    assert error.method == "GET"
    assert error.endpoint == "v2/courses/{courseId}/gradebook/columns/{columnId}/users"
    assert str(error).startswith(f"GET {GRADES.template}: {status} ")


@pytest.mark.parametrize("status", [200, 204])
def test_successes_are_no_error(status: int) -> None:
    assert classify(COURSE, _response(status), NOW) is None


def test_the_error_groups_tell_callers_what_to_do() -> None:
    assert isinstance(classify(COURSE, _response(503), NOW), RetriableLearnError)
    assert isinstance(classify(COURSE, _response(403), NOW), SkippableLearnError)
    assert isinstance(classify(COURSE, _response(404), NOW), SkippableLearnError)


def test_the_rest_exception_message_is_carried_on_one_line() -> None:
    body = (
        b'{"status":404,"message":"Could not find object\\nwith ID: externalId:X","extraInfo":"e"}'
    )
    error = classify(COURSE, _response(404, body=body), NOW)
    assert str(error) == (
        "GET v3/courses/{courseId}: 404 Not Found: Could not find object with ID: externalId:X"
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=90), usegmt=True)}, 90.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=90), usegmt=True)}, 0.0),
        ({"X-Rate-Limit-Reset": "45"}, 45.0),
        ({"X-Rate-Limit-Reset": str(int(NOW.timestamp()) + 600)}, 600.0),
        ({"Retry-After": "soon", "X-Rate-Limit-Reset": "12"}, 12.0),
        ({"Retry-After": "7", "X-Rate-Limit-Reset": "12"}, 7.0),
        ({}, None),
    ],
    ids=["seconds", "date", "past-date", "reset-delta", "reset-epoch", "junk", "both", "none"],
)
def test_how_long_the_server_asks_us_to_wait(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after(headers, NOW) == expected


def test_a_429_carries_the_wait_it_asked_for() -> None:
    error = classify(COURSE, _response(429, {"Retry-After": "30"}), NOW)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 30.0


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("_12_1", "_12_1"),
        ("externalId:abc", "externalId:abc"),
        ("externalId:a/b c", "externalId:a%2Fb%20c"),
        ("courseId:MATH?101#x", "courseId:MATH%3F101%23x"),
        ("uuid:915c7567d76d444abf1eed56aad3beb5", "uuid:915c7567d76d444abf1eed56aad3beb5"),
    ],
)
def test_path_ids_keep_the_colon_and_encode_other_reserved_characters(
    raw: str, encoded: str
) -> None:
    assert encode_id(raw) == encoded


def test_learn_times_are_utc_with_milliseconds() -> None:
    assert learn_time(datetime(2022, 8, 7, 21, 17, 40, 626_000)) == "2022-08-07T21:17:40.626Z"
    paris_summer = datetime(2022, 8, 8, 1, 17, 40, tzinfo=timezone(timedelta(hours=2)))
    assert learn_time(paris_summer) == "2022-08-07T23:17:40.000Z"


async def test_a_spent_budget_fails_fast_until_it_refills() -> None:
    clock = ManualClock()
    budget = LearnQuota(clock)
    budget.observe({"X-Rate-Limit-Limit": "10000", "X-Rate-Limit-Remaining": "3"})
    assert (budget.limit, budget.remaining, budget.exhausted_until) == (10000, 3, None)
    budget.exhaust(3600)
    assert budget.exhausted_until == clock.now() + timedelta(seconds=3600)
    assert budget.remaining == 0
    with pytest.raises(RateLimitedError) as info:
        budget.check("GET", "v3/courses")
    assert info.value.retry_after == 3600
    waiter = asyncio.create_task(budget.wait_until_available())
    await clock.advance(3599)
    assert not waiter.done()
    await clock.advance(1)
    await waiter
    assert budget.exhausted_until is None
    budget.check("GET", "v3/courses")  # no longer raises


def test_metrics_count_per_route_and_status_with_latency_quantiles() -> None:
    metrics = Metrics()
    for n in range(1, 101):
        metrics.record("v3/courses", 200, n / 1000)
    metrics.record("v3/courses", 503, 0.5)
    metrics.record("v3/courses", "transport", 1.0)
    snapshot = metrics.snapshot()
    assert snapshot["responses"]["v3/courses"] == {"200": 100, "503": 1, "transport": 1}
    latency = snapshot["latency"]["v3/courses"]
    assert latency["count"] == 102
    assert latency["max_s"] == 1.0
    assert latency["p50_s"] == pytest.approx(0.051)
    assert latency["p95_s"] == pytest.approx(0.097)
    assert metrics.count("v3/courses") == 102
    assert metrics.count(status=503) == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, AuthenticationError),
        (401, AuthenticationError),
        (404, AuthenticationError),
        (429, RateLimitedError),
        (503, ServerError),
    ],
)
def test_a_refused_token_request_is_fatal_but_a_busy_one_is_not(
    status: int, kind: type[LearnError]
) -> None:
    body = b'{"error":"invalid_client","error_description":"Invalid client credentials"}'
    error = classify(TOKEN, _response(status, body=body), NOW)
    assert type(error) is kind


def test_a_message_that_echoes_a_url_loses_its_query_string() -> None:
    body = b'{"status":400,"message":"Bad value at /learn/api/public/v3/courses?access_token=abc"}'
    error = classify(COURSE, _response(400, body=body), NOW)
    assert "access_token" not in str(error)
    assert str(error).endswith("Bad value at /learn/api/public/v3/courses?...")


def test_a_501_means_no_such_endpoint_here_and_is_not_retried() -> None:
    error = classify(COURSE, _response(501), NOW)
    assert isinstance(error, NotFoundError) and not isinstance(error, RetriableLearnError)
