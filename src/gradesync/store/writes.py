"""The snapshot's writes in SQL: the course list, a unit of work, a cycle and its status.

Each function runs inside the one write transaction its caller holds, sends rows in batches
and leaves the decision to commit or roll back to that caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import aiosqlite

from gradesync.errors import StateError
from gradesync.models import Course
from gradesync.store import outbox
from gradesync.store.codec import (
    cycle_row,
    grade_rows,
    iso,
    iso_or_none,
    log_state_row,
    membership_row,
    model_json,
    scalar,
    set_aside_row,
)
from gradesync.store.protocol import CycleRecord, UnitOfWork

DETECTIONS_KEPT = timedelta(days=1)  # detection delays older than this are dropped


async def require_course(db: aiosqlite.Connection, course_id: str) -> None:
    if await scalar(db, "SELECT 1 FROM courses WHERE id = ?", (course_id,)) is None:
        raise StateError(f"course {course_id} is not in the state: save_courses must list it")


async def save_courses(
    db: aiosqlite.Connection, courses: Sequence[Course], selected: set[str], now: datetime
) -> None:
    seen = iso(now)
    await db.execute("UPDATE courses SET selected = 0 WHERE selected = 1")
    await db.executemany(
        "INSERT INTO courses (id, data, selected, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET data = excluded.data, selected = excluded.selected,"
        " last_seen = excluded.last_seen",
        [(c.id, model_json(c), int(c.id in selected), seen, seen) for c in courses],
    )


async def write_unit(
    db: aiosqlite.Connection, unit: UnitOfWork, now: datetime, cycle_history: int
) -> int:
    """Apply every part of ``unit``; returns how many of its events were new to the outbox."""
    course_id = unit.course_id
    await require_course(db, course_id)
    if unit.columns is not None:
        await db.execute("DELETE FROM columns WHERE course_id = ?", (course_id,))
        await db.executemany(
            "INSERT INTO columns (course_id, column_id, position, data) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (course_id, column_id) DO UPDATE SET data = excluded.data",
            [(course_id, c.id, i, model_json(c)) for i, c in enumerate(unit.columns)],
        )
    if unit.deleted_columns:
        keys = [(course_id, column_id) for column_id in unit.deleted_columns]
        for table in ("cursors", "grades", "columns", "set_aside"):
            await db.executemany(f"DELETE FROM {table} WHERE course_id = ? AND column_id = ?", keys)
    refreshed = iso(unit.refreshed_at or now)
    if unit.memberships is not None:
        await db.execute("DELETE FROM memberships WHERE course_id = ?", (course_id,))
        await db.executemany(
            "INSERT OR REPLACE INTO memberships (course_id, user_id, membership_id,"
            " child_course_id, role, available, external_id, user_name, student_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [membership_row(course_id, m) for m in unit.memberships],
        )
        await db.execute(
            "UPDATE courses SET memberships_refreshed_at = ? WHERE id = ?", (refreshed, course_id)
        )
    if unit.categories is not None:
        await db.execute("DELETE FROM categories WHERE course_id = ?", (course_id,))
        await db.executemany(
            "INSERT OR REPLACE INTO categories (course_id, category_id, data) VALUES (?, ?, ?)",
            [(course_id, c.id, model_json(c)) for c in unit.categories],
        )
        await db.execute(
            "UPDATE courses SET categories_refreshed_at = ? WHERE id = ?", (refreshed, course_id)
        )
    if unit.cursors:
        await db.executemany(
            "INSERT INTO cursors (course_id, column_id, change_index, full_read_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (course_id, column_id) DO UPDATE SET"
            " change_index = excluded.change_index, full_read_at = excluded.full_read_at",
            [
                (course_id, column_id, c.change_index, iso_or_none(c.full_read_at))
                for column_id, c in unit.cursors.items()
            ],
        )
    if unit.grade_deletes:
        await db.executemany(
            "DELETE FROM grades WHERE course_id = ? AND column_id = ? AND user_id = ?",
            [(course_id, column_id, user_id) for column_id, user_id in unit.grade_deletes],
        )
    if unit.detections:
        at = iso(now)
        await db.executemany(
            "INSERT INTO detections (at, seconds) VALUES (?, ?)",
            [(at, seconds) for seconds in unit.detections],
        )
        await db.execute("DELETE FROM detections WHERE at < ?", (iso(now - DETECTIONS_KEPT),))
    if unit.log is not None:
        await db.execute(
            "INSERT OR REPLACE INTO course_logs (course_id, primed, cursor, seen,"
            " fallback_reason, fallback_until, last_sweep) VALUES (?, ?, ?, ?, ?, ?, ?)",
            log_state_row(course_id, unit.log),
        )
    if unit.grade_upserts:
        await db.executemany(
            "INSERT INTO grades (course_id, column_id, user_id, change_index, version, digest,"
            " content) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (course_id, column_id, user_id)"
            " DO UPDATE SET change_index = excluded.change_index, version = excluded.version,"
            " digest = excluded.digest, content = excluded.content",
            grade_rows(course_id, unit.grade_upserts),
        )
    if unit.resolved:
        await db.executemany(
            "DELETE FROM set_aside WHERE course_id = ? AND kind = ? AND column_id = ?"
            " AND user_id = ?",
            [(course_id, *key) for key in unit.resolved],
        )
    if unit.set_aside:
        await db.executemany(
            "INSERT INTO set_aside (course_id, kind, column_id, user_id, reason, first_seen,"
            " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (course_id, kind, column_id,"
            " user_id) DO UPDATE SET reason = excluded.reason, last_seen = excluded.last_seen",
            [set_aside_row(course_id, row) for row in unit.set_aside],
        )
    inserted = await outbox.insert_events(db, unit.events)
    if unit.cycle is not None:
        await record_cycle(db, unit.cycle, cycle_history)
    return inserted


async def record_cycle(db: aiosqlite.Connection, rec: CycleRecord, cycle_history: int) -> None:
    """Log the cycle, keep the newest ``cycle_history`` of its course, and derive the course's
    status from it once it has finished."""
    await db.execute(
        "INSERT INTO cycles (course_id, cycle_id, started, finished, ok, error, counts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (course_id, cycle_id) DO UPDATE SET"
        " started = excluded.started, finished = excluded.finished, ok = excluded.ok,"
        " error = excluded.error, counts = excluded.counts",
        cycle_row(rec),
    )
    await db.execute(
        "DELETE FROM cycles WHERE course_id = ? AND n <= (SELECT n FROM cycles"
        " WHERE course_id = ? ORDER BY n DESC LIMIT 1 OFFSET ?)",
        (rec.course_id, rec.course_id, cycle_history),
    )
    if rec.finished is None:
        return
    at = iso(rec.finished)
    if rec.ok:
        await db.execute(
            # A recovered course shows no error: the log lines of its failure stay the record.
            "INSERT INTO course_status (course_id, last_success) VALUES (?, ?)"
            " ON CONFLICT (course_id) DO UPDATE SET last_success = excluded.last_success,"
            " error_since = NULL, last_error = NULL, last_error_at = NULL",
            (rec.course_id, at),
        )
    else:
        await db.execute(
            "INSERT INTO course_status (course_id, last_error, last_error_at, error_since)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (course_id) DO UPDATE SET"
            " last_error = excluded.last_error, last_error_at = excluded.last_error_at,"
            " error_since = coalesce(course_status.error_since, excluded.error_since)",
            (rec.course_id, rec.error or "", at, at),
        )
