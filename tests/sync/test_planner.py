"""The planner's square-root rule: busy and cheap courses are polled more often, as the square
root of rate over cost; the expected requests fit the budget and nearly spend it; every course
stays within the shortest pace and the longest wait while the budget holds that floor; and the
rule beats an even split on the expected delay of an edit."""

from __future__ import annotations

import math
import random

import pytest

from gradesync.sync.planner import Allocation, Demand, allocate, pace_of

# Bounds that never bind in the proportionality tests: a poll a minute at most, a month at least.
LOOSE = {"shortest_hours": 1 / 60, "longest_hours": 24 * 30}


def delay(demands: list[Demand], per_hour: dict[str, float]) -> float:
    """Expected delay summed over the edits of an hour: each waits half an interval."""
    return sum(d.rate / (2 * per_hour[d.course_id]) for d in demands)


def random_demands(rng: random.Random) -> list[Demand]:
    demands = []
    for i in range(rng.randint(1, 60)):
        rate = 10 ** rng.uniform(-3, 1)
        cost = rng.choice([1.0, 1.0, float(rng.randint(2, 20))])
        demands.append(Demand(f"c{i}", rate, rate * rng.uniform(0.2, 1.0), cost))
    return demands


def test_no_courses_no_plan() -> None:
    plan = allocate([], budget_per_hour=10, hit_cost=2, shortest_hours=0.25, longest_hours=24)
    assert plan == Allocation({}, 0.0, True)


def test_frequencies_follow_the_square_root_of_the_rate() -> None:
    demands = [Demand("busy", 9.0, 0.0), Demand("some", 1.0, 0.0), Demand("calm", 0.25, 0.0)]
    plan = allocate(demands, budget_per_hour=6, hit_cost=2, **LOOSE)
    f = plan.per_hour
    assert f["busy"] / f["some"] == pytest.approx(3.0, rel=0.01)
    assert f["some"] / f["calm"] == pytest.approx(2.0, rel=0.01)


def test_a_dearer_poll_lowers_the_frequency_as_one_over_the_root_of_its_cost() -> None:
    demands = [Demand("log", 1.0, 0.1, cost=1.0), Demand("columns", 1.0, 0.1, cost=16.0)]
    plan = allocate(demands, budget_per_hour=20, hit_cost=2, **LOOSE)
    assert plan.per_hour["log"] / plan.per_hour["columns"] == pytest.approx(4.0, rel=0.01)


def test_expected_requests_never_exceed_the_budget() -> None:
    rng = random.Random(20260105)
    over = []
    for trial in range(300):
        demands = random_demands(rng)
        budget = 10 ** rng.uniform(-0.5, 3)
        plan = allocate(
            demands,
            budget_per_hour=budget,
            hit_cost=rng.uniform(0, 4),
            shortest_hours=0.25,
            longest_hours=24,
        )
        if plan.requests_per_hour > budget * (1 + 1e-9):
            over.append((trial, len(demands), plan.floor_held, plan.requests_per_hour / budget))
    assert not over, f"{len(over)} of 300 plans overspend, e.g. {over[:3]}"


def test_expected_requests_come_close_to_the_budget_when_the_ceiling_does_not_bind() -> None:
    rng = random.Random(7)
    for _ in range(100):
        demands = random_demands(rng)
        floor_cost = sum(d.cost for d in demands) / (24 * 30)
        budget = floor_cost * 10 ** rng.uniform(0.5, 2)
        plan = allocate(demands, budget_per_hour=budget, hit_cost=2, **LOOSE)
        assert max(plan.per_hour.values()) < 60  # no course at the ceiling
        assert 0.95 * budget <= plan.requests_per_hour <= budget * (1 + 1e-9)


def test_every_course_between_the_shortest_pace_and_the_longest_wait_when_affordable() -> None:
    rng = random.Random(3)
    held = 0
    for _ in range(200):
        demands = [*random_demands(rng), Demand("silent", 0.0, 0.0)]
        plan = allocate(
            demands,
            budget_per_hour=10 ** rng.uniform(0, 3),
            hit_cost=2,
            shortest_hours=0.25,
            longest_hours=24,
        )
        if plan.floor_held:
            held += 1
            assert all(1 / 24 * (1 - 1e-9) <= f <= 4 for f in plan.per_hour.values())
            assert plan.per_hour["silent"] == pytest.approx(1 / 24)
    assert held > 100  # the property was exercised


def test_an_unaffordable_floor_is_reported_and_the_plan_still_fits_the_budget() -> None:
    # Two hundred busy courses on two requests an hour: a poll a day each would cost 8.3.
    demands = [Demand(f"c{i}", 1.0, 0.5) for i in range(200)]
    plan = allocate(demands, budget_per_hour=2, hit_cost=2, shortest_hours=0.25, longest_hours=24)
    assert not plan.floor_held
    assert sum(d.cost * plan.per_hour[d.course_id] for d in demands) <= 2
    assert plan.requests_per_hour <= 2 * (1 + 1e-9)


def test_a_held_floor_is_one_the_budget_can_pay_for_triggered_reads_included() -> None:
    # Ten busy courses, a poll a day each: 0.42 polls an hour fit half the budget, but nearly
    # every poll finds edits and triggers three more requests.
    demands = [Demand(f"c{i}", 1.0, 0.5) for i in range(10)]
    plan = allocate(demands, budget_per_hour=1, hit_cost=2, shortest_hours=0.25, longest_hours=24)
    assert not plan.floor_held or plan.requests_per_hour <= 1 + 1e-9


def test_a_budget_beyond_everyone_at_the_ceiling_puts_everyone_at_the_ceiling() -> None:
    demands = [Demand("a", 5.0, 2.0), Demand("b", 0.01, 0.01), Demand("c", 0.5, 0.3, cost=8)]
    plan = allocate(demands, budget_per_hour=1e6, hit_cost=2, shortest_hours=0.25, longest_hours=24)
    assert plan.floor_held
    assert plan.per_hour == pytest.approx({"a": 4.0, "b": 4.0, "c": 4.0})
    assert plan.requests_per_hour < 1e6


@pytest.mark.parametrize(
    ("hours", "pace"),
    [(0.25, "hot"), (1.0, "hot"), (1.01, "warm"), (6.0, "warm"), (6.01, "cold"), (24.0, "cold")],
)
def test_pace_names_the_interval(hours: float, pace: str) -> None:
    assert pace_of(hours) == pace


def test_square_root_rule_beats_an_even_split_on_delay() -> None:
    rates = [20.0, 5.0, 1.0, 0.2, 0.05, 0.01, 0.01, 0.01]
    demands = [Demand(f"c{i}", rate, 0.0) for i, rate in enumerate(rates)]
    plan = allocate(demands, budget_per_hour=16, hit_cost=0, **LOOSE)
    polls = sum(plan.per_hour.values())
    even = {d.course_id: polls / len(demands) for d in demands}
    assert polls == pytest.approx(16)
    # The optimum at this cost: (sum sqrt(w))^2 / (2 * polls); the even split is far worse.
    best = sum(math.sqrt(r) for r in rates) ** 2 / (2 * polls)
    assert delay(demands, plan.per_hour) == pytest.approx(best, rel=1e-6)
    assert delay(demands, plan.per_hour) < 0.6 * delay(demands, even)
