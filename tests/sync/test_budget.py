"""The daily request budget is never exceeded, however much work is waiting."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from tests.sync.sync_support import open_engine

from gradesync.clock import ManualClock
from gradesync.simulator import Faults, WorldSpec
from gradesync.sync.budget import DAY, DailyBudget, SweepShare
from gradesync.sync.scheduler import Scheduler, SchedulerOptions


async def test_no_day_long_window_holds_more_than_the_budget() -> None:
    clock = ManualClock()
    budget = DailyBudget(500, clock)
    stamps: list[float] = []

    async def greedy() -> None:
        while True:
            await budget.acquire()
            stamps.append(clock.monotonic())

    task = asyncio.create_task(greedy())
    for _ in range(3 * 24 * 60):  # three days, a minute at a time
        await clock.advance(60)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # The burst goes at once, then the rest is spread evenly: about limit per day after that.
    assert 1400 <= len(stamps) <= 1500
    start = 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - DAY:
            start += 1
        assert end - start + 1 <= 500, f"{end - start + 1} requests within one day"


async def test_scheduler_never_exceeds_the_budget_against_learns_quota(tmp_path: Path) -> None:
    clock = ManualClock()
    limit = 150
    spec = WorldSpec(
        seed=2, courses=4, columns_per_course=4, students_per_course=5, cross_listed_parents=0
    )
    budget = DailyBudget(limit, clock)
    # Learn's own quota equals the budget: one request too many would be answered with 429.
    quota = Faults(daily_quota=limit)
    async with open_engine(tmp_path, spec, faults=quota, gate=budget, clock=clock) as engine:
        sim = engine.sim
        options = SchedulerOptions(interval=timedelta(minutes=10))
        scheduler = Scheduler(engine.syncer, clock, options)
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop))
        for _ in range(int(1.5 * 24 * 60)):
            await clock.advance(60)
            await asyncio.sleep(0.001)  # let real HTTP round trips finish
        stop.set()
        for _ in range(5):  # past the drain deadline, on the same clock
            await clock.advance(60)
            await asyncio.sleep(0.01)
        await asyncio.wait_for(task, 10)
    assert sim.stats.count(status=429) == 0
    assert budget.used >= limit  # the budget, not the work, was the limit
    assert scheduler.cycles > 4


async def test_a_restart_takes_up_the_bucket_where_the_last_process_left_it() -> None:
    clock = ManualClock()
    first = DailyBudget(1_000, clock)
    for _ in range(40):  # the burst (50) nearly spent
        await first.acquire()
    saved = first.to_json(clock.now())
    await clock.advance(600)  # ten minutes down
    second = DailyBudget(1_000, clock)
    second.resume(saved, clock.now())
    # What was left (10) and ten minutes of refill (950 a day), not a fresh burst of 50.
    assert abs(second.available - (10 + 600 * 950 / DAY)) < 0.01
    crash_loop = DailyBudget(1_000, clock)
    crash_loop.resume(second.to_json(clock.now()), clock.now())
    assert crash_loop.available < 20, "a restart never brings a new burst"
    for unreadable in (None, "", "{", '{"tokens": "many"}'):
        fresh = DailyBudget(1_000, clock)
        fresh.resume(unreadable, clock.now())
        assert fresh.available == fresh.capacity  # nothing usable saved: as a new state


async def test_sweeps_take_a_tenth_of_the_budget_and_no_more() -> None:
    clock = ManualClock()
    budget = DailyBudget(10_000, clock)
    sweeps = SweepShare(budget, clock)
    granted = 0.0
    for _ in range(24 * 60):  # a day of asking, a minute at a time, for 22-request sweeps
        granted += 22 * sum(1 for _ in range(100) if sweeps.room(22))
        await clock.advance(60)
    # A tenth of the day's refill, and what the share held at the start.
    assert 0.09 * 10_000 <= granted <= 0.1 * 10_000 + sweeps.capacity
    assert not sweeps.room(22), "spent: the next sweep waits"
    await clock.advance(3_600)
    assert sweeps.room(22), "an hour of the share's refill pays for one"
