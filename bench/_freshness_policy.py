"""One run of ``bench/freshness.py`` in a process of its own: the first read, or one policy.

Both run gradesync's real service (scheduler, client, engine, store, delivery to a file sink)
against the simulator over loopback HTTP, in one event loop on simulated time
(:mod:`gradesync.simtime`): the simulator's latency and the daily budget's waits take
simulated seconds, so a week of an institution takes minutes.

- :func:`first_read`: one pass over an unedited world at the start instant, with a budget that
  never binds and no baseline events; every policy starts from a copy of that state.
- :func:`run_policy`: a fresh world of the same seed, the realistic activity played from the
  same start, the policy for ``days`` simulated days, then what it detected: each edit of the
  simulator's edit log against the events the policy committed to its outbox.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import heapq
import json
import math
import random
import resource
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gradesync import logs, simtime
from gradesync.config import Settings
from gradesync.daemon import open_service
from gradesync.models import Course
from gradesync.service import Service
from gradesync.simulator import ActivityModel, Faults, World, WorldSpec, serve
from gradesync.simulator.gradelog import Edit
from gradesync.simulator.plan import ActivityPlan
from gradesync.sync.cycle import CourseResult

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0
# Sooner than this is now: the simulated clock moves in steps, a smaller wait would spin.
EARLY = 0.001

POLICIES = (
    "recipe",
    "changeindex_uniform",
    "changelog_uniform",
    "default",
    "log_only_uniform",
    "known_rates",
)
# Only the log: no daily sweep and no structure refresh within the run.
LOG_ONLY = {"strategy": "changelog", "sweep_interval": "400d", "membership_refresh": "400d"}
UNIFORM = {"scheduler": "uniform"}  # every course every sync.interval: the scheduler before

# What each policy changes from gradesync's defaults ([sync] keys). ``default`` changes
# nothing: it is whatever ``gradesync run`` does out of the box.
SYNC_KEYS: dict[str, dict[str, Any]] = {
    # Anthology's recipe, approximated: lastChanged per column, a full re-read of what moved,
    # memberships, categories and the column list read again every cycle.
    "recipe": {"strategy": "lastchanged", "membership_refresh": "1s", **UNIFORM},
    "changeindex_uniform": {"strategy": "changeindex", **UNIFORM},
    "changelog_uniform": {"strategy": "changelog", **UNIFORM},
    "default": {},
    # Not one of the policies: the known-rates poller's settings under the uniform
    # scheduler, which tells what the rates add from what leaving out the sweeps saves.
    "log_only_uniform": LOG_ONLY | UNIFORM,
    "known_rates": LOG_ONLY,
}


@dataclass(frozen=True)
class Shape:
    courses: int
    columns: int
    students: int
    seed: int

    def spec(self) -> WorldSpec:
        """The world ``gradesync simulate`` builds from the same options."""
        return WorldSpec(
            seed=self.seed,
            courses=self.courses,
            columns_per_course=self.columns,
            students_per_course=self.students,
            cross_listed_parents=min(2, self.courses // 3),
        )


def settings_for(
    sim: Any, directory: Path, state: Path, *, budget: int, sync: dict[str, Any], **learn: Any
) -> Settings:
    return Settings.model_validate(
        {
            "learn": {
                "base_url": sim.base_url,
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "daily_request_budget": budget,
                **learn,
            },
            "state": {"path": str(state)},
            "sync": sync,
            "sinks": [{"type": "file", "path": str(directory / f"{state.stem}.jsonl")}],
        }
    )


def rss_mb() -> float:
    """The process's resident memory now, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def simulated(main: Callable[[], Coroutine[Any, Any, dict[str, Any]]], log: Path) -> dict[str, Any]:
    """Run ``main`` on a simulated-time loop, gradesync's log lines (warnings and up) to
    ``log``; adds the real and CPU seconds it took."""
    started, cpu = time.perf_counter(), time.process_time()
    with log.open("w") as stream:
        logs.configure("warning", json=True, stream=stream)
        out = simtime.run(main())
    out["real_s"] = round(time.perf_counter() - started, 1)
    out["cpu_s"] = round(time.process_time() - cpu, 1)
    out["warnings"] = dict(
        Counter(json.loads(line)["event"] for line in log.open() if line[:1] == "{")
    )
    return out


# -- the first read -------------------------------------------------------------------------


def first_read(shape: Shape, state: Path, log: Path) -> dict[str, Any]:
    """Read the unedited world once at the start instant into ``state``."""

    async def main() -> dict[str, Any]:
        clock = simtime.LoopClock()
        world = World(shape.spec(), clock=clock)
        # The columns are due when the activity's plan says (the first read stores the due
        # dates, a prior of the adaptive scheduler); no edit is played during the read.
        plan = ActivityPlan(world, ActivityModel(seed=shape.seed), start=clock.now())
        world.planned_due = plan.column_due
        async with serve(world, clock=clock) as sim:
            settings = settings_for(
                sim,
                state.parent,
                state,
                budget=10_000_000,
                sync={"strategy": "changelog", "emit_baseline": False, "concurrency": 16},
                concurrency=16,
                requests_per_second=1_000_000,
            )
            async with open_service(settings, clock=clock) as service:
                report = await service.run_once()
                requests = service.client.request_count
            took = (clock.now() - simtime.START).total_seconds()
        return {
            "courses": len(report.results),
            "incomplete": len(report.incomplete),
            "requests": requests,
            "simulated_s": round(took, 3),
        }

    return simulated(main, log)


# -- one policy -----------------------------------------------------------------------------


async def _uniform(service: Service, stop: asyncio.Event) -> None:
    """What ``gradesync run`` does: the service's own scheduler, until ``stop``."""
    await service.run(stop)


class KnownRates:
    """A poller of the course log that is told each course's true edit rate.

    Every hour it plans the coming hour from the activity plan's rates (``ActivityPlan.rate``,
    expected grade edits in that hour): course i is polled ``f_i = k * sqrt(rate_i)`` times an
    hour (Cho and Garcia-Molina: for Poisson changes, the expected delay summed over every
    change is least with poll frequencies proportional to the square root of the rates at a
    fixed total). ``k`` is chosen so that the hour's expected requests come to what the daily
    budget refills in an hour (times ``target``, plus what the bucket holds beyond half its
    burst): each poll's log read, and for a poll that finds changes (Poisson: ``1 -
    exp(-rate_i / f_i)``) the reads it makes after it (the named columns and the Calculated
    one), whose number per such poll is measured over the hours before (2 to begin with). A
    course expected to make no edit in the hour is not polled. Every request passes the
    service's client, so the same daily budget gates it. Polls are gradesync's own cycles
    (``Syncer.sync_course``, strategy ``changelog``), ``concurrency`` at a time; the course list
    is read once a day.
    """

    def __init__(
        self,
        service: Service,
        plan: ActivityPlan,
        *,
        target: float = 0.97,
        concurrency: int = 4,
        seed: int = 0,
        max_per_hour: float = 120.0,
    ) -> None:
        self.service = service
        self.plan = plan
        self.target = target
        self.concurrency = concurrency
        self.rng = random.Random(seed)
        self.max_per_hour = max_per_hour
        self.clock = service.clock
        self.courses: dict[str, Course] = {}
        self.interval: dict[str, float] = {}  # seconds between polls; inf: not polled
        self.last_poll: dict[str, float] = {}  # monotonic
        self.due: list[tuple[float, int, str]] = []
        self.version: dict[str, int] = {}
        self.busy: set[str] = set()
        self.polls = 0
        self.plans: list[dict[str, float]] = []
        self.extra = 2.0  # requests after the log read, per poll that finds changes
        self._hour = (0, 0, 0)  # requests, polls, polls that found changes at the last plan
        self._found = 0

    def frequencies(self, rates: dict[str, float], budget: float) -> dict[str, float]:
        """Polls an hour per course: ``k * sqrt(rate)``, ``k`` so the expected cost is
        ``budget`` requests (capped at ``max_per_hour`` per course)."""
        active = {c: r for c, r in rates.items() if r > 0}
        if not active:
            return {}

        def cost(k: float) -> float:
            total = 0.0
            for r in active.values():
                f = min(self.max_per_hour, k * math.sqrt(r))
                total += f + self.extra * f * (1 - math.exp(-r / f))
            return total

        low, high = 0.0, 1.0
        while cost(high) < budget and high < 1e9:
            low, high = high, high * 2
        for _ in range(60):
            mid = (low + high) / 2
            low, high = (mid, high) if cost(mid) < budget else (low, mid)
        return {c: min(self.max_per_hour, low * math.sqrt(r)) for c, r in active.items()}

    def _calibrate(self) -> None:
        """Measure the requests per poll that found changes over the hour just past."""
        requests, polls, found = self.service.budget.used, self.polls, self._found
        spent = requests - self._hour[0] - (polls - self._hour[1])
        hits = found - self._hour[2]
        if hits >= 5:
            self.extra = 0.5 * self.extra + 0.5 * max(0.5, spent / hits)
        self._hour = (requests, polls, found)

    def replan(self) -> None:
        now, at = self.clock.monotonic(), self.clock.now()
        self._calibrate()
        rates = {c: self.plan.rate(c, at) for c in self.courses}
        bucket = self.service.budget
        budget = self.target * bucket.rate * HOUR + max(0.0, bucket.available - bucket.capacity / 2)
        per_hour = self.frequencies(rates, budget)
        self.plans.append(
            {
                "at": now,
                "courses": len(per_hour),
                "polls": sum(per_hour.values()),
                "budget": budget,
                "extra": self.extra,
            }
        )
        for course_id in self.courses:
            f = per_hour.get(course_id, 0.0)
            interval = self.interval[course_id] = HOUR / f if f > 0 else math.inf
            if course_id in self.busy:
                continue  # its poll schedules the next one when it ends
            if course_id not in self.last_poll:
                # The first plan: each course at its own phase within its interval.
                self.last_poll[course_id] = now
                due = now + self.rng.uniform(0, interval) if math.isfinite(interval) else interval
            else:
                due = self.last_poll[course_id] + interval
                if due < now:  # a course that just became busy: soon, spread over a minute
                    due = now + self.rng.uniform(0, min(interval, MINUTE))
            self._schedule(course_id, due)

    def _schedule(self, course_id: str, due: float) -> None:
        self.version[course_id] = self.version.get(course_id, 0) + 1
        if math.isfinite(due):
            heapq.heappush(self.due, (due, self.version[course_id], course_id))

    async def _poll(self, course_id: str) -> None:
        start = self.clock.monotonic()
        self.busy.add(course_id)
        try:
            result = await self.service.syncer.sync_course(self.courses[course_id])
        finally:
            self.busy.discard(course_id)
        self.polls += 1
        self._found += bool(result.logged)
        self.last_poll[course_id] = start
        for observe in self.service.observers:
            observe(result)
        self.service.notify_deliverers()
        self._schedule(course_id, start + self.interval[course_id])

    async def run(self, stop: asyncio.Event) -> None:
        delivery_stop = asyncio.Event()
        deliveries = [asyncio.create_task(d.run(delivery_stop)) for d in self.service.deliverers]
        running: set[asyncio.Task[None]] = set()
        wake = asyncio.Event()
        next_list = next_plan = self.clock.monotonic()
        try:
            while not stop.is_set():
                now = self.clock.monotonic()
                if now >= next_list - EARLY:
                    listed = await self.service.syncer.list_courses()
                    self.courses = {c.id: c for c in listed}
                    next_list = now + DAY
                if now >= next_plan - EARLY:
                    self.replan()
                    next_plan = (now // HOUR + 1) * HOUR
                while (
                    self.due and self.due[0][0] <= now + EARLY and len(running) < self.concurrency
                ):
                    _, version, course_id = heapq.heappop(self.due)
                    if version != self.version.get(course_id) or course_id not in self.courses:
                        continue
                    self.version[course_id] += 1  # taken: no other entry of it stands
                    task = asyncio.create_task(self._poll(course_id))
                    running.add(task)
                    task.add_done_callback(lambda t: (running.discard(t), wake.set()))
                while self.due and self.due[0][1] != self.version.get(self.due[0][2]):
                    heapq.heappop(self.due)
                horizon = min(next_plan, next_list)
                if self.due and len(running) < self.concurrency:
                    horizon = min(horizon, self.due[0][0])
                wake.clear()
                sleeper = asyncio.create_task(self.clock.sleep(max(EARLY, horizon - now)))
                waiters = [
                    sleeper,
                    asyncio.create_task(wake.wait()),
                    asyncio.create_task(stop.wait()),
                ]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            delivery_stop.set()
            await asyncio.gather(*deliveries, return_exceptions=True)
            await self.service.deliver_pending(self.clock.monotonic() + 60)


def run_policy(
    name: str, shape: Shape, state: Path, *, days: float, budget: int, latency: float, log: Path
) -> dict[str, Any]:
    """Run ``name`` from the first read in ``state`` for ``days``; what it detected."""

    async def main() -> dict[str, Any]:
        clock = simtime.LoopClock()
        world = World(shape.spec(), clock=clock)
        rss_world = rss_mb()
        model = ActivityModel(seed=shape.seed)
        async with serve(world, faults=Faults(latency=latency), clock=clock, activity=model) as sim:
            plan = sim.activity_plan
            assert plan is not None
            settings = settings_for(sim, state.parent, state, budget=budget, sync=SYNC_KEYS[name])
            cycles: list[tuple[str, float, float]] = []  # course, started, finished (s from start)

            def observe(result: CourseResult) -> None:
                if result.finished is not None:
                    cycles.append(
                        (
                            result.course_id,
                            (result.started - simtime.START).total_seconds(),
                            (result.finished - simtime.START).total_seconds(),
                        )
                    )

            async with open_service(settings, clock=clock) as service:
                service.observers.append(observe)
                service.scheduler.rng = random.Random(shape.seed)  # the same jitter every run
                stop = asyncio.Event()
                poller = (
                    KnownRates(service, plan, seed=shape.seed) if name == "known_rates" else None
                )
                work = poller.run(stop) if poller is not None else _uniform(service, stop)
                running = asyncio.create_task(work)
                used = [0]  # the budget's count, every simulated minute
                for _ in range(round(days * DAY / MINUTE)):
                    await asyncio.sleep(MINUTE)
                    if running.done():
                        running.result()  # a crash of the service ends the run here
                    used.append(service.budget.used)
                end = (clock.now() - simtime.START).total_seconds()
                stop.set()
                await running
                requests = service.client.request_count
            edits = world.edit_log()
            served = sim.stats.by_endpoint()
            applied, skipped = sim._state.playback.applied, sim._state.playback.skipped
        out = measure(edits, state, cycles, end=end)
        out.update(
            policy=name,
            used=used[-1],
            client_requests=requests,
            served=served,
            max_requests_24h=max_window(used, round(DAY / MINUTE)),
            planned_changes=applied,
            planned_skipped=skipped,
            peak_rss_mb=round(peak_rss_mb(), 1),
            rss_world_mb=round(rss_world, 1),
            cycles=len(cycles),
        )
        if poller is not None:
            out["known_rates"] = {
                "polls": poller.polls,
                "polled_courses_per_hour": [round(p["courses"]) for p in poller.plans],
                "planned_polls_per_hour": [round(p["polls"], 1) for p in poller.plans],
                "extra_per_finding_poll": [round(p["extra"], 2) for p in poller.plans],
            }
        return out

    return simulated(main, log)


def max_window(used: list[int], width: int) -> int:
    """The most requests in any ``width`` consecutive samples' span (a sliding window)."""
    return max(used[i] - used[max(0, i - width)] for i in range(len(used)))


# -- what was detected ----------------------------------------------------------------------


def _seconds(moment: str) -> float:
    return (datetime.fromisoformat(moment.replace("Z", "+00:00")) - simtime.START).total_seconds()


def measure(
    edits: list[Edit], state: Path, cycles: list[tuple[str, float, float]], *, end: float
) -> dict[str, Any]:
    """Each edit's detection delay: the commit time of the first event of its grade at least as
    new as the edit, minus the edit's time (None: not detected by ``end``). Only the edits made
    before ``end`` count (the world goes on while the policy stops).

    An event's ``time`` is its cycle's start (when the cycle read the course); the cycle's
    commit, when the event became visible, is its ``finished``, from the observed cycles."""
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        selected = {row[0] for row in db.execute("SELECT id FROM courses WHERE selected")}
        rows = db.execute("SELECT time, type, payload FROM outbox ORDER BY seq").fetchall()
    by_course: dict[str, list[tuple[float, float]]] = {}
    for course_id, started, finished in cycles:
        by_course.setdefault(course_id, []).append((started, finished))
    for spans in by_course.values():
        spans.sort()

    def committed(course_id: str, read_at: float) -> float:
        """The commit of the cycle that read ``course_id`` at ``read_at`` (the event's time is
        the cycle's, to the millisecond): the last cycle of the course started by then."""
        spans = by_course.get(course_id, [])
        k = bisect.bisect_right(spans, (read_at + 0.002, math.inf)) - 1
        if k < 0:
            raise SystemExit(f"an event of {course_id} at {read_at} s has no observed cycle")
        return spans[k][1]

    events: dict[tuple[str, str, str], list[tuple[float, int | None, float]]] = {}
    for when, kind, payload in rows:
        data = json.loads(payload)["data"]
        key = (data["sourceCourse"]["id"], data["column"]["id"], data["user"]["id"])
        grade = data.get("grade")
        index = None if kind.endswith(".deleted") or grade is None else grade.get("changeIndex")
        read_at = _seconds(when)
        events.setdefault(key, []).append((read_at, index, committed(key[0], read_at)))

    trace = hashlib.sha256()
    delays: list[float | None] = []
    made: list[float] = []
    edit_courses: list[str] = []
    outside = 0
    for edit in edits:
        at = (edit.at - simtime.START).total_seconds()
        if at >= end:
            continue  # made while the policy stopped: after the run
        trace.update(
            f"{edit.at.isoformat()} {edit.kind} {edit.course_id} {edit.column_id} "
            f"{edit.user_id} {edit.change_index}\n".encode()
        )
        if edit.course_id not in selected:
            outside += 1  # a course gradesync does not select (unavailable): no policy reads it
            continue
        found = None
        for read_at, index, commit in events.get(
            (edit.course_id, edit.column_id, edit.user_id), []
        ):
            newer = (
                index is None and read_at >= at
                if edit.kind == "clear"
                else (index is not None and index >= edit.change_index)
            )
            if newer and commit <= end:
                found = commit - at
                break
        delays.append(found)
        made.append(at)
        edit_courses.append(edit.course_id)
    never = [at for at, d in zip(made, delays, strict=True) if d is None]
    per_course = Counter(course_id for course_id, _, _ in cycles)
    edited = {
        e.course_id
        for e in edits
        if e.course_id in selected and (e.at - simtime.START).total_seconds() < end
    }
    # Per edited course: edits, undetected, summed and longest delay (s), cycles: where the
    # delay comes from.
    by_course: dict[str, list[float]] = {}
    for course_id, delay in zip(edit_courses, delays, strict=True):
        row = by_course.setdefault(course_id, [0, 0, 0.0, 0.0, per_course.get(course_id, 0)])
        row[0] += 1
        if delay is None:
            row[1] += 1
        else:
            row[2] += delay
            row[3] = max(row[3], delay)
    return {
        "by_course": by_course,
        "edits": len(delays),
        "edits_outside_selection": outside,
        "trace_sha256": trace.hexdigest()[:16],
        "events": len(rows),
        "delays": [d for d in delays if d is not None],
        "undetected": len(never),
        # How long each undetected edit had waited at the end: a lower bound of its delay.
        "censored": sorted(round(end - at, 1) for at in never),
        "undetected_last_day": sum(1 for at in never if at >= end - DAY),
        "end_s": end,
        "selected_courses": len(selected),
        "courses_edited": len(edited),
        "courses_never_cycled": len(selected - per_course.keys()),
        "edited_courses_never_cycled": len(edited - per_course.keys()),
        "cycles_per_course_median": _median([per_course.get(c, 0) for c in selected]),
    }


def _median(values: list[int]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
