"""The state store: everything gradesync knows between cycles, and the outbox of events.

Code depends on the protocol of its role: :class:`SyncStore` (the sync engine),
:class:`PaceStore` (the scheduler), :class:`OutboxStore` (delivery), :class:`AdminStore` (the
operator's commands); :class:`StateStore` is all four, and only the composition root names
:class:`SQLiteStateStore`.
"""

from gradesync.store.protocol import (
    DEAD_LETTER_KINDS,
    AdminStore,
    ColumnCursor,
    CourseOutlook,
    CourseStatus,
    CourseStructure,
    CycleRecord,
    DeadLetter,
    DeadLetterKind,
    LogState,
    NewEvent,
    OutboxEvent,
    OutboxStore,
    PaceStore,
    SetAsideKey,
    SetAsideKind,
    SetAsideRow,
    SinkStatus,
    StateStore,
    StoredGrade,
    StoreStatus,
    SyncStore,
    UnitOfWork,
)
from gradesync.store.schema import SCHEMA_VERSION
from gradesync.store.sqlite import SQLiteStateStore

__all__ = [
    "DEAD_LETTER_KINDS",
    "SCHEMA_VERSION",
    "AdminStore",
    "ColumnCursor",
    "CourseOutlook",
    "CourseStatus",
    "CourseStructure",
    "CycleRecord",
    "DeadLetter",
    "DeadLetterKind",
    "LogState",
    "NewEvent",
    "OutboxEvent",
    "OutboxStore",
    "PaceStore",
    "SQLiteStateStore",
    "SetAsideKey",
    "SetAsideKind",
    "SetAsideRow",
    "SinkStatus",
    "StateStore",
    "StoreStatus",
    "StoredGrade",
    "SyncStore",
    "UnitOfWork",
]
