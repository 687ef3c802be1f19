"""API calls of one steady-state cycle: gradesync, Anthology's recipe, and the lower bound.

The reference world: 300 courses, 12 columns each (one Calculated total), 35 students, and 1%
of the grades edited between two cycles. Prints a table and ends with one JSON line.

    python bench/api_efficiency.py [--courses 300 --columns 12 --students 35 --churn 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
from pathlib import Path

from gradesync.clock import SystemClock
from gradesync.learn import LearnClient, LearnSettings
from gradesync.models import Course, Grade
from gradesync.simulator import World, WorldSpec, serve
from gradesync.store import SQLiteStateStore
from gradesync.sync.cycle import Syncer, SyncOptions
from gradesync.sync.selection import Selection

GRADE_PAGE = 100
COURSE_PAGE = 100


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


async def rows_of(
    client: LearnClient, course: Course, column_id: str, since: int | None
) -> list[Grade]:
    return [g async for g in client.column_grades(course.id, column_id, change_index=since)]


async def lower_bound(client: LearnClient, courses: list[Course], cursors: dict[str, int]) -> int:
    """Course-list pages + one columns call per course + one call per non-calculated column +
    the grade pages of calculated columns + the extra pages of changed rows. Counted with a
    separate client so that it costs gradesync nothing."""
    listed = len([c async for c in client.courses(available="Yes")])
    total = max(1, math.ceil(listed / COURSE_PAGE))
    for course in courses:
        total += 1
        async for column in client.columns(course.id):
            if column.calculated:
                rows = await rows_of(client, course, column.id, None)
                total += max(1, math.ceil(len(rows) / GRADE_PAGE))
            else:
                changed = await rows_of(client, course, column.id, cursors.get(column.id, 0))
                total += max(1, math.ceil(len(changed) / GRADE_PAGE))
    return total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=300)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--students", type=int, default=35)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    world = World(
        WorldSpec(
            seed=args.seed,
            courses=args.courses,
            columns_per_course=args.columns,
            students_per_course=args.students,
        )
    )
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
                LearnClient(settings()) as client,
                LearnClient(settings()) as recipe_client,
                LearnClient(settings()) as probe,
                SQLiteStateStore(Path(tmp) / "state.db") as store,
            ):
                syncer = Syncer(
                    client, store, Selection(), SyncOptions(site=sim.base_url), SystemClock()
                )
                recipe = Recipe(recipe_client)

                async def gradesync_cycle() -> tuple[int, list[Course]]:
                    before = client.request_count
                    courses = await syncer.list_courses()
                    await asyncio.gather(*(syncer.sync_course(c) for c in courses))
                    return client.request_count - before, courses

                first, courses = await gradesync_cycle()
                await recipe.cycle()
                recipe_first = recipe_client.request_count
                cursors: dict[str, int] = {}
                for course in courses:
                    structure = await store.structure(course.id)
                    cursors.update({k: v.change_index for k, v in structure.cursors.items()})

                grades = sum(
                    1
                    for c in courses
                    for col in world.column_ids(c.id)
                    for u in world.student_ids(c.id)
                    if (row := world.grade(c.id, col, u)) and Grade.model_validate(row).is_grade
                )
                edits = world.random_edits(max(1, round(grades * args.churn)))
                bound = await lower_bound(probe, courses, cursors)

                steady, _ = await gradesync_cycle()
                before = recipe_client.request_count
                await recipe.cycle()
                recipe_steady = recipe_client.request_count - before

    columns = sum(len(world.column_ids(c.id)) for c in courses)
    estimate = 1 + 3 * len(courses) + columns
    print(
        f"world: {len(courses)} selected courses, {columns} columns, {grades} grades; "
        f"{edits} edits ({args.churn:.0%})"
    )
    print(f"{'':34}{'first read':>12}{'steady cycle':>14}")
    print(f"{'gradesync':34}{first:>12}{steady:>14}")
    print(f"{'recipe (lastChanged, re-read)':34}{recipe_first:>12}{recipe_steady:>14}")
    print(f"{'recipe estimate 1+3*nC+nCol':34}{'':>12}{estimate:>14}")
    print(f"{'lower bound':34}{'':>12}{bound:>14}")
    print(
        f"gradesync / lower bound: {steady / bound:.3f}; recipe / gradesync: "
        f"{recipe_steady / steady:.2f}x"
    )
    print(
        json.dumps(
            {
                "courses": len(courses),
                "columns": columns,
                "grades": grades,
                "edits": edits,
                "gradesync_first": first,
                "gradesync_steady": steady,
                "recipe_first": recipe_first,
                "recipe_steady": recipe_steady,
                "recipe_estimate": estimate,
                "lower_bound": bound,
                "ratio_to_lower_bound": round(steady / bound, 4),
                "recipe_over_gradesync": round(recipe_steady / steady, 2),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
