"""The realistic activity: its playing on the simulator's clock, what its plan looks like (quiet
and busy courses, sittings after due dates, the day and week, the final week), its rates.

The async tests come first: an async test must not be the first to run after a plain one in a
session while looptime's pytest plugin is installed (for a plain test it asks asyncio's policy
for a loop, which on Python 3.11 creates one nobody closes)."""

from __future__ import annotations

import argparse
import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from tests.simulator.simclient import Api

from gradesync.clock import ManualClock
from gradesync.simulator import World, WorldSpec, serve
from gradesync.simulator import command as simulate
from gradesync.simulator.activity import ActivityModel
from gradesync.simulator.derive import iso
from gradesync.simulator.plan import GRADE_KINDS, ActivityPlan, PlannedEdit, plan
from gradesync.simulator.playback import apply

MONDAY = datetime(2026, 10, 5, tzinfo=UTC)
WEEK = timedelta(days=7)
INSTITUTION = WorldSpec(seed=5, courses=400, columns_per_course=12, students_per_course=30)
SMALL = WorldSpec(seed=9, courses=40, columns_per_course=8, students_per_course=25)


def _world(spec: WorldSpec = INSTITUTION, start: datetime = MONDAY) -> World:
    return World(spec, clock=ManualClock(start))


def _grades(edits: list[PlannedEdit]) -> list[PlannedEdit]:
    return [e for e in edits if e.kind in GRADE_KINDS]


# -- playing the plan -----------------------------------------------------------------------------


def _as_logged(world: World, edit: PlannedEdit) -> tuple[datetime, str, str, str, str]:
    """A planned grade edit as the edit log keeps it."""
    assert edit.column is not None and edit.user is not None
    course = world.resolve_course(edit.course)
    column = world.resolve_column(course, edit.column).id
    return edit.at, GRADE_KINDS[edit.kind], edit.course, column, edit.user


async def test_the_player_makes_each_edit_at_its_time_on_a_manual_clock() -> None:
    clock = ManualClock(MONDAY)
    world = World(SMALL, clock=clock)
    model = ActivityModel(start_week=6, added_column_share=1.0)
    planned = plan(_world(SMALL), model, start=MONDAY, horizon=2 * WEEK)
    assert {"column", "upload", "grade", "correction", "override"} <= {e.kind for e in planned}
    async with serve(world, clock=clock, activity=model) as sim:
        await clock.advance(0)
        for _ in range(2 * 7 * 4):
            await clock.advance(6 * 3600)
            now = clock.now()
            made = [(e.at, e.kind, e.course_id, e.column_id, e.user_id) for e in world.edit_log()]
            due = [_as_logged(world, e) for e in planned if e.kind in GRADE_KINDS and e.at <= now]
            assert made == due  # each edit made once its time has come, not before
        assert sim.activity_plan is not None and sim.activity_plan.model == model
    added = [e for e in planned if e.kind == "column"]
    assert added
    for edit in added:
        assert edit.column is not None
        column = world.resolve_column(world.resolve_course(edit.course), edit.column)
        assert column.due == edit.value
    # The gradebook log has each edit at its true time.
    course = planned[-1].course
    logged = [entry["logged"] for entry in world.log_entries(course, since=MONDAY)]
    assert logged == [iso(e.at) for e in world.edit_log(course)]


async def test_the_control_api_plays_and_stops_the_realistic_activity(
    api: Api, world: World, clock: ManualClock
) -> None:
    control = f"{api.sim.base_url}/__simulator__/"
    model = {"start_week": 15, "seed": 2}
    async with api.session.post(control + "activity/realistic", json={"model": model}) as reply:
        assert reply.status == 200
        body = await reply.json()
    assert body["model"]["start_week"] == 15 and body["seed"] == 2
    assert body["start"] == iso(clock.now())
    activity = api.sim.activity_plan
    assert activity is not None
    planned = _grades(activity.edits(clock.now() + 2 * timedelta(days=1)))
    assert planned
    await clock.advance(0)
    for _ in range(48):
        await clock.advance(3600)
    assert [e.at for e in world.edit_log()] == [e.at for e in planned]
    async with api.session.get(control + "state") as reply:
        realistic = (await reply.json())["activity"]["realistic"]
    assert realistic["applied"] >= len(planned) and realistic["skipped"] == 0
    course = planned[0].course
    since = clock.now() - timedelta(days=2)
    query = {"courseId": course, "since": since.isoformat(), "until": clock.now().isoformat()}
    async with api.session.get(control + "activity/rates", params=query) as reply:
        assert reply.status == 200
        rates = await reply.json()
    assert rates["expected"] == pytest.approx(activity.expected(course, since, clock.now()))
    assert len(rates["hourly"]) == 48
    async with api.session.post(control + "activity/realistic", json={"model": None}) as reply:
        assert reply.status == 200
    assert api.sim.activity_plan is None
    made = len(world.edit_log())
    await clock.advance(7 * 86400)
    assert len(world.edit_log()) == made
    for bad in ({"model": {"sittings": 3}}, {"model": 3}, {}):
        async with api.session.post(control + "activity/realistic", json=bad) as reply:
            assert reply.status == 400
    async with api.session.get(control + "activity/rates", params={"courseId": course}) as reply:
        assert reply.status == 404  # the realistic activity is off


# -- the shape of a week --------------------------------------------------------------------------


def test_many_courses_are_quiet_in_a_week_and_a_few_change_every_day() -> None:
    world = _world()
    edits = _grades(plan(world, ActivityModel(), start=MONDAY))
    gradebooks = [c.id for c in world.courses if c.parent is None]
    days: dict[str, set[int]] = defaultdict(set)
    for edit in edits:
        days[edit.course].add(edit.at.weekday())
    quiet = [c for c in gradebooks if c not in days]
    assert 0.35 <= len(quiet) / len(gradebooks) <= 0.75
    assert any(len(d) == 7 for d in days.values())
    assert sum(len(d) >= 5 for d in days.values()) <= 0.2 * len(gradebooks)
    # Heavy-tailed: a tenth of the courses make over a third of the edits.
    counts = sorted(Counter(e.course for e in edits).values(), reverse=True)
    assert sum(counts[: len(gradebooks) // 10]) > len(edits) / 3


def test_grades_come_in_sittings_after_the_due_date_mostly_within_a_week() -> None:
    world = _world(SMALL)
    model = ActivityModel(start_week=1)
    activity = ActivityPlan(world, model, start=MONDAY)
    edits = activity.edits(activity.end)  # the whole term and the grading after it
    sittings: dict[str, list[PlannedEdit]] = defaultdict(list)
    for edit in edits:
        if edit.kind in ("grade", "upload"):
            assert edit.session is not None
            sittings[edit.session].append(edit)
    assert len(sittings) > 100
    within_a_week = total = 0
    for session, grades in sittings.items():
        due = activity.due_dates(grades[0].course)[grades[0].column or ""]
        assert all(g.at >= due for g in grades), session
        assert 5 <= len(grades) <= 40 and len({g.user for g in grades}) == len(grades)
        assert grades[-1].at - grades[0].at < timedelta(hours=1)
        assert len({g.column for g in grades}) == 1
        if grades[0].kind == "upload":
            assert len({g.at for g in grades}) == 1
        within_a_week += sum(g.at - due <= WEEK for g in grades)
        total += len(grades)
    assert within_a_week / total > 0.85
    assert Counter(g[0].kind for g in sittings.values())["upload"] > 0


def test_working_hours_hold_most_edits_nights_and_weekends_few() -> None:
    edits = _grades(plan(_world(), ActivityModel(), start=MONDAY))
    working = [e for e in edits if e.at.weekday() < 5 and 8 <= e.at.hour < 18]
    nights = [e for e in edits if e.at.hour < 6]
    assert len(working) / len(edits) > 0.5
    assert len(nights) / len(edits) < 0.05
    by_day = Counter(e.at.weekday() for e in edits)
    weekday = sum(by_day[d] for d in range(5)) / 5
    assert (by_day[5] + by_day[6]) / 2 < 0.7 * weekday


def test_a_local_time_zone_moves_the_profile() -> None:
    model = ActivityModel(utc_offset_hours=-5)
    edits = _grades(plan(_world(), model, start=MONDAY))
    local = [e.at - timedelta(hours=5) for e in edits]
    assert sum(9 <= t.hour < 17 for t in local) > sum(9 <= e.at.hour < 17 for e in edits)


def test_the_final_week_has_a_surge_of_grades() -> None:
    world = _world()
    mid = _grades(plan(world, ActivityModel(start_week=8), start=MONDAY))
    final = _grades(plan(world, ActivityModel(start_week=15), start=MONDAY))
    assert len(final) > 2 * len(mid)
    revisions = ("correction", "override", "exemption")
    assert sum(e.kind in revisions for e in final) > 2 * sum(e.kind in revisions for e in mid)


def test_changes_to_courses_come_when_the_model_says() -> None:
    world = _world()
    early = plan(world, ActivityModel(start_week=1), start=MONDAY, horizon=2 * WEEK)
    kinds = Counter(e.kind for e in early)
    assert kinds["enrol"] > 100 and kinds["drop"] > 100
    assert all(e.at < MONDAY + 2 * WEEK for e in early if e.kind in ("enrol", "drop"))
    mid = plan(world, ActivityModel(start_week=6), start=MONDAY, horizon=5 * WEEK)
    added = [e for e in mid if e.kind == "column"]
    assert added and not any(e.kind in ("enrol", "drop") for e in mid)
    graded = {e.column for e in mid if e.kind == "grade"}
    assert any(e.column in graded for e in added)  # an added column gets graded too


# -- determinism and rates ------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_plan_and_windows_compose() -> None:
    model = ActivityModel(seed=3)
    week = plan(_world(), model, start=MONDAY)
    assert week == plan(_world(), model, start=MONDAY)
    assert week != plan(_world(), ActivityModel(seed=4), start=MONDAY)
    fortnight = plan(_world(), model, start=MONDAY, horizon=2 * WEEK)
    assert fortnight[: len(week)] == week and len(fortnight) > len(week)
    activity = ActivityPlan(_world(), model, start=MONDAY)
    cuts = [MONDAY + timedelta(hours=h) for h in (0, 7, 31, 100, 168)]
    pieces = [activity.edits(b, since=a) for a, b in itertools.pairwise(cuts)]
    assert [e for piece in pieces for e in piece] == week


def test_the_rates_are_what_the_edits_are_drawn_from() -> None:
    # A sitting's grades come together, so one week of one seed is noisy: sum a few seeds.
    made_in_all = expected_in_all = 0.0
    for seed in range(4):
        world = _world()
        activity = ActivityPlan(world, ActivityModel(seed=seed), start=MONDAY)
        edits = _grades(activity.edits(MONDAY + WEEK))
        gradebooks = [c.id for c in world.courses if c.parent is None]
        expected = {c: activity.expected(c, MONDAY, MONDAY + WEEK) for c in gradebooks}
        made = Counter(e.course for e in edits)
        assert all(made[c] == 0 for c, rate in expected.items() if rate == 0)
        made_in_all += len(edits)
        expected_in_all += sum(expected.values())
    assert made_in_all == pytest.approx(expected_in_all, rel=0.05)
    # The hourly rate: quiet at night, busier in the afternoon, summing to the expectation.
    course = max(expected, key=expected.__getitem__)
    hours = [MONDAY + timedelta(hours=h) for h in range(168)]
    rates = [activity.rate(course, h) for h in hours]
    assert sum(rates) == pytest.approx(expected[course])
    assert sum(rates[3:5]) < sum(rates[14:16])
    child = next(c.id for c in world.courses if c.parent is not None)
    assert activity.rate(child, MONDAY) == 0 and activity.due_dates(child) == {}


# -- the model's parameters -----------------------------------------------------------------------


def test_the_model_round_trips_through_json_and_refuses_bad_values() -> None:
    model = ActivityModel(seed=2, term_start=datetime(2026, 8, 31, tzinfo=UTC))
    assert ActivityModel.from_json(model.as_json()) == model
    assert ActivityModel.from_json({"session_size": [3, 9]}).session_size == (3, 9)
    with pytest.raises(ValueError, match="unknown"):
        ActivityModel.from_json({"sessions": 3})
    with pytest.raises(ValueError, match="add to 1"):
        ActivityModel(correction_share=0.9)
    with pytest.raises(ValueError, match="hour_weights"):
        ActivityModel(hour_weights=(1.0,) * 23)
    with pytest.raises(ValueError, match="start_week"):
        ActivityModel(start_week=16)


def test_an_explicit_term_start_places_the_term() -> None:
    term = datetime(2026, 9, 2, tzinfo=UTC)  # a Wednesday
    activity = ActivityPlan(_world(), ActivityModel(term_start=term), start=MONDAY)
    assert activity.term_start == term
    assert activity.term_end == term + 15 * WEEK
    assert all(due > term for due in activity.due_dates(activity.world.courses[0].id).values())


# -- playing the plan: the rules of one edit, and the command -----------------------------------


def test_a_planned_edit_always_changes_what_a_reader_sees() -> None:
    world = _world(SMALL)
    course = next(c for c in world.courses if c.parent is None and not c.children)
    column = next(c for c in world.columns(course) if not c.calculated)
    user = world.student_ids(course.id)[0]
    world.set_score(course.id, column.id, user, 7.0)
    world.set_exempt(course.id, column.id, user, True)
    at = MONDAY + timedelta(minutes=5)
    for kind, value in (("correction", 7.0), ("override", "Pass"), ("override", "Pass")):
        assert apply(world, PlannedEdit(at, kind, course.id, column.id, user, value))
    assert apply(world, PlannedEdit(at, "exemption", course.id, column.id, user, True))
    row = world.grade(course.id, column.id, user)
    assert row is not None
    # 7.0 again moves half a point; "Pass" again takes the next text; exempt again lifts it.
    assert (row["score"], row["text"], row["exempt"]) == (6.5, "A", False)
    assert [e.at for e in world.edit_log()][-4:] == [at] * 4
    gone = PlannedEdit(at, "correction", course.id, "_1_1", user, 3.0)
    assert not apply(world, gone)


def _options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    return parser.parse_args(argv)


def test_simulate_selects_the_realistic_activity() -> None:
    assert simulate._activity(_options()) is None
    assert simulate._activity(_options("--activity", "realistic")) == ActivityModel()
    chosen = simulate._activity(_options("--activity", "realistic", "--activity-week", "15"))
    assert chosen == ActivityModel(start_week=15)
    for argv in (
        ("--activity", "realistic", "--activity-per-minute", "5"),
        ("--activity-week", "3"),
    ):
        with pytest.raises(ValueError):
            simulate._activity(_options(*argv))
