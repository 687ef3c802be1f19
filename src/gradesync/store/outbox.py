"""The outbox in SQL: appending events, each sink's position, dead letters and the retry queue.

A sink's main stream is every event after its ``position`` that it has not dead-lettered. Its
retry queue holds dead letters an operator sent back; :func:`pending` serves the queue first,
oldest first, then the main stream. Acknowledging an event from the main stream moves the
position (never back); acknowledging a queued one takes it and older queued ones off the queue.
The main stream leaves out what is queued, so one call never returns an event twice.

These functions run inside a transaction the caller opened on the right connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from gradesync.errors import StateError
from gradesync.store.codec import (
    OUTBOX_COLUMNS,
    count,
    event_rows,
    iso,
    outbox_from_row,
    parse_time_required,
    scalar,
)
from gradesync.store.protocol import (
    DEAD_LETTER_KINDS,
    DeadLetter,
    NewEvent,
    OutboxEvent,
    SinkStatus,
)


async def _sink(db: aiosqlite.Connection, sink: str) -> tuple[int, bool]:
    """The sink's position and whether it is disabled; an unknown sink is a wiring error."""
    rows = list(
        await db.execute_fetchall("SELECT position, disabled FROM sinks WHERE name = ?", (sink,))
    )
    if not rows:
        raise StateError(f"unknown sink {sink!r}: register it before delivering to it")
    position, disabled = rows[0]
    return int(position), bool(disabled)


def check_kind(kind: str | None) -> None:
    if kind is not None and kind not in DEAD_LETTER_KINDS:
        raise ValueError(f"dead letter kind must be one of {DEAD_LETTER_KINDS}, not {kind!r}")


async def insert_events(db: aiosqlite.Connection, events: Sequence[NewEvent]) -> int:
    """Append ``events`` in order; an id already in the outbox is skipped. Returns how many
    were new. The check is keyed by course first (an id hashes a subject that names its
    course), so a unit's inserts land on the few index pages of its course."""
    if not events:
        return 0
    cursor = await db.executemany(
        "INSERT INTO outbox (id, type, subject, course_id, time, payload)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (course_id, id) DO NOTHING",
        event_rows(events),
    )
    return max(cursor.rowcount, 0)


async def register(db: aiosqlite.Connection, names: Sequence[str], now: datetime) -> None:
    await db.executemany(
        "INSERT INTO sinks (name, position, registered_at) VALUES (?, 0, ?)"
        " ON CONFLICT (name) DO NOTHING",
        [(name, iso(now)) for name in names],
    )


async def pending(db: aiosqlite.Connection, sink: str, limit: int) -> list[OutboxEvent]:
    position, disabled = await _sink(db, sink)
    if disabled or limit <= 0:
        return []
    retried = [
        outbox_from_row(row, retried=True)
        for row in await db.execute_fetchall(
            f"SELECT {OUTBOX_COLUMNS} FROM retry_queue r JOIN outbox o ON o.seq = r.seq"
            " WHERE r.sink = ? ORDER BY r.seq LIMIT ?",
            (sink, limit),
        )
    ]
    if len(retried) == limit:
        return retried
    fresh = await db.execute_fetchall(
        f"SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE o.seq > ?"
        " AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.sink = ? AND d.seq = o.seq)"
        " AND NOT EXISTS (SELECT 1 FROM retry_queue r WHERE r.sink = ? AND r.seq = o.seq)"
        " ORDER BY o.seq LIMIT ?",
        (position, sink, sink, limit - len(retried)),
    )
    return retried + [outbox_from_row(row) for row in fresh]


async def _queued(db: aiosqlite.Connection, sink: str, seq: int) -> bool:
    sql = "SELECT 1 FROM retry_queue WHERE sink = ? AND seq = ?"
    return await scalar(db, sql, (sink, seq)) is not None


async def _advance(db: aiosqlite.Connection, sink: str, seq: int) -> None:
    await db.execute("UPDATE sinks SET position = max(position, ?) WHERE name = ?", (seq, sink))


async def mark_delivered(db: aiosqlite.Connection, sink: str, upto_seq: int) -> None:
    await _sink(db, sink)
    if await _queued(db, sink, upto_seq):
        await db.execute("DELETE FROM retry_queue WHERE sink = ? AND seq <= ?", (sink, upto_seq))
    else:
        await _advance(db, sink, upto_seq)


async def dead_letter(
    db: aiosqlite.Connection,
    sink: str,
    event: OutboxEvent,
    reason: str,
    kind: str,
    now: datetime,
) -> None:
    await _sink(db, sink)
    queued = await _queued(db, sink, event.seq)
    await db.execute(
        "INSERT INTO dead_letters (sink, seq, event_id, reason, kind, at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sink, seq) DO UPDATE SET"
        " event_id = excluded.event_id, reason = excluded.reason, kind = excluded.kind,"
        " at = excluded.at",
        (sink, event.seq, event.id, reason, kind, iso(now)),
    )
    if queued:
        await db.execute("DELETE FROM retry_queue WHERE sink = ? AND seq = ?", (sink, event.seq))
    else:
        await _advance(db, sink, event.seq)


def _filter(sink: str | None, kind: str | None, prefix: str = "") -> tuple[str, list[object]]:
    clauses: list[str] = ["1"]
    params: list[object] = []
    if sink is not None:
        clauses.append(f"{prefix}sink = ?")
        params.append(sink)
    if kind is not None:
        clauses.append(f"{prefix}kind = ?")
        params.append(kind)
    return " AND ".join(clauses), params


async def dead_letters(
    db: aiosqlite.Connection, sink: str | None, kind: str | None
) -> list[DeadLetter]:
    where, params = _filter(sink, kind, "d.")
    rows = await db.execute_fetchall(
        "SELECT d.sink, d.seq, d.event_id, d.reason, d.kind, d.at, o.subject"
        " FROM dead_letters d LEFT JOIN outbox o ON o.seq = d.seq"
        f" WHERE {where} ORDER BY d.sink, d.seq",
        params,
    )
    return [
        DeadLetter(s, seq, event_id, reason, k, parse_time_required(at), subject)
        for s, seq, event_id, reason, k, at, subject in rows
    ]


async def retry(db: aiosqlite.Connection, sink: str | None, kind: str | None, now: datetime) -> int:
    where, params = _filter(sink, kind)
    await db.execute(
        "INSERT INTO retry_queue (sink, seq, queued_at)"
        f" SELECT sink, seq, ? FROM dead_letters WHERE {where}"
        " ON CONFLICT (sink, seq) DO NOTHING",
        [iso(now), *params],
    )
    cursor = await db.execute(f"DELETE FROM dead_letters WHERE {where}", params)
    return max(cursor.rowcount, 0)


async def replay(db: aiosqlite.Connection, sink: str, since: datetime) -> int:
    position, _ = await _sink(db, sink)
    first = await scalar(db, "SELECT min(seq) FROM outbox WHERE time >= ?", (iso(since),))
    if first is None or first > position:
        return 0  # nothing from then on has been delivered yet
    await db.execute("UPDATE sinks SET position = ? WHERE name = ?", (first - 1, sink))
    return await count(
        db,
        "SELECT count(*) FROM outbox o WHERE o.seq >= ? AND o.seq <= ?"
        " AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.sink = ? AND d.seq = o.seq)"
        " AND NOT EXISTS (SELECT 1 FROM retry_queue r WHERE r.sink = ? AND r.seq = o.seq)",
        (first, position, sink, sink),
    )


async def prune(db: aiosqlite.Connection, before: datetime) -> int:
    """Delete events older than ``before`` that every sink has moved past, dead letters and
    queued retries aside. ``AUTOINCREMENT`` keeps later events from reusing their seq."""
    cursor = await db.execute(
        "DELETE FROM outbox WHERE seq <= (SELECT coalesce(min(position), 0) FROM sinks)"
        " AND time < ? AND seq NOT IN (SELECT seq FROM dead_letters)"
        " AND seq NOT IN (SELECT seq FROM retry_queue)",
        (iso(before),),
    )
    return max(cursor.rowcount, 0)


async def set_disabled(
    db: aiosqlite.Connection, sink: str, reason: str | None, now: datetime
) -> None:
    await _sink(db, sink)
    await db.execute(
        "UPDATE sinks SET disabled = ?, disabled_reason = ?, disabled_at = ? WHERE name = ?",
        (int(reason is not None), reason, None if reason is None else iso(now), sink),
    )


async def _depth(db: aiosqlite.Connection, sink: str, position: int) -> tuple[int, int]:
    """How many events wait for ``sink``, and how many of those are in its retry queue.

    Counted without a per-row anti-join: dead letters and queued events are outbox rows too,
    and the two sets are disjoint, so subtracting the ones after the position is exact."""
    after = await count(db, "SELECT count(*) FROM outbox WHERE seq > ?", (position,))
    dead_after = await count(
        db, "SELECT count(*) FROM dead_letters WHERE sink = ? AND seq > ?", (sink, position)
    )
    queued = await count(db, "SELECT count(*) FROM retry_queue WHERE sink = ?", (sink,))
    queued_after = await count(
        db, "SELECT count(*) FROM retry_queue WHERE sink = ? AND seq > ?", (sink, position)
    )
    return after - dead_after - queued_after + queued, queued


async def depth(db: aiosqlite.Connection, sink: str) -> int:
    position, _ = await _sink(db, sink)
    return (await _depth(db, sink, position))[0]


async def sink_statuses(db: aiosqlite.Connection) -> list[SinkStatus]:
    kinds: dict[tuple[str, str], int] = {
        (sink, kind): count
        for sink, kind, count in await db.execute_fetchall(
            "SELECT sink, kind, count(*) FROM dead_letters GROUP BY sink, kind"
        )
    }
    out: list[SinkStatus] = []
    for name, position, disabled, reason in await db.execute_fetchall(
        "SELECT name, position, disabled, disabled_reason FROM sinks ORDER BY name"
    ):
        total, queued = await _depth(db, name, position)
        out.append(
            SinkStatus(
                name=name,
                position=position,
                depth=total,
                retrying=queued,
                dead=kinds.get((name, "dead"), 0),
                rejected=kinds.get((name, "rejected"), 0),
                unmapped=kinds.get((name, "unmapped"), 0),
                disabled=bool(disabled),
                disabled_reason=reason,
            )
        )
    return out
