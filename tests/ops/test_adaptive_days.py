"""Three simulated days of ``gradesync run`` with its default (adaptive) scheduler against the
simulator's realistic activity, on a daily budget that binds: the budget holds, it goes where
grades change, the state, ``status`` and the log say why, and a second service started on the
state after two days takes up what the first one learned.

The real service and simulator over loopback HTTP on simulated time, as in
``test_simulated_day.py``. The institution's first read is done beforehand, on a copy of the
world made at the same instant (as ``bench/freshness.py`` does): at this budget a first read
takes most of a day, and the three days are meant to show the scheduler's steady work. The
days are run once for the module; each test checks one side of them.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import itertools
import json
import random
import sqlite3
import statistics
from collections.abc import MutableMapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from tests.e2e_support import config_text
from tests.ops.ops_support import service_settings

from gradesync import cli, simtime
from gradesync.config import Settings
from gradesync.daemon import open_service
from gradesync.service import ResultObserver
from gradesync.simulator import ActivityModel, Faults, World, WorldSpec, serve
from gradesync.simulator.plan import ActivityPlan
from gradesync.sync.cycle import CourseResult
from gradesync.sync.rates import RateEstimate, WeekProfile
from gradesync.sync.scheduler import Scheduler

MINUTE = 60
DAY = 86_400
# A third of the courses grade nothing (dormant); a few grade every day. At 30 students the
# busy ones make a few edits a day, enough for their estimates to stand out in three days.
SPEC = WorldSpec(
    seed=5, courses=36, columns_per_course=6, students_per_course=30, cross_listed_parents=0
)
# Requests a day: every course every 15 minutes would take about eight times as many.
BUDGET = 400
DAYS = 3
RESTART_AFTER = 2  # days: the first service stops, a second one opens the same state
MAX_INTERVAL = timedelta(hours=8)
# A due course may wait for one of the four cycle slots, held by cycles waiting for the
# budget's tokens (one every four minutes at this budget).
SLACK = timedelta(minutes=15)
PACES = {"hot", "warm", "cold"}


@dataclass(frozen=True)
class Cycle:
    course_id: str
    started: float  # simulated seconds since the days began
    finished: float


@dataclass
class Days:
    # (simulated seconds, requests through the daily budget so far, both services): every
    # minute, and once more after each service stopped
    used: list[tuple[float, int]]
    restart: float  # when the first service had stopped and the second one opened
    learn_requests: int  # API requests Learn answered, token requests aside
    refused: int  # Learn's 429s
    cycles: list[Cycle]
    expected: dict[str, float]  # each selected course's true expected grade edits over the days
    logs: list[MutableMapping[str, Any]]
    second_logs: int  # where the second service's log lines begin in ``logs``
    saved: dict[str, RateEstimate]  # the estimates in the state when the first service stopped
    saved_profile: float  # the week profile's counts in the state then, summed
    resumed: dict[str, RateEstimate]  # the second service's, when its first cycle ended
    resumed_profile: float
    start: datetime  # when the days began (the cycles' times count from it)
    end: float
    state: Path
    config: Path

    def per_course(self) -> dict[str, list[Cycle]]:
        out: dict[str, list[Cycle]] = {course_id: [] for course_id in self.expected}
        for cycle in self.cycles:
            out[cycle.course_id].append(cycle)
        return out

    def busiest(self) -> list[str]:
        """The quarter of the selected courses with the most true expected edits."""
        ranked = sorted(self.expected, key=self.expected.__getitem__, reverse=True)
        return ranked[: len(ranked) // 4]

    def never_edited(self) -> list[str]:
        return [course_id for course_id, edits in self.expected.items() if edits == 0]

    def planned(self) -> list[MutableMapping[str, Any]]:
        return [entry for entry in self.logs if entry["event"] == "scheduler.planned"]


def with_budget(settings: Settings, budget: int) -> Settings:
    learn = settings.learn.model_copy(update={"daily_request_budget": budget})
    return settings.model_copy(update={"learn": learn})


def day_windows(used: list[tuple[float, int]]) -> list[tuple[float, float, int]]:
    """Every sample's sliding day: (from, to, requests made after ``from`` up to ``to``), from
    the first sample at most a day before ``to`` (so never more than a day's requests)."""
    times = [t for t, _ in used]
    windows = []
    for t, count in used:
        k = bisect.bisect_left(times, t - DAY)
        windows.append((times[k], t, count - used[k][1]))
    return windows


def saved_state(path: Path) -> tuple[dict[str, RateEstimate], float]:
    """Each course's estimate and the week profile's summed counts, as the state holds them."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT course_id, estimate FROM course_status WHERE estimate IS NOT NULL"
        ).fetchall()
        profile = db.execute(
            "SELECT data FROM scheduler_state WHERE name = 'week_profile'"
        ).fetchone()
    estimates = {course_id: RateEstimate.from_json(text) for course_id, text in rows}
    return estimates, sum(WeekProfile.from_json(profile[0] if profile else None).counts)


class Recorder:
    """What the days leave, gathered as they pass: cycles, the budget's count, and the second
    service's view of the estimates when its first cycle ends."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.cycles: list[Cycle] = []
        self.used: list[tuple[float, int]] = [(0.0, 0)]
        self.spent = 0  # by the services that have stopped
        self.resumed: dict[str, RateEstimate] = {}
        self.resumed_profile = 0.0

    def seconds(self, moment: datetime) -> float:
        return (moment - self.start).total_seconds()

    def observer(self, scheduler: Scheduler, *, resuming: bool) -> ResultObserver:
        def observe(result: CourseResult) -> None:
            assert result.finished is not None
            started, finished = self.seconds(result.started), self.seconds(result.finished)
            self.cycles.append(Cycle(result.course_id, started, finished))
            if resuming and not self.resumed:
                for course_id, state in scheduler.states.items():
                    self.resumed[course_id] = dataclasses.replace(state.estimate)
                self.resumed_profile = sum(scheduler.profile.counts)

        return observe

    async def run(
        self, settings: Settings, clock: simtime.LoopClock, days: int, *, resuming: bool
    ) -> set[str]:
        """``gradesync run`` for ``days`` on the state; the courses it selected."""
        async with open_service(settings, clock=clock) as service:
            service.scheduler.rng = random.Random(SPEC.seed)
            service.observers.append(self.observer(service.scheduler, resuming=resuming))
            stop = asyncio.Event()
            running = asyncio.create_task(service.run(stop))
            for _ in range(days * DAY // MINUTE):
                await asyncio.sleep(MINUTE)
                if running.done():
                    running.result()  # a crash of the service ends the days here
                count = self.spent + service.budget.used
                self.used.append((self.seconds(clock.now()), count))
            stop.set()
            await running
            self.spent += service.budget.used
            self.used.append((self.seconds(clock.now()), self.spent))  # the drain's reads too
            return set(await service.store.courses())


async def three_days(tmp: Path, logs: list[MutableMapping[str, Any]]) -> Days:
    clock = simtime.LoopClock()
    model = ActivityModel(seed=SPEC.seed)
    # Two copies of one institution made at one instant: the first read on one, with the
    # plan's due dates and no edits; the days on the other, with the edits.
    before, world = World(SPEC, clock=clock), World(SPEC, clock=clock)
    before.planned_due = ActivityPlan(before, model, start=clock.now()).column_due
    async with serve(before, clock=clock) as site:
        first_read = with_budget(service_settings(site, tmp), 1_000_000)
        async with open_service(first_read, clock=clock) as service:
            await service.run_once()

    async with serve(world, faults=Faults(daily_quota=BUDGET), clock=clock, activity=model) as sim:
        plan = sim.activity_plan
        assert plan is not None
        settings = with_budget(
            service_settings(sim, tmp, interval="15m", jitter="30s", max_interval="8h"), BUDGET
        )
        record = Recorder(plan.start)
        await record.run(settings, clock, RESTART_AFTER, resuming=False)
        restart = record.used[-1][0]
        saved, saved_profile = saved_state(tmp / "state.db")
        second_logs = len(logs)
        selected = await record.run(settings, clock, DAYS - RESTART_AFTER, resuming=True)
        config = tmp / "gradesync.toml"
        config.write_text(config_text(sim, state=tmp / "state.db", events=tmp / "events.jsonl"))
        token = sim.stats.count(endpoint="v1/oauth2/token")
        return Days(
            used=record.used,
            restart=restart,
            learn_requests=sim.stats.total - token,
            refused=sim.stats.count(status=429),
            cycles=record.cycles,
            expected={c: plan.expected(c, plan.start, clock.now()) for c in selected},
            logs=logs,
            second_logs=second_logs,
            saved=saved,
            saved_profile=saved_profile,
            resumed=record.resumed,
            resumed_profile=record.resumed_profile,
            start=plan.start,
            end=record.seconds(clock.now()),
            state=tmp / "state.db",
            config=config,
        )


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> Days:
    """The three days, run once for the module (about fifteen seconds)."""
    tmp = tmp_path_factory.mktemp("adaptive_days")
    with structlog.testing.capture_logs() as logs:
        # Time jumps after 10 idle turns of the loop rather than 42: loopback round trips need
        # far fewer, the days come out the same, and take half the real time.
        return simtime.run(three_days(tmp, logs), noop_cycles=10)


# -- 1. the budget -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_daily_budget_binds_and_holds_and_learn_never_refuses(days: Days) -> None:
    # The days of one service each (those across the restart: the last test).
    alone = [n for start, end, n in day_windows(days.used) if not start < days.restart < end]
    assert max(alone) <= BUDGET, f"{max(alone)} requests within a day"
    assert max(alone) >= BUDGET * 0.95, f"the budget binds: {max(alone)} in the busiest day"
    # Learn's quota equals the budget (its day begins at its first request): never exceeded.
    assert days.refused == 0
    # Every request Learn answered passed the budget (a stop may cancel a request or two that
    # had taken their tokens): the windows above count Learn's requests.
    assert days.used[-1][1] - 4 <= days.learn_requests <= days.used[-1][1]


# -- 2. where it goes --------------------------------------------------------------------------


@pytest.mark.slow
def test_busy_courses_are_polled_far_more_and_none_waits_past_max_interval(days: Days) -> None:
    planned = days.planned()
    assert planned and all(p["max_interval_held"] for p in planned), "the budget holds 8h"
    cycles = days.per_course()
    busy = [len(cycles[c]) for c in days.busiest()]
    quiet = [len(cycles[c]) for c in days.never_edited()]
    assert len(quiet) >= 5, "a third of the courses are dormant"
    assert statistics.median(busy) > 3 * statistics.median(quiet), (busy, quiet)

    longest = (MAX_INTERVAL + SLACK).total_seconds()
    for course_id, mine in cycles.items():
        mine.sort(key=lambda c: c.started)
        assert mine, f"{course_id} never polled"
        waits = [mine[0].started, days.end - mine[-1].finished]
        waits += [b.started - a.finished for a, b in itertools.pairwise(mine)]
        assert max(waits) <= longest, f"{course_id} waited {max(waits) / 3600:.2f} h"


# -- 3. it explains itself ---------------------------------------------------------------------


@pytest.mark.slow
def test_state_status_and_log_say_each_courses_pace_and_rate(
    days: Days, capsys: pytest.CaptureFixture[str]
) -> None:
    cycles = days.per_course()
    with closing(sqlite3.connect(days.state)) as db:
        rows = {
            course_id: (pace, rate, estimate)
            for course_id, pace, rate, estimate in db.execute(
                "SELECT course_id, pace, rate, estimate FROM course_status"
            )
        }
    for course_id in cycles:
        pace, rate, estimate = rows[course_id]
        assert pace in PACES and rate is not None, (course_id, pace, rate)
        assert RateEstimate.from_json(estimate).polls > 0

    capsys.readouterr()
    assert cli.main(["status", "--json", "--config", str(days.config)]) == 0
    shown = {c["course_id"]: c for c in json.loads(capsys.readouterr().out)["courses"]}
    for course_id, mine in cycles.items():
        course = shown[course_id]
        assert course["pace"] in PACES and course["pace"] == rows[course_id][0]
        assert isinstance(course["rate_per_day"], float)
        # Due again within max_interval of its last cycle, and not before it.
        due = datetime.fromisoformat(course["next_due"])
        last = days.start + timedelta(seconds=max(c.finished for c in mine))
        assert last - timedelta(minutes=1) <= due <= last + MAX_INTERVAL + timedelta(minutes=1)
    busy = [shown[c]["rate_per_day"] for c in days.busiest()]
    quiet = [shown[c]["rate_per_day"] for c in days.never_edited()]
    # Most of the quiet courses estimate near nothing; a few have columns just due (their
    # sittings come after the run), which the scheduler rightly counts as grading to come.
    assert statistics.median(busy) > 5 * statistics.median(quiet), (busy, quiet)

    planned = days.planned()
    assert len(planned) >= DAYS * 24, "a plan every hour"
    for line in planned:
        assert line["hot"] + line["warm"] + line["cold"] + line["new"] == line["courses"]
        assert line["courses"] == len(days.expected)
        assert line["budget_per_day"] == BUDGET
        assert line["planned_per_day"] <= line["budget_per_day"], line
    latest = planned[-1]
    assert latest["hot"] >= 1 and latest["warm"] + latest["cold"] >= 1, latest


# -- 4. a restart ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_service_resumes_the_estimates_the_first_one_saved(days: Days) -> None:
    polled = {cycle.course_id for cycle in days.cycles if cycle.finished < days.restart}
    assert polled == days.expected.keys(), "the first service polled every course"
    assert all(days.saved[c].polls > 0 for c in polled)
    assert days.resumed, "the second service's estimates when its first cycle ended"
    for course_id in polled:
        saved, resumed = days.saved[course_id], days.resumed[course_id]
        assert resumed.polls >= saved.polls, (course_id, saved, resumed)
        assert resumed.last_poll is not None and saved.last_poll is not None
        assert resumed.last_poll >= saved.last_poll
    assert days.saved_profile > 0
    assert days.resumed_profile >= 0.95 * days.saved_profile, "the week profile too"
    first_plan = next(
        line for line in days.logs[days.second_logs :] if line["event"] == "scheduler.planned"
    )
    assert first_plan["new"] == 0 and first_plan["hot"] >= 1, first_plan


@pytest.mark.slow
def test_no_day_across_a_restart_holds_more_than_the_budget(days: Days) -> None:
    """The budget is gradesync's promise for any 24 hours, a restart within them included."""
    across = [w for w in day_windows(days.used) if w[0] < days.restart < w[1]]
    start, end, most = max(across, key=lambda w: w[2])
    assert most <= BUDGET, (
        f"{most} requests from {start / 3600:.1f} h to {end / 3600:.1f} h, across the restart"
        f" at {days.restart / 3600:.1f} h"
    )
