"""The real client against the Learn simulator over real HTTP: walks, tokens, faults, quota."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.learn.learn_support import JumpClock, make_settings

from gradesync.clock import ManualClock
from gradesync.errors import AuthenticationError, RateLimitedError, ServerError, TransportError
from gradesync.learn import LearnClient, LearnSettings
from gradesync.simulator import Faults, Simulator, World, WorldSpec, create_app, serve

PARENT = "_1000_1"  # the first course of a world with one cross-listed parent


@pytest.fixture
def world() -> World:
    spec = WorldSpec(
        seed=3, courses=6, columns_per_course=4, students_per_course=12, cross_listed_parents=1
    )
    return World(spec)


def sim_settings(sim: Simulator, **overrides: Any) -> LearnSettings:
    values = {"base_url": sim.base_url, "client_id": sim.client_id}
    values["client_secret"] = sim.client_secret
    return make_settings(**(values | overrides))


def expected_rows(world: World, course_id: str, column_id: str) -> dict[str, dict[str, Any]]:
    """The rows Learn serves for a column: active students who have a grade record."""
    rows = {}
    for user_id in world.student_ids(course_id):
        row = world.grade(course_id, column_id, user_id)
        if row is not None:
            rows[user_id] = row
    return rows


async def read_all_grades(client: LearnClient) -> Counter[tuple[str, str, str]]:
    """Walk courses -> columns -> grades as the sync engine does; count each row seen."""
    seen: Counter[tuple[str, str, str]] = Counter()
    async for course in client.courses():
        async for column in client.columns(course.id):
            async for grade in client.column_grades(course.id, column.id):
                seen[course.id, column.id, grade.user_id] += 1
    return seen


def world_grades(world: World) -> Counter[tuple[str, str, str]]:
    return Counter(
        (course_id, column_id, user_id)
        for course_id in world.course_ids()
        for column_id in world.column_ids(course_id)
        for user_id in expected_rows(world, course_id, column_id)
    )


async def test_a_full_walk_reads_every_row_once_on_one_token(world: World) -> None:
    small_pages = {"courses": 4, "columns": 3, "grades": 5}
    async with serve(world) as sim:
        async with LearnClient(sim_settings(sim, page_limits=small_pages)) as client:
            seen = await read_all_grades(client)
            snapshot = client.metrics.snapshot()
        assert sim.stats.count("v1/oauth2/token") == 1
        grade_pages = sim.stats.count("v2/courses/{courseId}/gradebook/columns/{columnId}/users")
    assert seen == world_grades(world)
    assert max(seen.values()) == 1
    assert grade_pages > len(world.course_ids()) * 4  # several pages per column
    assert snapshot["token_requests"] == 1
    assert snapshot["responses"]["v3/courses"] == {"200": 2}  # 6 courses, 4 per page


async def test_a_token_that_expires_between_pages_is_renewed_once_without_error(
    world: World,
) -> None:
    clock = ManualClock()
    column = world.column_ids(PARENT)[0]
    async with serve(world, clock=clock) as sim:
        settings = sim_settings(sim, page_limits={"grades": 5})
        async with LearnClient(settings, clock=clock) as client:
            users = []
            async for grade in client.column_grades(PARENT, column):
                if not users:
                    await clock.advance(3700)  # past the token's hour, between two pages
                users.append(grade.user_id)
        assert sim.stats.count("v1/oauth2/token") == 2
        assert sim.stats.count(status=401) == 0
    assert sorted(users) == sorted(expected_rows(world, PARENT, column))


async def test_a_token_learn_forgot_is_replaced_and_the_call_retried(world: World) -> None:
    column = world.column_ids(PARENT)[0]
    async with serve(world) as sim:
        async with LearnClient(sim_settings(sim, page_limits={"grades": 5})) as client:
            users = []
            async for grade in client.column_grades(PARENT, column):
                if not users:
                    sim.expire_token()
                users.append(grade.user_id)
            assert client.metrics.reauthentications == 1
        assert sim.stats.count(status=401) == 1
        assert sim.stats.count("v1/oauth2/token") == 2
    assert sorted(users) == sorted(expected_rows(world, PARENT, column))


async def test_a_wrong_secret_is_refused_without_printing_it(world: World) -> None:
    async with serve(world) as sim:
        settings = sim_settings(sim, client_secret="not-the-right-one")
        async with LearnClient(settings) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.system_version()
    text = str(info.value)
    assert "refused" in text and sim.client_id in text
    assert "not-the-right-one" not in text and "not-the-right-one" not in repr(info.value)


async def test_a_429_storm_is_waited_out_and_every_row_read_once(world: World) -> None:
    clock = JumpClock()
    async with serve(world, faults=Faults(rate_429=0.5, retry_after=2, seed=5)) as sim:
        async with LearnClient(sim_settings(sim, max_retries=12), clock=clock) as client:
            seen = await read_all_grades(client)
            retries = sum(client.metrics.retries.values())
        assert sim.stats.count(status=429) == retries > 10
    assert seen == world_grades(world)
    assert clock.slept and min(clock.slept) >= 2.0  # never sooner than Retry-After


async def test_server_errors_are_retried_until_the_walk_completes(world: World) -> None:
    async with serve(world, faults=Faults(rate_5xx=0.4, seed=2)) as sim:
        async with LearnClient(sim_settings(sim, max_retries=10), clock=JumpClock()) as client:
            seen = await read_all_grades(client)
        assert sim.stats.count(status=502) + sim.stats.count(status=503) > 0
    assert seen == world_grades(world)


async def test_persistent_server_errors_give_up_after_the_retries(world: World) -> None:
    async with serve(world, faults=Faults(rate_5xx=1.0)) as sim:
        async with LearnClient(sim_settings(sim, max_retries=3), clock=JumpClock()) as client:
            with pytest.raises(ServerError) as info:
                await client.system_version()
        assert sim.stats.count("v1/system/version") == 4
    assert info.value.endpoint == "v1/system/version"


async def test_slow_responses_time_out_and_are_retried(world: World) -> None:
    faults = Faults(slow_rate=0.3, slow_latency=0.25, seed=4)
    column = world.column_ids(PARENT)[0]
    async with serve(world, faults=faults) as sim:
        settings = sim_settings(sim, read_timeout=0.1, max_retries=8, page_limits={"grades": 6})
        async with LearnClient(settings, clock=JumpClock()) as client:
            users = [g.user_id async for g in client.column_grades(PARENT, column)]
            assert client.metrics.count(status="transport") > 0
    assert sorted(users) == sorted(expected_rows(world, PARENT, column))


async def test_a_server_too_slow_every_time_is_a_transport_error(world: World) -> None:
    async with serve(world) as sim:
        settings = sim_settings(sim, read_timeout=0.05, max_retries=1)
        async with LearnClient(settings, clock=JumpClock()) as client:
            await client.authenticate()
            sim.faults.latency = 0.3
            with pytest.raises(TransportError, match="timed out") as info:
                await client.system_version()
            assert client.metrics.count("v1/system/version", "transport") == 2
    assert "?" not in str(info.value)


async def test_dropped_connections_are_retried_until_the_walk_completes(world: World) -> None:
    async with (
        serve(world, faults=Faults(drop_rate=0.3, seed=8)) as sim,
        LearnClient(sim_settings(sim, max_retries=10), clock=JumpClock()) as client,
    ):
        seen = await read_all_grades(client)
        assert client.metrics.count(status="transport") > 0
    assert seen == world_grades(world)


async def test_a_connection_dropped_every_time_is_a_transport_error(world: World) -> None:
    async with (
        serve(world, faults=Faults(drop_rate=1.0)) as sim,
        LearnClient(sim_settings(sim, max_retries=2), clock=JumpClock()) as client,
    ):
        with pytest.raises(TransportError):
            await client.system_version()
        assert client.metrics.count("v1/system/version", "transport") == 3


async def test_memberships_carry_the_user_ids_and_child_courses(world: World) -> None:
    async with serve(world) as sim, LearnClient(sim_settings(sim)) as client:
        members = [m async for m in client.memberships(PARENT)]
        children = [c.id async for c in client.children(PARENT)]
        not_a_parent = [c.id async for c in client.children(world.course_ids()[-1])]
    students = [m for m in members if m.course_role_id == "Student"]
    assert {m.user_id for m in students} >= set(world.student_ids(PARENT))
    assert all(m.user and m.user.external_id and m.user.user_name for m in students)
    assert {m.child_course_id for m in students if m.child_course_id} == set(children)
    assert len(children) == 2
    assert not_a_parent == []


async def test_grades_come_without_the_fields_gradesync_does_not_keep(world: World) -> None:
    column = world.column_ids(PARENT)[0]
    user = world.student_ids(PARENT)[0]
    world.set_score(PARENT, column, user, 17.5)
    async with serve(world) as sim, LearnClient(sim_settings(sim)) as client:
        rows = {g.user_id: g async for g in client.column_grades(PARENT, column)}
    served = world.grade(PARENT, column, user)
    assert served is not None and "status" in served
    assert rows[user].score == 17.5
    assert rows[user].change_index == served["changeIndex"]
    assert rows[user].status is None and rows[user].notes is None  # not asked for


async def test_the_change_index_filter_returns_only_later_edits(world: World) -> None:
    column = world.column_ids(PARENT)[1]
    first, second = world.student_ids(PARENT)[:2]
    async with serve(world) as sim, LearnClient(sim_settings(sim)) as client:
        before = world.change_index
        index_a = world.set_score(PARENT, column, first, 3.0)
        index_b = world.set_text(PARENT, column, second, "B+")
        changed = [g async for g in client.column_grades(PARENT, column, change_index=before)]
        latest = await client.last_changed(PARENT, column)
    assert sorted((g.user_id, g.change_index) for g in changed) == sorted(
        [(first, index_a), (second, index_b)]
    )
    assert latest is not None and (latest.user_id, latest.change_index) == (second, index_b)


async def test_last_changed_is_none_for_new_and_calculated_columns(world: World) -> None:
    total = world.column_ids(PARENT)[-1]
    new_column = world.add_column(PARENT, "Quiz 9")
    async with serve(world) as sim, LearnClient(sim_settings(sim)) as client:
        calculated = {c.id for c in [c async for c in client.columns(PARENT)] if c.calculated}
        assert await client.last_changed(PARENT, new_column) is None
        assert total in calculated
        assert await client.last_changed(PARENT, total) is None


async def test_a_course_is_found_by_its_external_id(world: World) -> None:
    async with serve(world) as sim, LearnClient(sim_settings(sim)) as client:
        first = await client.course(PARENT)
        assert first.external_id is not None
        again = await client.course(f"externalId:{first.external_id}")
    assert again.id == PARENT and again.has_children


async def test_no_more_requests_are_in_flight_than_the_concurrency_allows(world: World) -> None:
    in_flight = peak = 0

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await handler(request)
        finally:
            in_flight -= 1

    app = create_app(world, Faults(latency=0.01), None, "gradesync", "secret")
    app.middlewares.insert(0, count)
    async with TestServer(app, host="127.0.0.1") as server:
        settings = make_settings(
            base_url=str(server.make_url("")).rstrip("/"),
            client_id="gradesync",
            client_secret="secret",
            concurrency=3,
        )
        async with LearnClient(settings) as client:
            columns = world.column_ids(PARENT)
            await asyncio.gather(
                *(client.last_changed(PARENT, columns[n % len(columns)]) for n in range(24))
            )
            assert client.request_count == 24
    assert peak == 3


async def test_a_spent_daily_quota_fails_fast_until_it_refills(world: World) -> None:
    clock = ManualClock()
    async with (
        serve(world, faults=Faults(daily_quota=3), clock=clock) as sim,
        LearnClient(sim_settings(sim, retry_max_wait=60), clock=clock) as client,
    ):
        for _ in range(3):
            await client.system_version()
        assert (client.quota.limit, client.quota.remaining) == (3, 0)
        with pytest.raises(RateLimitedError) as spent:
            await client.system_version()
        until = client.quota.exhausted_until
        assert until is not None and until > clock.now()
        sent = sim.stats.total
        with pytest.raises(RateLimitedError) as fast:
            [c async for c in client.courses()]
        assert sim.stats.total == sent  # refused without touching the network
        assert client.metrics.count(status="quota") == 1
        waiter = asyncio.create_task(client.quota.wait_until_available())
        await clock.advance(spent.value.retry_after or 0)
        await waiter
        version = await client.system_version()
    assert spent.value.retry_after is not None and spent.value.retry_after > 60
    assert (
        fast.value.retry_after is not None and 0 < fast.value.retry_after <= spent.value.retry_after
    )
    assert version.learn is not None


async def test_the_counters_agree_with_what_the_server_saw(world: World) -> None:
    async with (
        serve(world, faults=Faults(rate_5xx=0.2, seed=11)) as sim,
        LearnClient(sim_settings(sim, max_retries=10), clock=JumpClock()) as client,
    ):
        async for course in client.courses():
            [m async for m in client.memberships(course.id)]
            [c async for c in client.children(course.id)]
            async for column in client.columns(course.id):
                await client.last_changed(course.id, column.id)
        await client.course(PARENT)
        snapshot = client.metrics.snapshot()
        served = {
            endpoint: {str(status): n for status, n in counts.items()}
            for endpoint, counts in sim.stats.by_endpoint().items()
        }
    assert snapshot["responses"] == served
    assert served["v1/courses/{courseId}/children"]["400"] == len(world.course_ids()) - 1
    server_errors = sum(
        n for counts in served.values() for s, n in counts.items() if s.isdigit() and int(s) >= 500
    )
    assert sum(snapshot["retries"].values()) == server_errors > 0
    last_changed = "v2/courses/{courseId}/gradebook/columns/{columnId}/users/lastChanged"
    latency = snapshot["latency"][last_changed]
    assert latency["count"] == sum(served[last_changed].values())
    assert 0 < latency["p50_s"] <= latency["p95_s"] <= latency["max_s"]


class CountingGate:
    """A caller's own request budget: lets every request through and keeps Learn's counts."""

    def __init__(self) -> None:
        self.acquired = 0
        self.observed: list[int | None] = []

    async def acquire(self) -> None:
        self.acquired += 1

    def observe(self, remaining: int | None) -> None:
        self.observed.append(remaining)


async def test_a_callers_gate_is_passed_by_every_api_request_but_not_the_token(
    world: World,
) -> None:
    gate = CountingGate()
    async with (
        serve(world, faults=Faults(daily_quota=100)) as sim,
        LearnClient(sim_settings(sim), gate=gate) as client,
    ):
        [c async for c in client.courses()]
        await client.system_version()
        await client.last_changed(PARENT, world.column_ids(PARENT)[0])
        assert sim.stats.count("v1/oauth2/token") == 1
    assert gate.acquired == client.request_count == 3
    assert gate.observed == [99, 98, 97]
