"""``gradesync once`` delivers while it syncs: each course's events go out once it commits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from gradesync.commands.once import _sync_while_delivering
from gradesync.config import Settings
from gradesync.daemon import open_runtime
from gradesync.models import Course
from gradesync.simulator import World, WorldSpec, serve
from gradesync.sinks.base import Outcome
from gradesync.sinks.file import FileSink
from gradesync.store import OutboxEvent
from gradesync.sync.cycle import CourseResult


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
        settings = Settings.model_validate(
            {
                "learn": {
                    "base_url": sim.base_url,
                    "client_id": sim.client_id,
                    "client_secret": sim.client_secret,
                    "requests_per_second": 1000,
                },
                "state": {"path": str(tmp_path / "state.db")},
                "sync": {"concurrency": 1},  # one course after another
                "sinks": [{"type": "file", "path": str(tmp_path / "events.jsonl")}],
            }
        )
        finished: list[str] = []
        sink = WatchedFileSink(tmp_path / "events.jsonl", finished)
        async with open_runtime(settings, sinks=[sink]) as runtime:
            sync_course = runtime.syncer.sync_course

            async def noted(course: Course, *, full: bool = False) -> CourseResult:
                result = await sync_course(course, full=full)
                finished.append(course.id)
                return result

            monkeypatch.setattr(runtime.syncer, "sync_course", noted)
            results = await _sync_while_delivering(runtime, full=False)
            assert await runtime.deliver_pending(runtime.clock.monotonic() + 30)

    assert len(results) == len(finished) >= 3
    # The first events went out before the last course had finished, not after the sync.
    assert sink.finished_at_delivery[0] < len(finished)
    ids = [json.loads(line)["id"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == sum(sum(r.events.values()) for r in results) > 0
