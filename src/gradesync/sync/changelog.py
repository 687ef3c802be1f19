"""The course gradebook log as a change feed (docs/strategies.md, "changelog").

One read of ``GET v1/courses/{courseId}/gradebook/logs?since=`` tells whether anything in a
whole course changed, and where. The log is a hint, never a source of grades: the columns it
names are read by ``changeIndex`` as usual. What is relied on of an entry is its ``id``,
``gradebookColumnId``, ``logged`` and (where present) ``user.userId``.

The cursor is the newest ``logged`` value read, never the local clock. ``since`` is inclusive
and several entries can share a timestamp (a bulk edit), and an entry may be committed a moment
after a later one: each read starts :data:`OVERLAP` before the cursor and entries already seen
(their ids are kept for that window) count once. A course's first read fixes where its log
starts for gradesync before its columns are read, from the newest entry, so that nothing logged
during or after that read is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gradesync.errors import ForbiddenError, NotFoundError
from gradesync.models import LogEntry, SystemVersion
from gradesync.store import LogState
from gradesync.sync.source import LearnSource

OVERLAP = timedelta(minutes=2)  # how far before its cursor each read of a log starts again
FALLBACK_RETRY = timedelta(days=1)  # a course whose log answered 403/404 tries it again after
LOG_SINCE = (3900, 71)  # the first Learn release with the gradebook logs
FIRST_PAGE = 100  # entries a first read asks for, newest first (one page)

LogUnavailable = (ForbiddenError, NotFoundError)
"""What the log answers where gradesync may not use it: 403 (the integration user lacks the
entitlements ``course.gradebook-grades.VIEW``, ``course.gradebook.MODIFY`` and
``course.gradebook-grades.EXECUTE``) or 404 (a Learn older than 3900.71)."""


@dataclass(frozen=True)
class LogRead:
    """One read of a course's log: the entries not seen before, and the state to commit."""

    state: LogState
    entries: list[LogEntry]
    primed: bool  # this read fixed where the log starts: the course gets a whole cycle

    @property
    def columns(self) -> set[str]:
        return {entry.gradebook_column_id for entry in self.entries}

    @property
    def users(self) -> set[str]:
        return {entry.user_id for entry in self.entries if entry.user_id is not None}


def offers_log(version: SystemVersion) -> bool:
    """Whether a Learn of this version has the gradebook logs (an unknown version may)."""
    learn = version.learn
    if learn is None or learn.major is None or learn.minor is None:
        return True
    return (learn.major, learn.minor) >= LOG_SINCE


def usable(state: LogState, now: datetime) -> bool:
    """The log may be read for this course: it has not fallen back, or its day is over."""
    return state.fallback_until is None or now >= state.fallback_until


async def read_log(source: LearnSource, course_id: str, state: LogState) -> LogRead:
    """Read what the course's log holds since ``state``; raises :data:`LogUnavailable` as the
    client does, for the caller to fall back."""
    if not state.primed:
        # The newest entries, one page: the newest fixes the cursor, and those within the
        # overlap before it are seen already (the whole cycle that follows covers them), so the
        # next read does not take them for news.
        recent: list[LogEntry] = []
        async for entry in source.course_logs(course_id, newest_first=True, limit=FIRST_PAGE):
            if recent and entry.logged < recent[0].logged - OVERLAP:
                break
            recent.append(entry)
            if len(recent) == FIRST_PAGE:
                break
        primed = LogState(
            primed=True,
            cursor=recent[0].logged if recent else None,
            seen={entry.id: entry.logged for entry in recent},
            last_sweep=state.last_sweep,
        )
        return LogRead(primed, [], primed=True)
    since = state.cursor - OVERLAP if state.cursor is not None else None
    entries = [entry async for entry in source.course_logs(course_id, since=since)]
    fresh = [entry for entry in entries if entry.id not in state.seen]
    cursor = max((e.logged for e in entries), default=state.cursor)
    if state.cursor is not None and cursor is not None:
        cursor = max(cursor, state.cursor)
    seen = {**state.seen, **{e.id: e.logged for e in entries}}
    if cursor is not None:
        seen = {entry_id: at for entry_id, at in seen.items() if at >= cursor - OVERLAP}
    unique = list({entry.id: entry for entry in fresh}.values())
    return LogRead(replace(state, cursor=cursor, seen=seen), unique, primed=False)


def fallen_back(state: LogState, reason: str, now: datetime) -> LogState:
    """The state of a course whose log answered 403 or 404: read by ``changeIndex`` until a
    day has passed, then primed again."""
    return LogState(
        fallback_reason=reason, fallback_until=now + FALLBACK_RETRY, last_sweep=state.last_sweep
    )
