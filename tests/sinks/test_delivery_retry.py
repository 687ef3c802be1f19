"""Sending again. Dead letters retried by an operator, and replays: each event arrives once
more, in the store's delivery order, and the outbox ends empty (the deliverer acknowledges runs
at once). And the waits between a sink's retries: full jitter up to ``retry_max_wait``, with the
receiver's ``Retry-After`` a floor even beyond it."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gradesync.clock import ManualClock
from gradesync.config.sinks import WebhookSinkConfig
from gradesync.sinks.delivery import Deliverer
from gradesync.sinks.testing import WebhookReceiver, fill_outbox, grade_event
from gradesync.sinks.webhook import WebhookSink
from gradesync.store import SQLiteStateStore

SECRET = "whsec_" + base64.b64encode(b"retry tests").decode()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as started:
        yield started


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStateStore]:
    async with SQLiteStateStore(tmp_path / "state.db", clock=ManualClock()) as opened:
        await opened.register_sinks(["webhook"])
        yield opened


async def commit(store: SQLiteStateStore, first: int, count: int) -> list[str]:
    clock = ManualClock()
    sent = [grade_event(user=f"_{n}_1", time=clock.now()) for n in range(first, first + count)]
    await fill_outbox(store, sent)
    return [e["id"] for e in sent]


def webhook(receiver: WebhookReceiver) -> WebhookSink:
    cfg = WebhookSinkConfig(type="webhook", url=receiver.url, secret=SECRET)
    return WebhookSink(cfg, clock=ManualClock())


async def deliver_refusing(
    store: SQLiteStateStore, receiver: WebhookReceiver, refused: set[int], count: int
) -> Deliverer:
    """Deliver ``count`` pending events, one POST each; the receiver refuses those at the
    positions in ``refused`` (1-based) with a 400, so they become dead letters."""
    for n in range(1, count + 1):
        receiver.answer(400 if n in refused else 204)
    sink = webhook(receiver)
    deliverer = Deliverer(store, sink, ManualClock(), batch_size=100)
    assert await deliverer.drain() is None
    await sink.close()
    return deliverer


def ids_received(receiver: WebhookReceiver, since: int = 0) -> list[str]:
    return [e["id"] for e in receiver.accepted[since:]]


async def test_retried_dead_letters_arrive_once_before_new_events(
    store: SQLiteStateStore, receiver: WebhookReceiver
) -> None:
    ids = await commit(store, 1, 10)
    await deliver_refusing(store, receiver, {3, 7}, 10)
    assert [d.event_id for d in await store.dead_letters("webhook")] == [ids[2], ids[6]]
    seen = len(receiver.accepted)

    newer = await commit(store, 11, 3)
    assert await store.retry_dead_letters("webhook") == 2
    await deliver_refusing(store, receiver, set(), 5)
    assert ids_received(receiver, seen) == [ids[2], ids[6], *newer]
    assert await store.pending("webhook", 100) == []
    assert await store.outbox_depth("webhook") == 0


async def test_dead_letters_retried_after_a_replay_arrive_once_with_the_replayed_history(
    store: SQLiteStateStore, receiver: WebhookReceiver
) -> None:
    ids = await commit(store, 1, 10)
    await deliver_refusing(store, receiver, {3, 7}, 10)
    seen = len(receiver.accepted)

    # The operator replays everything, then sends the dead letters again: the queued events
    # now lie beyond the sink's position, and the store serves them first.
    assert await store.replay("webhook", ManualClock().now()) == 8
    assert await store.retry_dead_letters("webhook") == 2
    deliverer = await deliver_refusing(store, receiver, set(), 10)
    again = ids_received(receiver, seen)
    assert again == [ids[2], ids[6]] + [i for n, i in enumerate(ids) if n not in (2, 6)]
    assert deliverer.stats.delivered == 10
    assert await store.pending("webhook", 100) == []
    assert await store.outbox_depth("webhook") == 0


async def test_a_retry_after_beyond_retry_max_wait_is_honoured(
    store: SQLiteStateStore, receiver: WebhookReceiver
) -> None:
    await commit(store, 1, 1)
    receiver.answer(503, retry_after=3600)
    sink = webhook(receiver)
    deliverer = Deliverer(store, sink, ManualClock(), retry_max_wait=60.0)
    assert await deliverer.drain() == 3600.0  # left alone for the hour it asked, not 60 s
    assert await deliverer.drain() is None
    await sink.close()
    assert len(receiver.accepted) == 1


async def test_a_retry_after_is_a_floor_of_the_drawn_wait(
    store: SQLiteStateStore, receiver: WebhookReceiver
) -> None:
    await commit(store, 1, 1)
    receiver.answer(503, times=20, retry_after=3)
    sink = webhook(receiver)
    deliverer = Deliverer(store, sink, ManualClock(), retry_base=1.0, retry_max_wait=8.0)
    waits = [await deliverer.drain() for _ in range(20)]
    await sink.close()
    assert all(wait is not None and 3.0 <= wait <= 8.0 for wait in waits)
    assert any(wait is not None and wait > 3.0 for wait in waits[5:])


async def test_waits_without_retry_after_grow_with_full_jitter_up_to_retry_max_wait(
    store: SQLiteStateStore, receiver: WebhookReceiver
) -> None:
    await commit(store, 1, 1)
    receiver.outage(503)
    sink = webhook(receiver)
    deliverer = Deliverer(
        store, sink, ManualClock(), retry_base=1.0, retry_max_wait=8.0, rng=random.Random(4)
    )
    waits = [await deliverer.drain() for _ in range(40)]
    await sink.close()
    assert all(w is not None and 0.0 <= w <= min(8.0, 2.0**n) for n, w in enumerate(waits))
    assert max(w for w in waits if w is not None) > 4.0  # the ceiling grew to the cap
    assert min(w for w in waits[4:] if w is not None) < 4.0  # full jitter: drawn from zero
    assert deliverer.stats.failures == 40 and receiver.accepted == []
