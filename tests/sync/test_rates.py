"""The adaptive scheduler's edit-rate estimates: the week profile weighs working hours above
nights and weekends, a course's estimate finds a known Poisson rate and forgets a busy past,
the prior yields to evidence, and everything survives a JSON round trip (or a corrupt one)."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from gradesync.sync.rates import (
    DUE_AFTER,
    DUE_BEFORE,
    GRADED_PER_MEMBER,
    QUIET_RATE,
    RECENT,
    RateEstimate,
    WeekProfile,
    due_rate,
    prior,
)

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)  # midnight at the start of a week
HOUR = timedelta(hours=1)


def busy_office_profile() -> WeekProfile:
    """Four weeks of edits, twenty an hour, 9 to 17 on weekdays."""
    profile = WeekProfile()
    for week in range(4):
        start = MONDAY + timedelta(weeks=week)
        moments = [
            start + timedelta(days=day, hours=hour, minutes=3 * i)
            for day in range(5)
            for hour in range(9, 17)
            for i in range(20)
        ]
        profile.observe(moments, now=start + timedelta(days=7))
    return profile


def poll_poisson(
    estimate: RateEstimate, rate: float, start: datetime, hours: int, rng: random.Random
) -> None:
    """Hourly polls of a course whose edits arrive as a Poisson process of ``rate`` an hour."""
    profile, next_edit = WeekProfile(), rng.expovariate(rate)
    for hour in range(hours + 1):
        edits = 0
        while next_edit <= hour:
            edits, next_edit = edits + 1, next_edit + rng.expovariate(rate)
        estimate.observe(start + hour * HOUR, edits, profile)


def test_fresh_profile_weighs_every_hour_alike() -> None:
    profile = WeekProfile()
    assert all(profile.weight(MONDAY + h * HOUR) == 1.0 for h in range(168))
    assert profile.exposure(MONDAY, MONDAY + 30 * HOUR) == pytest.approx(30.0)
    assert profile.exposure(MONDAY, MONDAY + timedelta(minutes=90)) == pytest.approx(1.5)


def test_profile_puts_working_hours_above_nights_and_weekends() -> None:
    profile = busy_office_profile()
    tuesday_morning = MONDAY + timedelta(weeks=4, days=1, hours=10)
    tuesday_night = MONDAY + timedelta(weeks=4, days=1, hours=3)
    sunday_noon = MONDAY + timedelta(weeks=4, days=6, hours=12)
    assert profile.weight(tuesday_morning) > 3.0
    assert profile.weight(tuesday_night) < 0.5
    assert profile.weight(sunday_noon) < 0.5
    week = [profile.weight(MONDAY + h * HOUR) for h in range(168)]
    assert sum(week) / 168 == pytest.approx(1.0)


def test_exposure_sums_the_weights_of_the_hours_covered() -> None:
    profile = busy_office_profile()
    start = MONDAY + timedelta(hours=6)
    hours = [profile.weight(start + h * HOUR) for h in range(30)]
    assert profile.exposure(start, start + 30 * HOUR) == pytest.approx(sum(hours))
    half = start + timedelta(hours=4, minutes=30)  # 10:30 to 11:00 on Monday
    assert profile.exposure(half, half + timedelta(minutes=30)) == pytest.approx(
        0.5 * profile.weight(half)
    )


def test_a_long_outage_counts_as_four_weeks_at_most() -> None:
    assert WeekProfile().exposure(MONDAY, MONDAY + timedelta(days=60)) == pytest.approx(28 * 24)


def test_profile_and_estimate_survive_a_json_round_trip() -> None:
    profile = busy_office_profile()
    again = WeekProfile.from_json(profile.to_json())
    assert again.stamp == profile.stamp
    assert again.counts == pytest.approx(profile.counts, abs=1e-4)
    estimate = RateEstimate()
    poll_poisson(estimate, 2.0, MONDAY, 50, random.Random(1))
    assert RateEstimate.from_json(estimate.to_json()) == estimate


@pytest.mark.parametrize(
    "text", [None, "", "not json", "null", "[]", "42", '{"counts": [1, 2]}', '{"polls": "x"}']
)
def test_unreadable_saved_state_gives_a_fresh_object(text: str | None) -> None:
    assert WeekProfile.from_json(text) == WeekProfile()
    assert RateEstimate.from_json(text) == RateEstimate()


def test_first_poll_covers_no_interval_so_the_prior_stands() -> None:
    estimate = RateEstimate()
    estimate.observe(MONDAY, 5, WeekProfile())
    assert estimate.rate(0.3) == 0.3
    assert estimate.change_rate(0.3) == 0.3
    assert estimate.last_change == MONDAY


@pytest.mark.parametrize("true_rate", [0.5, 5.0])
def test_regular_polls_of_a_poisson_course_find_its_rate(true_rate: float) -> None:
    # Ten courses, averaged: one quiet course sees too few edits in a half-life to pin its rate.
    # The prior's twelve hours against about 104 hours of decayed exposure pull ~10% low.
    found = []
    for seed in range(10):
        estimate = RateEstimate()
        poll_poisson(estimate, true_rate, MONDAY, 24 * 28, random.Random(seed))
        found.append(estimate.rate(QUIET_RATE))
    assert sum(found) / len(found) == pytest.approx(true_rate, rel=0.2)


def test_evidence_outweighs_the_prior_as_exposure_grows() -> None:
    profile, estimate = WeekProfile(), RateEstimate()
    errors = []
    for hour in range(49):  # three edits found by every hourly poll
        estimate.observe(MONDAY + hour * HOUR, 3, profile)
        errors.append(abs(estimate.rate(50.0) - 3.0))
    assert errors[0] == 47.0  # the first poll covers nothing: all prior
    assert all(a > b for a, b in itertools.pairwise(errors))
    assert estimate.rate(50.0) < (3.0 + 50.0) / 2  # nearer the evidence than the prior


def test_a_course_gone_quiet_for_a_week_is_estimated_far_below_a_busy_one() -> None:
    busy, quieted = RateEstimate(), RateEstimate()
    poll_poisson(busy, 4.0, MONDAY, 24 * 21, random.Random(3))
    poll_poisson(quieted, 4.0, MONDAY, 24 * 14, random.Random(3))
    for hour in range(24 * 14 + 1, 24 * 21 + 1):
        quieted.observe(MONDAY + hour * HOUR, 0, WeekProfile())
    assert quieted.rate(QUIET_RATE) < 0.3 * busy.rate(QUIET_RATE)


def test_a_quiet_night_is_weaker_evidence_than_a_quiet_working_day() -> None:
    profile = busy_office_profile()
    evening = MONDAY + timedelta(weeks=4, hours=17)
    morning = evening + 16 * HOUR  # Tuesday 9:00
    night, day = RateEstimate(), RateEstimate()
    for estimate, start in ((night, evening), (day, morning)):
        estimate.observe(start, 0, profile)
        estimate.observe(start + 16 * HOUR, 0, profile)  # sixteen hours without an edit
    assert night.exposure < 0.5 * day.exposure
    assert night.rate(1.0) > 1.5 * day.rate(1.0)


def evidence(polls: int, hits: int) -> RateEstimate:
    return RateEstimate(polls=polls, hits=hits, exposure=float(polls), edits=float(hits))


def test_change_rate_is_finite_when_every_poll_found_a_change() -> None:
    every = evidence(20, 20).change_rate(QUIET_RATE)
    assert math.isfinite(every)
    assert every == pytest.approx(math.log(2 * 20 + 1))


def test_change_rate_grows_with_the_share_of_polls_that_found_a_change() -> None:
    rates = [evidence(20, hits).change_rate(QUIET_RATE) for hits in range(21)]
    assert rates[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(rates))


def test_prior_doubles_within_recent_of_a_change() -> None:
    now = MONDAY + timedelta(days=3)
    assert prior(None, now) == QUIET_RATE
    assert prior(now - timedelta(hours=1), now) == 2 * QUIET_RATE
    assert prior(now - RECENT, now) == 2 * QUIET_RATE
    assert prior(now - RECENT - timedelta(minutes=1), now) == QUIET_RATE


def test_due_rate_counts_only_columns_due_near_now_and_scales_with_members() -> None:
    now = MONDAY + timedelta(days=10)
    due = [
        now - DUE_BEFORE - timedelta(minutes=1),  # graded and gone
        now - DUE_BEFORE,
        now - timedelta(days=2),
        now + DUE_AFTER,
        now + DUE_AFTER + timedelta(minutes=1),  # not yet
    ]
    per_column = 30 * GRADED_PER_MEMBER / (7 * 24)
    assert due_rate(due, 30, now) == pytest.approx(3 * per_column)
    assert due_rate(due, 60, now) == pytest.approx(2 * due_rate(due, 30, now))
    assert due_rate([], 30, now) == 0.0
