"""Injected faults, the request log, the control endpoints and activity mode."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from tests.simulator.simclient import Api

from gradesync.clock import ManualClock
from gradesync.simulator import World

GRADES = "v2/courses/{courseId}/gradebook/columns/{columnId}/users"


def _gradebook(world: World) -> tuple[str, str]:
    course = next(c for c in world.courses if c.parent is None and not c.children)
    return course.id, world.columns(course)[0].id


async def _control(api: Api, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    url = f"{api.sim.base_url}/__simulator__/{path}"
    async with api.session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_forbidden_column_answers_403_and_others_still_read(api: Api, world: World) -> None:
    course, column = _gradebook(world)
    api.sim.faults.forbidden_columns = frozenset({column})
    base = f"v2/courses/{course}/gradebook/columns/"
    status, body = await api.get(base + f"{column}/users")
    assert (status, body["message"]) == (403, "Access Denied")
    assert (await api.raw(base + f"{column}/users/lastChanged")).status == 403
    other = world.column_ids(course)[1]
    assert (await api.raw(base + f"{other}/users")).status == 200
    assert api.sim.stats.count(GRADES, 403) == 1


async def test_malformed_body_is_a_200_with_truncated_json(api: Api) -> None:
    await api.fetch_token()
    api.sim.faults.malformed_rate = 1.0
    reply = await api.raw("v3/courses")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        reply.json()


async def test_dropped_connection_gets_no_response(api: Api) -> None:
    await api.fetch_token()
    api.sim.faults.drop_rate = 1.0
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.raw("v1/system/version")
    assert api.sim.stats.count("v1/system/version", 0) >= 1
    assert api.sim.stats.count("v1/system/version", 200) == 0


async def test_server_errors_are_500_json_or_a_proxys_html(api: Api) -> None:
    await api.fetch_token()
    api.sim.faults.rate_5xx = 1.0
    seen: dict[int, str] = {}
    for _ in range(30):
        reply = await api.raw("v1/system/version")
        seen[reply.status] = reply.headers["Content-Type"]
    assert set(seen) == {500, 502, 503}
    assert seen[500].startswith("application/json")
    assert seen[502].startswith("text/html")


async def test_injected_429_says_when_to_retry_and_that_no_call_is_left(api: Api) -> None:
    await api.fetch_token()
    api.sim.faults.rate_429 = 1.0
    api.sim.faults.retry_after = 7
    reply = await api.raw("v3/courses")
    assert (reply.status, reply.headers["Retry-After"]) == (429, "7")
    assert reply.headers["X-Rate-Limit-Remaining"] == "0"  # as Learn's own 429 says


async def test_faults_are_settable_over_http_and_bad_values_change_nothing(api: Api) -> None:
    status, body = await _control(api, "faults", {"rate_5xx": 0.25, "daily_quota": 50})
    assert status == 200
    assert (body["rate_5xx"], body["daily_quota"]) == (0.25, 50)
    assert api.sim.faults.rate_5xx == 0.25
    status, body = await _control(api, "faults", {"rate_429": 2.0, "latency": 1.0})
    assert status == 400
    assert (api.sim.faults.rate_429, api.sim.faults.latency) == (0.0, 0.0)
    status, _ = await _control(api, "faults", {"no_such_fault": 1})
    assert status == 400


async def test_control_edits_move_the_global_change_index(api: Api, world: World) -> None:
    course, column = _gradebook(world)
    user = world.student_ids(course)[0]
    ref = {"courseId": course, "columnId": column, "userId": user}
    status, first = await _control(api, "grades/score", ref | {"score": 9.5})
    assert status == 200
    status, second = await _control(api, "grades/text", ref | {"text": "A-"})
    assert second["changeIndex"] == first["changeIndex"] + 1 == world.change_index
    async with api.session.get(f"{api.sim.base_url}/__simulator__/grade", params=ref) as response:
        row = await response.json()
    assert (row["score"], row["text"], row["changeIndex"]) == (9.5, "A-", second["changeIndex"])
    status, added = await _control(api, "students", {"courseId": course})
    assert added["userId"] in world.student_ids(course)
    status, _ = await _control(api, "grades/score", ref | {"userId": "_1_1", "score": 1})
    assert status == 404
    status, _ = await _control(api, "grades/score", {"courseId": course})
    assert status == 400
    assert api.sim.stats.total == 0  # control requests are not Learn's: not counted


async def test_activity_mode_edits_at_its_rate_on_the_injected_clock(
    api: Api, world: World, clock: ManualClock
) -> None:
    start = world.change_index
    status, _ = await _control(api, "activity", {"perMinute": 120})
    assert status == 200
    await clock.advance(0)
    for _ in range(10):
        await clock.advance(0.5)
    assert world.change_index == start + 10
    api.sim.set_activity(0)
    await clock.advance(60)
    assert world.change_index == start + 10
