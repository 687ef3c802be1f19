"""A column's grade rows as served: derived once, kept as JSON until an edit changes them.

Grade pages are most of what a sync reads. Deriving every row of the column for each page (and
for the calculated Total every input column's grades as well) cost more than all the rest of a
request, so each column's grade states are kept, with its rows encoded once per ``fields``
selection, in an LRU of columns; a page joins the bytes of its rows. The site tells the cache
what changed: an edit forgets its column and the course's Total, while a change of roster or of
columns forgets everything, so rows stay aligned with the roster they were derived from.

Rows are written straight to JSON (the dict a caller of the Python API gets is that JSON
parsed), because building a dict, narrowing it and encoding it cost several times more.
"""

from __future__ import annotations

import functools
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from gradesync.simulator.derive import USER_BASE, ColumnInfo, GradeState
from gradesync.simulator.wire import field_tree

if TYPE_CHECKING:
    from gradesync.simulator.site import Member, SimCourse, Site

# Columns kept. Each holds its grade states and its rows as JSON: 2,048 columns of 40 students
# under two selections measured about 20 MB in all.
ROW_CACHE = 2048
# ``fields`` selections kept per column: a client asks with one; a caller that varies its
# selection is served all the same, its rows written again.
SELECTIONS = 4

_string = json.JSONEncoder().encode  # a str alone takes the encoder's fast path
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _number(value: float) -> str:
    """A number as ``json`` writes it (``NaN`` and ``Infinity`` included)."""
    if math.isfinite(value):
        return repr(value)
    return _NON_FINITE.get(value, "NaN")


GRADE_KEYS = frozenset(
    {"userId", "columnId", "status", "displayGrade", "text", "score", "overridden", "notes"}
    | {"feedback", "exempt", "corrupt", "changeIndex"}
)
DISPLAY_KEYS = frozenset(("scaleType", "score", "possible", "text"))


@dataclass(frozen=True, slots=True)
class GradeFields:
    """A ``fields`` parameter as it applies to grade rows (the same rule as ``wire.Fields``):
    the keys kept whole, and those of ``displayGrade`` kept when only some are asked for."""

    keys: frozenset[str] = GRADE_KEYS
    display: frozenset[str] = DISPLAY_KEYS


@functools.lru_cache(maxsize=64)
def selection(spec: str | None) -> GradeFields:
    """The ``fields`` parameter ``spec`` (None or empty: everything) for grade rows."""
    if not spec:
        return GradeFields()
    tree = field_tree(spec)
    keys = frozenset(k for k, v in tree.items() if v is True)
    display = tree.get("displayGrade")
    if display is True:
        return GradeFields(keys)
    if not display:
        return GradeFields(keys, frozenset())
    return GradeFields(
        keys | {"displayGrade"}, frozenset(k for k, v in display.items() if v is True)
    )


class Writer:
    """Writes the rows of one column under one selection as JSON, key by key in Learn's order.

    Each ``_<key>`` attribute is the key's JSON prefix when the selection keeps it, else None.
    """

    def __init__(self, column: ColumnInfo, selection: GradeFields, possible: float) -> None:
        keys, display = selection.keys, selection.display

        def prefix(name: str, among: frozenset[str] = keys) -> str | None:
            return f'"{name}":' if name in among else None

        self._user_id = prefix("userId")
        self._column_id = f'"columnId":"{column.id}"' if "columnId" in keys else None
        self._status = prefix("status")
        self._display = "displayGrade" in keys and bool(display)
        self._scale_type = '"scaleType":"Score"' if "scaleType" in display else None
        self._display_score = prefix("score", display)
        self._possible = f'"possible":{_number(possible)}' if "possible" in display else None
        self._display_text = prefix("text", display)
        self._text, self._score = prefix("text"), prefix("score")
        self._overridden, self._notes, self._feedback = map(
            prefix, ("overridden", "notes", "feedback")
        )
        self._exempt, self._corrupt = prefix("exempt"), prefix("corrupt")
        self._change_index = prefix("changeIndex")

    def _head(self, user: int, score: str | None, text: str | None) -> list[str]:
        """The members every row starts with; ``status`` and ``displayGrade`` when graded."""
        out = []
        if self._user_id:
            out.append(f'{self._user_id}"_{USER_BASE + user}_1"')
        if self._column_id:
            out.append(self._column_id)
        if score is None and text is None:
            return out
        if self._status:
            out.append(self._status + '"Graded"')
        if self._display:
            display = [self._scale_type, self._possible]
            if self._display_score and score is not None:
                display.insert(1, self._display_score + score)
            if self._display_text and text is not None:
                display.append(self._display_text + text)
            members = [m for m in display if m]
            if members:  # a narrowed object with nothing left in it is omitted
                out.append('"displayGrade":{' + ",".join(members) + "}")
        return out

    def grade(self, user: int, state: GradeState) -> bytes:
        """The GradeV2 row of a grade that is kept (not calculated)."""
        score = None if state.score is None else _number(state.score)
        text = None if state.text is None else _string(state.text)
        out = self._head(user, score, text)
        if self._text and text is not None:
            out.append(self._text + text)
        if self._score and score is not None:
            out.append(self._score + score)
        if self._overridden and state.overridden is not None:
            out.append(self._overridden + _string(state.overridden))
        if self._notes and state.notes is not None:
            out.append(self._notes + _string(state.notes))
        if self._feedback and state.feedback is not None:
            out.append(self._feedback + _string(state.feedback))
        if self._exempt:
            out.append(self._exempt + ("true" if state.exempt else "false"))
        if self._change_index:
            out.append(f"{self._change_index}{state.change_index}")
        return ("{" + ",".join(out) + "}").encode()

    def total(self, user: int, scores: list[float]) -> bytes | None:
        """The calculated Total's row: the sum of ``scores``; None when nothing counts."""
        if not scores:
            return None
        score = _number(round(sum(scores), 4))
        out = self._head(user, score, None)
        if self._score:
            out.append(self._score + score)
        out += [key + "false" for key in (self._exempt, self._corrupt) if key]
        if self._change_index:
            out.append(self._change_index + "0")
        return ("{" + ",".join(out) + "}").encode()


def counted(state: GradeState | None) -> float | None:
    """What a grade adds to the calculated Total: its score unless it is exempt."""
    if state is None or state.score is None or state.exempt:
        return None
    return state.score


class Row(NamedTuple):
    """One grade row as served, with what the grade endpoints filter on."""

    change_index: int
    disabled: bool  # the student's membership is disabled
    body: bytes  # the row's JSON under one ``fields`` selection


@dataclass(slots=True)
class _Column:
    """What is kept of one column; ``states`` line up with ``students`` (None for the Total)."""

    students: list[Member]
    states: list[GradeState | None] | None
    encoded: dict[str | None, list[Row]] = field(default_factory=dict)


class RowCache:
    """The served rows of recently read columns of one site, bounded to ``size`` columns."""

    def __init__(self, site: Site, size: int = ROW_CACHE) -> None:
        self._site = site
        self._size = size
        self._columns: OrderedDict[int, _Column] = OrderedDict()

    def rows(self, course: SimCourse, column: ColumnInfo, fields: str | None) -> list[Row]:
        """Every row of the column in roster order, disabled memberships too, each written
        under the ``fields`` selection (None or empty: all of it)."""
        fields = fields or None
        kept = self._column(course, column)
        encoded = kept.encoded.get(fields)
        if encoded is None:
            encoded = self._write(course, column, kept, selection(fields))
            if len(kept.encoded) >= SELECTIONS:
                del kept.encoded[next(iter(kept.encoded))]
            kept.encoded[fields] = encoded
        return encoded

    def __len__(self) -> int:
        """How many columns are kept."""
        return len(self._columns)

    def forget(self, column_number: int) -> None:
        """The column's grades changed (for a Total: one of its inputs' did)."""
        self._columns.pop(column_number, None)

    def clear(self) -> None:
        """The roster or the columns changed: nothing kept still lines up."""
        self._columns.clear()

    def _column(self, course: SimCourse, column: ColumnInfo) -> _Column:
        kept = self._columns.get(column.number)
        if kept is not None:
            self._columns.move_to_end(column.number)
            return kept
        site = self._site
        students = [m for m, _ in site.roster(course) if m.role == "Student"]
        states = None if column.calculated else site.states(column, students)
        kept = self._columns[column.number] = _Column(students, states)
        if len(self._columns) > self._size:
            self._columns.popitem(last=False)
        return kept

    def _write(
        self, course: SimCourse, column: ColumnInfo, kept: _Column, picked: GradeFields
    ) -> list[Row]:
        writer = Writer(column, picked, self._site.possible(course, column))
        if kept.states is not None:
            return [
                Row(state.change_index, member.disabled, writer.grade(member.user, state))
                for member, state in zip(kept.students, kept.states, strict=True)
                if state is not None
            ]
        inputs = [c for c in self._site.columns(course) if not c.calculated]
        # Each input's states are read once for all students, and kept for its own pages.
        by_input = [self._input_states(course, c) for c in inputs]
        rows = []
        for k, member in enumerate(kept.students):
            scores = [s for states in by_input if (s := counted(states[k])) is not None]
            body = writer.total(member.user, scores)
            if body is not None:
                rows.append(Row(0, member.disabled, body))
        return rows

    def _input_states(self, course: SimCourse, column: ColumnInfo) -> list[GradeState | None]:
        states = self._column(course, column).states
        assert states is not None, "a calculated column is no input"
        return states
