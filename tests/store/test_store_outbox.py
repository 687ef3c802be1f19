"""The outbox per sink: positions, dead letters, the retry queue, replay and disabled sinks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.store.store_builders import events_unit

from gradesync.clock import ManualClock
from gradesync.errors import StateError
from gradesync.store import OutboxEvent, SQLiteStateStore


async def ids(store: SQLiteStateStore, sink: str, limit: int = 100) -> list[str]:
    return [e.id for e in await store.pending(sink, limit)]


async def by_id(store: SQLiteStateStore, sink: str) -> dict[str, OutboxEvent]:
    return {e.id: e for e in await store.pending(sink, 100)}


async def test_pending_returns_events_in_commit_order_with_their_fields(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["file"])
    await store.commit(events_unit(["a", "b"], clock.now()))
    await clock.advance(60)
    await store.commit(events_unit(["c"], clock.now()))
    pending = await store.pending("file", 100)
    assert [e.id for e in pending] == ["a", "b", "c"]
    first = pending[0]
    assert first.type == "gradesync.grade.created"
    assert first.subject == "courses/_10_1/columns/_1_1/users/a"
    assert first.course_id == "_10_1"
    assert first.time == clock.now() - timedelta(seconds=60)
    assert '"id": "a"' in first.payload
    assert await ids(store, "file", limit=2) == ["a", "b"]


async def test_each_sink_has_its_own_position(store: SQLiteStateStore, clock: ManualClock) -> None:
    await store.register_sinks(["file", "sis"])
    await store.commit(events_unit(["a", "b", "c"], clock.now()))
    events = await by_id(store, "file")
    await store.mark_delivered("file", events["b"].seq)
    assert await ids(store, "file") == ["c"]
    assert await ids(store, "sis") == ["a", "b", "c"]
    assert await store.outbox_depth("file") == 1
    assert await store.outbox_depth("sis") == 3

    await store.mark_delivered("file", events["a"].seq)  # never moves back
    assert await ids(store, "file") == ["c"]


async def test_a_new_sink_starts_at_the_beginning_and_known_ones_keep_their_place(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["file"])
    await store.commit(events_unit(["a", "b"], clock.now()))
    await store.mark_delivered("file", (await store.pending("file", 10))[-1].seq)
    await store.register_sinks(["file", "webhook"])
    assert await ids(store, "file") == []
    assert await ids(store, "webhook") == ["a", "b"]


async def test_an_unknown_sink_is_an_error(store: SQLiteStateStore) -> None:
    with pytest.raises(StateError, match="unknown sink 'nope'"):
        await store.pending("nope", 10)
    with pytest.raises(StateError, match="unknown sink"):
        await store.mark_delivered("nope", 1)


async def test_a_dead_letter_moves_the_sink_past_the_event_and_is_listed(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["file", "sis"])
    await store.commit(events_unit(["a", "b", "c"], clock.now()))
    events = await by_id(store, "sis")
    await store.mark_delivered("sis", events["a"].seq)
    await store.dead_letter("sis", events["b"], "422: no such student", kind="unmapped")
    assert await ids(store, "sis") == ["c"]
    assert await ids(store, "file") == ["a", "b", "c"]

    [letter] = await store.dead_letters()
    assert (letter.sink, letter.seq, letter.event_id) == ("sis", events["b"].seq, "b")
    assert (letter.kind, letter.reason, letter.at) == (
        "unmapped",
        "422: no such student",
        clock.now(),
    )
    assert letter.subject == events["b"].subject
    assert await store.dead_letters(sink="file") == []
    assert await store.dead_letters(kind="rejected") == []
    with pytest.raises(ValueError, match="kind"):
        await store.dead_letter("sis", events["c"], "?", kind="delivered")


async def test_retried_dead_letters_come_before_new_events_oldest_first(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["sis"])
    await store.commit(events_unit(["a", "b", "c", "d"], clock.now()))
    events = await by_id(store, "sis")
    await store.dead_letter("sis", events["a"], "down", kind="dead")
    await store.dead_letter("sis", events["c"], "bad value", kind="rejected")
    await store.mark_delivered("sis", events["b"].seq)
    await store.commit(events_unit(["e"], clock.now()))

    assert await store.retry_dead_letters(sink="sis") == 2
    assert await store.dead_letters() == []
    pending = await store.pending("sis", 100)
    assert [(e.id, e.retried) for e in pending] == [
        ("a", True),
        ("c", True),
        ("d", False),
        ("e", False),
    ]
    assert [e.id for e in await store.pending("sis", 1)] == ["a"]
    assert await store.outbox_depth("sis") == 4

    # A retried event acknowledged leaves the queue; the main stream keeps its own place.
    await store.mark_delivered("sis", events["a"].seq)
    assert await ids(store, "sis") == ["c", "d", "e"]
    # Refused again: back to the dead letters, and the main stream is not skipped over.
    await store.dead_letter("sis", events["c"], "still bad", kind="rejected")
    assert await ids(store, "sis") == ["d", "e"]
    assert [(d.event_id, d.reason) for d in await store.dead_letters()] == [("c", "still bad")]


async def test_retry_can_pick_one_kind_and_one_sink(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["file", "sis"])
    await store.commit(events_unit(["a", "b"], clock.now()))
    events = await by_id(store, "sis")
    await store.dead_letter("sis", events["a"], "no id", kind="unmapped")
    await store.dead_letter("sis", events["b"], "refused", kind="rejected")
    await store.dead_letter("file", events["a"], "disk", kind="dead")
    assert await store.retry_dead_letters(sink="sis", kind="unmapped") == 1
    left = {(d.sink, d.event_id) for d in await store.dead_letters()}
    assert left == {("sis", "b"), ("file", "a")}
    assert await ids(store, "sis") == ["a"]
    assert await store.retry_dead_letters() == 2
    assert await ids(store, "file") == ["a", "b"]


async def test_replay_resends_history_from_a_time_and_keeps_dead_letters_aside(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["file"])
    await store.commit(events_unit(["a", "b"], clock.now()))
    await clock.advance(3600)
    since = clock.now()
    await store.commit(events_unit(["c", "d"], clock.now()))
    await clock.advance(3600)
    await store.commit(events_unit(["e", "f"], clock.now()))
    events = await by_id(store, "file")
    await store.dead_letter("file", events["a"], "x")
    await store.dead_letter("file", events["d"], "x")
    await store.mark_delivered("file", events["e"].seq)
    assert await ids(store, "file") == ["f"]

    assert await store.replay("file", since) == 2  # c and e; d stays a dead letter
    assert await ids(store, "file") == ["c", "e", "f"]
    assert await store.replay("file", since + timedelta(days=1)) == 0
    assert await ids(store, "file") == ["c", "e", "f"]  # nothing at or after: no move forward


async def test_a_disabled_sink_gets_nothing_until_enabled(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["webhook"])
    await store.commit(events_unit(["a"], clock.now()))
    await store.disable_sink("webhook", "410 Gone")
    assert await ids(store, "webhook") == []
    assert await store.outbox_depth("webhook") == 1
    [sink] = (await store.status()).sinks
    assert sink.disabled and sink.disabled_reason == "410 Gone"
    await store.enable_sink("webhook")
    assert await ids(store, "webhook") == ["a"]
    [sink] = (await store.status()).sinks
    assert not sink.disabled and sink.disabled_reason is None


async def test_pruning_deletes_only_old_events_every_sink_has_passed(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.register_sinks(["file", "sis"])
    await store.commit(events_unit(["a", "b", "c", "d"], clock.now()))
    events = await by_id(store, "file")
    await store.mark_delivered("file", events["d"].seq)
    await store.mark_delivered("sis", events["b"].seq)
    await store.dead_letter("sis", events["c"], "refused", kind="rejected")
    await clock.advance(86400)
    await store.commit(events_unit(["e"], clock.now()))
    await store.mark_delivered("file", (await by_id(store, "file"))["e"].seq)

    assert await store.prune_outbox(clock.now() - timedelta(hours=1)) == 2  # a and b
    assert (await store.status()).events == 3
    assert await ids(store, "sis") == ["d", "e"]
    assert [d.subject for d in await store.dead_letters()] == [events["c"].subject]

    # Once everything is pruned, new events still come after every position.
    await store.mark_delivered("sis", (await by_id(store, "sis"))["e"].seq)
    await store.retry_dead_letters()
    await store.mark_delivered("sis", events["c"].seq)
    await clock.advance(86400)
    assert await store.prune_outbox(clock.now()) == 3
    await store.commit(events_unit(["f"], clock.now()))
    assert await ids(store, "file") == ["f"]
    assert await ids(store, "sis") == ["f"]
