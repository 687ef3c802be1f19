"""The webhook sink through the real deliverer and a real SQLite store: outages, crashes, 410."""

from __future__ import annotations

import asyncio
import base64
import math
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gradesync.clock import ManualClock
from gradesync.config.sinks import WebhookSinkConfig
from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome
from gradesync.sinks.delivery import Deliverer
from gradesync.sinks.testing import WebhookReceiver, fill_outbox, grade_event
from gradesync.sinks.webhook import WebhookSink
from gradesync.store import SQLiteStateStore

SECRET = "whsec_" + base64.b64encode(b"delivery tests").decode()


def webhook(url: str, clock: ManualClock, **overrides: Any) -> WebhookSink:
    cfg = WebhookSinkConfig.model_validate(
        {"type": "webhook", "url": url, "secret": SECRET} | overrides
    )
    return WebhookSink(cfg, clock=clock)


class WatchedClock(ManualClock):
    """A manual clock that tells when a task starts waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.waiting.set()
        await super().sleep(seconds)


@pytest.fixture
def clock() -> WatchedClock:
    return WatchedClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SQLiteStateStore]:
    async with SQLiteStateStore(tmp_path / "state.db", clock=clock) as opened:
        await opened.register_sinks(["webhook"])
        yield opened


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as started:
        yield started


async def settle(clock: WatchedClock) -> None:
    """Let the deliverer work (real requests on the loopback) until it waits on the clock."""
    while clock.sleepers == 0:
        clock.waiting.clear()
        await clock.waiting.wait()


async def commit(store: SQLiteStateStore, clock: ManualClock, count: int) -> list[str]:
    sent = [grade_event(user=f"_{n}_1", time=clock.now()) for n in range(count)]
    await fill_outbox(store, sent)
    return [e["id"] for e in sent]


async def test_an_outage_of_minutes_then_recovery_delivers_everything_in_order(
    store: SQLiteStateStore, receiver: WebhookReceiver, clock: WatchedClock
) -> None:
    ids = await commit(store, clock, 30)
    sink = webhook(receiver.url, clock, batch_size=4)
    deliverer = Deliverer(store, sink, clock, batch_size=10, rng=random.Random(5))
    receiver.outage(503)
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    while clock.monotonic() < 15 * 60:  # a quarter of an hour down
        await settle(clock)
        await clock.advance(5)
    attempts = len(receiver.posts)
    assert receiver.accepted == []
    assert deliverer.stats.failing_since is not None

    receiver.recover()
    while receiver.count < len(ids):
        await settle(clock)
        await clock.advance(5)
    stop.set()
    await task
    await sink.close()
    assert [e["id"] for e in receiver.accepted] == ids  # all of them, once, in commit order
    assert 10 < attempts < 15 * 60 / 5  # retried with backoff, not at every tick
    assert deliverer.stats.failing_since is None
    assert await store.outbox_depth("webhook") == 0


class CommitsWhileSending:
    """The webhook sink, while new events are committed during each of its deliveries: as a
    sync cycle does, that sets the deliverer's ``wake``."""

    def __init__(self, inner: WebhookSink, wake: asyncio.Event) -> None:
        self.name = inner.name
        self.inner, self.wake = inner, wake

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        self.wake.set()
        return await self.inner.deliver(events)


async def test_run_waits_out_a_retry_after_beyond_the_cap_though_new_events_arrive(
    store: SQLiteStateStore, receiver: WebhookReceiver, clock: WatchedClock
) -> None:
    ids = await commit(store, clock, 2)
    sink = webhook(receiver.url, clock)
    deliverer = Deliverer(store, sink, clock, retry_max_wait=60.0)
    deliverer.sink = CommitsWhileSending(sink, deliverer.wake)
    receiver.answer(429, retry_after=1800)
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    await settle(clock)  # refused, and waiting
    assert len(receiver.posts) == 1

    await clock.advance(1800)
    await settle(clock)  # delivered, and waiting for news
    stop.set()
    await task
    await sink.close()
    assert [e["id"] for e in receiver.accepted] == ids
    refused, retried = (int(post.headers["webhook-timestamp"]) for post in receiver.posts[:2])
    assert retried - refused == 1800


@pytest.mark.parametrize("batch_size", [1, 3])
async def test_a_crash_between_sending_and_recording_resends_with_the_same_id(
    store: SQLiteStateStore, receiver: WebhookReceiver, clock: ManualClock, batch_size: int
) -> None:
    await commit(store, clock, 3)
    before_crash = webhook(receiver.url, clock, batch_size=batch_size)
    await before_crash.deliver(await store.pending("webhook", 10))  # sent, never recorded
    await before_crash.close()
    first = [p.headers["webhook-id"] for p in receiver.posts]

    after_restart = webhook(receiver.url, clock, batch_size=batch_size)
    await clock.advance(30)
    assert await Deliverer(store, after_restart, clock).drain() is None
    await after_restart.close()
    again = [p.headers["webhook-id"] for p in receiver.posts[len(first) :]]
    assert again == first
    assert await store.outbox_depth("webhook") == 0


async def test_gone_disables_the_sink_until_an_operator_enables_it(
    store: SQLiteStateStore, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    ids = await commit(store, clock, 5)
    sink = webhook(receiver.url, clock)
    receiver.answer(204, times=2)
    receiver.answer(410)
    assert await Deliverer(store, sink, clock).drain() == math.inf  # events wait, for ever
    (status,) = (await store.status()).sinks
    assert status.disabled and "410" in (status.disabled_reason or "")
    assert status.depth == 3

    posts = len(receiver.posts)
    restarted = Deliverer(store, sink, clock)
    await restarted.run(asyncio.Event())  # returns at once: the sink is disabled
    assert len(receiver.posts) == posts

    await store.enable_sink("webhook")
    assert await Deliverer(store, sink, clock).drain() is None
    await sink.close()
    assert [e["id"] for e in receiver.accepted] == ids


async def test_events_failing_longer_than_max_age_become_dead_letters(
    store: SQLiteStateStore, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    ids = await commit(store, clock, 2)
    sink = webhook(receiver.url, clock, max_age="10m")
    deliverer = Deliverer(store, sink, clock, rng=random.Random(1))
    receiver.outage(500)
    while (wait := await deliverer.drain()) is not None:
        await clock.advance(wait)
    await sink.close()
    dead = await store.dead_letters("webhook")
    assert [(d.event_id, d.kind) for d in dead] == [(i, "dead") for i in ids]
    assert "max_age 10m" in dead[0].reason
    assert clock.monotonic() >= 600
    (status,) = (await store.status()).sinks
    assert (status.dead, status.depth) == (2, 0)
