"""A stop gives the running cycles and the final delivery ``sync.drain_timeout`` in all, so
that it fits within an engine's stop timeout (docs: the operator's guide, "The stop timeout")."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.ops.ops_support import hang_course, service_settings

from gradesync.clock import ManualClock
from gradesync.daemon import open_service
from gradesync.models import OutboxEvent
from gradesync.simulator import World, WorldSpec, serve
from gradesync.sinks.base import Outcome
from gradesync.sinks.file import FileSink


class DownSink(FileSink):
    """A receiver that is down: every delivery is to be retried in a while."""

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        return [Outcome.retry("503 Service Unavailable", retry_after=5.0)]


async def test_a_stop_ends_within_one_drain_timeout_with_a_hung_cycle_and_a_sink_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = WorldSpec(
        seed=2, courses=2, columns_per_course=2, students_per_course=3, cross_listed_parents=0
    )
    clock = ManualClock()
    async with serve(World(spec)) as sim:
        settings = service_settings(sim, tmp_path, drain_timeout="30s")
        sink = DownSink(tmp_path / "events.jsonl")
        async with open_service(settings, clock=clock, sinks=[sink]) as service:
            hang_course(service, monkeypatch, (await service.syncer.list_courses())[0].id)
            stop = asyncio.Event()
            running = asyncio.create_task(service.run(stop))
            for _ in range(5):  # the other course commits events the sink will not take
                await clock.advance(60)
                await asyncio.sleep(0.01)
            assert await service.store.outbox_depth("file") > 0
            stop.set()
            stopped_at = clock.monotonic()
            for _ in range(120):
                if running.done():
                    break
                await clock.advance(1)
                await asyncio.sleep(0.001)
            await running
            took = clock.monotonic() - stopped_at
    assert took <= 31, f"the stop took {took:.0f} s of a 30 s drain_timeout"
