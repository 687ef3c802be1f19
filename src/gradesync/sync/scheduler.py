"""The scheduler of ``gradesync run``: which course to read next, and when.

Adaptive by default (``sync.scheduler = "adaptive"``): every course has an estimated edit rate
(:mod:`gradesync.sync.rates`), and once an hour the planner (:mod:`gradesync.sync.planner`)
turns the estimates into poll intervals that spend the daily request budget where grades are
changing: a busy course every few minutes, a quiet one once a day (``sync.max_interval``), never
faster than ``sync.interval``. The plan counts what a poll costs, the reads and the follow-up a
found change triggers included, and leaves :data:`RESERVE` of the budget for the course list,
sweeps and structure refreshes. A course that has just shown a change is read again after
``sync.interval`` (grading comes in sittings), and new courses are read first, busiest first.
``"uniform"`` reads every course every ``sync.interval``.

Each course has its own next-due time. A failing course backs off by gradesync's one policy
(:mod:`gradesync.backoff`) without holding up the others; the failure is logged when it starts
and when it recovers. One task group owns every cycle; stopping is a state: no new cycle
starts, the running ones get ``drain_timeout`` to finish, then they are cancelled (a cancelled
cycle has committed nothing, so nothing is lost: it is read again next time).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

import structlog

from gradesync.backoff import Backoff
from gradesync.clock import Clock, sleep_or_event
from gradesync.errors import (
    FatalLearnError,
    RetriableLearnError,
    SkippableLearnError,
    StateError,
)
from gradesync.models import Course
from gradesync.store import PaceStore
from gradesync.sync.cycle import CourseResult, Syncer
from gradesync.sync.planner import Demand, allocate, pace_of
from gradesync.sync.rates import RateEstimate, WeekProfile, due_rate, prior

log = structlog.get_logger("gradesync.scheduler")

# Courses due within this many seconds start now, and no wait is shorter: a wait far below the
# clock's resolution would wake at the same instant and spin (on a simulated clock, for ever).
TICK = 0.001
HOUR = 3_600.0
REPLAN_EVERY = HOUR
RESERVE = 0.05  # of the budget, beyond what the requests outside polls took in the last hour
PROFILE = "week_profile"  # the scheduler state's name for the institution's week profile


class BudgetView(Protocol):
    """The daily request budget as the planner reads it."""

    @property
    def limit(self) -> int: ...

    @property
    def rate(self) -> float: ...  # requests per second it refills

    @property
    def capacity(self) -> float: ...  # the most it holds

    @property
    def available(self) -> float: ...  # what it holds now

    @property
    def used(self) -> int: ...  # requests it let through so far


@dataclass
class CoursePace:
    next_due: float = 0.0  # monotonic
    failures: int = 0
    failing_since: float | None = None
    estimate: RateEstimate = field(default_factory=RateEstimate)
    interval: float = 0.0  # seconds between polls, as last planned
    pace: str = "new"  # new, hot, warm, cold; backoff while failing
    rate: float = 0.0  # edits per hour expected now, as last planned
    on_log: bool = True  # its last cycle read the log: a quiet poll costs one request


@dataclass
class SchedulerOptions:
    interval: timedelta = timedelta(minutes=15)
    jitter: timedelta = timedelta(seconds=30)
    concurrency: int = 4
    drain_timeout: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    max_interval: timedelta = timedelta(days=1)
    mode: Literal["adaptive", "uniform"] = "adaptive"


@dataclass
class Scheduler:
    syncer: Syncer
    clock: Clock
    options: SchedulerOptions
    on_result: Callable[[CourseResult], Awaitable[None]] | None = None
    heartbeat: Callable[[], None] | None = None
    rng: random.Random = field(default_factory=random.Random)
    store: PaceStore | None = None
    budget: BudgetView | None = None
    states: dict[str, CoursePace] = field(default_factory=dict)
    courses: dict[str, Course] = field(default_factory=dict)
    profile: WeekProfile = field(default_factory=WeekProfile)
    cycles: int = 0
    fatal: FatalLearnError | None = None
    state_failing: bool = False  # the last commit to the state failed (disk full, I/O error)
    running_since: dict[str, float] = field(default_factory=dict)  # course id -> monotonic start
    hit_cost: float = 2.0  # requests a poll that finds edits makes beyond a quiet one (measured)
    overhead: float = 0.0  # requests an hour outside the polls: sweeps, course list (measured)
    _courses_due: float = 0.0
    _plan_due: float = 0.0
    _polled: float = 0.0  # requests the polls made since the last plan (sweeps aside)
    _last_plan: tuple[float, int] | None = None  # when, and the budget's count then
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _running: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def stuck(self, after: float) -> dict[str, float]:
        """Courses whose running cycle started more than ``after`` seconds ago, with its age."""
        now = self.clock.monotonic()
        ages = {course_id: now - since for course_id, since in self.running_since.items()}
        return {course_id: age for course_id, age in ages.items() if age > after}

    def _jitter(self) -> float:
        return self.rng.uniform(0, self.options.jitter.total_seconds())

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Schedule cycles until ``stop`` is set, then drain within the deadline."""
        failure: Exception | None = None
        async with asyncio.TaskGroup() as cycles:
            try:
                await self._loop(stop, cycles)
            except Exception as exc:  # reaches the caller as itself, once the cycles drained
                failure = exc
            await self._drain()  # cancelled instead: the group cancels the cycles at once
        if failure is not None:
            raise failure
        if self.fatal is not None:
            raise self.fatal

    async def _loop(self, stop: asyncio.Event, cycles: asyncio.TaskGroup) -> None:
        await self._resume()
        while not stop.is_set() and self.fatal is None:
            if self.heartbeat is not None:
                self.heartbeat()
            if not await self._unless_stopped(self._refresh_courses(), stop):
                return
            now = self.clock.monotonic()
            if now >= self._plan_due - TICK:
                await self._replan()
            free = self.options.concurrency - len(self._running)
            due = sorted(
                (s.next_due, -s.rate, cid)
                for cid, s in self.states.items()
                if s.next_due <= now + TICK and cid not in self._running
            )
            for _, _, course_id in due[: max(0, free)]:
                self.running_since[course_id] = now
                self._running[course_id] = cycles.create_task(
                    self._guarded(self.courses[course_id])
                )
            await self._wait(stop)

    async def _unless_stopped(self, work: Awaitable[None], stop: asyncio.Event) -> bool:
        """Run ``work`` unless ``stop`` comes first (a listing may wait long on the budget);
        False when stopped."""
        task = asyncio.ensure_future(work)
        finished = asyncio.Event()
        task.add_done_callback(lambda _: finished.set())
        await sleep_or_event(self.clock, None, finished, stop)
        if task.done():
            task.result()
            return True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False

    async def _wait(self, stop: asyncio.Event) -> None:
        now = self.clock.monotonic()
        idle = [s.next_due for cid, s in self.states.items() if cid not in self._running]
        horizon = min([*idle, self._courses_due, self._plan_due]) - now
        heartbeat = 5.0  # the loop must tick often enough for the watchdog
        wait = max(TICK, min(horizon, heartbeat))
        if len(self._running) >= self.options.concurrency:
            wait = heartbeat
        self._wake.clear()
        await sleep_or_event(self.clock, wait, stop, self._wake)

    async def _drain(self) -> None:
        if not self._running:
            return
        log.info("scheduler.draining", cycles_running=len(self._running))
        tasks = list(self._running.values())
        finished = asyncio.Event()
        everything = asyncio.gather(*tasks, return_exceptions=True)
        everything.add_done_callback(lambda _: finished.set())
        await sleep_or_event(self.clock, self.options.drain_timeout.total_seconds(), finished)
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            log.warning("scheduler.abandoned", cycles=len(pending))
        await asyncio.gather(everything, return_exceptions=True)

    # -- the course list and the plan --------------------------------------------------------

    async def _resume(self) -> None:
        """Take up what the state knows: each course's estimate and the week profile."""
        if self.store is None:
            return
        self.profile = WeekProfile.from_json(await self.store.scheduler_state(PROFILE))
        for course_id, text in (await self.store.paces()).items():
            self.states.setdefault(course_id, CoursePace()).estimate = RateEstimate.from_json(text)

    async def _refresh_courses(self) -> None:
        now = self.clock.monotonic()
        if now < self._courses_due:
            return
        try:
            listed = await self.syncer.list_courses()
        except (RetriableLearnError, SkippableLearnError) as exc:
            log.warning("courses.unreadable", reason=str(exc))
            self._courses_due = now + min(60.0, self.options.interval.total_seconds())
            return
        self.courses = {c.id: c for c in listed}
        new = [course_id for course_id in self.courses if course_id not in self.states]
        for course_id in new:
            self.states[course_id] = CoursePace(next_due=now + self._jitter())
        for gone in set(self.states) - set(self.courses):
            del self.states[gone]
        self._courses_due = now + self._list_every()
        if new:
            self._plan_due = now  # plan the new courses in at once

    def _measure_overhead(self, now: float) -> None:
        """The requests an hour that went to anything but polls since the last plan (sweeps
        within their share, the course list, structure refreshes): the plan leaves them
        room, so that polls do not queue behind them."""
        assert self.budget is not None
        used = self.budget.used
        if self._last_plan is not None:
            since, before = self._last_plan
            hours = (now - since) / HOUR
            if hours >= 0.25:
                other = max(0.0, used - before - self._polled) / hours
                self.overhead = 0.5 * self.overhead + 0.5 * other
        self._last_plan, self._polled = (now, used), 0.0

    def _list_every(self) -> float:
        """How often the course list is read: every interval when uniform; hourly, with the
        plan, when adaptive (at 2,000 courses a listing is twenty pages)."""
        shortest = self.options.interval.total_seconds()
        return shortest if self.options.mode == "uniform" else max(shortest, REPLAN_EVERY)

    async def _replan(self) -> None:
        """Turn every course's estimate into its poll interval; one line with the totals."""
        now, at = self.clock.monotonic(), self.clock.now()
        self._plan_due = now + REPLAN_EVERY
        shortest = self.options.interval.total_seconds()
        if self.options.mode == "uniform" or self.budget is None:
            for state in self.states.values():
                state.interval, state.pace = shortest, "uniform"
            return
        outlook = await self.store.course_outlook() if self.store is not None else {}
        weight = self.profile.weight(at)
        demands = []
        for course_id, state in self.states.items():
            known = outlook.get(course_id)
            if state.estimate.last_poll is None and known and known.last_success:
                # Read before the state kept estimates: its last good cycle was its last poll.
                state.estimate.last_poll = known.last_success
            expected = prior(state.estimate.last_change, at)
            coming = due_rate(known.due, known.members, at) if known else 0.0
            state.rate = (state.estimate.rate(expected) + coming) * weight
            change_rate = state.estimate.change_rate(expected) * weight
            # A quiet poll costs one request on the log, one per column by changeIndex.
            cost = 1.0 if state.on_log or known is None else max(1.0, float(known.columns))
            demands.append(Demand(course_id, state.rate, change_rate, cost))
        self._measure_overhead(now)
        budget = self.budget.rate * HOUR * (1 - RESERVE) - self.overhead
        plan = allocate(
            demands,
            budget_per_hour=budget,
            hit_cost=self.hit_cost,
            shortest_hours=shortest / HOUR,
            longest_hours=self.options.max_interval.total_seconds() / HOUR,
        )
        for course_id, per_hour in plan.per_hour.items():
            state = self.states[course_id]
            state.interval = HOUR / per_hour
            if state.estimate.last_poll is None:
                state.pace = "new"
                state.next_due = min(state.next_due, now)  # first reads first, busiest first
            else:
                state.pace = pace_of(state.interval / HOUR)
                if course_id not in self._running and state.failing_since is None:
                    state.next_due = self._due_after_plan(state, now, at)
        paces = [s.pace for s in self.states.values()]
        log.info(
            "scheduler.planned",
            courses=len(self.states),
            new=paces.count("new"),
            hot=paces.count("hot"),
            warm=paces.count("warm"),
            cold=paces.count("cold"),
            backoff=sum(1 for s in self.states.values() if s.failing_since is not None),
            planned_per_day=round(plan.requests_per_hour * 24),
            budget_per_day=self.budget.limit,
            reserve=RESERVE,
            overhead_per_day=round(self.overhead * 24),
            budget_level=round(self.budget.available / self.budget.capacity, 2),
            max_interval_held=plan.floor_held,
        )
        if self.store is not None:
            await self.store.set_scheduler_state(PROFILE, self.profile.to_json())

    def _due_after_plan(self, state: CoursePace, now: float, at: datetime) -> float:
        """The next poll of a course a new plan re-paces: its interval after the last poll; if
        that has passed, soon, spread over the shortest pace so the courses do not start at
        once."""
        last = state.estimate.last_poll
        assert last is not None
        due = now - (at - last).total_seconds() + state.interval
        if due >= now:
            return min(due, state.next_due) if state.next_due > now else due
        return now + self.rng.uniform(0, min(state.interval, self.options.interval.total_seconds()))

    # -- one course --------------------------------------------------------------------------

    async def _guarded(self, course: Course) -> None:
        """One course's cycle; whatever it raises stays with the course (a fatal error stops
        the daemon, a state error is said once), so the task group never fails for it."""
        try:
            await self._run_course(course)
        except FatalLearnError as exc:
            self.fatal = self.fatal or exc  # e.g. credentials refused: stop the daemon
        except StateError as exc:
            # A full disk or an I/O error: not a bug of the course. Said once until a cycle
            # commits again; the course is tried again after the shortest pace.
            if not self.state_failing:
                self.state_failing = True
                log.error("state.write_failed", path=exc.path, reason=exc.reason or str(exc))
            self._retry_later(course.id)
        except Exception as exc:
            log.error("course.crashed", course_id=course.id, error=repr(exc))
            self._retry_later(course.id)
        finally:
            self._running.pop(course.id, None)
            self.running_since.pop(course.id, None)
            self._wake.set()

    def _retry_later(self, course_id: str) -> None:
        state = self.states.setdefault(course_id, CoursePace())
        state.next_due = self.clock.monotonic() + self.options.interval.total_seconds()

    async def _run_course(self, course: Course) -> None:
        state = self.states.setdefault(course.id, CoursePace())
        result = await self.syncer.sync_course(course)
        now, at = self.clock.monotonic(), self.clock.now()
        if self.state_failing:
            self.state_failing = False
            log.info("state.recovered")
        if result.ok:
            if state.failing_since is not None:
                log.info(
                    "course.recovered",
                    course_id=course.id,
                    failed_for=round(now - state.failing_since, 1),
                    tries=state.failures,
                )
            state.failures, state.failing_since = 0, None
            state.next_due = now + self._next_interval(state, result, at)
        else:
            if state.failing_since is None:
                state.failing_since = now
                log.warning("course.failing", course_id=course.id, reason=result.error)
            state.failures += 1
            shortest = self.options.interval.total_seconds()
            policy = Backoff(
                base=min(shortest, 30.0), cap=self.options.max_backoff.total_seconds(), rng=self.rng
            )
            state.next_due = now + policy.delay(state.failures - 1, result.retry_after)
        self.cycles += 1
        await self._record(course.id, state, now, at)
        if self.on_result is not None:
            await self.on_result(result)

    def _next_interval(self, state: CoursePace, result: CourseResult, at: datetime) -> float:
        """Seconds to the next poll after a good cycle: the planned interval; the shortest pace
        after a change (the sitting goes on); uniform: the interval with jitter."""
        shortest = self.options.interval.total_seconds()
        state.on_log = result.strategy == "changelog"
        edits = (
            len(result.logged) if result.strategy == "changelog" else sum(result.events.values())
        )
        first = state.estimate.last_poll is None
        self.profile.observe(result.logged or [at] * min(edits, 50), at)
        state.estimate.observe(at, edits, self.profile)
        if self.options.mode == "uniform" or self.budget is None:
            return shortest + self._jitter()
        if not result.swept:
            self._polled += sum(result.reads.values())
        if edits and not first:
            self._measure_hit(result)
        interval = state.interval or shortest  # a first read: as the plan placed it new
        if first:
            state.pace = pace_of(interval / HOUR)
        if edits and not first:
            interval = min(interval, shortest)
        longest = self.options.max_interval.total_seconds()
        return min(longest, interval * self.rng.uniform(0.9, 1.1))

    def _measure_hit(self, result: CourseResult) -> None:
        """The requests a poll that found edits made beyond a quiet one, smoothed: on the log,
        every read after it; by changeIndex, the full re-reads (a quiet poll reads every
        column by delta too). A sweep is not a poll's doing."""
        if result.swept:
            return
        if result.reads["log"]:
            beyond = sum(result.reads.values()) - result.reads["log"]
        else:
            beyond = result.reads["full"]
        self.hit_cost = 0.9 * self.hit_cost + 0.1 * float(beyond)

    async def _record(self, course_id: str, state: CoursePace, now: float, at: datetime) -> None:
        """Keep the plan in the state, for ``status`` and for a restart."""
        if self.store is None:
            return
        await self.store.set_pace(
            course_id,
            next_due=at + timedelta(seconds=max(0.0, state.next_due - now)),
            pace="backoff" if state.failing_since is not None else state.pace,
            rate=round(state.rate * 24, 3),
            estimate=state.estimate.to_json(),
        )
