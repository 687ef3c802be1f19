"""Rows set aside (docs/contract.md section 6): after one course cycle, which of the rows Learn
sent that cannot be represented faithfully are new, which are still there, which resolved; and
the cursor that makes the next cycle read them again. Pure: no I/O.

A grade row is known by its column and user, a column by its id; "" stands for an id Learn sent
unusable. The column list is read every cycle, so a column set aside is resolved by the first
list without it. A grade row is resolved when Learn sends a good row for the same user in the
same column, or when a full read of the column no longer has it; a row whose user id is unusable
can only be resolved by a full read, so its column is read in full each cycle until then. The
rows of a column no longer read (deselected, or deleted in Learn) are forgotten with it. A
column skipped for an error this cycle keeps its rows as they were.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gradesync.models import BadRow
from gradesync.store import ColumnCursor, SetAsideKey, SetAsideKind, SetAsideRow


@dataclass(frozen=True)
class ColumnRows:
    """What one read of one column said: the rows set aside and the users of its good rows."""

    column_id: str
    full: bool
    bad: Sequence[BadRow]
    good_users: Collection[str]


@dataclass
class SetAsideChanges:
    """``rows``: every row set aside by this cycle's reads, to record; ``new``: those of them
    seen for the first time (logged once); ``resolved``: rows to forget."""

    rows: list[SetAsideRow] = field(default_factory=list)
    new: list[SetAsideRow] = field(default_factory=list)
    resolved: list[SetAsideRow] = field(default_factory=list)


def reconcile(
    course_id: str,
    known: Mapping[SetAsideKey, SetAsideRow],
    now: datetime,
    *,
    bad_columns: Sequence[BadRow],
    reads: Sequence[ColumnRows],
    dropped_columns: Collection[str],
    listed: bool = True,
) -> SetAsideChanges:
    """The course's rows set aside after a cycle that read its column list (``bad_columns``
    are the columns set aside from it) and the columns of ``reads``; ``dropped_columns`` are
    no longer read at all. A cycle that did not read the column list (``listed`` false: the
    course's log named only known columns) leaves the columns set aside as they were."""
    out = SetAsideChanges()
    seen: dict[SetAsideKey, SetAsideRow] = {}

    def note(kind: SetAsideKind, column_id: str, user_id: str, reason: str) -> None:
        key = (kind, column_id, user_id)
        if key in seen:
            return
        before = known.get(key)
        row = SetAsideRow(
            course_id,
            kind,
            column_id,
            user_id,
            reason,
            before.first_seen if before else now,
            now,
        )
        seen[key] = row
        out.rows.append(row)
        if before is None:
            out.new.append(row)

    for bad in bad_columns:
        note("column", bad.id or "", "", bad.reason)
    for read in reads:
        for bad in read.bad:
            note("grade", read.column_id, bad.id or "", bad.reason)

    by_column = {read.column_id: read for read in reads}
    for key, row in known.items():
        kind, column_id, user_id = key
        if key in seen:
            continue
        again = by_column.get(column_id)
        if (
            (kind == "column" and listed)
            or column_id in dropped_columns
            or (again is not None and (again.full or user_id in again.good_users))
        ):
            out.resolved.append(row)
    return out


def retry_cursor(cursor: ColumnCursor, bad: Sequence[BadRow]) -> ColumnCursor:
    """A column's cursor that the next cycle's read will not pass before the rows set aside:
    held just below the lowest of their change indexes, or, when one of them has no usable
    change index or user id (a delta read could not find it again), no full read recorded,
    so that the next cycle reads the column in full."""
    if not bad:
        return cursor
    indexes = [b.change_index for b in bad if b.change_index is not None and b.id is not None]
    if len(indexes) < len(bad) or min(indexes) == 0:
        return ColumnCursor(cursor.change_index, full_read_at=None)
    return ColumnCursor(min(cursor.change_index, min(indexes) - 1), cursor.full_read_at)
