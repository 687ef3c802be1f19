"""The pure diff: rows read from Learn against the snapshot, into changes. No I/O here.

A row is a grade when it carries a score, text, display grade, notation or exemption
(``Grade.is_grade``). Changes are judged by content digest, never by ``changeIndex`` alone:
a moved index over identical content emits nothing, and Calculated columns (always index 0)
are compared by content only. A full read also finds the rows that vanished; a row Learn
listed but that was set aside (unreadable) has not vanished.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

from gradesync.models import Grade, content_digest

ChangeKind = Literal["created", "updated", "deleted"]


class Snapshot(Protocol):
    """What the diff needs of a stored grade. An empty ``digest`` marks a tombstone."""

    @property
    def content(self) -> dict[str, Any]: ...
    @property
    def change_index(self) -> int: ...
    @property
    def digest(self) -> str: ...
    @property
    def version(self) -> int: ...


# Named tuples, not frozen dataclasses: a first read makes one per grade, and a frozen
# dataclass takes several times as long to build.
class Change(NamedTuple):
    user_id: str
    kind: ChangeKind
    grade: Grade | None  # None for deleted
    previous: dict[str, Any] | None  # the last known grade as events carry it; None if new
    version: int  # the snapshot's version after this change
    content: dict[str, Any]  # ``grade.content()``; {} if deleted
    digest: str  # ``grade.digest()``; "" if deleted


class Observation(NamedTuple):
    """A row whose content did not change but whose stored index or tombstone must be written."""

    user_id: str
    change_index: int
    content: dict[str, Any]
    digest: str
    version: int


@dataclass
class ColumnDiff:
    changes: list[Change] = field(default_factory=list)
    quiet: list[Observation] = field(default_factory=list)
    max_change_index: int = 0
    users: set[str] = field(default_factory=set)


def is_live(snapshot: Snapshot | None) -> bool:
    return snapshot is not None and snapshot.digest != ""


def as_event_grade(content: dict[str, Any], change_index: int) -> dict[str, Any]:
    """A grade as events carry it: the copied fields plus its ``changeIndex``."""
    return {**content, "changeIndex": change_index}


def _previous(snapshot: Snapshot) -> dict[str, Any]:
    return as_event_grade(snapshot.content, snapshot.change_index)


def diff_column(
    stored: Mapping[str, Snapshot],
    rows: Iterable[Grade],
    *,
    full: bool,
    present: Collection[str] = (),
) -> ColumnDiff:
    """Diff ``rows`` against ``stored``; a ``full`` read also finds grades that vanished, except
    those of ``present``: users whose row Learn sent but that could not be read."""
    result = ColumnDiff()
    latest: dict[str, Grade] = {}
    for row in rows:
        result.max_change_index = max(result.max_change_index, row.change_index)
        latest[row.user_id] = row  # a user listed twice (a shifting page): the later row wins
    result.users = set(latest)
    for user_id, row in latest.items():
        previous = stored.get(user_id)
        version = previous.version if previous is not None else 0
        if row.is_grade:
            # Content and digest are worked out once here and carried on: on a first read,
            # with every row new, they are the largest part of the diff's cost.
            content = row.content()
            digest = content_digest(content)
            if not is_live(previous):
                result.changes.append(
                    Change(user_id, "created", row, None, version + 1, content, digest)
                )
            elif previous is not None and previous.digest != digest:
                result.changes.append(
                    Change(
                        user_id,
                        "updated",
                        row,
                        _previous(previous),
                        version + 1,
                        content,
                        digest,
                    )
                )
            elif previous is not None and previous.change_index != row.change_index:
                result.quiet.append(
                    Observation(user_id, row.change_index, content, digest, version)
                )
        elif is_live(previous) and previous is not None:
            result.changes.append(
                Change(user_id, "deleted", None, _previous(previous), version + 1, {}, "")
            )
        elif previous is not None and previous.change_index != row.change_index:
            result.quiet.append(Observation(user_id, row.change_index, {}, "", version))
    if full:
        for user_id, previous in stored.items():
            if user_id not in latest and user_id not in present and is_live(previous):
                result.changes.append(
                    Change(
                        user_id, "deleted", None, _previous(previous), previous.version + 1, {}, ""
                    )
                )
    return result
