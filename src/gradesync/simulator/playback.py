"""The realistic activity of a running simulator: an ``ActivityPlan`` made on the world as the
simulator's clock passes each planned time.

The player follows the clock the uniform activity follows (the one given to ``serve``): on a
manual or simulated clock a week of edits takes a week of simulated time. Each change goes
through the world's own mutations at its planned time, so the grade, its ``changeIndex``, the
edit log's true time and the gradebook log's ``logged`` are all that time. The sittings that
upload are one bulk edit (``World.set_scores``).

Two rules keep every planned grade edit visible to a reader: a score equal to the grade's
current one is moved half a point, an override equal to the current text takes the next text,
and an exemption of a student already exempt lifts it. A change whose target is gone (a column
deleted, a student removed by someone else) is skipped and counted.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from gradesync.clock import Clock, sleep_or_event
from gradesync.simulator import derive
from gradesync.simulator.activity import ActivityModel
from gradesync.simulator.derive import iso
from gradesync.simulator.plan import ADDED_NAME, ADDED_POSSIBLE, GRADE_KINDS, ActivityPlan
from gradesync.simulator.plan import PlannedEdit as Planned
from gradesync.simulator.site import NotFound
from gradesync.simulator.world import World

# The plan is drawn a day at a time as the clock gets there.
CHUNK = timedelta(days=1)
# A wake-up this close to a planned time is on time: the clocks keep float seconds.
_EARLY = 0.001


class Playback:
    """Plays one ``ActivityPlan`` at a time on ``world``, paced by ``clock``."""

    def __init__(self, world: World, clock: Clock) -> None:
        self.world = world
        self.clock = clock
        self.plan: ActivityPlan | None = None
        self.applied = 0  # planned changes made
        self.skipped = 0  # planned changes whose target was gone
        self.finished = False  # the plan has no change left
        self._changed = asyncio.Event()

    def start(self, model: ActivityModel | None) -> ActivityPlan | None:
        """Play ``model`` from the clock's now (None stops); returns the plan."""
        plan = None if model is None else ActivityPlan(self.world, model, start=self.clock.now())
        self.plan = plan
        # The columns the plan grades are served with its due dates while it plays.
        self.world.planned_due = None if plan is None else plan.column_due
        self.applied = self.skipped = 0
        self.finished = False
        self._changed.set()
        return plan

    def summary(self) -> dict[str, Any] | None:
        """What ``/__simulator__/state`` shows of the realistic activity (None when off)."""
        plan = self.plan
        if plan is None:
            return None
        return {
            "model": plan.model.as_json(),
            "seed": plan.seed,
            "start": iso(plan.start),
            "termStart": iso(plan.term_start),
            "termEnd": iso(plan.term_end),
            "applied": self.applied,
            "skipped": self.skipped,
            "finished": self.finished,
        }

    async def run(self) -> None:
        """Runs until cancelled: plays the current plan, then waits for another."""
        while True:
            plan = self.plan
            self._changed.clear()
            if plan is not None and not self.finished:
                interrupted = await self._play(plan)
                if not interrupted and self.plan is plan:
                    self.finished = True
            await self._changed.wait()

    async def _play(self, plan: ActivityPlan) -> bool:
        """Make the plan's changes as their times come; True when ``start`` interrupted it."""
        since = plan.start
        while since < plan.end:
            edits = plan.edits(since + CHUNK, since=since)
            k = 0
            while k < len(edits):
                delay = (edits[k].at - self.clock.now()).total_seconds()
                if delay > _EARLY and await sleep_or_event(self.clock, delay, self._changed):
                    return True
                if self._changed.is_set():
                    return True
                k = self._apply_from(edits, k)
            since += CHUNK
        return False

    def _apply_from(self, edits: list[Planned], k: int) -> int:
        """Make ``edits[k]`` (with the rest of its upload); the index of the next one."""
        edit = edits[k]
        end = k + 1
        if edit.kind == "upload":
            while end < len(edits) and edits[end].session == edit.session:
                end += 1
        made = upload(self.world, edits[k:end]) if end > k + 1 else int(apply(self.world, edit))
        self.applied += made
        self.skipped += end - k - made
        return end


def apply(world: World, edit: Planned) -> bool:
    """Make one planned change through the world's own mutations, at its planned time; False
    when its target is gone."""
    try:
        if edit.kind in GRADE_KINDS:
            _grade(world, edit)
        elif edit.kind == "column":
            assert edit.column is not None and isinstance(edit.value, datetime)
            world.add_column(
                edit.course,
                ADDED_NAME,
                possible=ADDED_POSSIBLE,
                due=edit.value,
                external_id=edit.column.removeprefix("externalId:"),
            )
        elif edit.kind == "enrol":
            _enrol(world, edit)
        elif edit.kind == "drop":
            assert edit.user is not None
            world.disable_membership(edit.course, edit.user)
        else:
            raise ValueError(f"unknown planned change {edit.kind!r}")
    except (NotFound, ValueError):
        return False
    return True


def upload(world: World, edits: list[Planned]) -> int:
    """Make a sitting's uploaded grades as one bulk edit; how many were made."""
    scores: dict[tuple[str, str], float] = {}
    for edit in edits:
        assert edit.column is not None and edit.user is not None
        try:
            scores[edit.column, edit.user] = _visible_score(world, edit)
        except (NotFound, ValueError):
            continue
    if scores:
        world.set_scores(edits[0].course, scores, at=edits[0].at)
    return len(scores)


def _grade(world: World, edit: Planned) -> None:
    assert edit.column is not None and edit.user is not None
    target = (edit.course, edit.column, edit.user)
    if edit.kind == "override":
        state = _state(world, edit)
        text = str(edit.value)
        if state is not None and state.text == text:
            texts = derive.OVERRIDE_TEXTS
            text = texts[(texts.index(text) + 1) % len(texts)] if text in texts else text + "+"
        world.set_text(*target, text, at=edit.at)
    elif edit.kind == "exemption":
        state = _state(world, edit)
        world.set_exempt(*target, not (state is not None and state.exempt), at=edit.at)
    else:
        world.set_score(*target, _visible_score(world, edit), at=edit.at)


def _visible_score(world: World, edit: Planned) -> float:
    """The planned score, moved half a point when the grade holds it already."""
    assert isinstance(edit.value, float)
    state = _state(world, edit)
    if state is None or state.score != edit.value:
        return edit.value
    return edit.value - 0.5 if edit.value >= 0.5 else edit.value + 0.5


def _state(world: World, edit: Planned) -> derive.GradeState | None:
    assert edit.column is not None and edit.user is not None
    course = world.resolve_course(edit.course)
    column = world.resolve_column(course, edit.column)
    if column.calculated:
        raise ValueError(f"column {column.id} is calculated")
    member, _ = world.find_member(course, edit.user)
    return world.state(column, member)


def _enrol(world: World, edit: Planned) -> None:
    """Enrol an existing student (into a child for a cross-listed parent)."""
    assert edit.user is not None
    course = world.resolve_course(edit.course)
    user = world.user_index(edit.user)
    if any(member.user == user for member, _ in world.roster(course)):
        raise ValueError(f"{edit.user} is already enrolled in {course.id}")
    holder = course
    if course.children:
        holder = world.courses[course.children[user % len(course.children)]]
    world.enrol(holder, user, "Student")
