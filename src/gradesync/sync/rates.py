"""How often a course's grades change: the estimate the adaptive scheduler plans with.

Three parts, each cheap and each kept in the state so that a restart resumes its knowledge:

- :class:`WeekProfile`: the institution's activity per hour of the week, learned from the
  ``logged`` times of every course's log entries (relative: 1.0 is the week's mean). Time is
  measured in *profile hours*, so that a night without edits is no evidence that a course has
  gone quiet.
- :class:`RateEstimate`: one course's history of polls, recency-weighted (a half-life of
  :data:`HALF_LIFE`). Its edit rate is the complete-history estimate of Cho and Garcia-Molina
  ("Estimating frequency of change", 2003): edits counted over the time covered, since the log
  names every edit. The chance that a poll finds something, which prices the reads a poll
  triggers, is their estimator for regular polls with incomplete history,
  ``-ln((n - X + 0.5) / (n + 0.5)) / I`` (``n`` polls, ``X`` of them found a change, ``I`` the
  mean interval), which stays finite when every poll found a change.
- :func:`prior`: a quiet course's rate before there is evidence, doubled after a recent change;
  it counts as :data:`PRIOR_HOURS` of polling, so evidence soon outweighs it.
- :func:`due_rate`: what the course's due dates promise (columns due in the last week or the
  next day, times its size), added to the estimate: grading follows due dates, and a course's
  past says nothing of a sitting that has not begun.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

HOUR = 3_600.0
WEEK_HOURS = 168
HALF_LIFE = timedelta(days=3)  # a course's evidence halves in weight every three days
PROFILE_HALF_LIFE = timedelta(days=28)
PROFILE_SMOOTHING = 2.0  # pseudo-edits per hour of the week: a flat profile until data comes
PRIOR_HOURS = 12.0  # the prior weighs as much as half a day of polling
QUIET_RATE = 0.02  # edits per hour of a course with nothing due: about one every two days
DUE_BEFORE = timedelta(days=7)  # a column is graded mostly within a week of its due date
DUE_AFTER = timedelta(days=1)  # ... and some students are graded early
GRADED_PER_MEMBER = 0.5  # of a due column's members, the share graded within that week
HOUR_DELTA = timedelta(hours=1)
RECENT = timedelta(hours=6)  # a change this recent doubles the prior (grading comes in sittings)


def _week_hour(at: datetime) -> int:
    return at.weekday() * 24 + at.hour


@dataclass
class WeekProfile:
    """Relative grading activity per hour of the week (UTC), from observed log times."""

    counts: list[float] = field(default_factory=lambda: [0.0] * WEEK_HOURS)
    stamp: datetime | None = None  # when the counts were last decayed

    def observe(self, moments: Iterable[datetime], now: datetime) -> None:
        """Count each ``moment`` (an edit's logged time) in its hour of the week."""
        if self.stamp is not None and now > self.stamp:
            decay = 0.5 ** ((now - self.stamp) / PROFILE_HALF_LIFE)
            self.counts = [c * decay for c in self.counts]
        self.stamp = now if self.stamp is None else max(self.stamp, now)
        for moment in moments:
            self.counts[_week_hour(moment)] += 1.0

    def weight(self, at: datetime) -> float:
        """Activity in the hour of ``at`` against the week's mean (1.0 when nothing is known)."""
        mean = sum(self.counts) / WEEK_HOURS + PROFILE_SMOOTHING
        return (self.counts[_week_hour(at)] + PROFILE_SMOOTHING) / mean

    def exposure(self, start: datetime, end: datetime) -> float:
        """Profile hours between ``start`` and ``end``: hours, each weighted by its activity."""
        total, at = 0.0, start
        limit = start + timedelta(days=28)  # a long outage counts as four weeks at most
        end = min(end, limit)
        while at < end:
            boundary = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            step = min(boundary, end)
            total += (step - at).total_seconds() / HOUR * self.weight(at)
            at = step
        return total

    def to_json(self) -> str:
        return json.dumps(
            {
                "counts": [round(c, 4) for c in self.counts],
                "stamp": self.stamp.isoformat() if self.stamp else None,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> WeekProfile:
        """The saved profile; a fresh one when there is none or it does not read."""
        try:
            data = json.loads(text) if text else None
            counts = [float(c) for c in data["counts"]] if data else []
            stamp = datetime.fromisoformat(data["stamp"]) if data and data["stamp"] else None
        except (ValueError, TypeError, KeyError):
            return cls()
        return cls(counts, stamp) if len(counts) == WEEK_HOURS else cls()


@dataclass
class RateEstimate:
    """One course's recency-weighted poll history, in profile hours."""

    polls: float = 0.0  # polls that ended an interval
    hits: float = 0.0  # those that found at least one edit
    exposure: float = 0.0  # profile hours the intervals covered
    edits: float = 0.0  # edits the polls found
    last_poll: datetime | None = None
    last_change: datetime | None = None

    def observe(self, at: datetime, edits: int, profile: WeekProfile) -> None:
        """A poll at ``at`` that found ``edits`` edits made since the previous poll."""
        if edits:
            self.last_change = at if self.last_change is None else max(self.last_change, at)
        if self.last_poll is None or at <= self.last_poll:
            self.last_poll = at if self.last_poll is None else self.last_poll
            return  # the first poll (a first read) covers no known interval
        decay = 0.5 ** ((at - self.last_poll) / HALF_LIFE)
        self.polls = self.polls * decay + 1
        self.hits = self.hits * decay + (1 if edits else 0)
        self.exposure = self.exposure * decay + profile.exposure(self.last_poll, at)
        self.edits = self.edits * decay + edits
        self.last_poll = at

    def rate(self, prior: float) -> float:
        """Edits per profile hour: the evidence, and the prior weighing :data:`PRIOR_HOURS`."""
        return (self.edits + prior * PRIOR_HOURS) / (self.exposure + PRIOR_HOURS)

    def change_rate(self, prior: float) -> float:
        """Intervals-with-a-change per profile hour (Cho and Garcia-Molina, incomplete
        history); without polls, the prior's edits taken as one change each."""
        if self.polls < 1 or self.exposure <= 0:
            return prior
        n, found = self.polls, min(self.hits, self.polls)
        interval = self.exposure / n
        return -math.log((n - found + 0.5) / (n + 0.5)) / interval

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("last_poll", "last_change"):
            data[key] = data[key].isoformat() if data[key] else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | None) -> RateEstimate:
        """The saved estimate; a fresh one when there is none or it does not read."""
        try:
            data = json.loads(text) if text else {}
            return cls(
                polls=float(data.get("polls", 0.0)),
                hits=float(data.get("hits", 0.0)),
                exposure=float(data.get("exposure", 0.0)),
                edits=float(data.get("edits", 0.0)),
                last_poll=_moment(data.get("last_poll")),
                last_change=_moment(data.get("last_change")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def prior(last_change: datetime | None, now: datetime) -> float:
    """Edits per hour of a course before its own polls say more: quiet, doubled by a change
    in the last hours (grading comes in sittings)."""
    recent = last_change is not None and now - last_change <= RECENT
    return QUIET_RATE * (2 if recent else 1)


def due_rate(due: Sequence[datetime], members: int, now: datetime) -> float:
    """Edits per hour that the course's due columns promise, on top of its own history: each
    column due in the week before or the day after ``now`` grades about half its ``members``
    over a week. Added, not blended: past polls cannot tell of grading that has not begun."""
    due_now = sum(1 for moment in due if now - DUE_BEFORE <= moment <= now + DUE_AFTER)
    return due_now * max(members, 1) * GRADED_PER_MEMBER / (DUE_BEFORE / HOUR_DELTA)
