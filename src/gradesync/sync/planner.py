"""Where the day's requests go: each course's poll frequency from its estimated edit rate.

For edits arriving at rate ``w_i`` and polls every ``1 / f_i``, an edit waits half an interval
on average, so the delay summed over all edits is ``sum(w_i / (2 f_i))``. Under a budget
``sum(c_i f_i) = B`` (``c_i``: the requests of a poll that finds nothing) it is least with
``f_i = k * sqrt(w_i / c_i)``: the square-root rule of the refresh-policy literature (Cho and
Garcia-Molina, "Effective page refresh policies for Web crawlers", 2003; Azar et al., PNAS
2018). ``k`` is found by bisection so that the expected requests, the reads that polls which
find edits trigger included, come to the budget. Every frequency is bounded by the shortest
pace (``sync.interval``) and the longest wait (``sync.max_interval``); when the budget cannot
hold every course within the longest wait, half of it is spread evenly and the rest follows
the rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HOT = 1.0  # hours: a course polled at least hourly is hot
WARM = 6.0  # ... at least every six hours warm, cold beyond


@dataclass(frozen=True)
class Demand:
    """What one course asks of the plan."""

    course_id: str
    rate: float  # edits expected per hour now
    change_rate: float  # polls per hour that will find something, at most (Poisson)
    cost: float = 1.0  # requests of a poll that finds nothing


@dataclass(frozen=True)
class Allocation:
    per_hour: dict[str, float]  # polls an hour, per course
    requests_per_hour: float  # what the plan expects to spend
    floor_held: bool  # every course polled within the longest wait


def pace_of(interval_hours: float) -> str:
    if interval_hours <= HOT:
        return "hot"
    return "warm" if interval_hours <= WARM else "cold"


def allocate(
    demands: Sequence[Demand],
    *,
    budget_per_hour: float,
    hit_cost: float,
    shortest_hours: float,
    longest_hours: float,
) -> Allocation:
    """Polls an hour per course minimising the expected delay of an edit within the budget."""
    if not demands:
        return Allocation({}, 0.0, True)
    ceiling = 1 / shortest_hours
    weights = [math.sqrt(max(d.rate, 0.0) / d.cost) for d in demands]

    def spend(freqs: list[float]) -> float:
        total = 0.0
        for d, f in zip(demands, freqs, strict=True):
            hits = f * (1 - math.exp(-d.change_rate / f)) if f > 0 else 0.0
            # A poll that finds edits triggers its reads and a follow-up poll.
            total += d.cost * f + (hit_cost + d.cost) * hits
        return total

    def even(f: float) -> float:
        return spend([f] * len(demands))

    floor = 1 / longest_hours
    floor_held = even(floor) <= budget_per_hour
    if not floor_held:
        # The longest wait gives way: half the budget spread evenly, the rest by the rule.
        low, high = 0.0, floor
        for _ in range(60):
            mid = (low + high) / 2
            low, high = (mid, high) if even(mid) <= budget_per_hour / 2 else (low, mid)
        floor = low

    def frequencies(k: float) -> list[float]:
        return [min(ceiling, max(floor, k * w)) for w in weights]

    low, high = 0.0, 1.0
    while spend(frequencies(high)) < budget_per_hour and high < 1e12:
        low, high = high, high * 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if spend(frequencies(mid)) <= budget_per_hour else (low, mid)
    chosen = frequencies(low)
    return Allocation(
        {d.course_id: f for d, f in zip(demands, chosen, strict=True)},
        spend(chosen),
        floor_held,
    )
