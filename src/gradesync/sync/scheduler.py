"""The scheduler of ``gradesync run``: per-course cycles at an interval with jitter.

Each course has its own next-due time. A failing course backs off by gradesync's one policy
(:mod:`gradesync.backoff`: full jitter, capped, the server's ``Retry-After`` a floor) without
holding up the others; the failure is logged when it starts and when it recovers, not on every
try. Stopping is a state: no new cycle starts, the running ones get ``drain_timeout`` to
finish, then they are cancelled (a cancelled cycle has committed nothing, so nothing is lost:
it is read again next time).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

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
from gradesync.sync.cycle import CourseResult, Syncer

log = structlog.get_logger("gradesync.scheduler")

# Courses due within this many seconds start now, and no wait is shorter: a wait far below the
# clock's resolution would wake at the same instant and spin (on a simulated clock, for ever).
TICK = 0.001


@dataclass
class CoursePace:
    next_due: float = 0.0
    failures: int = 0
    failing_since: float | None = None
    last_error: str | None = None


@dataclass
class SchedulerOptions:
    interval: timedelta = timedelta(minutes=15)
    jitter: timedelta = timedelta(seconds=30)
    concurrency: int = 4
    drain_timeout: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)


@dataclass
class Scheduler:
    syncer: Syncer
    clock: Clock
    options: SchedulerOptions
    on_result: Callable[[CourseResult], Awaitable[None]] | None = None
    heartbeat: Callable[[], None] | None = None
    rng: random.Random = field(default_factory=random.Random)
    states: dict[str, CoursePace] = field(default_factory=dict)
    courses: dict[str, Course] = field(default_factory=dict)
    cycles: int = 0
    fatal: FatalLearnError | None = None
    state_failing: bool = False  # the last commit to the state failed (disk full, I/O error)
    running_since: dict[str, float] = field(default_factory=dict)  # course id -> monotonic start
    _courses_due: float = 0.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def stuck(self, after: float) -> dict[str, float]:
        """Courses whose running cycle started more than ``after`` seconds ago, with its age."""
        now = self.clock.monotonic()
        ages = {course_id: now - since for course_id, since in self.running_since.items()}
        return {course_id: age for course_id, age in ages.items() if age > after}

    def _jitter(self) -> float:
        return self.rng.uniform(0, self.options.jitter.total_seconds())

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
        for course_id in self.courses:
            # New courses start spread over the first interval, not all at once.
            self.states.setdefault(course_id, CoursePace(next_due=now + self._jitter()))
        for gone in set(self.states) - set(self.courses):
            del self.states[gone]
        self._courses_due = now + self.options.interval.total_seconds()

    async def _run_course(self, course: Course) -> None:
        state = self.states.setdefault(course.id, CoursePace())
        result = await self.syncer.sync_course(course)
        now = self.clock.monotonic()
        interval = self.options.interval.total_seconds()
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
            state.failures, state.failing_since, state.last_error = 0, None, None
            state.next_due = now + interval + self._jitter()
        else:
            if state.failing_since is None:
                state.failing_since = now
                log.warning("course.failing", course_id=course.id, reason=result.error)
            state.failures += 1
            state.last_error = result.error
            policy = Backoff(
                base=min(interval, 30.0), cap=self.options.max_backoff.total_seconds(), rng=self.rng
            )
            state.next_due = now + policy.delay(state.failures - 1, result.retry_after)
        self.cycles += 1
        await self.syncer.record_next_due(course.id, state.next_due - now)
        if self.on_result is not None:
            await self.on_result(result)

    async def run(self, stop: asyncio.Event) -> None:
        """Schedule cycles until ``stop`` is set, then drain within the deadline."""
        running: dict[str, asyncio.Task[None]] = {}
        try:
            while not stop.is_set() and self.fatal is None:
                if self.heartbeat is not None:
                    self.heartbeat()
                if not await self._unless_stopped(self._refresh_courses(), stop):
                    break
                now = self.clock.monotonic()
                due = sorted(
                    (s.next_due, cid)
                    for cid, s in self.states.items()
                    if s.next_due <= now + TICK and cid not in running
                )
                for _, course_id in due[: self.options.concurrency - len(running)]:
                    task = asyncio.create_task(self._run_course(self.courses[course_id]))
                    running[course_id] = task
                    self.running_since[course_id] = self.clock.monotonic()
                    task.add_done_callback(functools.partial(self._finished, running, course_id))
                await self._wait(stop, running)
        finally:
            await self._drain(running)
        if self.fatal is not None:
            raise self.fatal

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

    def _finished(
        self, running: dict[str, asyncio.Task[None]], course_id: str, _: asyncio.Task[None]
    ) -> None:
        task = running.pop(course_id, None)
        self.running_since.pop(course_id, None)
        error = task.exception() if task is not None and not task.cancelled() else None
        if isinstance(error, FatalLearnError):
            self.fatal = self.fatal or error  # e.g. credentials refused: stop the daemon
        elif isinstance(error, StateError):
            # A full disk or an I/O error: not a bug of the course. Said once until a cycle
            # commits again; the course is tried again after its interval.
            if not self.state_failing:
                self.state_failing = True
                log.error("state.write_failed", path=error.path, reason=error.reason or str(error))
            self.states.setdefault(course_id, CoursePace()).next_due = (
                self.clock.monotonic() + self.options.interval.total_seconds()
            )
        elif error is not None:
            log.error("course.crashed", course_id=course_id, error=repr(error))
            self.states.setdefault(course_id, CoursePace()).next_due = (
                self.clock.monotonic() + self.options.interval.total_seconds()
            )
        self._wake.set()

    async def _wait(self, stop: asyncio.Event, running: dict[str, asyncio.Task[None]]) -> None:
        now = self.clock.monotonic()
        idle = [s.next_due for cid, s in self.states.items() if cid not in running]
        horizon = min([*idle, self._courses_due]) - now
        heartbeat = 5.0  # the loop must tick often enough for the watchdog
        wait = max(TICK, min(horizon, heartbeat))
        if len(running) >= self.options.concurrency:
            wait = heartbeat
        self._wake.clear()
        await sleep_or_event(self.clock, wait, stop, self._wake)

    async def _drain(self, running: dict[str, asyncio.Task[None]]) -> None:
        if not running:
            return
        log.info("scheduler.draining", cycles_running=len(running))
        tasks = list(running.values())
        finished = asyncio.Event()
        everything = asyncio.gather(*tasks, return_exceptions=True)
        everything.add_done_callback(lambda _: finished.set())
        await sleep_or_event(self.clock, self.options.drain_timeout.total_seconds(), finished)
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            log.warning("scheduler.abandoned", cycles=len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
