"""The state store: everything gradesync knows between cycles, and the outbox of events.

Code depends on the :class:`StateStore` protocol; only the daemon names
:class:`SQLiteStateStore`.
"""

from gradesync.store.protocol import (
    DEAD_LETTER_KINDS,
    ColumnCursor,
    CourseStatus,
    CourseStructure,
    CycleRecord,
    DeadLetter,
    DeadLetterKind,
    NewEvent,
    OutboxEvent,
    SinkStatus,
    StateStore,
    StoredGrade,
    StoreStatus,
    UnitOfWork,
)
from gradesync.store.schema import SCHEMA_VERSION
from gradesync.store.sqlite import SQLiteStateStore

__all__ = [
    "DEAD_LETTER_KINDS",
    "SCHEMA_VERSION",
    "ColumnCursor",
    "CourseStatus",
    "CourseStructure",
    "CycleRecord",
    "DeadLetter",
    "DeadLetterKind",
    "NewEvent",
    "OutboxEvent",
    "SQLiteStateStore",
    "SinkStatus",
    "StateStore",
    "StoreStatus",
    "StoredGrade",
    "UnitOfWork",
]
