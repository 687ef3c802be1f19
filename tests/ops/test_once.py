"""``gradesync once`` delivers while it syncs: each course's events go out once it commits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gradesync.config import Settings
from gradesync.daemon import open_service
from gradesync.errors import AuthenticationError
from gradesync.models import Course
from gradesync.simulator import Simulator, World, WorldSpec, serve
from gradesync.sinks.base import Outcome
from gradesync.sinks.file import FileSink
from gradesync.sinks.testing import fill_outbox, grade_event
from gradesync.store import OutboxEvent
from gradesync.sync.cycle import CourseResult


def settings_for(sim: Simulator, tmp: Path, secret: str | None = None, **extra: Any) -> Settings:
    learn = {
        "base_url": sim.base_url,
        "client_id": sim.client_id,
        "client_secret": secret or sim.client_secret,
        "requests_per_second": 1000,
    }
    return Settings.model_validate(
        {
            "learn": learn,
            "state": {"path": str(tmp / "state.db")},
            "sinks": [{"type": "file", "path": str(tmp / "events.jsonl")}],
            **extra,
        }
    )


class StuckSink(FileSink):
    """A sink whose delivery never finishes, like a receiver that accepts and never answers."""

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class WatchedFileSink(FileSink):
    """A file sink that notes, at each delivery, how many courses had finished their cycle."""

    def __init__(self, path: Path, finished: list[str]) -> None:
        super().__init__(path)
        self.finished = finished
        self.finished_at_delivery: list[int] = []

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        self.finished_at_delivery.append(len(self.finished))
        return await super().deliver(events)


async def test_events_reach_the_sink_while_later_courses_are_still_syncing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(
        WorldSpec(
            seed=3, courses=4, columns_per_course=3, students_per_course=4, cross_listed_parents=0
        )
    )
    async with serve(world) as sim:
        sim.faults.latency = 0.02  # each course takes several round trips of 20 ms
        settings = settings_for(sim, tmp_path, sync={"concurrency": 1})  # one course at a time
        finished: list[str] = []
        sink = WatchedFileSink(tmp_path / "events.jsonl", finished)
        async with open_service(settings, sinks=[sink]) as service:
            sync_course = service.syncer.sync_course

            async def noted(course: Course, *, full: bool = False) -> CourseResult:
                result = await sync_course(course, full=full)
                finished.append(course.id)
                return result

            monkeypatch.setattr(service.syncer, "sync_course", noted)
            report = await service.run_once()
            assert report.delivered
            results = report.results

    assert len(results) == len(finished) >= 3
    # The first events went out before the last course had finished, not after the sync.
    assert sink.finished_at_delivery[0] < len(finished)
    ids = [json.loads(line)["id"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == sum(sum(r.events.values()) for r in results) > 0


async def test_a_failing_sync_stops_the_deliveries_instead_of_waiting_for_them(
    tmp_path: Path,
) -> None:
    """Refused credentials end ``once`` at once, even with a delivery in flight; the events it
    held stay in the outbox for the next run."""
    spec = WorldSpec(
        seed=3, courses=2, columns_per_course=2, students_per_course=2, cross_listed_parents=0
    )
    world = World(spec)
    async with serve(world) as sim:
        settings = settings_for(sim, tmp_path, secret="not-the-secret")
        async with open_service(settings, sinks=[StuckSink(tmp_path / "events.jsonl")]) as service:
            await fill_outbox(service.store, [grade_event(user=f"_{n}_1") for n in range(3)])
            with pytest.raises(AuthenticationError):
                await asyncio.wait_for(service.run_once(), timeout=20)
            assert len(await service.store.pending("file", 10)) == 3
