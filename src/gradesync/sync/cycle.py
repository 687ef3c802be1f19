"""One course's pull cycle: refresh its structure, read each column the cheapest correct way,
diff against the snapshot, and commit snapshot, cursors and events in one transaction.

Per column, the read is:
- ``?changeIndex=<cursor>`` when the column has a cursor (a quiet column costs one call);
- a full read for a new column, a Calculated column (its ``changeIndex`` is always 0, so it is
  compared by content), a reconciliation that is due, or ``--full``;
- with ``strategy = "lastchanged"`` (Anthology's recipe, for older Learn): ``lastChanged`` first,
  then a full read of the column only if it moved.
A delta answer with rows at or below the cursor means the server ignored the filter: the rows
are then the whole column and are treated as a full read.

A row or column Learn sends that cannot be represented faithfully is set aside on its own
(:mod:`gradesync.sync.setaside`): the rest of its column and course are committed, the cursor
stays below it so the next cycle reads it again, and it is logged once, when first set aside
(``row.set_aside``), and once when Learn sends it good (``row.resolved``). A set-aside grade is
never taken for a deleted one, nor a set-aside column for a deleted column.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

import structlog

from gradesync.clock import Clock
from gradesync.errors import RetriableLearnError, SkippableLearnError
from gradesync.models import BadRow, Category, Column, Course, Grade, Membership
from gradesync.store import (
    ColumnCursor,
    CourseStructure,
    CycleRecord,
    LogState,
    NewEvent,
    StoredGrade,
    SyncStore,
    UnitOfWork,
)
from gradesync.sync.changelog import (
    LogRead,
    LogUnavailable,
    fallen_back,
    offers_log,
    read_log,
    usable,
)
from gradesync.sync.diff import ColumnDiff, as_event_grade, diff_column
from gradesync.sync.events import EVENT_TYPES, EventEncoder, GradeChange
from gradesync.sync.selection import Selection
from gradesync.sync.setaside import ColumnRows, retry_cursor
from gradesync.sync.setaside import reconcile as reconcile_set_aside
from gradesync.sync.source import LearnSource

log = structlog.get_logger("gradesync.sync")

ReadMode = Literal["full", "delta", "unchanged"]
Strategy = Literal["auto", "changelog", "changeindex", "lastchanged"]


@dataclass(frozen=True)
class SyncOptions:
    site: str  # the Learn base URL, the ``source`` of events
    strategy: Strategy = "auto"
    sweep_interval: timedelta = timedelta(days=1)
    reconciliation_interval: timedelta = timedelta(days=1)
    membership_refresh: timedelta = timedelta(hours=6)
    emit_baseline: bool = True
    column_concurrency: int = 8


@dataclass
class CourseResult:
    """What one course's cycle did: the scheduler logs it and backs off on failures."""

    course_id: str
    cycle_id: str
    started: datetime
    finished: datetime | None = None
    events: Counter[str] = field(default_factory=Counter)
    reads: Counter[str] = field(default_factory=Counter)  # full / delta / unchanged
    skipped: dict[str, str] = field(default_factory=dict)  # column id -> reason
    error: str | None = None
    retry_after: float | None = None
    set_aside: int = 0  # the course's rows set aside after this cycle
    strategy: str = "changeindex"  # how this cycle found what changed (changelog on the log)
    fell_back: bool = False  # the log answered 403/404 this cycle: changeIndex until retried
    swept: bool = False  # every column was read (a first read, a sweep, a full read)
    logged: list[datetime] = field(default_factory=list)  # new log entries' ``logged`` times
    detection_delays: list[float] = field(default_factory=list)  # seconds, entry to commit

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def complete(self) -> bool:
        return self.ok and not self.skipped


@dataclass
class _ColumnRead:
    column: Column
    mode: ReadMode
    diff: ColumnDiff | None = None
    baseline: bool = False
    bad: list[BadRow] = field(default_factory=list)


class Syncer:
    """Pulls courses from a :class:`LearnSource` into a :class:`SyncStore`."""

    def __init__(
        self,
        source: LearnSource,
        store: SyncStore,
        selection: Selection,
        options: SyncOptions,
        clock: Clock,
        *,
        sweep_room: Callable[[float], bool] | None = None,
    ) -> None:
        self._source = source
        self._sweep_room = sweep_room  # whether the request budget has room for a sweep now
        self._store = store
        self._selection = selection
        self._options = options
        self._clock = clock
        self._known_courses: dict[str, Course] = {}
        self._log_offered: bool | None = None  # "auto": whether this Learn has the log

    async def list_courses(self) -> list[Course]:
        """Read the course list (server-side filters first), save it, return what is selected."""
        sel = self._selection
        listed = [
            course
            async for course in self._source.courses(
                available=sel.server_availability,
                created_since=sel.created_since,
                data_source=sel.data_source,
                term=sel.term,
            )
        ]
        self._known_courses.update((c.id, c) for c in listed)
        selected = [c for c in listed if sel.selects_course(c)]
        await self._store.save_courses(listed, selected_ids={c.id for c in selected})
        return selected

    async def sync_course(self, course: Course, *, full: bool = False) -> CourseResult:
        """One cycle of one course. Never raises for one bad course, except a fatal error."""
        result = CourseResult(course.id, uuid.uuid4().hex[:12], self._clock.now())
        with structlog.contextvars.bound_contextvars(course_id=course.id, cycle_id=result.cycle_id):
            # The start is recorded, so that `status` (another process) sees a cycle that
            # never ends: a stuck course.
            started = CycleRecord(course.id, result.cycle_id, result.started)
            await self._store.commit(UnitOfWork(course_id=course.id, cycle=started))
            try:
                unit = await self._cycle(course, full, result)
            except (SkippableLearnError, RetriableLearnError) as exc:
                result.error = f"{type(exc).__name__}: {exc}"
                result.retry_after = getattr(exc, "retry_after", None)
                unit = UnitOfWork(course_id=course.id)
            result.finished = self._clock.now()
            if result.ok and result.logged:
                # In changelog mode the delay from an entry's own logged time to the commit of
                # its change is known: the detection delay (an estimate, to the commit).
                result.detection_delays = [
                    max(0.0, (result.finished - logged).total_seconds()) for logged in result.logged
                ]
                unit.detections = result.detection_delays
            unit.cycle = CycleRecord(
                course_id=course.id,
                cycle_id=result.cycle_id,
                started=result.started,
                finished=result.finished,
                ok=result.ok,
                error=result.error,
                counts={
                    "events": dict(result.events),
                    "reads": dict(result.reads),
                    "skipped": len(result.skipped),
                    "set_aside": result.set_aside,
                },
            )
            await self._store.commit(unit)
        return result

    async def _uses_log(self) -> bool:
        """Whether the strategy reads the course log first: ``changelog``, or ``auto`` on a
        Learn that has it (asked once: ``system/version``)."""
        strategy = self._options.strategy
        if strategy in ("changeindex", "lastchanged"):
            return False
        if strategy == "changelog":
            return True
        if self._log_offered is None:
            try:
                self._log_offered = offers_log(await self._source.system_version())
            except (SkippableLearnError, RetriableLearnError):
                return True  # unknown: try the log, each course falls back on its own
            if not self._log_offered:
                log.info("learn.log_not_offered", strategy="changeindex")
        return self._log_offered

    async def _read_log(
        self, course: Course, structure: CourseStructure, result: CourseResult, now: datetime
    ) -> tuple[LogRead | None, LogState | None]:
        """The course's log read, or None with the state to commit when the course does not
        read its log this cycle (it falls back now, or fell back less than a day ago)."""
        state = structure.log
        if not await self._uses_log():
            return None, None
        if not usable(state, now):
            return None, None
        try:
            read = await read_log(self._source, course.id, state)
        except LogUnavailable as exc:
            result.fell_back = True
            if state.fallback_reason is None:
                log.warning("course.log_unavailable", reason=str(exc), strategy="changeindex")
            else:
                log.info("course.log_still_unavailable", reason=str(exc))
            return None, fallen_back(state, str(exc), now)
        result.reads["log"] += 1
        result.strategy = "changelog"
        result.logged = [entry.logged for entry in read.entries]
        if state.fallback_reason is not None:
            log.info("course.log_available", was=state.fallback_reason)
        return read, read.state

    async def _cycle(self, course: Course, full: bool, result: CourseResult) -> UnitOfWork:
        now = self._clock.now()
        structure = await self._store.structure(course.id)
        read, log_state = await self._read_log(course, structure, result, now)
        stale = structure.memberships_refreshed_at is None or (
            now - structure.memberships_refreshed_at >= self._options.membership_refresh
        )
        # The sweeps' share is asked only when the cycle would otherwise be a log read.
        cost = len(structure.columns) + 2
        if read is None or read.primed or full or self._sweep_due(structure.log, now, cost=cost):
            # The whole course: its column list and every column by changeIndex (a sweep, on
            # the log: what the log missed is found).
            result.swept = read is not None or full
            unit = await self._whole(course, structure, full, result, now, stale=stale)
            if log_state is not None:
                unit.log = replace(log_state, last_sweep=now) if read is not None else log_state
            return unit
        # On the log the structure is read again when the log names a column or a user it
        # does not know, and at sweeps (stale or not, a quiet course costs one request).
        retry = {r.column_id for r in structure.set_aside.values() if r.column_id}
        if not read.entries and not retry:
            return UnitOfWork(course_id=course.id, log=log_state)  # a quiet course: one request
        unit = await self._whole(course, structure, full, result, now, stale=False, log=read)
        unit.log = log_state
        return unit

    def _sweep_due(self, state: LogState, now: datetime, *, cost: float) -> bool:
        """A sweep is due once ``sweep_interval`` has passed since the last, and runs within
        the budget's share for sweeps (``sweep_room``): while the share is spent it waits,
        and the log-driven cycles of every course go on."""
        if state.last_sweep is None:
            return True
        if now - state.last_sweep < self._options.sweep_interval:
            return False
        return self._sweep_room is None or self._sweep_room(cost)

    async def _whole(
        self,
        course: Course,
        structure: CourseStructure,
        full: bool,
        result: CourseResult,
        now: datetime,
        *,
        stale: bool,
        log: LogRead | None = None,
    ) -> UnitOfWork:
        """A cycle over the course's columns: all of them, or with ``log`` only those it names
        (and the Calculated ones, and those with rows set aside), the column list read only
        when the log names a column it does not know or its refresh is due."""
        bad_columns: list[BadRow] = []
        listed_now = log is None or stale or bool(log.columns - structure.columns.keys())
        if listed_now:
            columns = [c async for c in self._source.columns(course.id, set_aside=bad_columns)]
            unreadable = _unreadable_columns(structure, columns, bad_columns)
            unit = UnitOfWork(course_id=course.id, columns=[*columns, *unreadable])
        else:
            columns, unreadable = list(structure.columns.values()), []
            unit = UnitOfWork(course_id=course.id)

        memberships = structure.memberships
        categories = structure.categories
        unknown_category = any(
            c.gradebook_category_id and c.gradebook_category_id not in categories for c in columns
        )
        unknown_user = log is not None and bool(log.users - memberships.keys())
        if stale or unknown_category or unknown_user:
            memberships, categories = await self._refresh_members(course, unit, now)

        changes: list[GradeChange] = []
        listed = {c.id for c in (*columns, *unreadable)}
        gone = [
            column for column_id, column in structure.columns.items() if column_id not in listed
        ]
        for column in gone:
            await self._column_deleted(course, column, structure, changes)
        unit.deleted_columns = [column.id for column in gone]

        selected = [c for c in columns if self._selection.selects_column(c, now)]
        wanted = selected
        if log is not None:
            retry = {r.column_id for r in structure.set_aside.values() if r.column_id}
            named = log.columns | retry
            calculated = bool(log.entries)  # derived columns follow any logged change
            wanted = [c for c in selected if c.id in named or (calculated and c.calculated)]
        reads = await self._read_columns(course, wanted, structure, full, result)
        if log is None:
            dropped = {c.id for c in columns} - {c.id for c in selected} | {c.id for c in gone}
        else:
            dropped = {c.id for c in gone}
        self._set_aside(
            course, structure, unit, result, bad_columns, reads, dropped, now, listed=listed_now
        )

        seen_users = {u for r in reads if r.diff for u in r.diff.users}
        if seen_users - memberships.keys() and unit.memberships is None:
            memberships, categories = await self._refresh_members(course, unit, now)

        await self._resolve_children(memberships)
        cursors: dict[str, ColumnCursor] = {}
        upserts: list[StoredGrade] = []
        for read in reads:
            result.reads[read.mode] += 1
            if read.diff is None:
                continue
            previous = structure.cursors.get(read.column.id)
            cursor = ColumnCursor(
                change_index=max(
                    previous.change_index if previous else 0, read.diff.max_change_index
                ),
                full_read_at=now
                if read.mode == "full"
                else (previous.full_read_at if previous else None),
            )
            cursors[read.column.id] = retry_cursor(cursor, read.bad)
            self._collect(course, read, memberships, categories, changes, upserts)
        unit.cursors = cursors
        unit.grade_upserts = upserts
        encoder = EventEncoder(site=self._options.site, detected=now)
        unit.events = [self._new_event(c, encoder, now) for c in changes]
        for change in changes:
            result.events[change.kind] += 1
        return unit

    def _set_aside(
        self,
        course: Course,
        structure: CourseStructure,
        unit: UnitOfWork,
        result: CourseResult,
        bad_columns: list[BadRow],
        reads: list[_ColumnRead],
        dropped: set[str],
        now: datetime,
        *,
        listed: bool = True,
    ) -> None:
        """Record the rows set aside this cycle, log the new and the resolved ones once."""
        changes = reconcile_set_aside(
            course.id,
            structure.set_aside,
            now,
            bad_columns=bad_columns,
            reads=[
                ColumnRows(r.column.id, r.mode == "full", r.bad, r.diff.users)
                for r in reads
                if r.diff is not None
            ],
            dropped_columns=dropped,
            listed=listed,
        )
        unit.set_aside = changes.rows
        unit.resolved = [row.key for row in changes.resolved]
        for row in changes.new:
            log.warning(
                "row.set_aside",
                kind=row.kind,
                column_id=row.column_id or None,
                user_id=row.user_id or None,
                reason=row.reason,
            )
        for row in changes.resolved:
            log.info(
                "row.resolved",
                kind=row.kind,
                column_id=row.column_id or None,
                user_id=row.user_id or None,
            )
        result.set_aside = len(structure.set_aside) + len(changes.new) - len(changes.resolved)

    async def _refresh_members(
        self, course: Course, unit: UnitOfWork, now: datetime
    ) -> tuple[dict[str, Membership], dict[str, Category]]:
        memberships = {m.user_id: m async for m in self._source.memberships(course.id)}
        categories = {c.id: c async for c in self._source.categories(course.id)}
        unit.memberships = list(memberships.values())
        unit.categories = list(categories.values())
        unit.refreshed_at = now
        return memberships, categories

    async def _resolve_children(self, memberships: dict[str, Membership]) -> None:
        """Learn the ids of child courses that the course list did not show (events name them)."""
        missing = {m.child_course_id for m in memberships.values() if m.child_course_id}
        for child_id in sorted(missing - self._known_courses.keys()):
            try:
                self._known_courses[child_id] = await self._source.course(child_id)
            except SkippableLearnError as exc:
                log.warning("child_course.unreadable", child_course_id=child_id, reason=str(exc))
                self._known_courses[child_id] = Course(id=child_id)

    async def _read_columns(
        self,
        course: Course,
        columns: Sequence[Column],
        structure: CourseStructure,
        full: bool,
        result: CourseResult,
    ) -> list[_ColumnRead]:
        limit = asyncio.Semaphore(self._options.column_concurrency)
        reads: list[_ColumnRead] = []

        async def one(column: Column) -> None:
            async with limit:
                try:
                    reads.append(await self._read_column(course, column, structure, full))
                except (SkippableLearnError, RetriableLearnError) as exc:
                    result.skipped[column.id] = f"{type(exc).__name__}: {exc}"
                    log.warning("column.skipped", column_id=column.id, reason=str(exc))

        # gather, not a TaskGroup: ``one`` absorbs the per-column errors, so what is left is
        # fatal (refused credentials) and must reach the caller as itself, not in a group.
        outcomes = await asyncio.gather(*(one(c) for c in columns), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        order = {c.id: i for i, c in enumerate(columns)}
        reads.sort(key=lambda r: order[r.column.id])
        return reads

    async def _read_column(
        self, course: Course, column: Column, structure: CourseStructure, full: bool
    ) -> _ColumnRead:
        cursor = structure.cursors.get(column.id)
        baseline = not self._options.emit_baseline and not structure.cursors
        reconcile = (
            cursor is None
            or cursor.full_read_at is None
            or (self._clock.now() - cursor.full_read_at >= self._options.reconciliation_interval)
        )
        # The snapshot is loaded only once rows have come back, and for a delta only for the
        # users it returned: decoding every stored grade for every read was most of a steady
        # cycle's CPU.
        bad: list[BadRow] = []
        if full or reconcile or column.calculated:
            rows = await self._rows(course, column, None, bad)
            return await self._full(course, column, rows, bad, baseline)
        assert cursor is not None
        if self._options.strategy == "lastchanged":
            last = await self._source.last_changed(course.id, column.id)
            # A last row that cannot be represented tells nothing: the column is read in full.
            if last is None or (
                not isinstance(last, BadRow) and last.change_index <= cursor.change_index
            ):
                return _ColumnRead(column, "unchanged")
            rows = await self._rows(course, column, None, bad)
            return await self._full(course, column, rows, bad)
        rows = await self._rows(course, column, cursor.change_index, bad)
        if not rows and not bad:
            return _ColumnRead(column, "delta", ColumnDiff())
        indexes = [r.change_index for r in rows] + [
            b.change_index for b in bad if b.change_index is not None
        ]
        if any(index <= cursor.change_index for index in indexes):
            log.info("column.filter_ignored", column_id=column.id, cursor=cursor.change_index)
            return await self._full(course, column, rows, bad)
        stored = await self._store.grades(course.id, column.id, {r.user_id for r in rows})
        return _ColumnRead(column, "delta", diff_column(stored, rows, full=False), bad=bad)

    async def _full(
        self,
        course: Course,
        column: Column,
        rows: list[Grade],
        bad: list[BadRow],
        baseline: bool = False,
    ) -> _ColumnRead:
        """A full read's diff. A grade whose row was set aside has not vanished; when such a
        row has no usable user id, which grade it is cannot be told, so none is taken for
        vanished this time (the next cycle reads the column in full again)."""
        stored = await self._store.grades(course.id, column.id)
        present = {b.id for b in bad if b.id is not None}
        sure = all(b.id is not None for b in bad)
        diff = diff_column(stored, rows, full=sure, present=present)
        return _ColumnRead(column, "full", diff, baseline, bad)

    async def _rows(
        self, course: Course, column: Column, change_index: int | None, bad: list[BadRow]
    ) -> list[Grade]:
        return [
            row
            async for row in self._source.column_grades(
                course.id,
                column.id,
                change_index=change_index,
                include_disabled=self._selection.include_disabled_memberships,
                set_aside=bad,
            )
        ]

    async def _column_deleted(
        self,
        course: Course,
        column: Column,
        structure: CourseStructure,
        changes: list[GradeChange],
    ) -> None:
        stored = await self._store.grades(course.id, column.id)
        for user_id, snap in stored.items():
            if not snap.digest:
                continue
            changes.append(
                self._change(
                    course,
                    column,
                    structure.categories,
                    structure.memberships,
                    user_id,
                    "deleted",
                    None,
                    as_event_grade(snap.content, snap.change_index),
                    "",
                    snap.version + 1,
                    column_deleted=True,
                )
            )

    def _collect(
        self,
        course: Course,
        read: _ColumnRead,
        memberships: dict[str, Membership],
        categories: dict[str, Category],
        changes: list[GradeChange],
        upserts: list[StoredGrade],
    ) -> None:
        assert read.diff is not None
        column = read.column
        for change in read.diff.changes:
            content, digest = change.content, change.digest
            if change.grade is not None:
                index = change.grade.change_index
            else:
                index = change.previous["changeIndex"] if change.previous else 0
            upserts.append(
                StoredGrade(
                    course.id, column.id, change.user_id, content, index, digest, change.version
                )
            )
            if read.baseline:
                continue
            grade = as_event_grade(content, index) if change.grade is not None else None
            changes.append(
                self._change(
                    course,
                    column,
                    categories,
                    memberships,
                    change.user_id,
                    change.kind,
                    grade,
                    change.previous,
                    digest,
                    change.version,
                )
            )
        for quiet in read.diff.quiet:
            upserts.append(
                StoredGrade(
                    course.id,
                    column.id,
                    quiet.user_id,
                    quiet.content,
                    quiet.change_index,
                    quiet.digest,
                    quiet.version,
                )
            )

    def _change(
        self,
        course: Course,
        column: Column,
        categories: dict[str, Category],
        memberships: dict[str, Membership],
        user_id: str,
        kind: str,
        grade: dict[str, object] | None,
        previous: dict[str, object] | None,
        digest: str,
        version: int,
        *,
        column_deleted: bool = False,
    ) -> GradeChange:
        membership = memberships.get(user_id)
        record_course = course
        if membership is not None and membership.child_course_id:
            child = membership.child_course_id
            record_course = self._known_courses.get(child) or Course(id=child)
        category = (
            categories.get(column.gradebook_category_id) if column.gradebook_category_id else None
        )
        return GradeChange(
            kind=kind,
            source_course=course,
            course=record_course,
            column=column,
            category=category,
            user_id=user_id,
            membership=membership,
            grade=grade,
            previous=previous,
            digest=digest,
            version=version,
            column_deleted=column_deleted,
        )

    def _new_event(self, change: GradeChange, encoder: EventEncoder, now: datetime) -> NewEvent:
        event = encoder.encode(change)
        return NewEvent(
            id=event.id,
            type=EVENT_TYPES[change.kind],
            subject=change.subject,
            course_id=change.source_course.id,
            time=now,
            payload=event.payload,
        )


def _unreadable_columns(
    structure: CourseStructure, columns: list[Column], bad: list[BadRow]
) -> list[Column]:
    """The stored columns that Learn listed this time in a form that cannot be represented:
    kept as they were, neither read nor taken for deleted. When a column came without a usable
    id, which one it is cannot be told, so every stored column missing from the list is kept."""
    listed = {c.id for c in columns}
    if any(b.id is None for b in bad):
        held = set(structure.columns)
    else:
        held = {b.id for b in bad if b.id is not None}
    return [c for column_id, c in structure.columns.items() if column_id in held - listed]
