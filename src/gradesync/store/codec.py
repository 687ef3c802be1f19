"""Rows to records and back: times as fixed-width UTC text, JSON as compact as it gets.

Times are written ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` so that text order is time order, which
lets SQL compare them. Naive datetimes are refused: a time without a zone is a bug upstream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite
from pydantic import BaseModel

from gradesync.jsontext import compact
from gradesync.models import Availability, Membership, User
from gradesync.store.protocol import (
    ColumnCursor,
    CycleRecord,
    LogState,
    NewEvent,
    OutboxEvent,
    SetAsideRow,
    StoredGrade,
)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the state keeps only zone-aware times")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def parse_time_required(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def scalar(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None."""
    rows = list(await db.execute_fetchall(sql, params))
    return rows[0][0] if rows else None


async def count(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    return int(await scalar(db, sql, params) or 0)


def dump_json(value: Any) -> str:
    return compact(value)


def model_json(model: BaseModel) -> str:
    """A domain model in its wire form (camelCase), without the nulls Learn leaves out too."""
    return model.model_dump_json(by_alias=True, exclude_none=True)


def pack_digest(digest: str) -> bytes | str:
    """A hex digest as the bytes it spells (half the size; a tombstone's "" is b""), or as
    text when bytes would not give back exactly the same string."""
    try:
        packed = bytes.fromhex(digest)
    except ValueError:
        return digest
    return packed if packed.hex() == digest else digest


def unpack_digest(stored: bytes | str) -> str:
    return stored.hex() if isinstance(stored, bytes) else stored


def grade_rows(course_id: str, grades: Iterable[StoredGrade]) -> Iterator[tuple[Any, ...]]:
    """Parameters for the grade upsert. Lazy: the writer's thread serialises while it inserts."""
    for grade in grades:
        if grade.course_id != course_id:
            raise ValueError(
                f"a unit of work for course {course_id} holds a grade of course {grade.course_id}"
            )
        yield (
            grade.course_id,
            grade.column_id,
            grade.user_id,
            grade.change_index,
            grade.version,
            pack_digest(grade.digest),
            dump_json(grade.content),
        )


def grade_from_row(course_id: str, column_id: str, row: Any) -> StoredGrade:
    user_id, change_index, version, digest, content = row
    return StoredGrade(
        course_id,
        column_id,
        user_id,
        json.loads(content),
        change_index,
        unpack_digest(digest),
        version,
    )


def membership_row(course_id: str, membership: Membership) -> tuple[Any, ...]:
    user = membership.user
    return (
        course_id,
        membership.user_id,
        membership.id,
        membership.child_course_id,
        membership.course_role_id,
        membership.availability.available if membership.availability else None,
        user.external_id if user else None,
        user.user_name if user else None,
        user.student_id if user else None,
    )


def membership_from_row(course_id: str, row: Any) -> Membership:
    user_id, membership_id, child, role, available, external_id, user_name, student_id = row
    return Membership(
        id=membership_id,
        user_id=user_id,
        course_id=course_id,
        child_course_id=child,
        course_role_id=role,
        availability=None if available is None else Availability(available=available),
        user=User(id=user_id, external_id=external_id, user_name=user_name, student_id=student_id),
    )


def cursor_from_row(row: Any) -> ColumnCursor:
    return ColumnCursor(change_index=row[0], full_read_at=parse_time(row[1]))


def event_rows(events: Iterable[NewEvent]) -> list[tuple[Any, ...]]:
    """Parameters for the outbox insert. A cycle's events share one detection time, so each
    distinct time is formatted once."""
    stamps: dict[datetime, str] = {}
    rows = []
    for event in events:
        stamp = stamps.get(event.time)
        if stamp is None:
            stamp = stamps[event.time] = iso(event.time)
        rows.append((event.id, event.type, event.subject, event.course_id, stamp, event.payload))
    return rows


OUTBOX_COLUMNS = "o.seq, o.id, o.type, o.subject, o.course_id, o.time, o.payload"


def outbox_from_row(row: Any, *, retried: bool = False) -> OutboxEvent:
    seq, event_id, kind, subject, course_id, time, payload = row
    when = parse_time_required(time)
    return OutboxEvent(seq, event_id, kind, subject, course_id, when, payload, retried)


def cycle_row(rec: CycleRecord) -> tuple[Any, ...]:
    return (
        rec.course_id,
        rec.cycle_id,
        iso(rec.started),
        iso_or_none(rec.finished),
        int(rec.ok),
        rec.error,
        dump_json(rec.counts),
    )


CYCLE_COLUMNS = "course_id, cycle_id, started, finished, ok, error, counts"


def cycle_from_row(row: Any) -> CycleRecord:
    course_id, cycle_id, started, finished, ok, error, counts = row
    return CycleRecord(
        course_id=course_id,
        cycle_id=cycle_id,
        started=parse_time_required(started),
        finished=parse_time(finished),
        ok=bool(ok),
        error=error,
        counts=json.loads(counts),
    )


SET_ASIDE_COLUMNS = "course_id, kind, column_id, user_id, reason, first_seen, last_seen"


def set_aside_row(course_id: str, row: SetAsideRow) -> tuple[Any, ...]:
    if row.course_id != course_id:
        raise ValueError(
            f"a unit of work for course {course_id} sets aside a row of course {row.course_id}"
        )
    return (
        row.course_id,
        row.kind,
        row.column_id,
        row.user_id,
        row.reason,
        iso(row.first_seen),
        iso(row.last_seen),
    )


def set_aside_from_row(row: Any) -> SetAsideRow:
    course_id, kind, column_id, user_id, reason, first_seen, last_seen = row
    return SetAsideRow(
        course_id,
        kind,
        column_id,
        user_id,
        reason,
        parse_time_required(first_seen),
        parse_time_required(last_seen),
    )


def log_state_row(course_id: str, state: LogState) -> tuple[Any, ...]:
    seen = {entry_id: iso(logged) for entry_id, logged in state.seen.items()}
    return (
        course_id,
        int(state.primed),
        iso_or_none(state.cursor),
        dump_json(seen),
        state.fallback_reason,
        iso_or_none(state.fallback_until),
        iso_or_none(state.last_sweep),
    )


def log_state_from_row(row: Any) -> LogState:
    primed, cursor, seen, reason, until, sweep = row
    return LogState(
        primed=bool(primed),
        cursor=parse_time(cursor),
        seen={entry_id: parse_time_required(at) for entry_id, at in json.loads(seen).items()},
        fallback_reason=reason,
        fallback_until=parse_time(until),
        last_sweep=parse_time(sweep),
    )
