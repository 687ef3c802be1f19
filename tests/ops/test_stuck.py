"""A course whose cycle does not finish shows as stuck: in ``status`` (from the state, another
process), in ``/readyz`` details and in ``/metrics``; the other courses go on."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.e2e_support import config_text
from tests.ops.ops_support import hang_course, service_settings
from tests.store.store_builders import COURSE, course, cycle

from gradesync import cli
from gradesync.clock import ManualClock
from gradesync.daemon import open_service
from gradesync.health import HealthApp
from gradesync.metrics import MetricsCollector
from gradesync.simulator import World, WorldSpec, serve
from gradesync.store import SQLiteStateStore, UnitOfWork


async def test_the_newest_unfinished_cycle_of_a_course_is_its_running_one(tmp_path: Path) -> None:
    clock = ManualClock()
    async with SQLiteStateStore(tmp_path / "state.db", clock=clock) as store:
        await store.save_courses([course()], selected_ids={COURSE})
        killed = clock.now()
        await store.commit(UnitOfWork(COURSE, cycle=cycle("c1", killed, None)))
        [status] = await store.course_status()
        assert status.running_since == killed
        assert status.stuck(killed + timedelta(hours=1), timedelta(minutes=30))
        await clock.advance(3600)  # a restart: a new cycle begins and ends
        await store.commit(UnitOfWork(COURSE, cycle=cycle("c2", clock.now(), None)))
        assert (await store.course_status())[0].running_since == clock.now()
        await store.commit(UnitOfWork(COURSE, cycle=cycle("c2", clock.now(), clock.now())))
        assert (await store.course_status())[0].running_since is None


async def test_a_hung_cycle_shows_as_stuck_while_the_other_courses_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = WorldSpec(
        seed=2, courses=3, columns_per_course=2, students_per_course=3, cross_listed_parents=0
    )
    clock = ManualClock()
    async with serve(World(spec)) as sim:
        settings = service_settings(sim, tmp_path, stuck_after="10m")
        async with open_service(settings, clock=clock) as service:
            courses = await service.syncer.list_courses()
            victim = courses[0].id
            hang_course(service, monkeypatch, victim)
            stop = asyncio.Event()
            running = asyncio.create_task(service.run(stop))
            health = HealthApp(service, MetricsCollector(service), stale_after=3600)
            async with TestClient(TestServer(health.app())) as client:
                for _ in range(15):  # fifteen simulated minutes
                    await clock.advance(60)
                    await asyncio.sleep(0.01)
                body: dict[str, Any] = await (await client.get("/readyz")).json()
                metrics = await (await client.get("/metrics")).text()
            assert list(body["stuck_courses"]) == [victim]
            assert "gradesync_courses_stuck 1.0" in metrics
            assert service.stats.cycles_ok >= 2 * (len(courses) - 1), "the others went on"
            stop.set()
            for _ in range(3):  # the hung cycle gets drain_timeout, then it is cancelled
                await clock.advance(31)
                await asyncio.sleep(0.01)
            await running
        config = tmp_path / "gradesync.toml"
        config.write_text(
            config_text(
                sim,
                state=tmp_path / "state.db",
                events=tmp_path / "events.jsonl",
                sections='[sync]\nstuck_after = "10m"\n',
            )
        )
    # `status` is another process in real life: it reads the state only. The hung cycle was
    # cancelled at stop, so its start stays the newest unfinished cycle of the course.
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["status", "--json", "--config", str(config)]) == 0
    shown = {c["course_id"]: c for c in json.loads(capsys.readouterr().out)["courses"]}
    assert shown[victim]["stuck"] is True and shown[victim]["running_since"] is not None
    assert not any(c["stuck"] for course_id, c in shown.items() if course_id != victim)
