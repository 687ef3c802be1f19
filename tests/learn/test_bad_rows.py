"""Bad data from Learn (docs/contract.md section 6): one row that cannot be represented
faithfully is set aside on its own, an id never reaches another resource, and a hostile
server can neither stall a request past its deadline nor make the client hold an endless body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog
from tests.learn.learn_support import JumpClock, make_settings

from gradesync.errors import MalformedResponseError, TransportError
from gradesync.learn import LearnClient, LearnSettings
from gradesync.learn.endpoints import GRADES, encode_id
from gradesync.learn.paging import parse_page
from gradesync.models import BadRow, Column, Grade
from gradesync.simulator import Simulator, World, WorldSpec, serve

GOOD = {"userId": "_5_1", "score": 7.5, "changeIndex": 3}
VERSION = "v1/system/version"


def page(*rows: Any) -> bytes:
    return json.dumps({"results": [GOOD, *rows]}).encode()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"userId": "_6_1", "score": float("nan"), "changeIndex": 4}, "score is not a finite"),
        ({"userId": "_6_1", "score": float("inf"), "changeIndex": 4}, "score is not a finite"),
        ({"userId": "_6_1", "score": 10**400, "changeIndex": 4}, "score is not a finite"),
        ({"userId": "_6_1", "score": "91", "changeIndex": 4}, "score is a string where"),
        (
            {"userId": "_6_1", "displayGrade": {"score": float("nan")}, "changeIndex": 4},
            "displayGrade.score is not a finite",
        ),
    ],
    ids=["nan", "infinity", "overflow", "string", "display-nan"],
)
def test_a_bad_number_sets_its_row_aside_with_its_ids(row: dict[str, Any], reason: str) -> None:
    body = page(row)
    rows = parse_page(GRADES, Grade, body)
    assert [g.user_id for g in rows.rows] == ["_5_1"]
    (bad,) = rows.bad
    assert (bad.id, bad.change_index) == ("_6_1", 4)
    assert bad.reason.startswith(reason)


def test_the_overflowing_number_of_the_raw_text_is_caught_too() -> None:
    """``1e400`` as Learn writes it: Python reads it as infinity, pydantic refuses it."""
    body = b'{"results": [{"userId": "_6_1", "score": 1e400, "changeIndex": 4}]}'
    (bad,) = parse_page(GRADES, Grade, body).bad
    assert bad == BadRow("_6_1", 4, bad.reason)
    assert bad.reason.startswith("score is not a finite number")


@pytest.mark.parametrize(
    ("index", "reason"),
    [
        (-1, "changeIndex is negative"),
        (2**63, "changeIndex is beyond a signed 64-bit integer"),
        ("7", "changeIndex is a string where a number belongs"),
        (7.0, "changeIndex is not an"),
    ],
    ids=["negative", "huge", "string", "float"],
)
def test_an_unusable_change_index_sets_the_row_aside_without_one(index: Any, reason: str) -> None:
    (bad,) = parse_page(GRADES, Grade, page({"userId": "_6_1", "changeIndex": index})).bad
    assert bad == BadRow("_6_1", None, bad.reason)
    assert bad.reason.startswith(reason)


@pytest.mark.parametrize("user_id", ["", ".", "..", "_6_1/../_7_1", "_6\x00_1", "_6?_1", "_6#1"])
def test_an_unusable_user_id_sets_the_row_aside_unnamed(user_id: str) -> None:
    (bad,) = parse_page(GRADES, Grade, page({"userId": user_id, "changeIndex": 4})).bad
    assert bad.id is None and bad.change_index == 4
    assert bad.reason.startswith("userId is not a usable id")
    assert not user_id or user_id not in bad.reason.split("(")[0]


def test_a_lone_surrogate_sets_the_row_aside_and_names_the_field() -> None:
    body = b'{"results": [{"userId": "_5_1"}, {"userId": "_6_1", "text": "\\ud800"}]}'
    rows = parse_page(GRADES, Grade, body)
    assert [g.user_id for g in rows.rows] == ["_5_1"]
    assert rows.bad == [BadRow("_6_1", None, "text is not valid Unicode (a lone surrogate)")]


def test_no_reason_carries_a_value() -> None:
    secret = "ninety-one point five"
    rows = parse_page(GRADES, Grade, page({"userId": "_6_1", "score": secret, "changeIndex": 1}))
    assert secret not in repr(rows.bad)


def test_a_column_with_an_unusable_id_or_possible_is_set_aside() -> None:
    body = json.dumps(
        {
            "results": [
                {"id": "_1_1", "name": "Quiz"},
                {"id": "", "name": "Blank"},
                {"id": "_3_1", "score": {"possible": float("nan")}},
            ]
        }
    ).encode()
    rows = parse_page(GRADES, Column, body)
    assert [c.id for c in rows.rows] == ["_1_1"]
    assert [(b.id, b.reason.split(" (")[0]) for b in rows.bad] == [
        (None, "id is not a usable id"),
        ("_3_1", "score.possible is not a finite number"),
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"results": [{"userId": "_5_1"}', "invalid JSON"),
        (b'{"results": {"userId": "_5_1"}}', "results"),
        (b"[]", "not a JSON object"),
    ],
)
def test_a_body_that_is_no_page_still_fails_whole(body: bytes, problem: str) -> None:
    with pytest.raises(MalformedResponseError, match=problem):
        parse_page(GRADES, Grade, body)


# -- over HTTP, against the simulator ---------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    spec = WorldSpec(
        seed=5, courses=2, columns_per_course=2, students_per_course=5, cross_listed_parents=0
    )
    async with serve(World(spec)) as running:
        yield running


def settings_for(sim: Simulator, **overrides: Any) -> LearnSettings:
    values = {"base_url": sim.base_url, "client_id": sim.client_id}
    return make_settings(**values, client_secret=sim.client_secret, **overrides)


def a_column(sim: Simulator) -> tuple[str, str, list[str]]:
    """A column of a plain course that keeps grades, and its students in roster order, each
    graded."""
    world = sim.world
    course = next(c for c in world.courses if c.parent is None and not c.children)
    column = next(c.id for c in world.columns(course) if not c.calculated)
    users = world.student_ids(course.id)
    for n, user in enumerate(users):
        world.set_score(course.id, column, user, float(n))
    return course.id, column, users


async def test_the_simulator_serves_a_bad_row_among_good_ones(
    sim: Simulator, clock: JumpClock
) -> None:
    course, column, users = a_column(sim)
    sim.faults.bad_rows = {(course, column, users[1]): "nan"}
    bad: list[BadRow] = []
    async with LearnClient(settings_for(sim), clock=clock) as client:
        got = [g.user_id async for g in client.column_grades(course, column, set_aside=bad)]
        last = await client.last_changed(course, column)
    assert got == [u for u in users if u != users[1]]
    assert [(b.id, b.reason.split(" (")[0]) for b in bad] == [
        (users[1], "score is not a finite number")
    ]
    assert last is not None


async def test_bad_rows_and_columns_are_set_over_the_control_api(
    sim: Simulator, clock: JumpClock
) -> None:
    import aiohttp

    course, column, users = a_column(sim)
    body = {
        "bad_rows": [{"courseId": course, "columnId": column, "userId": users[0], "kind": "inf"}],
        "bad_columns": [{"courseId": course, "columnId": column, "kind": "empty_id"}],
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sim.base_url}/__simulator__/faults", json=body) as reply:
            assert reply.status == 200
            shown = await reply.json()
        async with session.post(
            f"{sim.base_url}/__simulator__/faults",
            json={
                "bad_columns": [
                    {"courseId": course, "columnId": column, "kind": "huge_change_index"}
                ]
            },
        ) as refused:
            assert refused.status == 400
    assert shown["bad_rows"] == body["bad_rows"]
    assert sim.faults.bad_rows == {(course, column, users[0]): "inf"}
    columns: list[BadRow] = []
    async with LearnClient(settings_for(sim), clock=clock) as client:
        listed = [c.id async for c in client.columns(course, set_aside=columns)]
    assert column not in listed
    assert [(b.id, b.reason.split(" (")[0]) for b in columns] == [(None, "id is not a usable id")]


async def test_without_a_set_aside_list_a_bad_row_is_skipped_with_a_warning(
    sim: Simulator, clock: JumpClock
) -> None:
    course, column, users = a_column(sim)
    sim.faults.bad_rows = {(course, column, users[0]): "dot_id"}
    with structlog.testing.capture_logs() as logs:
        async with LearnClient(settings_for(sim), clock=clock) as client:
            got = [g.user_id async for g in client.column_grades(course, column)]
    assert got == users[1:]
    (warning,) = [e for e in logs if e["event"] == "learn.row_skipped"]
    assert warning["id"] is None and warning["reason"].startswith("userId is not a usable id")


# -- ids in paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a/../b", "a%2F..%2Fb"),
        ("%2e%2e", "%252e%252e"),
        ("x?y#z", "x%3Fy%23z"),
        ("_1\x00_1", "_1%00_1"),
        ("...", "..."),
    ],
)
def test_an_id_stays_one_segment_whatever_it_holds(raw: str, encoded: str) -> None:
    assert encode_id(raw) == encoded


@pytest.mark.parametrize("raw", ["", ".", ".."])
async def test_an_id_that_is_a_dot_segment_is_refused_before_any_request(
    raw: str, sim: Simulator, clock: JumpClock
) -> None:
    with pytest.raises(ValueError, match="cannot be a path segment"):
        encode_id(raw)
    sim.stats.reset()
    async with LearnClient(settings_for(sim), clock=clock) as client:
        with pytest.raises(MalformedResponseError, match=r"\{columnId\} from Learn is refused"):
            [g async for g in client.column_grades("_1_1", raw)]
    assert sim.stats.count(GRADES.template) == 0


# -- deadlines and sizes --------------------------------------------------------------------


async def test_a_server_that_drips_is_cut_off_by_the_request_deadline(
    sim: Simulator, clock: JumpClock
) -> None:
    """Each byte comes well within the read timeout; the whole answer never within 0.3 s."""
    settings = settings_for(sim, request_timeout=0.3, read_timeout=5.0, max_retries=0)
    async with LearnClient(settings, clock=clock) as client:
        await client.authenticate()
        sim.faults.drip = 0.05
        with pytest.raises(TransportError, match=r"learn.request_timeout \(0.3 s\)") as info:
            await client.system_version()
    assert info.value.endpoint == VERSION
    assert "?" not in str(info.value)


async def test_an_answer_over_the_size_limit_is_refused_by_its_length(
    sim: Simulator, clock: JumpClock
) -> None:
    sim.faults.oversize = 4096
    settings = settings_for(sim, max_response_bytes=2048)
    async with LearnClient(settings, clock=clock) as client:
        with pytest.raises(MalformedResponseError) as info:
            await client.system_version()
        assert client.metrics.responses[VERSION, "too_large"] == 1
    assert str(info.value) == (
        f"GET {VERSION}: the answer is larger than learn.max_response_bytes (2048 bytes); refused"
    )
    assert sim.stats.count(VERSION) == 1  # refused, not retried


async def test_an_answer_without_a_length_is_read_no_further_than_the_limit(
    sim: Simulator, clock: JumpClock
) -> None:
    """A dripped answer is chunked: the limit is found while reading, not from a header."""
    sim.faults.oversize = 400
    settings = settings_for(sim, max_response_bytes=150)  # a token answer is some 90 bytes
    async with LearnClient(settings, clock=clock) as client:
        await client.authenticate()
        sim.faults.drip = 0.0005
        with pytest.raises(MalformedResponseError, match=r"max_response_bytes \(150 bytes\)"):
            await client.system_version()


def test_the_deadline_and_the_size_limit_come_from_the_configuration() -> None:
    from gradesync.config import Settings
    from gradesync.daemon import learn_settings

    learn = {"base_url": "https://learn.example.edu", "client_id": "a", "client_secret": "b"}
    defaults = learn_settings(Settings.model_validate({"learn": learn}))
    assert (defaults.request_timeout, defaults.max_response_bytes) == (120.0, 32 * 1024 * 1024)
    tuned = {**learn, "request_timeout": "30s", "max_response_bytes": 1 << 20}
    settings = learn_settings(Settings.model_validate({"learn": tuned}))
    assert (settings.request_timeout, settings.max_response_bytes) == (30.0, 1 << 20)
