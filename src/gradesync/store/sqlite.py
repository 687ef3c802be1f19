"""The state store on SQLite: one writer connection, one reader, WAL between them.

Every write is one ``BEGIN IMMEDIATE`` transaction on the writer, serialised by a lock, with
rows sent in batches (``executemany``). Reads go through a second connection, those of more
than one query inside one read transaction, so they see whole commits only and never wait for
a commit in progress (WAL).
``synchronous=NORMAL``: a power cut may lose the last commits but never corrupts the file, and
the outbox makes the lost work happen again. Every SQLite error becomes a :class:`StateError`
that names the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite
import structlog

from gradesync.clock import Clock, SystemClock
from gradesync.errors import StateError
from gradesync.files import create_private_file, temporary_beside
from gradesync.models import Course
from gradesync.store import outbox, reads
from gradesync.store.codec import (
    dump_json,
    grade_from_row,
    iso,
    iso_or_none,
    parse_time_required,
)
from gradesync.store.protocol import (
    CourseOutlook,
    CourseStatus,
    CourseStructure,
    DeadLetter,
    OutboxEvent,
    SetAsideRow,
    SinkStatus,
    StoredGrade,
    StoreStatus,
    UnitOfWork,
)
from gradesync.store.schema import SCHEMA_VERSION, migrate
from gradesync.store.writes import require_course, save_courses, write_unit

log = structlog.get_logger("gradesync.store")


async def _end_transaction(db: aiosqlite.Connection) -> None:
    """Roll back whatever is open. Queued behind any statement still running on the
    connection's thread, so it also undoes a ``BEGIN`` whose caller was cancelled."""
    with contextlib.suppress(sqlite3.Error, ValueError):
        await db.execute("ROLLBACK")


class SQLiteStateStore:
    """The :class:`~gradesync.store.protocol.StateStore` on one SQLite file.

    Use as ``async with SQLiteStateStore(path) as store``. ``cycle_history`` bounds the cycle
    log per course; ``busy_timeout`` is how long to wait for another process's write lock.
    """

    def __init__(
        self,
        path: str | Path,
        clock: Clock | None = None,
        *,
        busy_timeout: float = 30.0,
        cycle_history: int = 100,
    ) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._busy_ms = int(busy_timeout * 1000)
        self._cycle_history = cycle_history
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open (creating if need be) and migrate the file to the current schema. A file it
        creates is owner-only, and so are the ``-wal`` and ``-shm`` beside it: SQLite gives
        them the database file's mode."""
        if self._writer is not None:
            return
        try:
            await asyncio.to_thread(_probe, self.path)
            self._writer = await self._connect(writer=True)
            await migrate(self._writer, str(self.path))
            self._reader = await self._connect(writer=False)
        except BaseException as exc:
            await self.close()
            if isinstance(exc, sqlite3.Error):
                raise StateError(f"cannot open the state file {self.path}: {exc}") from exc
            if isinstance(exc, OSError):
                reason = exc.strerror or exc
                raise StateError(f"cannot open the state file {self.path}: {reason}") from exc
            raise

    async def _connect(self, *, writer: bool) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await db.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            if writer:
                rows = list(await db.execute_fetchall("PRAGMA journal_mode = WAL"))
                if str(rows[0][0]).lower() != "wal":
                    log.warning("state.no_wal", path=str(self.path), journal_mode=rows[0][0])
                await db.execute("PRAGMA synchronous = NORMAL")
                # The WAL keeps its largest size after a checkpoint; cap what it leaves behind.
                await db.execute(f"PRAGMA journal_size_limit = {64 * 1024 * 1024}")
                await db.execute("PRAGMA foreign_keys = ON")
            else:
                await db.execute("PRAGMA query_only = ON")
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        if reader is not None:
            await reader.close()
        if writer is not None:
            with contextlib.suppress(sqlite3.Error):
                await writer.execute("PRAGMA optimize")
            await writer.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _fail(self, what: str, exc: sqlite3.Error) -> StateError:
        return StateError(
            f"{what} failed on the state file {self.path}: {exc}",
            path=str(self.path),
            reason=str(exc),
        )

    @contextlib.asynccontextmanager
    async def _transaction(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction on the writer; rolled back whole on any error."""
        if self._writer is None:
            raise StateError(f"the state store {self.path} is not open")
        db = self._writer
        async with self._write_lock:
            try:
                await db.execute("BEGIN IMMEDIATE")
                yield db
                await db.execute("COMMIT")
            except BaseException as exc:
                await asyncio.shield(_end_transaction(db))
                if isinstance(exc, sqlite3.Error):
                    raise self._fail(what, exc) from exc
                raise

    @contextlib.asynccontextmanager
    async def _snapshot(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        """A read transaction on the reader: every query in it sees the same commit."""
        if self._reader is None:
            raise StateError(f"the state store {self.path} is not open")
        db = self._reader
        async with self._read_lock:
            try:
                await db.execute("BEGIN")
                yield db
            except sqlite3.Error as exc:
                raise self._fail(what, exc) from exc
            finally:
                await asyncio.shield(_end_transaction(db))

    async def _fetch(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One query on the reader; a single statement sees one commit without a transaction.
        The lock keeps it out of another caller's snapshot, which may be older."""
        if self._reader is None:
            raise StateError(f"the state store {self.path} is not open")
        async with self._read_lock:
            try:
                return list(await self._reader.execute_fetchall(sql, params))
            except sqlite3.Error as exc:
                raise self._fail(what, exc) from exc

    # -- the snapshot ------------------------------------------------------------------------

    async def courses(self) -> dict[str, Course]:
        rows = await self._fetch(
            "reading courses", "SELECT data FROM courses WHERE selected = 1 ORDER BY id"
        )
        courses = (Course.model_validate_json(data) for (data,) in rows)
        return {course.id: course for course in courses}

    async def structure(self, course_id: str) -> CourseStructure:
        async with self._snapshot(f"reading course {course_id}") as db:
            return await reads.structure(db, course_id)

    async def grades(
        self, course_id: str, column_id: str, users: Collection[str] | None = None
    ) -> dict[str, StoredGrade]:
        sql = (
            "SELECT user_id, change_index, version, digest, content FROM grades"
            " WHERE course_id = ? AND column_id = ?"
        )
        params: tuple[Any, ...] = (course_id, column_id)
        if users is not None:
            # One JSON array parameter, however many users: no statement-length limit to hit.
            sql += " AND user_id IN (SELECT value FROM json_each(?))"
            params += (dump_json(list(users)),)
        rows = await self._fetch(f"reading grades of {course_id}/{column_id}", sql, params)
        return {row[0]: grade_from_row(course_id, column_id, row) for row in rows}

    # -- writes ------------------------------------------------------------------------------

    async def save_courses(
        self, courses: Sequence[Course], *, selected_ids: Collection[str]
    ) -> None:
        """Record the listed courses; those in ``selected_ids`` are selected, every other
        course (listed or not) is not. Ids in ``selected_ids`` but not listed are ignored."""
        async with self._transaction("saving courses") as db:
            await save_courses(db, courses, set(selected_ids), self._clock.now())

    async def commit(self, unit: UnitOfWork) -> int:
        async with self._transaction(f"committing course {unit.course_id}") as db:
            return await write_unit(db, unit, self._clock.now(), self._cycle_history)

    async def set_pace(
        self,
        course_id: str,
        *,
        next_due: datetime | None,
        pace: str | None,
        rate: float | None,
        estimate: str | None,
    ) -> None:
        async with self._transaction(f"pacing {course_id}") as db:
            await require_course(db, course_id)
            await db.execute(
                "INSERT INTO course_status (course_id, next_due, pace, rate, estimate)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (course_id) DO UPDATE SET"
                " next_due = excluded.next_due, pace = excluded.pace, rate = excluded.rate,"
                " estimate = excluded.estimate",
                (course_id, iso_or_none(next_due), pace, rate, estimate),
            )

    async def paces(self) -> dict[str, str]:
        rows = await self._fetch(
            "reading paces",
            "SELECT course_id, estimate FROM course_status WHERE estimate IS NOT NULL",
        )
        return {course_id: estimate for course_id, estimate in rows}

    async def scheduler_state(self, name: str) -> str | None:
        rows = await self._fetch(
            f"reading scheduler state {name}",
            "SELECT data FROM scheduler_state WHERE name = ?",
            (name,),
        )
        return str(rows[0][0]) if rows else None

    async def set_scheduler_state(self, name: str, data: str) -> None:
        async with self._transaction(f"saving scheduler state {name}") as db:
            await db.execute(
                "INSERT INTO scheduler_state (name, data) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET data = excluded.data",
                (name, data),
            )

    async def course_outlook(self) -> dict[str, CourseOutlook]:
        async with self._snapshot("reading the course outlook") as db:
            return await reads.course_outlook(db)

    # -- outbox and sinks --------------------------------------------------------------------

    async def register_sinks(self, names: Sequence[str]) -> None:
        """A sink seen for the first time starts at position 0: it receives the whole history
        in the outbox. Sinks already known keep their position."""
        async with self._transaction("registering sinks") as db:
            await outbox.register(db, names, self._clock.now())

    async def pending(self, sink: str, limit: int) -> list[OutboxEvent]:
        async with self._snapshot(f"reading the outbox for {sink}") as db:
            return await outbox.pending(db, sink, limit)

    async def mark_delivered(self, sink: str, upto_seq: int) -> None:
        async with self._transaction(f"acknowledging events for {sink}") as db:
            await outbox.mark_delivered(db, sink, upto_seq)

    async def dead_letter(
        self, sink: str, event: OutboxEvent, reason: str, kind: str = "dead"
    ) -> None:
        outbox.check_kind(kind)
        async with self._transaction(f"dead-lettering an event for {sink}") as db:
            await outbox.dead_letter(db, sink, event, reason, kind, self._clock.now())

    async def dead_letters(
        self, sink: str | None = None, kind: str | None = None
    ) -> list[DeadLetter]:
        outbox.check_kind(kind)
        async with self._snapshot("reading dead letters") as db:
            return await outbox.dead_letters(db, sink, kind)

    async def retry_dead_letters(self, sink: str | None = None, kind: str | None = None) -> int:
        """Move dead letters to the retry queue, which is delivered before new events."""
        outbox.check_kind(kind)
        async with self._transaction("retrying dead letters") as db:
            return await outbox.retry(db, sink, kind, self._clock.now())

    async def replay(self, sink: str, since: datetime) -> int:
        """Move ``sink`` back to just before the first event at or after ``since``; events it
        dead-lettered stay dead letters. Never moves a sink forward."""
        async with self._transaction(f"replaying {sink}") as db:
            return await outbox.replay(db, sink, since)

    async def prune_outbox(self, before: datetime) -> int:
        """Delete delivered events older than ``before`` (what every sink has moved past);
        returns how many. A replay cannot reach back past what was pruned."""
        async with self._transaction("pruning the outbox") as db:
            return await outbox.prune(db, before)

    async def disable_sink(self, sink: str, reason: str) -> None:
        """A disabled sink gets nothing from :meth:`pending`; its events wait in the outbox."""
        async with self._transaction(f"disabling {sink}") as db:
            await outbox.set_disabled(db, sink, reason, self._clock.now())

    async def enable_sink(self, sink: str) -> None:
        async with self._transaction(f"enabling {sink}") as db:
            await outbox.set_disabled(db, sink, None, self._clock.now())

    async def detection_delays(self, since: datetime | None = None) -> list[float]:
        if since is None:
            newest = await self._fetch("reading detection delays", "SELECT max(at) FROM detections")
            if not newest or newest[0][0] is None:
                return []
            since = parse_time_required(newest[0][0]) - timedelta(days=1)
        rows = await self._fetch(
            "reading detection delays",
            "SELECT seconds FROM detections WHERE at >= ? ORDER BY seconds",
            (iso(since),),
        )
        return [float(seconds) for (seconds,) in rows]

    async def sinks(self) -> list[SinkStatus]:
        async with self._snapshot("reading the sinks") as db:
            return await outbox.sink_statuses(db)

    async def outbox_depth(self, sink: str) -> int:
        async with self._snapshot(f"measuring the outbox of {sink}") as db:
            return await outbox.depth(db, sink)

    # -- status ------------------------------------------------------------------------------

    async def course_status(self, *, include_unselected: bool = False) -> list[CourseStatus]:
        async with self._snapshot("reading course status") as db:
            return await reads.course_status(db, include_unselected=include_unselected)

    async def status(self) -> StoreStatus:
        async with self._snapshot("reading status") as db:
            return await reads.status(db, str(self.path))

    async def set_aside_rows(self) -> list[SetAsideRow]:
        async with self._snapshot("reading rows set aside") as db:
            return await reads.set_aside_rows(db)

    async def backup(self, dest_path: str | Path) -> None:
        """Copy the state to ``dest_path`` with SQLite's online backup, in one step from a
        connection of its own: the copy is one consistent commit, and writers carry on (WAL).
        The copy is written to an owner-only file beside ``dest_path``, checked (SQLite's
        ``quick_check`` and the schema version), and only then renamed over ``dest_path``: a
        copy that fails leaves an existing ``dest_path`` as it was."""
        if self._writer is None:
            raise StateError(f"the state store {self.path} is not open")
        try:
            await asyncio.to_thread(_backup, self.path, Path(dest_path), self._busy_ms)
        except sqlite3.Error as exc:
            raise self._fail(f"backing up to {dest_path}", exc) from exc
        except OSError as exc:
            raise StateError(f"cannot write the backup {dest_path}: {exc.strerror or exc}") from exc


def _probe(path: Path) -> None:
    """Create a missing state file owner-only before SQLite sees it, and fail early and
    cleanly on a path SQLite cannot open (a missing directory, no rights): a failed
    ``aiosqlite.connect`` leaves its worker thread to wind down on its own."""
    create_private_file(path)
    sqlite3.connect(path).close()


def _backup(source_path: Path, dest: Path, busy_ms: int) -> None:
    partial = temporary_beside(dest)
    try:
        with (
            contextlib.closing(sqlite3.connect(source_path, timeout=busy_ms / 1000)) as source,
            contextlib.closing(sqlite3.connect(partial)) as target,
        ):
            source.backup(target)
            # A backup is one self-contained file: no -wal beside it to forget.
            target.execute("PRAGMA journal_mode = DELETE")
        _check_copy(partial, dest)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _check_copy(partial: Path, dest: Path) -> None:
    """``StateError`` unless SQLite finds the copy sound and at the current schema."""
    try:
        with contextlib.closing(
            sqlite3.connect(f"{partial.resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            verdict = str(db.execute("PRAGMA quick_check").fetchone()[0])
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        verdict = str(exc)
        version = SCHEMA_VERSION
    if verdict != "ok":
        first = verdict.splitlines()[0]
        raise StateError(
            f"the copy for {dest} failed SQLite's check ({first}); {dest} was not changed"
        )
    if version != SCHEMA_VERSION:
        raise StateError(
            f"the copy for {dest} has schema {version}, not {SCHEMA_VERSION};"
            f" {dest} was not changed"
        )
