"""The SQLite schema as an ordered list of migrations, and the checks made when a file opens.

``PRAGMA user_version`` is the number of migrations applied. Migrations only ever get appended;
opening a file moves it to the newest version in one transaction, so an upgrade either happens
whole or not at all. Grade and structure tables are ``WITHOUT ROWID`` and keyed so that a
column's or a course's rows are one contiguous range of the primary key. A grade's digest is
kept as the bytes its hex spells, and an empty one marks a tombstone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from gradesync.errors import StateError

# Written in the file header so that another program's SQLite file is never taken for ours.
APPLICATION_ID = 0x67736E63  # "gsnc"


@dataclass(frozen=True)
class Migration:
    purpose: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "the snapshot: courses, their structure, column cursors and grades",
        (
            """CREATE TABLE courses (
                id TEXT PRIMARY KEY,
                data TEXT NOT NULL,
                selected INTEGER NOT NULL DEFAULT 0,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                memberships_refreshed_at TEXT,
                categories_refreshed_at TEXT
            ) WITHOUT ROWID""",
            """CREATE TABLE columns (
                course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
                column_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (course_id, column_id)
            ) WITHOUT ROWID""",
            """CREATE TABLE categories (
                course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
                category_id TEXT NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (course_id, category_id)
            ) WITHOUT ROWID""",
            """CREATE TABLE memberships (
                course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
                user_id TEXT NOT NULL,
                membership_id TEXT,
                child_course_id TEXT,
                role TEXT,
                available TEXT,
                external_id TEXT,
                user_name TEXT,
                student_id TEXT,
                PRIMARY KEY (course_id, user_id)
            ) WITHOUT ROWID""",
            """CREATE TABLE cursors (
                course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
                column_id TEXT NOT NULL,
                change_index INTEGER NOT NULL,
                full_read_at TEXT,
                PRIMARY KEY (course_id, column_id)
            ) WITHOUT ROWID""",
            """CREATE TABLE grades (
                course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
                column_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                change_index INTEGER NOT NULL,
                version INTEGER NOT NULL CHECK (version >= 0),
                digest BLOB NOT NULL,
                content TEXT NOT NULL,
                PRIMARY KEY (course_id, column_id, user_id)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "the outbox: events, sinks and their positions, dead letters and the retry queue",
        (
            """CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                subject TEXT NOT NULL,
                course_id TEXT NOT NULL,
                time TEXT NOT NULL,
                payload TEXT NOT NULL CHECK (json_valid(payload))
            )""",
            """CREATE TABLE sinks (
                name TEXT PRIMARY KEY,
                position INTEGER NOT NULL DEFAULT 0,
                registered_at TEXT NOT NULL,
                disabled INTEGER NOT NULL DEFAULT 0,
                disabled_reason TEXT,
                disabled_at TEXT
            ) WITHOUT ROWID""",
            """CREATE TABLE dead_letters (
                sink TEXT NOT NULL REFERENCES sinks(name) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                event_id TEXT NOT NULL,
                reason TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('dead', 'rejected', 'unmapped')),
                at TEXT NOT NULL,
                PRIMARY KEY (sink, seq)
            ) WITHOUT ROWID""",
            """CREATE TABLE retry_queue (
                sink TEXT NOT NULL REFERENCES sinks(name) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                queued_at TEXT NOT NULL,
                PRIMARY KEY (sink, seq)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "the cycle log and each course's derived status",
        (
            """CREATE TABLE cycles (
                n INTEGER PRIMARY KEY,
                course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
                cycle_id TEXT NOT NULL,
                started TEXT NOT NULL,
                finished TEXT,
                ok INTEGER NOT NULL,
                error TEXT,
                counts TEXT NOT NULL,
                UNIQUE (course_id, cycle_id)
            )""",
            "CREATE INDEX cycles_by_course ON cycles (course_id, n)",
            """CREATE TABLE course_status (
                course_id TEXT PRIMARY KEY REFERENCES courses(id) ON DELETE CASCADE,
                last_success TEXT,
                last_error TEXT,
                last_error_at TEXT,
                error_since TEXT,
                next_due TEXT
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "an index of tombstones: live grades are counted as all rows minus these, which spares"
        " reading every row (SQLite counts a whole table without decoding it)",
        (
            "CREATE INDEX grades_tombstones ON grades (course_id, column_id)"
            " WHERE length(digest) = 0",
        ),
    ),
    Migration(
        "the outbox's duplicate check keyed by course, then event id: ids are hashes, so an"
        " index on the id alone took every insert to a random page, one page written per event"
        " (an event's id hashes its subject, which names its course, so equal ids always share"
        " a course and the check finds the same duplicates). The table is rebuilt with its"
        " rows, seq values and AUTOINCREMENT counter as they were",
        (
            """CREATE TABLE outbox_v5 (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL,
                type TEXT NOT NULL,
                subject TEXT NOT NULL,
                course_id TEXT NOT NULL,
                time TEXT NOT NULL,
                payload TEXT NOT NULL CHECK (json_valid(payload)),
                UNIQUE (course_id, id)
            )""",
            "INSERT INTO outbox_v5 (seq, id, type, subject, course_id, time, payload)"
            " SELECT seq, id, type, subject, course_id, time, payload FROM outbox ORDER BY seq",
            # The counter, not max(seq): pruned events must never have their numbers reused,
            # or a sink's position would already be past the new events that took them.
            "DELETE FROM sqlite_sequence WHERE name = 'outbox_v5'",
            "INSERT INTO sqlite_sequence (name, seq)"
            " SELECT 'outbox_v5', seq FROM sqlite_sequence WHERE name = 'outbox'",
            "DROP TABLE outbox",
            "ALTER TABLE outbox_v5 RENAME TO outbox",
        ),
    ),
    Migration(
        "rows set aside: what Learn sent that cannot be represented faithfully (a grade row or"
        " a column), kept until Learn sends it good; '' stands for an id Learn sent unusable,"
        " and for the user of a column",
        (
            """CREATE TABLE set_aside (
                course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
                kind TEXT NOT NULL CHECK (kind IN ('grade', 'column')),
                column_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                reason TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                PRIMARY KEY (course_id, kind, column_id, user_id)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "the course gradebook log: each course's cursor, its fallback and its last sweep",
        (
            """CREATE TABLE course_logs (
                course_id TEXT PRIMARY KEY REFERENCES courses(id) ON DELETE CASCADE,
                primed INTEGER NOT NULL DEFAULT 0,
                cursor TEXT,
                seen TEXT NOT NULL DEFAULT '{}',
                fallback_reason TEXT,
                fallback_until TEXT,
                last_sweep TEXT
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "detection delays: from a log entry's logged time to the commit of its change",
        (
            """CREATE TABLE detections (
                n INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                seconds REAL NOT NULL
            )""",
            "CREATE INDEX detections_by_time ON detections (at)",
        ),
    ),
    Migration(
        "the adaptive scheduler's pace: each course's pace, its estimated grade edits a day and"
        " its estimator's state, and the scheduler's institution-wide state (such as the week"
        " profile), the JSON texts kept as the scheduler wrote them",
        (
            "ALTER TABLE course_status ADD COLUMN pace TEXT",
            "ALTER TABLE course_status ADD COLUMN rate REAL",
            "ALTER TABLE course_status ADD COLUMN estimate TEXT",
            """CREATE TABLE scheduler_state (
                name TEXT PRIMARY KEY,
                data TEXT NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


async def _pragma(db: aiosqlite.Connection, name: str) -> int:
    rows = list(await db.execute_fetchall(f"PRAGMA {name}"))
    return int(rows[0][0])


async def _check(db: aiosqlite.Connection, path: str, known: int) -> tuple[int, int]:
    """The file's schema version and application id, once it is sure the file is ours and not
    from a newer gradesync."""
    version = await _pragma(db, "user_version")
    application_id = await _pragma(db, "application_id")
    if application_id not in (0, APPLICATION_ID):
        raise StateError(f"{path} is not a gradesync state file (another program's SQLite)")
    if version == 0 and application_id == 0:
        tables = list(await db.execute_fetchall("SELECT name FROM sqlite_master LIMIT 1"))
        if tables:
            raise StateError(f"{path} is not a gradesync state file (it holds other tables)")
    if version > known:
        raise StateError(
            f"{path} has state schema version {version}, newer than the {known} this "
            "gradesync knows: upgrade gradesync, or point the state path at another file"
        )
    return version, application_id


async def migrate(
    db: aiosqlite.Connection, path: str, steps: Sequence[Migration] = MIGRATIONS
) -> int:
    """Bring the file behind ``db`` (in autocommit mode) to ``len(steps)``; returns the version
    it had. Refuses a file that is not ours or that a newer gradesync wrote.

    A file already current is only read, so opening it never waits for another process's
    write; an upgrade takes the write lock and checks again, in case another process won."""
    version, application_id = await _check(db, path, len(steps))
    if version == len(steps) and application_id == APPLICATION_ID:
        return version
    await db.execute("BEGIN IMMEDIATE")
    try:
        version, application_id = await _check(db, path, len(steps))
        for number, step in enumerate(steps[version:], start=version + 1):
            for statement in step.statements:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
        if application_id == 0:
            await db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        await db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            await db.execute("ROLLBACK")
        raise
    return version
