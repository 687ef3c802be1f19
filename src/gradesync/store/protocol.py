"""The ``StateStore`` protocol and the records it keeps.

Everything the sync engine knows between cycles lives behind this protocol, so that a restart
resumes where it stopped and another database can take SQLite's place. The records are frozen
(dataclasses, and a named tuple for the grade snapshot), except :class:`UnitOfWork`, which the
engine fills in as a cycle goes on.

Outbox order, per sink: events are delivered in commit order (``seq``). Dead letters that an
operator retries go to a per-sink retry queue that :meth:`StateStore.pending` serves before new
events, oldest first; so after a retry a sink sees those older events again after newer ones it
already has. Consumers deduplicate on the event ``id`` and can order by the grade's version.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from gradesync.models import Category, Column, Course, Membership
from gradesync.models import OutboxEvent as OutboxEvent  # a domain type; re-exported for now

DeadLetterKind = Literal["dead", "rejected", "unmapped"]
DEAD_LETTER_KINDS: tuple[DeadLetterKind, ...] = ("dead", "rejected", "unmapped")

SetAsideKind = Literal["grade", "column"]
SetAsideKey = tuple[str, str, str]  # (kind, column id, user id) within one course


class StoredGrade(NamedTuple):
    """The snapshot of one grade. An empty ``digest`` (and empty ``content``) is a tombstone:
    the grade is gone but its ``version`` lives on, so later event ids stay unique.

    A named tuple rather than a dataclass: snapshots are built by the hundred thousand, and a
    tuple is built in half the time."""

    course_id: str
    column_id: str
    user_id: str
    content: dict[str, Any]  # what ``Grade.content()`` returns
    change_index: int
    digest: str  # ``Grade.digest()``
    version: int  # how many events this grade has produced

    @property
    def live(self) -> bool:
        return self.digest != ""


@dataclass(frozen=True, slots=True)
class ColumnCursor:
    """Where reading a column resumes: the highest ``changeIndex`` seen, the last full read."""

    change_index: int
    full_read_at: datetime | None = None


class NewEvent(NamedTuple):
    """An event to append to the outbox; ``payload`` is the CloudEvent as JSON text.
    A named tuple, like :class:`StoredGrade` and :class:`OutboxEvent`: one per event."""

    id: str
    type: str
    subject: str
    course_id: str
    time: datetime
    payload: str


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """One course cycle: when, how it ended, and its counts (events, reads, requests)."""

    course_id: str
    cycle_id: str
    started: datetime
    finished: datetime | None = None
    ok: bool = True
    error: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SetAsideRow:
    """A row Learn sent that cannot be represented faithfully (docs/contract.md section 6): a
    grade row, or a column of the column list. It is kept, and counted, until Learn sends the
    same row good. ``column_id`` and ``user_id`` are "" where Learn's id was unusable (and
    ``user_id`` always for a column); ``reason`` names the fields at fault, never a value."""

    course_id: str
    kind: SetAsideKind
    column_id: str
    user_id: str
    reason: str
    first_seen: datetime
    last_seen: datetime

    @property
    def key(self) -> SetAsideKey:
        return (self.kind, self.column_id, self.user_id)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a sink refused for good. ``subject`` is None once the event left the outbox."""

    sink: str
    seq: int
    event_id: str
    reason: str
    kind: DeadLetterKind
    at: datetime
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class CourseStatus:
    """What an operator asks of one course: is it healthy, when does it run next, how big."""

    course_id: str
    name: str | None
    selected: bool
    first_seen: datetime
    last_seen: datetime  # the last time the course list showed it
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    error_since: datetime | None  # start of the current run of failures; None when healthy
    next_due: datetime | None
    columns: int
    grades: int  # live grades, tombstones aside
    running_since: datetime | None = None  # start of a cycle not yet finished
    log_cursor: datetime | None = None  # the newest gradebook log entry read
    log_fallback: str | None = None  # why the course reads by changeIndex instead of the log
    last_sweep: datetime | None = None  # the last cycle that checked every column
    pace: str | None = None  # the scheduler's: "new", "hot", "warm", "cold" or "backoff"
    rate_per_day: float | None = None  # the scheduler's estimate of grade edits a day

    @property
    def failing(self) -> bool:
        return self.error_since is not None

    def stuck(self, now: datetime, after: timedelta) -> bool:
        """A cycle has been running for longer than ``after``."""
        return self.running_since is not None and now - self.running_since > after


@dataclass(frozen=True, slots=True)
class SinkStatus:
    name: str
    position: int  # the last ``seq`` delivered from the main stream
    depth: int  # events waiting: the retry queue plus everything after the position
    retrying: int  # of which in the retry queue
    dead: int
    rejected: int
    unmapped: int
    disabled: bool
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class StoreStatus:
    path: str
    schema_version: int
    courses: int  # selected
    columns: int
    grades: int  # live
    events: int  # in the outbox
    last_seq: int
    sinks: list[SinkStatus]
    last_cycle: CycleRecord | None
    set_aside: int = 0  # rows from Learn set aside (docs/contract.md section 6)


@dataclass(frozen=True, slots=True)
class LogState:
    """Where reading a course's gradebook log resumes (docs/strategies.md).

    ``primed`` once a first read has fixed where the log starts for gradesync; ``cursor`` is
    the newest ``logged`` time seen (None: the log was empty), ``seen`` the ids of the entries
    logged at or after ``cursor`` minus the re-read overlap, with their ``logged`` times, so an
    entry read twice counts once. ``fallback_reason``/``fallback_until``: the log answered
    403 or 404, and the course reads by ``changeIndex`` until then. ``last_sweep``: the last
    cycle that checked every column, whatever the log said."""

    primed: bool = False
    cursor: datetime | None = None
    seen: Mapping[str, datetime] = field(default_factory=dict)
    fallback_reason: str | None = None
    fallback_until: datetime | None = None
    last_sweep: datetime | None = None


@dataclass(frozen=True, slots=True)
class CourseStructure:
    """A course as the last cycle left it: columns (in Learn's order), cursors, members."""

    columns: dict[str, Column] = field(default_factory=dict)
    cursors: dict[str, ColumnCursor] = field(default_factory=dict)
    memberships: dict[str, Membership] = field(default_factory=dict)  # user id -> membership
    memberships_refreshed_at: datetime | None = None
    categories: dict[str, Category] = field(default_factory=dict)
    categories_refreshed_at: datetime | None = None
    set_aside: dict[SetAsideKey, SetAsideRow] = field(default_factory=dict)
    log: LogState = field(default_factory=LogState)


@dataclass(frozen=True, slots=True)
class CourseOutlook:
    """What the scheduler weighs a selected course by: its size and its columns' due dates."""

    columns: int
    members: int  # membership rows
    due: tuple[datetime, ...] = ()  # the columns' due dates that Learn gives, in time order
    last_success: datetime | None = None  # the end of its last good cycle


@dataclass
class UnitOfWork:
    """Everything one course cycle changes, committed in one transaction.

    ``None`` for ``columns``, ``memberships`` or ``categories`` leaves them as they are; a list
    replaces them, and records ``refreshed_at`` (the store's clock when None). Cursors move in
    the same transaction as the events they account for. ``set_aside`` rows are recorded (a
    row already there keeps its ``first_seen``), ``resolved`` ones forgotten.
    """

    course_id: str
    columns: Sequence[Column] | None = None
    deleted_columns: Sequence[str] = ()
    memberships: Sequence[Membership] | None = None
    categories: Sequence[Category] | None = None
    refreshed_at: datetime | None = None
    cursors: Mapping[str, ColumnCursor] = field(default_factory=dict)
    grade_upserts: Sequence[StoredGrade] = ()
    grade_deletes: Sequence[tuple[str, str]] = ()  # (column id, user id)
    events: Sequence[NewEvent] = ()
    cycle: CycleRecord | None = None
    set_aside: Sequence[SetAsideRow] = ()
    resolved: Sequence[SetAsideKey] = ()
    log: LogState | None = None  # the course's log state after this cycle; None: unchanged
    # Seconds from each log entry's ``logged`` time to this commit (kept for a day, for status).
    detections: Sequence[float] = ()


class PaceStore(Protocol):
    """What the scheduler keeps in the state: each course's plan and estimate, and the
    institution-wide state of the scheduler (the week profile, the daily budget)."""

    async def set_pace(
        self,
        course_id: str,
        *,
        next_due: datetime | None,
        pace: str | None,
        rate: float | None,
        estimate: str | None,
    ) -> None:
        """Keep the scheduler's plan and pace for a course in one transaction: when it runs
        next, its pace, its estimated grade edits a day (for ``status``) and its estimator's
        state as JSON text (opaque to the store, for :meth:`paces`)."""
        ...

    async def paces(self) -> dict[str, str]:
        """Each course's estimator state as :meth:`set_pace` left it, by course id, for the
        scheduler to resume from; courses without one are left out."""
        ...

    async def scheduler_state(self, name: str) -> str | None:
        """The scheduler's institution-wide state ``name`` (JSON text), or None if never set."""
        ...

    async def set_scheduler_state(self, name: str, data: str) -> None: ...

    async def course_outlook(self) -> dict[str, CourseOutlook]:
        """Every selected course's columns, members and due dates, by course id."""
        ...


class SyncStore(Protocol):
    """What the sync engine needs: the course list, each course's structure and snapshot, and
    one transaction per cycle."""

    async def courses(self) -> dict[str, Course]:
        """The courses currently selected, by id."""
        ...

    async def structure(self, course_id: str) -> CourseStructure: ...

    async def grades(
        self, course_id: str, column_id: str, users: Collection[str] | None = None
    ) -> dict[str, StoredGrade]:
        """One column's snapshot, by user id, tombstones included; only ``users``' grades
        when given (a delta read needs the few users it returned, not the whole column)."""
        ...

    async def save_courses(
        self, courses: Sequence[Course], *, selected_ids: Collection[str]
    ) -> None:
        """Record the course list; only ``selected_ids`` stay selected."""
        ...

    async def commit(self, unit: UnitOfWork) -> int:
        """Apply ``unit`` in one transaction; returns how many events were new."""
        ...


class OutboxStore(Protocol):
    """What delivery needs: each sink's pending events, acknowledgements, dead letters."""

    async def register_sinks(self, names: Sequence[str]) -> None:
        """Known sinks keep their position; a new one starts at 0 and gets the whole history."""
        ...

    async def sinks(self) -> list[SinkStatus]:
        """Every registered sink: position, backlog, dead letters, whether it is disabled."""
        ...

    async def pending(self, sink: str, limit: int) -> list[OutboxEvent]:
        """Up to ``limit`` events to deliver, in delivery order; none while the sink is
        disabled."""
        ...

    async def mark_delivered(self, sink: str, upto_seq: int) -> None:
        """Acknowledge pending events up to ``upto_seq`` (retried ones by their own seq)."""
        ...

    async def dead_letter(
        self, sink: str, event: OutboxEvent, reason: str, kind: str = "dead"
    ) -> None:
        """Set ``event`` aside for ``sink`` and move past it."""
        ...

    async def disable_sink(self, sink: str, reason: str) -> None: ...

    async def outbox_depth(self, sink: str) -> int: ...


class AdminStore(Protocol):
    """What the operator's commands and the service's upkeep need."""

    async def structure(self, course_id: str) -> CourseStructure: ...

    async def dead_letters(
        self, sink: str | None = None, kind: str | None = None
    ) -> list[DeadLetter]: ...

    async def retry_dead_letters(self, sink: str | None = None, kind: str | None = None) -> int:
        """Queue dead letters for delivery again, before new events; returns how many."""
        ...

    async def replay(self, sink: str, since: datetime) -> int:
        """Deliver history again from the first event at or after ``since``; returns how many
        events were re-queued."""
        ...

    async def prune_outbox(self, before: datetime) -> int:
        """Delete events older than ``before`` that every sink has moved past; returns how
        many. Keeps the outbox (about 1.5 kB an event) from growing without end."""
        ...

    async def enable_sink(self, sink: str) -> None: ...

    async def set_aside_rows(self) -> list[SetAsideRow]:
        """Every row from Learn set aside, by course, kind, column and user."""
        ...

    async def course_status(self, *, include_unselected: bool = False) -> list[CourseStatus]: ...

    async def status(self) -> StoreStatus: ...

    async def detection_delays(self, since: datetime | None = None) -> list[float]:
        """Detection delays (seconds, log entry to commit) of the commits since ``since``, in
        ascending order; without ``since``, of the day up to the newest such commit."""
        ...

    async def backup(self, dest_path: str | Path) -> None:
        """Write a consistent copy of the state to ``dest_path`` while work goes on."""
        ...


class StateStore(SyncStore, PaceStore, OutboxStore, AdminStore, Protocol):
    """The whole state: what the composition root opens and hands out by role."""
