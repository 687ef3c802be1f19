"""Dead letters sent again by an operator, and replays: each event arrives once more, in the
store's delivery order, and the outbox ends empty (the deliverer acknowledges runs at once)."""

from __future__ import annotations

import base64
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


async def deliver_refusing(
    store: SQLiteStateStore, receiver: WebhookReceiver, refused: set[int], count: int
) -> Deliverer:
    """Deliver ``count`` pending events, one POST each; the receiver refuses those at the
    positions in ``refused`` (1-based) with a 400, so they become dead letters."""
    for n in range(1, count + 1):
        receiver.answer(400 if n in refused else 204)
    cfg = WebhookSinkConfig(type="webhook", url=receiver.url, secret=SECRET)
    sink = WebhookSink(cfg, clock=ManualClock())
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
