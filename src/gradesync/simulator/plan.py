"""The edits an ``ActivityModel`` makes to a world, drawn from a seed, and the rates it draws
them at.

An ``ActivityPlan`` decides for each course with a gradebook, when first asked about it, what
the model fixes ahead of time: dormant or how active, which columns it grades and when each is
due, a column it adds, its enrolment changes. The edits of a window of time are then drawn from
seeds of their own: a column's sittings from the column, a day's revisions from the course and
the day. So the edits of a window do not depend on the windows asked before; a week's plan is
the first week of a fortnight's; the same world, model and start always give the same edits.

What a course holds (columns, students) is read from the world the first time the plan needs
it, before the plan changes that course. Nothing before the start happens: a column the model
would have added earlier, or a student it would have enrolled, is not there.

Times are milliseconds since the plan's origin, a local Monday midnight; due dates, the term's
start and its end are local midnights, so a day is wholly in or out of each.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from gradesync.simulator import derive
from gradesync.simulator.activity import ActivityModel
from gradesync.simulator.derive import ColumnInfo
from gradesync.simulator.site import SimCourse
from gradesync.simulator.world import World

__all__ = ["GRADE_KINDS", "KINDS", "ActivityPlan", "PlannedEdit", "plan"]

_HOUR = 3_600_000
_DAY = 24 * _HOUR
_WEEK = 7 * _DAY

# Kinds that edit a grade, and the ``Edit.kind`` the world records for each.
GRADE_KINDS = {
    "grade": "score",  # one grade of a sitting
    "upload": "score",  # one grade of a sitting that uploads them all at one instant
    "correction": "score",  # a later change of a score
    "override": "text",
    "exemption": "exempt",
}
KINDS = (*GRADE_KINDS, "column", "enrol", "drop")
ADDED_NAME = "Assignment (added mid-term)"
ADDED_POSSIBLE = 100.0

# One row of a plan before it becomes a PlannedEdit: time, kind, course, column, user, value,
# sitting.
Row = tuple[int, str, str, str | None, str | None, float | str | bool | datetime | None, str | None]


@dataclass(frozen=True, slots=True)
class PlannedEdit:
    """One planned change. ``kind`` is one of ``KINDS``: a grade (``value`` the score, text or
    exemption), ``column`` (added: ``column`` names it by ``externalId:``, ``value`` is its due
    date), ``enrol`` or ``drop`` (``user``). The grades of one sitting share ``session``."""

    at: datetime
    kind: str
    course: str
    column: str | None
    user: str | None
    value: float | str | bool | datetime | None
    session: str | None = None


@dataclass(slots=True)
class _Column:
    ref: str  # a primary id, or externalId: for the column the model adds
    key: int  # seeds its sittings
    possible: float
    due: int
    final: bool
    spans: list[tuple[int, int]] | None = None  # each sitting's first and last edit, once drawn
    graded: int | None = None  # how many of its students it grades, once known


@dataclass(slots=True)
class _Course:
    index: int
    id: str
    activity: float  # 0: dormant
    columns: list[_Column]  # by due date
    changes: list[tuple[int, str, str]]  # (time, enrol | drop, user) at or after the start
    added_at: int | None  # when the model adds its column, when that is at or after the start
    students: list[str] | None = None  # active students, read when first needed

    @property
    def first_due(self) -> int | None:
        return self.columns[0].due if self.columns else None


class ActivityPlan:
    """The model's edits on ``world`` from ``start`` (default: the world's clock's now).

    ``edits(until, since)`` gives a window's changes sorted by time; ``rate`` and ``expected``
    give the true expected number of grade edits of a course, which the edits are drawn from.
    """

    def __init__(
        self, world: World, model: ActivityModel | None = None, *, start: datetime | None = None
    ) -> None:
        self.world = world
        self.model = model = model or ActivityModel()
        self.seed = world.spec.seed if model.seed is None else model.seed
        self.start = start or world.clock.now()
        offset = timedelta(hours=model.utc_offset_hours)
        if model.term_start is None:
            local = (self.start + offset).date()
            first = local - timedelta(days=local.weekday(), weeks=model.start_week - 1)
        else:
            first = (model.term_start + offset).date()
        monday = first - timedelta(days=first.weekday())
        self.origin = datetime(monday.year, monday.month, monday.day, tzinfo=UTC) - offset
        self._term = (first - monday).days * _DAY
        self._term_end = self._term + model.term_weeks * _WEEK
        self._start = self._ms(self.start)
        self._profile = model.profile()
        self._day_sums = [sum(self._profile[d * 24 : d * 24 + 24]) for d in range(7)]
        self._hours = list(itertools.accumulate(model.hour_weights))
        self._lag = {final: model.lag_hours(final=final) for final in (False, True)}
        self._tables: dict[tuple[bool, int], tuple[list[float], list[float]]] = {}
        self._weekdays: dict[int, list[float]] = {}
        self._enrolment = self._enrolment_hours()
        self._courses: dict[int, _Course] = {}
        self._gradebooks = [c.index for c in world.courses if c.parent is None]
        # A sitting starts and ends within this of its due date: the longest lag, then the
        # longest sitting.
        longest = max(len(lags) for lags in self._lag.values()) + 1
        sitting = (model.session_size[1] - 1) * model.seconds_per_grade[1] * 1000
        self._reach = longest * _HOUR + math.ceil(sitting)
        # After this time the plan has no edit.
        self.end = self._at(self._term_end + model.added_column_due_days * _DAY + self._reach)

    # -- the term -----------------------------------------------------------------------------

    @property
    def term_start(self) -> datetime:
        return self._at(self._term)

    @property
    def term_end(self) -> datetime:
        """The end of the term's last day (the final week is the seven days before it)."""
        return self._at(self._term_end)

    def _ms(self, moment: datetime) -> int:
        return (moment - self.origin) // timedelta(milliseconds=1)

    def _at(self, ms: int) -> datetime:
        return self.origin + timedelta(milliseconds=ms)

    # -- the edits ----------------------------------------------------------------------------

    def edits(self, until: datetime, since: datetime | None = None) -> list[PlannedEdit]:
        """Every planned change in ``[since, until)`` (``since`` no earlier than the start), by
        time; those of one instant in the order they are made."""
        low = self._start if since is None else max(self._start, self._ms(since))
        high = self._ms(until)
        rows: list[Row] = []
        if high > low:
            for index in self._gradebooks:
                rows += self._window(self._course(index), low, high)
        rows.sort(key=itemgetter(0))
        return [PlannedEdit(self._at(row[0]), *row[1:]) for row in rows]

    def _window(self, course: _Course, low: int, high: int) -> list[Row]:
        rows: list[Row] = []
        for at, kind, user in course.changes:
            if low <= at < high:
                rows.append((at, kind, course.id, None, user, None, None))
        for column in course.columns:
            added = course.added_at if column.key < 0 else None
            if added is not None and low <= added < high:
                due = self._at(column.due)
                rows.append((added, "column", course.id, column.ref, None, due, None))
            if column.due >= high or column.due + self._reach <= low:
                continue
            if column.spans is not None and not any(a < high and b >= low for a, b in column.spans):
                continue
            rows += [row for row in self._sittings(course, column) if low <= row[0] < high]
        if course.activity > 0 and course.columns:
            for day in range(low // _DAY, (high - 1) // _DAY + 1):
                rows += [row for row in self._revisions(course, day) if low <= row[0] < high]
        return rows

    def _sittings(self, course: _Course, column: _Column) -> list[Row]:
        """Every grade of the column, entered in sittings after its due date."""
        model = self.model
        rng = random.Random(derive.mix(self.seed, 43, course.index, column.key))
        roster = self._roster(course, column.due)
        column.graded = _graded(len(roster), model.graded_share)
        graded = rng.sample(roster, column.graded)
        cumulative, _ = self._table(column)
        least, most = model.session_size
        fast, slow = model.seconds_per_grade
        rows: list[Row] = []
        spans: list[tuple[int, int]] = []
        done = 0
        while done < len(graded):
            size = _sitting_size(rng, len(graded) - done, least, most)
            hour = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
            at = column.due + hour * _HOUR + int(rng.random() * _HOUR)
            first = at
            kind = "upload" if rng.random() < model.upload_share else "grade"
            session = f"{column.ref}#{len(spans) + 1}"
            for user in graded[done : done + size]:
                score = _score(rng, column.possible)
                rows.append((at, kind, course.id, column.ref, user, score, session))
                if kind == "grade":
                    at += int(rng.uniform(fast, slow) * 1000)
            spans.append((first, rows[-1][0]))
            done += size
        column.spans = spans
        return rows

    def _revisions(self, course: _Course, day: int) -> list[Row]:
        """A day's corrections, overrides and exemptions of grades of columns already due."""
        model = self.model
        rate = self._revision_rate(course, day * _DAY)
        if rate == 0:
            return []
        rng = random.Random(derive.mix(self.seed, 47, course.index, day))
        count = _poisson(rng, rate * self._day_sums[day % 7])
        due = [c for c in course.columns if c.due <= day * _DAY]
        rows: list[Row] = []
        for _ in range(count):
            hour = bisect.bisect_right(self._hours, rng.random() * self._hours[-1])
            at = day * _DAY + hour * _HOUR + int(rng.random() * _HOUR)
            roll = rng.random()
            column = rng.choice(due)
            roster = self._roster(course, at)
            if not roster:
                continue
            user = rng.choice(roster)
            value: float | str | bool
            if roll < model.correction_share:
                kind, value = "correction", _score(rng, column.possible)
            elif roll < model.correction_share + model.override_share:
                kind, value = "override", rng.choice(derive.OVERRIDE_TEXTS)
            else:
                kind, value = "exemption", True
            rows.append((at, kind, course.id, column.ref, user, value, None))
        return rows

    # -- the rates ----------------------------------------------------------------------------

    def rate(self, course_id: str, at: datetime) -> float:
        """The true expected number of grade edits of the course in the hour that holds ``at``
        (a sitting's grades counted in the hour it starts); 0 for a child of a cross-listed set,
        whose grades are its parent's."""
        course = self._gradebook(course_id)
        return 0.0 if course is None else self._hourly(course, self._ms(at) // _HOUR)

    def expected(self, course_id: str, since: datetime, until: datetime) -> float:
        """The true expected number of grade edits of the course in ``[since, until)``."""
        course = self._gradebook(course_id)
        low, high = self._ms(since), self._ms(until)
        if course is None or high <= low:
            return 0.0
        first, last = low // _HOUR, (high - 1) // _HOUR
        # The share of the first and the last hour inside the window.
        head = 1 - (low - first * _HOUR) / _HOUR
        tail = 1 - ((last + 1) * _HOUR - high) / _HOUR
        if first == last:
            head = tail = (high - low) / _HOUR
        total = 0.0
        for hour in range(first, last + 1):
            share = head if hour == first else tail if hour == last else 1.0
            day = hour // 24 * _DAY
            total += share * self._revision_rate(course, day) * self._profile[hour % 168]
        for column in course.columns:
            due = column.due // _HOUR
            _, chances = self._table(column)
            lags = range(max(0, first - due), min(len(chances), last - due + 1))
            if not lags:
                continue
            part = sum(chances[lags.start : lags.stop])
            if lags.start == first - due:
                part -= (1 - head) * chances[lags.start]
            if lags.stop - 1 == last - due and (first != last or lags.start != first - due):
                part -= (1 - tail) * chances[lags.stop - 1]
            total += self._graded_count(course, column) * part
        return total

    def due_dates(self, course_id: str) -> dict[str, datetime]:
        """The columns the course grades over the term and when each is due, by due date (the
        final last; a column the model adds named by ``externalId:``); none for a dormant
        course or a child of a cross-listed set."""
        course = self._gradebook(course_id)
        columns = [] if course is None else course.columns
        return {column.ref: self._at(column.due) for column in columns}

    def column_due(self, sim: SimCourse, column: ColumnInfo) -> datetime | None:
        """When the plan has ``column`` of ``sim`` due; None for a column it does not grade.
        While the plan plays, the world serves this as the column's ``grading.due``
        (``World.due``): it draws the course when first asked, as the edits do."""
        if sim.parent is not None:
            return None
        external = None if column.external_id is None else f"externalId:{column.external_id}"
        for planned in self._course(sim.index).columns:
            if planned.key == column.number or (planned.key < 0 and planned.ref == external):
                return self._at(planned.due)
        return None

    def _gradebook(self, course_id: str) -> _Course | None:
        sim = self.world.resolve_course(course_id)
        return None if sim.parent is not None else self._course(sim.index)

    def _hourly(self, course: _Course, hour: int) -> float:
        total = self._revision_rate(course, hour // 24 * _DAY) * self._profile[hour % 168]
        for column in course.columns:
            lag = hour - column.due // _HOUR
            _, chances = self._table(column)
            if 0 <= lag < len(chances):
                total += self._graded_count(course, column) * chances[lag]
        return total

    def _graded_count(self, course: _Course, column: _Column) -> int:
        if column.graded is None:
            roster = self._roster(course, column.due)
            column.graded = _graded(len(roster), self.model.graded_share)
        return column.graded

    def _revision_rate(self, course: _Course, day_start: int) -> float:
        """Revisions per hour of mean activity on the day starting at ``day_start``."""
        first_due = course.first_due
        if course.activity == 0 or first_due is None:
            return 0.0
        if day_start < max(first_due, self._term) or day_start >= self._term_end:
            return 0.0
        rate = self.model.revisions_per_week * course.activity / 168
        if day_start >= self._term_end - _WEEK:
            rate *= self.model.final_week_surge
        return rate

    def _table(self, column: _Column) -> tuple[list[float], list[float]]:
        """The cumulative weights, and the chances, of the hour a sitting starts after a due
        date on this weekday: the lag weighed by the day and week profile."""
        key = (column.final, column.due // _DAY % 7)
        table = self._tables.get(key)
        if table is None:
            first = column.due // _HOUR % 168
            weights = [
                lag * self._profile[(first + h) % 168] for h, lag in enumerate(self._lag[key[0]])
            ]
            total = sum(weights)
            table = self._tables[key] = (
                list(itertools.accumulate(weights)),
                [w / total for w in weights],
            )
        return table

    # -- what the model fixes for a course ahead of time ----------------------------------------

    def _course(self, index: int) -> _Course:
        course = self._courses.get(index)
        if course is None:
            course = self._courses[index] = self._draw(self.world.courses[index])
        return course

    def _draw(self, sim: SimCourse) -> _Course:
        model, seed, index = self.model, self.seed, sim.index
        rng = random.Random(derive.mix(seed, 41, index))
        dormant = rng.random() < model.dormant_share
        activity = 0.0 if dormant else rng.lognormvariate(0.0, model.activity_sigma)
        course = _Course(index, sim.id, activity, [], [], None)
        if activity > 0:
            course.columns = self._columns(sim, rng, activity)
        if course.columns:
            self._add_column(course, random.Random(derive.mix(seed, 42, index)))
        self._enrolments(course, random.Random(derive.mix(seed, 44, index)))
        course.columns.sort(key=lambda c: c.due)
        return course

    def _columns(self, sim: SimCourse, rng: random.Random, activity: float) -> list[_Column]:
        """The columns the course grades: some of its own, spread over the term, and the last
        one as its final, due in the final week."""
        model = self.model
        own = [c for c in self.world.columns(sim) if not c.calculated]
        if not own:
            return []
        count = min(len(own), max(1, round(activity * model.columns_median)))
        picked = sorted(rng.sample(range(len(own) - 1), count - 1))
        weeks = model.term_weeks - 2
        columns = []
        for k, j in enumerate(picked):
            week = 1 + int((k + rng.random()) * weeks / len(picked))
            day = week * 7 + self._weekday(rng, week * 7)
            due = self._due(day)
            columns.append(_Column(own[j].id, own[j].number, own[j].possible, due, False))
        day = (model.term_weeks - 1) * 7 + rng.randrange(model.final_due_days)
        final = own[-1]
        columns.append(_Column(final.id, final.number, final.possible, self._due(day), True))
        return columns

    def _add_column(self, course: _Course, rng: random.Random) -> None:
        model = self.model
        if rng.random() >= model.added_column_share:
            return
        third = model.term_weeks * 7 / 3
        day = int(third + rng.random() * third)
        hour = bisect.bisect_right(self._hours, rng.random() * self._hours[-1])
        at = self._term + day * _DAY + hour * _HOUR + int(rng.random() * _HOUR)
        if at < self._start:
            return
        ref = f"externalId:ACT-{course.index:05d}-{self.seed}"
        due = self._due(day + model.added_column_due_days)
        course.columns.append(_Column(ref, -1, ADDED_POSSIBLE, due, False))
        course.added_at = at

    def _enrolments(self, course: _Course, rng: random.Random) -> None:
        """Students added and dropped in the term's first weeks; only those at or after the
        start are planned."""
        model = self.model
        adds = _poisson(rng, model.enrolment_adds)
        drops = _poisson(rng, model.enrolment_drops)
        cumulative = self._enrolment
        times = []
        for _ in range(adds + drops if cumulative else 0):
            hour = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
            times.append(self._term + hour * _HOUR + int(rng.random() * _HOUR))
        if not any(t >= self._start for t in times):
            return
        students = self._students(course)
        enrolled = set(students)
        pool = self.world.spec.pool
        newcomers: list[str] = []
        while len(newcomers) < adds and len(enrolled) < pool:
            user = derive.primary(derive.USER_BASE + rng.randrange(pool))
            if user not in enrolled:
                enrolled.add(user)
                newcomers.append(user)
        leaving = rng.sample(students, min(drops, len(students)))
        planned = [(at, "enrol", user) for at, user in zip(times, newcomers, strict=False)]
        planned += [(at, "drop", user) for at, user in zip(times[adds:], leaving, strict=False)]
        course.changes = sorted((c for c in planned if c[0] >= self._start), key=itemgetter(0))

    def _enrolment_hours(self) -> list[float]:
        """Cumulative profile weights of the hours of the enrolment weeks."""
        hours = round(self.model.enrolment_weeks * 168)
        first = self._term // _HOUR
        return list(itertools.accumulate(self._profile[(first + h) % 168] for h in range(hours)))

    def _weekday(self, rng: random.Random, first_day: int) -> int:
        """A day of the week that starts ``first_day`` days into the term, by due weekday."""
        start = (self._term // _DAY + first_day) % 7
        cumulative = self._weekdays.get(start)
        if cumulative is None:
            weights = (self.model.due_weekdays[(start + k) % 7] for k in range(7))
            cumulative = self._weekdays[start] = list(itertools.accumulate(weights))
        return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])

    def _due(self, day: int) -> int:
        """Due at the end of the term's ``day`` (the midnight that ends it)."""
        return self._term + (day + 1) * _DAY

    # -- who is enrolled ------------------------------------------------------------------------

    def _students(self, course: _Course) -> list[str]:
        if course.students is None:
            course.students = self.world.student_ids(course.id)
        return course.students

    def _roster(self, course: _Course, at: int) -> list[str]:
        """The course's active students at ``at``, by the plan's own enrolment changes."""
        students = self._students(course)
        if not course.changes or course.changes[0][0] >= at:
            return students
        dropped = {user for t, kind, user in course.changes if kind == "drop" and t < at}
        added = [user for t, kind, user in course.changes if kind == "enrol" and t < at]
        return [s for s in students if s not in dropped] + added


def plan(
    world: World,
    model: ActivityModel | None = None,
    *,
    start: datetime | None = None,
    horizon: timedelta = timedelta(days=7),
) -> list[PlannedEdit]:
    """The model's changes to ``world`` in ``[start, start + horizon)``, sorted by time."""
    activity = ActivityPlan(world, model, start=start)
    return activity.edits(activity.start + horizon)


def _score(rng: random.Random, possible: float) -> float:
    """A score out of ``possible``: most between 60 and 100 percent, a mean of 80."""
    return round(possible * (1 - 0.6 * rng.random() ** 2), 2)


def _graded(students: int, share: float) -> int:
    return min(students, round(students * share))


def _sitting_size(rng: random.Random, left: int, least: int, most: int) -> int:
    """The next sitting's size: ``least`` to ``most``, leaving none or at least ``least``."""
    size = rng.randint(least, most)
    if left - size < least:
        size = left if left <= most else max(least, min(most, left - least))
    return size


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (by products of uniforms; a rounded normal above 30)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
