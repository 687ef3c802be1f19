"""API calls of one steady-state cycle: gradesync, Anthology's recipe, and the lower bound.

The reference world: 300 courses, 12 columns each (one Calculated total), 35 students. Three
policies keep their own state and see the same edits between two cycles: gradesync on the
course gradebook log (``changelog``), gradesync by ``changeIndex`` (``changeindex``) and
Anthology's recipe. Each is counted against its own lower bound.

1. The first read of each policy, then one cycle of each with nothing edited: on the log, a
   course's first cycle after its first read.
2. 1% of the grades edited at random (``--churn``), one steady cycle of each: the figures of
   earlier versions of this benchmark (the ``changeindex`` policy against its bound).
3. For each share of ``--shares``: that share of the selected courses (seeded) gets a few edits
   (``--churn`` of its grades, at least one, over up to three columns), then one steady cycle of
   each policy.

Every cycle on the log here is driven by the log: the run takes minutes, far less than
``sync.sweep_interval`` (1 day) and ``sync.membership_refresh`` (6 hours).

Prints a table and ends with one JSON line.

    python bench/api_efficiency.py [--courses 300 --columns 12 --students 35 --churn 0.01]
                                   [--shares 0,0.01,0.05,0.2,1] [--by-endpoint]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gradesync import logs
from gradesync.clock import SystemClock
from gradesync.learn import LearnClient, LearnSettings
from gradesync.models import Course, Grade
from gradesync.simulator import Simulator, World, WorldSpec, serve
from gradesync.store import SQLiteStateStore
from gradesync.sync.cycle import Strategy, Syncer, SyncOptions
from gradesync.sync.selection import Selection

GRADE_PAGE = 100
COURSE_PAGE = 100
LOG_PAGE = 100
TOKEN_ENDPOINT = "v1/oauth2/token"
COLUMNS_PER_CHANGED_COURSE = 3  # a changed course's edits are spread over up to this many


class Recipe:
    """Anthology's recipe, literally: courses; per course memberships, categories, columns;
    ``lastChanged`` per column and a full re-read of the columns that moved (Calculated columns
    are always re-read, since their ``lastChanged`` is always empty)."""

    def __init__(self, client: LearnClient) -> None:
        self.client = client
        self.cached: dict[str, int] = {}

    async def cycle(self) -> None:
        courses = [c async for c in self.client.courses(available="Yes")]
        for course in courses:
            if course.parent_id:
                continue
            _ = [m async for m in self.client.memberships(course.id)]
            _ = [c async for c in self.client.categories(course.id)]
            columns = [c async for c in self.client.columns(course.id)]
            for column in columns:
                if column.calculated:
                    _ = [g async for g in self.client.column_grades(course.id, column.id)]
                    continue
                last = await self.client.last_changed(course.id, column.id)
                index = last.change_index if last else 0
                if index > self.cached.get(column.id, -1):
                    rows = [g async for g in self.client.column_grades(course.id, column.id)]
                    self.cached[column.id] = max([index, *(r.change_index for r in rows)])


class Gradesync:
    """One gradesync state: a :class:`Syncer` with its own client, SQLite file and strategy."""

    def __init__(
        self, client: LearnClient, store: SQLiteStateStore, site: str, strategy: Strategy
    ) -> None:
        self.client = client
        self.store = store
        self.syncer = Syncer(
            client, store, Selection(), SyncOptions(site=site, strategy=strategy), SystemClock()
        )
        self.reads: Counter[str] = Counter()  # the last cycle's reads: log, full, delta, ...

    async def cycle(self) -> tuple[int, list[Course]]:
        """One cycle over every selected course: its requests and the courses."""
        before = self.client.request_count
        courses = await self.syncer.list_courses()
        results = await asyncio.gather(*(self.syncer.sync_course(c) for c in courses))
        failed = [r for r in results if not r.complete]
        if failed:
            raise RuntimeError(f"{len(failed)} courses did not complete: {failed[0]}")
        self.reads = sum((r.reads for r in results), Counter())
        return self.client.request_count - before, courses

    async def cursors(self, courses: Iterable[Course]) -> dict[str, int]:
        """Each column's changeIndex cursor, as the state holds it."""
        out: dict[str, int] = {}
        for course in courses:
            structure = await self.store.structure(course.id)
            out.update({k: v.change_index for k, v in structure.cursors.items()})
        return out

    async def log_cursors(self, courses: Iterable[Course]) -> dict[str, datetime | None]:
        """Each course's log cursor, as the state holds it."""
        return {c.id: (await self.store.structure(c.id)).log.cursor for c in courses}


@dataclass
class Measured:
    """One steady cycle of one policy: its requests, its bound, by endpoint."""

    requests: int
    bound: int | None = None
    by_endpoint: dict[str, int] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return None if self.bound is None else self.requests / self.bound


def _pages(rows: int, page: int) -> int:
    return max(1, math.ceil(rows / page))


async def rows_of(
    client: LearnClient, course: Course, column_id: str, since: int | None
) -> list[Grade]:
    return [g async for g in client.column_grades(course.id, column_id, change_index=since)]


async def course_list_pages(client: LearnClient) -> int:
    listed = len([c async for c in client.courses(available="Yes")])
    return _pages(listed, COURSE_PAGE)


async def lower_bound(client: LearnClient, courses: list[Course], cursors: dict[str, int]) -> int:
    """``changeindex``: course-list pages + one columns call per course + one call per
    non-calculated column + the grade pages of calculated columns + the extra pages of changed
    rows. Counted with a separate client so that it costs gradesync nothing."""
    total = await course_list_pages(client)
    for course in courses:
        total += 1
        async for column in client.columns(course.id):
            if column.calculated:
                rows = await rows_of(client, course, column.id, None)
                total += _pages(len(rows), GRADE_PAGE)
            else:
                changed = await rows_of(client, course, column.id, cursors.get(column.id, 0))
                total += _pages(len(changed), GRADE_PAGE)
    return total


async def changelog_bound(
    client: LearnClient,
    courses: list[Course],
    cursors: dict[str, int],
    edited: dict[str, set[str]],
    entries: Counter[str],
) -> int:
    """``changelog``: course-list pages + one log page per course (per 100 new entries) + in
    each changed course, one ``changeIndex`` read per changed column (plus its extra pages) and
    the pages of its Calculated columns. ``edited`` maps a course to the columns edited in it,
    ``entries`` counts its new log entries."""
    total = await course_list_pages(client)
    for course in courses:
        total += _pages(entries[course.id], LOG_PAGE)
        named = edited.get(course.id)
        if not named:
            continue
        async for column in client.columns(course.id):
            if column.calculated:
                rows = await rows_of(client, course, column.id, None)
                total += _pages(len(rows), GRADE_PAGE)
            elif column.id in named:
                changed = await rows_of(client, course, column.id, cursors.get(column.id, 0))
                total += _pages(len(changed), GRADE_PAGE)
    return total


def share_edits(
    world: World,
    courses: Sequence[Course],
    calculated: set[str],
    graded: Counter[str],
    share: float,
    churn: float,
    rng: random.Random,
) -> tuple[int, int]:
    """Edit ``churn`` of the grades (at least one) of ``share`` of ``courses``, over up to
    three of each one's columns, one grade at a time (each edit is logged at its own time).
    Returns the courses changed and the edits made."""
    changed = 0 if share <= 0 else min(len(courses), max(1, round(share * len(courses))))
    made = 0
    for course in rng.sample(list(courses), changed):
        inputs = [c for c in world.column_ids(course.id) if c not in calculated]
        students = world.student_ids(course.id)
        count = max(1, round(graded[course.id] * churn))
        chosen = rng.sample(inputs, min(len(inputs), COLUMNS_PER_CHANGED_COURSE, count))
        cells = [
            (column, user)
            for k, column in enumerate(chosen)
            for user in rng.sample(
                students, min(len(students), count // len(chosen) + (k < count % len(chosen)))
            )
        ]
        for column, user in cells:
            world.set_score(course.id, column, user, round(rng.uniform(30.0, 100.0), 2))
            made += 1
    return changed, made


def by_endpoint(sim: Simulator) -> dict[str, int]:
    """The simulator's answers since its last reset, by endpoint, token requests aside."""
    return {
        endpoint: sum(statuses.values())
        for endpoint, statuses in sim.stats.by_endpoint().items()
        if endpoint != TOKEN_ENDPOINT
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=300)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--students", type=int, default=35)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--shares",
        default="0,0.01,0.05,0.2,1",
        help="shares of the selected courses changed before each cycle, comma-separated",
    )
    parser.add_argument(
        "--by-endpoint", action="store_true", help="print each cycle's requests by endpoint"
    )
    args = parser.parse_args()
    shares = [float(s) for s in args.shares.split(",") if s.strip()]
    logs.configure("warning", stream=sys.stderr)  # stdout carries the table and the JSON line

    world = World(
        WorldSpec(
            seed=args.seed,
            courses=args.courses,
            columns_per_course=args.columns,
            students_per_course=args.students,
        )
    )
    rows: list[dict[str, Any]] = []
    async with serve(world) as sim:

        def settings() -> LearnSettings:
            return LearnSettings(
                base_url=sim.base_url,
                client_id=sim.client_id,
                client_secret=sim.client_secret,
                requests_per_second=100_000,
                concurrency=16,
            )

        with tempfile.TemporaryDirectory() as tmp:
            async with (
                LearnClient(settings()) as log_client,
                LearnClient(settings()) as index_client,
                LearnClient(settings()) as recipe_client,
                LearnClient(settings()) as probe,
                SQLiteStateStore(Path(tmp) / "changelog.db") as log_store,
                SQLiteStateStore(Path(tmp) / "changeindex.db") as index_store,
            ):
                changelog = Gradesync(log_client, log_store, sim.base_url, "changelog")
                changeindex = Gradesync(index_client, index_store, sim.base_url, "changeindex")
                recipe = Recipe(recipe_client)

                async def measured(name: str) -> Measured:
                    """One steady cycle of a policy, counted by its client and the simulator."""
                    sim.stats.reset()
                    if name == "recipe":
                        before = recipe_client.request_count
                        await recipe.cycle()
                        result = Measured(recipe_client.request_count - before)
                    else:
                        policy = changelog if name == "changelog" else changeindex
                        requests, _ = await policy.cycle()
                        result = Measured(requests, reads=dict(policy.reads))
                    result.by_endpoint = by_endpoint(sim)
                    if sum(result.by_endpoint.values()) != result.requests:
                        raise RuntimeError(f"{name}: the simulator and the client disagree")
                    return result

                async def steady(
                    mark: int, courses: list[Course]
                ) -> tuple[Measured, Measured, Measured]:
                    """Each policy's cycle after the edits made since ``mark``, with its bound
                    (worked out first, by the probe, from each state's cursors)."""
                    selected = {c.id for c in courses}
                    edits = [e for e in world.edit_log()[mark:] if e.course_id in selected]
                    edited: dict[str, set[str]] = {}
                    entries: Counter[str] = Counter()
                    for edit in edits:
                        edited.setdefault(edit.course_id, set()).add(edit.column_id)
                        entries[edit.course_id] += edit.logged
                    log_cursors = await changelog.log_cursors(courses)
                    for edit in edits:
                        cursor = log_cursors[edit.course_id]
                        if cursor is not None and edit.at < cursor:
                            raise RuntimeError(f"an edit logged before its course's cursor: {edit}")
                    log_bound = await changelog_bound(
                        probe, courses, await changelog.cursors(courses), edited, entries
                    )
                    index_bound = await lower_bound(
                        probe, courses, await changeindex.cursors(courses)
                    )
                    on_log = await measured("changelog")
                    on_log.bound = log_bound
                    by_index = await measured("changeindex")
                    by_index.bound = index_bound
                    return on_log, by_index, await measured("recipe")

                # 1. The first reads.
                first, courses = await changelog.cycle()
                changelog_first = first
                first, _ = await changeindex.cycle()
                await recipe.cycle()
                recipe_first = recipe_client.request_count
                calculated = {
                    column_id
                    for c in courses
                    for column_id, column in (await index_store.structure(c.id)).columns.items()
                    if column.calculated
                }
                graded: Counter[str] = Counter()
                for c in courses:
                    for col in world.column_ids(c.id):
                        for u in world.student_ids(c.id):
                            row = world.grade(c.id, col, u)
                            if row and Grade.model_validate(row).is_grade:
                                graded[c.id] += 1
                grades = sum(graded.values())
                quiet_log, quiet_index, quiet_recipe = await steady(len(world.edit_log()), courses)

                # 2. 1% churn at random, as in earlier versions of this benchmark.
                mark = len(world.edit_log())
                edits = world.random_edits(max(1, round(grades * args.churn)))
                churn_log, churn_index, churn_recipe = await steady(mark, courses)
                steady_cycle, bound = churn_index.requests, churn_index.bound
                assert bound is not None
                recipe_steady = churn_recipe.requests

                # 3. The shares of courses changed.
                for k, share in enumerate(shares):
                    mark = len(world.edit_log())
                    rng = random.Random(args.seed * 1_000 + k)
                    changed, made = share_edits(
                        world, courses, calculated, graded, share, args.churn, rng
                    )
                    on_log, by_index, by_recipe = await steady(mark, courses)
                    rows.append(
                        {
                            "share": share,
                            "courses_changed": changed,
                            "edits": made,
                            "changelog": on_log,
                            "changeindex": by_index,
                            "recipe": by_recipe,
                        }
                    )

    columns = sum(len(world.column_ids(c.id)) for c in courses)
    estimate = 1 + 3 * len(courses) + columns
    print(
        f"world: {len(courses)} selected courses, {columns} columns, {grades} grades; "
        f"{edits} edits ({args.churn:.0%})"
    )
    print(
        f"{'':30}{'first read':>11}{'quiet':>8}{'bound':>7}{'x bound':>8}"
        f"{f'{args.churn:.0%} churn':>10}{'bound':>7}{'x bound':>8}"
    )
    for name, first_read, quiet, cycle in (
        ("gradesync changeindex", first, quiet_index, churn_index),
        ("gradesync changelog", changelog_first, quiet_log, churn_log),
        ("recipe (lastChanged, re-read)", recipe_first, quiet_recipe, churn_recipe),
    ):
        line = f"{name:30}{first_read:>11}{quiet.requests:>8}"
        if quiet.ratio is not None:
            line += f"{quiet.bound:>7}{quiet.ratio:>8.3f}"
        else:
            line += f"{'':>15}"
        line += f"{cycle.requests:>10}"
        if cycle.ratio is not None:
            line += f"{cycle.bound:>7}{cycle.ratio:>8.3f}"
        print(line)
    print(f"{'recipe estimate 1+3*nC+nCol':30}{'':>26}{estimate:>10}")
    print(
        f"at {args.churn:.0%} churn: changeindex / its lower bound {steady_cycle / bound:.3f}; "
        f"recipe / changeindex {recipe_steady / steady_cycle:.2f}x; "
        f"recipe / changelog {recipe_steady / churn_log.requests:.2f}x"
    )
    print()
    print(
        f"{'share':>6}{'courses':>8}{'edits':>7}"
        f"{'changelog':>11}{'bound':>7}{'x':>7}"
        f"{'changeindex':>13}{'bound':>7}{'x':>7}"
        f"{'recipe':>8}{'recipe/changelog':>18}"
    )
    shares_out: list[dict[str, Any]] = []
    for row in rows:
        on_log, by_index, by_recipe = row["changelog"], row["changeindex"], row["recipe"]
        over = by_recipe.requests / on_log.requests
        print(
            f"{row['share']:>6.0%}{row['courses_changed']:>8}{row['edits']:>7}"
            f"{on_log.requests:>11}{on_log.bound:>7}{on_log.ratio:>7.3f}"
            f"{by_index.requests:>13}{by_index.bound:>7}{by_index.ratio:>7.3f}"
            f"{by_recipe.requests:>8}{over:>17.2f}x"
        )
        shares_out.append(
            {
                "share": row["share"],
                "courses_changed": row["courses_changed"],
                "edits": row["edits"],
                "changelog": on_log.requests,
                "changelog_bound": on_log.bound,
                "changelog_ratio_to_bound": round(on_log.ratio, 4),
                "changeindex": by_index.requests,
                "changeindex_bound": by_index.bound,
                "changeindex_ratio_to_bound": round(by_index.ratio, 4),
                "recipe": by_recipe.requests,
                "recipe_over_changelog": round(over, 2),
            }
        )
    quiet_row = {"changelog": quiet_log, "changeindex": quiet_index, "recipe": quiet_recipe}
    churn_row = {"changelog": churn_log, "changeindex": churn_index, "recipe": churn_recipe}
    for label, row in [
        ("in the first cycle after the first read (nothing edited)", quiet_row),
        (f"after {args.churn:.0%} churn at random", churn_row),
        *((f"at {row['share']:.0%} of courses changed", row) for row in rows),
    ]:
        for name in ("changelog", "changeindex", "recipe"):
            cycle = row[name]
            if args.by_endpoint or (cycle.ratio is not None and cycle.requests > cycle.bound):
                print(f"\n{name} {label}: {cycle.requests} requests", end="")
                if cycle.bound is not None:
                    print(f", bound {cycle.bound}", end="")
                print(f"; reads {dict(sorted(cycle.reads.items()))}")
                for endpoint, n in sorted(cycle.by_endpoint.items()):
                    print(f"  {n:>6}  {endpoint}")

    worst = max((s["changelog_ratio_to_bound"] for s in shares_out), default=None)
    at_5 = next((s["recipe_over_changelog"] for s in shares_out if s["share"] == 0.05), None)
    print(
        json.dumps(
            {
                "courses": len(courses),
                "columns": columns,
                "grades": grades,
                "edits": edits,
                "gradesync_first": first,
                "gradesync_steady": steady_cycle,
                "recipe_first": recipe_first,
                "recipe_steady": recipe_steady,
                "recipe_estimate": estimate,
                "lower_bound": bound,
                "ratio_to_lower_bound": round(steady_cycle / bound, 4),
                "recipe_over_gradesync": round(recipe_steady / steady_cycle, 2),
                "changelog_first": changelog_first,
                "changelog_quiet_after_first": quiet_log.requests,
                "changelog_quiet_after_first_bound": quiet_log.bound,
                "changelog_steady": churn_log.requests,
                "changelog_lower_bound": churn_log.bound,
                "shares": shares_out,
                "changelog_ratio_to_bound_max": worst,
                "recipe_over_changelog_at_5pct": at_5,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
