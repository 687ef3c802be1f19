"""Drains take turns and stop between batches: the ``run`` loop and a final drain at shutdown
never send an event twice, and a shutdown never waits for a whole backlog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from gradesync.clock import ManualClock
from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome
from gradesync.sinks.delivery import Deliverer
from gradesync.sinks.testing import fill_outbox, grade_event
from gradesync.store import SQLiteStateStore


class SlowSink:
    """Takes each batch only when the test lets it (``gate``), and notes what it was given."""

    name = "slow"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Semaphore(0)
        self.waiting = asyncio.Event()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        self.waiting.set()
        await self.gate.acquire()
        self.waiting.clear()
        self.batches.append([e.id for e in events])
        return [Outcome.delivered() for _ in events]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStateStore]:
    async with SQLiteStateStore(tmp_path / "state.db", clock=ManualClock()) as opened:
        await opened.register_sinks(["slow"])
        yield opened


async def backlog(store: SQLiteStateStore, count: int) -> list[str]:
    events = [grade_event(user=f"_{n}_1") for n in range(count)]
    await fill_outbox(store, events)
    return [e["id"] for e in events]


async def test_two_drains_at_once_send_each_event_once(store: SQLiteStateStore) -> None:
    ids = await backlog(store, 6)
    sink = SlowSink()
    deliverer = Deliverer(store, sink, ManualClock(), batch_size=2)
    first = asyncio.create_task(deliverer.drain())
    await sink.waiting.wait()
    second = asyncio.create_task(deliverer.drain())  # as a shutdown's final drain would
    for _ in range(3):
        sink.gate.release()
    assert await first is None
    assert await second is None
    assert [i for batch in sink.batches for i in batch] == ids  # each once, in order
    assert await store.pending("slow", 10) == []


async def test_a_drain_past_its_deadline_finishes_its_batch_and_begins_no_other(
    store: SQLiteStateStore,
) -> None:
    ids = await backlog(store, 6)
    sink = SlowSink()
    clock = ManualClock()
    deliverer = Deliverer(store, sink, clock, batch_size=2)
    draining = asyncio.create_task(deliverer.drain(deadline=clock.monotonic() + 10))
    await sink.waiting.wait()
    await clock.advance(11)  # the deadline passes while the first batch is with the sink
    sink.gate.release()
    assert await draining == 0.0  # more is pending
    assert sink.batches == [ids[:2]]
    assert [e.id for e in await store.pending("slow", 10)] == ids[2:]


async def test_run_stops_between_batches_when_told_to(store: SQLiteStateStore) -> None:
    ids = await backlog(store, 6)
    sink = SlowSink()
    deliverer = Deliverer(store, sink, ManualClock(), batch_size=2)
    stop = asyncio.Event()
    running = asyncio.create_task(deliverer.run(stop))
    await sink.waiting.wait()
    stop.set()
    sink.gate.release()
    await asyncio.wait_for(running, timeout=10)
    assert sink.batches == [ids[:2]]
    assert [e.id for e in await store.pending("slow", 10)] == ids[2:]
