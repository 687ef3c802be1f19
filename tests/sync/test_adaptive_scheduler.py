"""The adaptive scheduler on a manual clock, against a sync engine whose courses change at known
rates: the budget goes to the busy courses, a quiet one still comes round within
``max_interval``, failures back off and recover (said once each), and a stop drains."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections import defaultdict
from datetime import timedelta
from typing import Any, cast

from structlog.testing import capture_logs

from gradesync.clock import ManualClock
from gradesync.models import Course
from gradesync.store.protocol import CourseOutlook
from gradesync.sync.budget import DailyBudget
from gradesync.sync.cycle import CourseResult, Syncer
from gradesync.sync.scheduler import Scheduler, SchedulerOptions

HOUR = 3_600.0
DAY = 86_400.0


class ProgrammedSyncer:
    """The engine's seam as the scheduler sees it: each course makes Poisson edits at its own
    rate; a poll costs one request of the budget, and two more when it finds edits."""

    def __init__(self, clock: ManualClock, budget: DailyBudget, rates: dict[str, float]) -> None:
        self.clock = clock
        self.budget = budget
        self.rates = rates  # edits per hour
        self.rng = random.Random(7)
        self.polls: dict[str, list[float]] = defaultdict(list)
        self.failing: set[str] = set()
        self.hanging: set[str] = set()
        self.cancelled: list[str] = []
        self._last: dict[str, float] = {}

    async def list_courses(self) -> list[Course]:
        await self.budget.acquire()
        return [Course.model_validate({"id": c, "courseId": c}) for c in self.rates]

    async def sync_course(self, course: Course, *, full: bool = False) -> CourseResult:
        await self.budget.acquire()
        now = self.clock.monotonic()
        self.polls[course.id].append(now)
        result = CourseResult(course.id, "c", self.clock.now(), strategy="changelog")
        result.reads["log"] = 1
        if course.id in self.hanging:
            try:
                await asyncio.Event().wait()
            finally:
                self.cancelled.append(course.id)
        if course.id in self.failing:
            result.error = "RetriableLearnError: GET .../logs answered 503"
            result.finished = self.clock.now()
            return result
        edits = self._edits_since_last_poll(course.id, now)
        result.logged = [self.clock.now()] * edits
        if edits:
            for _ in range(2):
                await self.budget.acquire()
            result.reads["delta"] = 2
        result.finished = self.clock.now()
        return result

    def _edits_since_last_poll(self, course_id: str, now: float) -> int:
        since = self._last.get(course_id, now)
        self._last[course_id] = now
        return self._poisson(self.rates[course_id] * (now - since) / HOUR)

    def _poisson(self, mean: float) -> int:
        limit, k, p = math.exp(-mean), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k


def scheduler(
    rates: dict[str, float], *, limit: int = 600, **options: Any
) -> tuple[Scheduler, ProgrammedSyncer, ManualClock, DailyBudget]:
    clock = ManualClock()
    budget = DailyBudget(limit, clock)
    syncer = ProgrammedSyncer(clock, budget, rates)
    settings = SchedulerOptions(
        interval=timedelta(minutes=15), jitter=timedelta(seconds=30), **options
    )
    made = Scheduler(cast(Syncer, syncer), clock, settings, rng=random.Random(3), budget=budget)
    return made, syncer, clock, budget


async def run_for(made: Scheduler, clock: ManualClock, seconds: float) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(made.run(stop))
    for _ in range(round(seconds / 60)):
        await clock.advance(60)
    stop.set()
    for _ in range(5):  # past the drain deadline, on the same clock
        await clock.advance(60)
    await asyncio.wait_for(running, 5)


RATES = {
    **{f"hot-{n}": 4.0 for n in range(3)},  # grading now: four edits an hour
    **{f"warm-{n}": 0.2 for n in range(5)},
    **{f"quiet-{n}": 0.0 for n in range(12)},
}


async def test_a_busy_course_is_polled_far_more_than_a_quiet_one() -> None:
    made, syncer, clock, _ = scheduler(RATES)
    await run_for(made, clock, 3 * DAY)
    hot = min(len(syncer.polls[c]) for c in RATES if c.startswith("hot"))
    warm = [len(syncer.polls[c]) for c in RATES if c.startswith("warm")]
    quiet = max(len(syncer.polls[c]) for c in RATES if c.startswith("quiet"))
    assert hot > 5 * quiet, (hot, warm, quiet)
    assert hot > max(warm) > quiet
    assert made.states["hot-0"].pace == "hot" and made.states["quiet-0"].pace == "cold"


async def test_a_quiet_course_never_waits_past_max_interval() -> None:
    # A budget that binds (hot courses would take more) but whose tokens come every 36 s.
    made, syncer, clock, _ = scheduler(RATES, limit=2_400, max_interval=timedelta(hours=8))
    await run_for(made, clock, 3 * DAY)
    for course_id in (c for c in RATES if c.startswith("quiet")):
        polls = syncer.polls[course_id]
        gaps = [b - a for a, b in itertools.pairwise(polls)]
        assert len(polls) >= 8, (course_id, polls)
        # Within max_interval, give or take the wait for a request's token of the budget.
        assert max(gaps) <= 8 * HOUR + 180, (course_id, max(gaps) / HOUR)
        assert 3 * DAY - polls[-1] <= 8 * HOUR + 180


async def test_the_daily_budget_is_never_exceeded_and_mostly_spent() -> None:
    busy = {f"c{n}": 20.0 / (n + 1) for n in range(40)}  # more demand than the budget holds
    limit = 400
    made, _, clock, budget = scheduler(busy, limit=limit)
    stamps: list[float] = []
    acquire = budget.acquire

    async def counted() -> None:
        await acquire()
        stamps.append(clock.monotonic())

    budget.acquire = counted  # type: ignore[method-assign]
    await run_for(made, clock, 3 * DAY)
    start = 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - DAY:
            start += 1
        assert end - start + 1 <= limit, f"{end - start + 1} requests within one day"
    assert len(stamps) >= 2.5 * limit  # the budget, not the plan, was the limit


async def test_a_failing_course_backs_off_and_recovers_said_once_each() -> None:
    made, syncer, clock, _ = scheduler({"hot": 4.0, "broken": 4.0})
    syncer.failing.add("broken")
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(made.run(stop))
        for _ in range(3 * 60):  # three hours failing
            await clock.advance(60)
        tries = len(syncer.polls["broken"])
        assert made.states["broken"].failing_since is not None
        syncer.failing.clear()
        for _ in range(2 * 60):
            await clock.advance(60)
        stop.set()
        for _ in range(5):
            await clock.advance(60)
        await asyncio.wait_for(running, 5)
    names = [e["event"] for e in logs if e.get("course_id") == "broken"]
    assert names.count("course.failing") == 1
    assert names.count("course.recovered") == 1
    assert 3 <= tries <= 24, f"{tries} tries in three hours: backoff, not every minute"
    assert len(syncer.polls["broken"]) > tries  # polled again once it recovered
    assert made.states["broken"].failing_since is None


async def test_a_stop_drains_then_cancels_a_hung_cycle_cleanly() -> None:
    made, syncer, clock, _ = scheduler({"fine": 1.0, "hung": 1.0})
    syncer.hanging.add("hung")
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(made.run(stop))
        for _ in range(12):
            await clock.advance(10)
        assert "hung" in made.running_since
        stop.set()
        for _ in range(5):  # past drain_timeout (30 s)
            await clock.advance(10)
        await asyncio.wait_for(running, 5)
    names = [e["event"] for e in logs]
    assert "scheduler.draining" in names and "scheduler.abandoned" in names
    assert syncer.cancelled == ["hung"]
    assert not made.running_since
    assert running.exception() is None


class OutlookStore:
    """The scheduler's side of the state: every course has ``columns`` columns; paces kept."""

    def __init__(self, courses: list[str], columns: int) -> None:
        self.outlook = {c: CourseOutlook(columns=columns, members=30) for c in courses}
        self.saved: dict[str, str] = {}
        self.profile: str | None = None

    async def set_pace(self, course_id: str, **pace: Any) -> None:
        self.saved[course_id] = pace["estimate"]

    async def paces(self) -> dict[str, str]:
        return dict(self.saved)

    async def scheduler_state(self, name: str) -> str | None:
        return self.profile

    async def set_scheduler_state(self, name: str, data: str) -> None:
        self.profile = data

    async def course_outlook(self) -> dict[str, CourseOutlook]:
        return self.outlook


class ColumnReadingSyncer(ProgrammedSyncer):
    """Without the log: a poll reads every column by changeIndex, ``columns`` requests."""

    columns = 10

    async def sync_course(self, course: Course, *, full: bool = False) -> CourseResult:
        for _ in range(self.columns):
            await self.budget.acquire()
        now = self.clock.monotonic()
        self.polls[course.id].append(now)
        result = CourseResult(course.id, "c", self.clock.now(), strategy="changeindex")
        result.reads["delta"] = self.columns
        edits = self._edits_since_last_poll(course.id, now)
        if edits:
            result.events["gradesync.grade.updated"] = edits
        result.finished = self.clock.now()
        return result


async def test_without_the_log_the_plan_prices_a_poll_at_its_columns() -> None:
    clock = ManualClock()
    limit = 2_000
    budget = DailyBudget(limit, clock)
    syncer = ColumnReadingSyncer(clock, budget, RATES)
    store = OutlookStore(list(RATES), ColumnReadingSyncer.columns)
    made = Scheduler(
        cast(Syncer, syncer),
        clock,
        SchedulerOptions(interval=timedelta(minutes=15), jitter=timedelta(seconds=30)),
        rng=random.Random(3),
        store=store,
        budget=budget,
    )
    with capture_logs() as logs:
        await run_for(made, clock, 3 * DAY)
    hot = min(len(syncer.polls[c]) for c in RATES if c.startswith("hot"))
    quiet = max(len(syncer.polls[c]) for c in RATES if c.startswith("quiet"))
    assert hot > 3 * quiet, (hot, quiet)
    plans = [e for e in logs if e["event"] == "scheduler.planned"]
    # The plan expects ten requests a poll: it plans polls for the budget, not ten times it.
    assert all(p["planned_per_day"] <= limit for p in plans)
    polls = sum(len(p) for p in syncer.polls.values())
    assert polls * ColumnReadingSyncer.columns <= 3 * limit
    assert store.saved, "the estimates were kept in the state"
