"""The gradebook log (docs/learn-api.md section 4.9): who changed which grade, and when.

Two sources feed a course's log:

- **history**: the seeded world's past, spread over the weeks before the world's start (its
  clock's time when it was built). It is derived from the seed, one course at a time, only when
  that course's log is read, and kept in a small LRU: an institution's history (millions of
  entries) is never held at once. A read whose ``since`` is at or after the start never derives
  it, as every derived entry is older.
- **edits**: every grade edit, override, exemption and clear made on the simulator (its Python
  API, the control API, activity mode) is an ``Edit``, kept with its true time on the site's
  clock; while logging is on (``log_edits``) it also gets an entry whose ``logged`` is that time.

Choices where Learn's behaviour is unknown (docs/learn-api.md section 9):

- Calculated columns, column deletions and enrolment changes leave no entry. The entries of a
  deleted column leave the log with the column; a removed student's entries stay.
- Entry ids are primary ids unique on the site and increasing in time within a course: the
  history of course ``k`` has its own block of numbers, below every edit's.
- Several entries share one ``logged`` when one action edited several grades (a bulk edit).
- Only ``id``, ``gradebookColumnId``, ``logged`` and ``user.userId`` are certain. The other
  fields of an entry are guesses after what one public client reads: ``modifier`` (who made the
  change), ``score``, ``text`` and ``exempt`` (the grade after it) and ``previousScore``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from gradesync.simulator import derive
from gradesync.simulator.derive import ColumnInfo, GradeState, iso, primary

if TYPE_CHECKING:
    from gradesync.simulator.site import Member, SimCourse, Site

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = 60_000  # milliseconds

# How far back the derived history reaches (a course with more edits than fit a minute apart
# reaches further), and the last minute before the world's start that it leaves empty.
HISTORY = 42 * 24 * 3_600_000
# Courses whose derived history is kept: about 1,000 entries each at 20 columns x 40 students.
HISTORY_CACHE = 64
# At most this many derived entries per grade: graded, regraded, overridden, exempted.
PER_GRADE = 4


def to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


class Entry(NamedTuple):
    """One log entry; numbers are the primary-id numbers and user indices of the site."""

    number: int
    logged: int  # milliseconds since the Unix epoch
    column: int
    user: int
    modifier: int  # the user who made the change: the course's instructor
    score: float | None  # the grade after the change ...
    text: str | None
    exempt: bool
    previous: float | None  # ... and its score before


def entry_body(entry: Entry) -> dict[str, Any]:
    """An entry as the log endpoints serve it (null properties left out)."""
    body: dict[str, Any] = {
        "id": primary(entry.number),
        "gradebookColumnId": primary(entry.column),
        "logged": iso(from_ms(entry.logged)),
        "user": {"userId": primary(derive.USER_BASE + entry.user)},
        # Guessed fields: no schema of an entry is published (module docstring).
        "modifier": {"userId": primary(derive.USER_BASE + entry.modifier), "role": "Instructor"},
    }
    if entry.score is not None:
        body["score"] = entry.score
    if entry.text is not None:
        body["text"] = entry.text
    body["exempt"] = entry.exempt
    if entry.previous is not None:
        body["previousScore"] = entry.previous
    return body


@dataclass(frozen=True, slots=True)
class Edit:
    """One grade edit made on the simulator: what, where, its true time and its log entry."""

    at: datetime  # the site clock's time of the edit, to the microsecond
    kind: str  # score | text | exempt | clear
    course: int
    column: int
    user: int
    change_index: int
    entry: Entry | None  # None: made while logging was off

    @property
    def course_id(self) -> str:
        return primary(derive.COURSE_BASE + self.course)

    @property
    def column_id(self) -> str:
        return primary(self.column)

    @property
    def user_id(self) -> str:
        return primary(derive.USER_BASE + self.user)

    @property
    def logged(self) -> bool:
        """Whether the edit was logged when it was made (a later clear may drop the entry)."""
        return self.entry is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "courseId": self.course_id,
            "columnId": self.column_id,
            "userId": self.user_id,
            "changeIndex": self.change_index,
            "entryId": None if self.entry is None else primary(self.entry.number),
        }


def edit_kind(changes: dict[str, Any]) -> str:
    """What an edit of ``World._apply`` did, named as ``Edit.kind``."""
    if changes.get("cleared"):
        return "clear"
    if "exempt" in changes:
        return "exempt"
    return "text" if "text" in changes else "score"


class GradebookLog:
    """The log of one site: derived history, the edits made since, and the knobs on both."""

    def __init__(self, site: Site) -> None:
        self._site = site
        spec = site.spec
        self.log_edits = True  # off: new edits leave no entry (an unlogged source)
        self.started = to_ms(site.started)
        self._block = max(1, spec.columns_per_course * 2 * spec.students_per_course * PER_GRADE)
        self._next = derive.LOG_BASE + spec.courses * self._block
        self._edits: list[Edit] = []
        self._live: dict[int, list[Entry]] = {}
        self._cleared: set[int] = set()  # courses whose derived history was cleared
        self._history: OrderedDict[int, list[Entry]] = OrderedDict()

    # -- writing -----------------------------------------------------------------------------

    def record(
        self,
        column: ColumnInfo,
        member: Member,
        before: GradeState | None,
        after: GradeState,
        kind: str,
        at: datetime,
    ) -> Edit:
        """Keep an edit at its true time ``at``, with an entry while logging is on."""
        entry = None
        if self.log_edits:
            entry = Entry(
                self._next,
                to_ms(at),
                column.number,
                member.user,
                self._site.instructor(column.course),
                after.score,
                after.text,
                after.exempt,
                None if before is None else before.score,
            )
            self._next += 1
            self._live.setdefault(column.course, []).append(entry)
        edit = Edit(at, kind, column.course, column.number, member.user, after.change_index, entry)
        self._edits.append(edit)
        return edit

    def clear(self, course: SimCourse) -> None:
        """Drop every entry of the course so far, derived or not (Grade Center's Clear History)."""
        self._cleared.add(course.index)
        self._live.pop(course.index, None)
        self._history.pop(course.index, None)

    # -- reading -----------------------------------------------------------------------------

    @property
    def derived(self) -> int:
        """How many courses' derived history is held (the rest is derived when read)."""
        return len(self._history)

    def edits(self, course: SimCourse | None = None) -> list[Edit]:
        if course is None:
            return list(self._edits)
        return [edit for edit in self._edits if edit.course == course.index]

    def entries(
        self,
        course: SimCourse,
        columns: Iterable[ColumnInfo],
        *,
        since: int | None = None,
        until: int | None = None,
        user: int | None = None,
    ) -> list[Entry]:
        """The entries of ``columns`` (of ``course``) logged in ``[since, until)``, by id."""
        numbers = {c.number for c in columns if not c.calculated}
        sources: list[list[Entry]] = []
        if (since is None or since < self.started) and course.index not in self._cleared:
            sources.append(self._derived(course))  # every derived entry is older than the start
        sources.append(self._live.get(course.index, []))
        return [
            e
            for source in sources
            for e in source
            if e.column in numbers
            and (since is None or e.logged >= since)
            and (until is None or e.logged < until)
            and (user is None or e.user == user)
        ]

    def _derived(self, course: SimCourse) -> list[Entry]:
        kept = self._history.get(course.index)
        if kept is not None:
            self._history.move_to_end(course.index)
            return kept
        kept = self._history[course.index] = self._derive(course)
        if len(self._history) > HISTORY_CACHE:
            self._history.popitem(last=False)
        return kept

    # -- the derived history -----------------------------------------------------------------

    def _derive(self, course: SimCourse) -> list[Entry]:
        """The course's history before the world's start: a session of first grades per
        column (one student a minute or more after another, or all at one instant for a bulk
        upload), and later sessions of regrades, overrides and exemptions; sessions hours to
        days apart, all within ``HISTORY`` (or further back when they need more room)."""
        site = self._site
        seed = site.spec.seed
        students = site.base_students(course)
        modifier = site.instructor(course.index)
        # A session is a list of groups; a group's entries share one timestamp. The key orders
        # sessions: column j's first grades at 2j, its revisions at 2j + 3.
        sessions: list[tuple[int, list[list[tuple[Any, ...]]]]] = []
        for j, column in enumerate(site.base_columns(course)):
            if column.calculated or not column.graded:
                continue
            start = derive.grade_hash(seed, column)
            salt = derive.mix(seed, 17, column.number)
            possible = column.possible
            first: list[tuple[Any, ...]] = []
            later: list[list[tuple[Any, ...]]] = []
            for user in students:
                state = derive.hashed_grade(column, derive.mix_on(start, user), 0)
                if state is None:
                    continue
                h = derive.mix_on(salt, user)
                score = state.score
                if h % 8 == 0:  # graded once, regraded later
                    earlier = round(possible * (0.3 + 0.6 * ((h >> 8) % 1000) / 1000), 2)
                    first.append((column.number, user, earlier, None, False, None))
                    later.append([(column.number, user, score, None, False, earlier)])
                else:
                    first.append((column.number, user, score, None, False, None))
                if state.text is not None:
                    later.append([(column.number, user, score, state.text, False, score)])
                if state.exempt:
                    later.append([(column.number, user, score, state.text, True, score)])
            if not first:
                continue
            bulk = salt % 5 == 0
            sessions.append((2 * j, [first] if bulk else [[e] for e in first]))
            if later:
                sessions.append((2 * j + 3, later))
        sessions.sort(key=lambda s: s[0])
        return self._timed(course, [groups for _, groups in sessions], modifier)

    def _timed(
        self, course: SimCourse, sessions: list[list[list[tuple[Any, ...]]]], modifier: int
    ) -> list[Entry]:
        """The sessions laid out in time, ending a minute before the world's start."""
        if not sessions:
            return []
        seed, index = self._site.spec.seed, course.index
        salt = derive.mix(seed, 18, index)
        gaps = [
            [_MINUTE + derive.mix_on(salt, k * 131 + g) % (4 * _MINUTE) for g in range(len(groups))]
            for k, groups in enumerate(sessions)
        ]
        within = sum(sum(g) for g in gaps)
        share = max(HISTORY - within, len(sessions) * 30 * _MINUTE) // len(sessions)
        # Each session starts half a share to a share after the last one ended; the last entry
        # comes up to six hours before the end: a minute before the world's start.
        pauses = [
            share // 2 + derive.mix_on(salt, ~k) % (share // 2 + 1) for k in range(len(sessions))
        ]
        last = sum(pauses) + within - gaps[-1][-1]
        at = self.started - _MINUTE - derive.mix_on(salt, -1) % (360 * _MINUTE) - last
        number = derive.LOG_BASE + index * self._block
        out: list[Entry] = []
        for k, groups in enumerate(sessions):
            at += pauses[k]
            for group, gap in zip(groups, gaps[k], strict=True):
                for column, user, score, text, exempt, previous in group:
                    out.append(
                        Entry(number, at, column, user, modifier, score, text, exempt, previous)
                    )
                    number += 1
                at += gap
        return out
