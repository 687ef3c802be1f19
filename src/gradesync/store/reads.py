"""The reads that take more than one query: a course's structure, course status and outlook,
store status.

Each runs inside the read transaction its caller holds, so its queries see one commit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import aiosqlite

from gradesync.models import Category, Column
from gradesync.store import outbox
from gradesync.store.codec import (
    CYCLE_COLUMNS,
    SET_ASIDE_COLUMNS,
    count,
    cursor_from_row,
    cycle_from_row,
    log_state_from_row,
    membership_from_row,
    parse_time,
    parse_time_required,
    scalar,
    set_aside_from_row,
)
from gradesync.store.protocol import (
    CourseOutlook,
    CourseStatus,
    CourseStructure,
    LogState,
    SetAsideRow,
    StoreStatus,
)

# The condition of the partial index ``grades_tombstones``, word for word, so SQLite uses it.
TOMBSTONE = "length(digest) = 0"


async def structure(db: aiosqlite.Connection, course_id: str) -> CourseStructure:
    key = (course_id,)
    columns = await db.execute_fetchall(
        "SELECT data FROM columns WHERE course_id = ? ORDER BY position", key
    )
    cursors = await db.execute_fetchall(
        "SELECT column_id, change_index, full_read_at FROM cursors WHERE course_id = ?", key
    )
    members = await db.execute_fetchall(
        "SELECT user_id, membership_id, child_course_id, role, available, external_id,"
        " user_name, student_id FROM memberships WHERE course_id = ?",
        key,
    )
    categories = await db.execute_fetchall("SELECT data FROM categories WHERE course_id = ?", key)
    refreshed = list(
        await db.execute_fetchall(
            "SELECT memberships_refreshed_at, categories_refreshed_at FROM courses WHERE id = ?",
            key,
        )
    )
    members_at, categories_at = refreshed[0] if refreshed else (None, None)
    set_aside = await db.execute_fetchall(
        f"SELECT {SET_ASIDE_COLUMNS} FROM set_aside WHERE course_id = ?", key
    )
    logs = list(
        await db.execute_fetchall(
            "SELECT primed, cursor, seen, fallback_reason, fallback_until, last_sweep"
            " FROM course_logs WHERE course_id = ?",
            key,
        )
    )
    return CourseStructure(
        columns={c.id: c for c in (Column.model_validate_json(d) for (d,) in columns)},
        cursors={row[0]: cursor_from_row(row[1:]) for row in cursors},
        memberships={row[0]: membership_from_row(course_id, row) for row in members},
        memberships_refreshed_at=parse_time(members_at),
        categories={c.id: c for c in (Category.model_validate_json(d) for (d,) in categories)},
        categories_refreshed_at=parse_time(categories_at),
        set_aside={row.key: row for row in map(set_aside_from_row, set_aside)},
        log=log_state_from_row(logs[0]) if logs else LogState(),
    )


async def _per_course(db: aiosqlite.Connection, sql: str) -> dict[str, int]:
    return {course_id: n for course_id, n in await db.execute_fetchall(sql)}


async def course_status(
    db: aiosqlite.Connection, *, include_unselected: bool
) -> list[CourseStatus]:
    where = "" if include_unselected else "WHERE c.selected = 1"
    rows = await db.execute_fetchall(
        "SELECT c.id, json_extract(c.data, '$.name'), c.selected, c.first_seen, c.last_seen,"
        " s.last_success, s.last_error, s.last_error_at, s.error_since, s.next_due, s.pace,"
        " s.rate"
        f" FROM courses c LEFT JOIN course_status s ON s.course_id = c.id {where}"
        " ORDER BY c.id"
    )
    # One pass over each table beats a count per course, which decodes every row it counts.
    columns = await _per_course(db, "SELECT course_id, count(*) FROM columns GROUP BY course_id")
    rows_per_course = await _per_course(
        db, "SELECT course_id, count(*) FROM grades GROUP BY course_id"
    )
    tombstones = await _per_course(
        db, f"SELECT course_id, count(*) FROM grades WHERE {TOMBSTONE} GROUP BY course_id"
    )
    logs = {
        row[0]: row[1:]
        for row in await db.execute_fetchall(
            "SELECT course_id, cursor, fallback_reason, last_sweep FROM course_logs"
        )
    }
    # A course's newest cycle without an end is running (or was cut short by a kill, until the
    # next cycle of the course starts).
    running = {
        course_id: parse_time(started)
        for course_id, started in await db.execute_fetchall(
            "SELECT c.course_id, c.started FROM cycles c WHERE c.finished IS NULL"
            " AND c.n = (SELECT max(n) FROM cycles WHERE course_id = c.course_id)"
        )
    }
    return [
        CourseStatus(
            course_id=row[0],
            name=row[1],
            selected=bool(row[2]),
            first_seen=parse_time_required(row[3]),
            last_seen=parse_time_required(row[4]),
            last_success=parse_time(row[5]),
            last_error=row[6],
            last_error_at=parse_time(row[7]),
            error_since=parse_time(row[8]),
            next_due=parse_time(row[9]),
            columns=columns.get(row[0], 0),
            grades=rows_per_course.get(row[0], 0) - tombstones.get(row[0], 0),
            running_since=running.get(row[0]),
            log_cursor=parse_time(logs.get(row[0], (None,) * 3)[0]),
            log_fallback=logs.get(row[0], (None,) * 3)[1],
            last_sweep=parse_time(logs.get(row[0], (None,) * 3)[2]),
            pace=row[10],
            rate_per_day=row[11],
        )
        for row in rows
    ]


def _due(text: str) -> datetime:
    """A column's due date as its JSON holds it, in UTC; one without a zone is taken as UTC,
    the zone Learn gives its times in."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def course_outlook(db: aiosqlite.Connection) -> dict[str, CourseOutlook]:
    # One grouped query per table, as in course_status: a query per course would cost a
    # round trip each, two thousand of them at institution scale.
    selected = "SELECT id FROM courses WHERE selected = 1"
    members = await _per_course(
        db,
        f"SELECT course_id, count(*) FROM memberships WHERE course_id IN ({selected})"
        " GROUP BY course_id",
    )
    columns = {
        course_id: (n, json.loads(dues))
        for course_id, n, dues in await db.execute_fetchall(
            "SELECT course_id, count(*), json_group_array(due) FILTER (WHERE due IS NOT NULL)"
            " FROM (SELECT course_id, json_extract(data, '$.grading.due') AS due FROM columns"
            f" WHERE course_id IN ({selected})) GROUP BY course_id"
        )
    }
    outlook: dict[str, CourseOutlook] = {}
    for course_id, last_success in await db.execute_fetchall(
        "SELECT c.id, s.last_success FROM courses c"
        " LEFT JOIN course_status s ON s.course_id = c.id WHERE c.selected = 1 ORDER BY c.id"
    ):
        n, dues = columns.get(course_id, (0, []))
        outlook[course_id] = CourseOutlook(
            columns=n,
            members=members.get(course_id, 0),
            due=tuple(sorted(map(_due, dues))),
            last_success=parse_time(last_success),
        )
    return outlook


async def status(db: aiosqlite.Connection, path: str) -> StoreStatus:
    last = list(
        await db.execute_fetchall(f"SELECT {CYCLE_COLUMNS} FROM cycles ORDER BY n DESC LIMIT 1")
    )
    return StoreStatus(
        path=path,
        schema_version=int(await scalar(db, "PRAGMA user_version")),
        courses=await count(db, "SELECT count(*) FROM courses WHERE selected = 1"),
        columns=await count(db, "SELECT count(*) FROM columns"),
        grades=await count(db, "SELECT count(*) FROM grades")
        - await count(db, f"SELECT count(*) FROM grades WHERE {TOMBSTONE}"),
        events=await count(db, "SELECT count(*) FROM outbox"),
        last_seq=await count(db, "SELECT max(seq) FROM outbox"),
        sinks=await outbox.sink_statuses(db),
        last_cycle=cycle_from_row(last[0]) if last else None,
        set_aside=await count(db, "SELECT count(*) FROM set_aside"),
    )


async def set_aside_rows(db: aiosqlite.Connection) -> list[SetAsideRow]:
    rows = await db.execute_fetchall(
        f"SELECT {SET_ASIDE_COLUMNS} FROM set_aside ORDER BY course_id, kind, column_id, user_id"
    )
    return [set_aside_from_row(row) for row in rows]
