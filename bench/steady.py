"""Steady-state cycles at 1% grade churn on an institution, against the lower bound.

Starts ``gradesync simulate`` (2,000 courses x 20 columns x 40 students at scale 1, with an
added latency per request) in a process of its own and lets ``gradesync once`` make its first
full read (with ``sync.emit_baseline = false``, to set the state up sooner). Then, for each
cycle, edits 1% of the grades at random through the simulator's control endpoint and runs
``gradesync once`` again, counting the requests the simulator served. The lower bound of a
cycle is course-list pages + one columns call per course + one call per non-calculated column
+ the grade pages of calculated columns + the extra pages of changed rows. It is worked out on
a replica of the simulator's world, built from the same seed and given the same seeded edits,
so it costs the simulator nothing. Prints a table and ends with one JSON line:

    python bench/steady.py [--scale 1] [--churn 0.01] [--cycles 2] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from typing import Any

from _common import (
    COLUMNS,
    COURSES,
    STUDENTS,
    Simulator,
    bench_world,
    machine,
    measured,
    replica,
    run_once,
    stored_grades,
    table,
    write_config,
)
from gradesync.simulator import World

COURSE_PAGE, GRADE_PAGE = 100, 100  # the ``limit`` gradesync asks for (learn/settings.py)


@dataclass
class Bound:
    """The fewest requests that can see every change of one cycle, and what they are made of."""

    course_pages: int = 0
    columns_calls: int = 0
    column_reads: int = 0  # one per non-calculated column
    calculated_pages: int = 0
    extra_pages: int = 0  # changed rows past a column's first page

    @property
    def total(self) -> int:
        return (
            self.course_pages
            + self.columns_calls
            + self.column_reads
            + self.calculated_pages
            + self.extra_pages
        )


def pages(rows: int, size: int) -> int:
    """Pages of a list of ``rows``: an empty list still takes one request."""
    return max(1, math.ceil(rows / size))


def lower_bound(world: World, since: int) -> Bound:
    """The bound for a cycle that follows the edits made after change index ``since``.

    Only a course with more students than a page holds can need a second page, so only such
    courses have their rows listed; for the others every read is one request.
    """
    listed = [c for c in world.courses if c.body["availability"]["available"] == "Yes"]
    bound = Bound(course_pages=pages(len(listed), COURSE_PAGE))
    for course in listed:
        if course.parent is not None:
            continue  # a cross-listed child: its grades are read through the parent
        bound.columns_calls += 1
        crowded = len(world.student_ids(course.id)) > GRADE_PAGE
        for column in world.columns(course):
            rows = world.grade_rows(course, column) if crowded else []
            if column.calculated:
                bound.calculated_pages += pages(len(rows), GRADE_PAGE)
            else:
                changed = sum(1 for row in rows if row["changeIndex"] > since)
                bound.column_reads += 1
                bound.extra_pages += pages(changed, GRADE_PAGE) - 1
    return bound


def churn(sim: Simulator, world: World, edits: int, seed: int) -> int:
    """The same seeded random edits in the simulator and in the replica; the edits made."""
    answer = sim.control("random-edits", {"n": edits, "seed": seed})
    made = world.random_edits(edits, seed=seed)
    if (answer["edits"], answer["changeIndex"]) != (made, world.change_index):
        raise SystemExit("the replica no longer matches the simulator's world")
    return int(made)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    courses = max(3, round(COURSES * args.scale))
    world = replica(args.seed, courses, args.columns, args.students)
    with bench_world(args, courses) as (sim, directory):
        # The first read only sets the state up here: without baseline events it is shorter,
        # and the cycles after it are the same (bench/baseline.py measures it in full).
        config = write_config(directory, sim, concurrency=args.concurrency, emit_baseline=False)
        print("first full read (no baseline events) ...", file=sys.stderr)
        sim.reset_stats()
        first = run_once(config)
        first_requests = sum(sim.api_requests().values())
        grades = stored_grades(directory)
        cycles = []
        for n in range(args.cycles):
            since = world.change_index
            edits = churn(sim, world, round(grades * args.churn), seed=args.seed * 1000 + n)
            bound = lower_bound(world, since)
            print(f"cycle {n + 1}: {edits} edits ...", file=sys.stderr)
            sim.reset_stats()
            sim_cpu = sim.cpu_seconds()
            run = run_once(config)
            sim_cpu = sim.cpu_seconds() - sim_cpu
            by_endpoint = sim.api_requests()
            requests = sum(by_endpoint.values())
            cycles.append(
                {
                    "edits": edits,
                    "events": run.events,
                    "requests": requests,
                    "lower_bound": bound.total,
                    "ratio_to_lower_bound": round(requests / bound.total, 4),
                    "seconds": round(run.seconds, 2),
                    "ideal_seconds": round(requests * args.latency_ms / 1000 / args.concurrency, 2),
                    "gradesync_cpu_seconds": round(run.cpu_seconds, 2),
                    "simulator_cpu_seconds": round(sim_cpu, 2),
                    "peak_rss_mb": round(run.peak_rss_mb, 1),
                    "reads": dict(run.reads),
                    "requests_by_endpoint": dict(by_endpoint),
                    "bound": asdict(bound),
                }
            )
    return {
        "courses": courses,
        "selected_courses": len(first.cycles),
        "grades": grades,
        "churn": args.churn,
        "first_read": {
            "requests": first_requests,
            "seconds": round(first.seconds, 2),
            "peak_rss_mb": round(first.peak_rss_mb, 1),
        },
        "cycles": cycles,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1: 2,000 courses")
    parser.add_argument("--columns", type=int, default=COLUMNS, help="per course, with Total")
    parser.add_argument("--students", type=int, default=STUDENTS, help="per course")
    parser.add_argument("--churn", type=float, default=0.01, help="share of grades edited")
    parser.add_argument("--cycles", type=int, default=2, help="steady cycles to measure")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16, help="learn.concurrency")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    host = machine()
    result = measure(args)
    print(measured(host))
    print(
        f"{result['selected_courses']} courses read, {result['grades']:,} grades, "
        f"{args.latency_ms:g} ms latency, concurrency {args.concurrency}"
    )
    first = result["first_read"]
    print(
        f"first full read (no baseline events): {first['requests']:,} requests "
        f"in {first['seconds']:.1f} s"
    )
    shown = {
        "cycle": None,
        "edits": "edits",
        "events": "events",
        "requests": "requests",
        "lower bound": "lower_bound",
        "x bound": "ratio_to_lower_bound",
        "wall s": "seconds",
        "ideal s": "ideal_seconds",
        "cpu s": "gradesync_cpu_seconds",
        "sim cpu s": "simulator_cpu_seconds",
        "peak RSS MB": "peak_rss_mb",
    }
    rows = [
        [n + 1, *(c[key] for key in list(shown.values())[1:])]
        for n, c in enumerate(result["cycles"])
    ]
    print(table(list(shown), rows))
    print(json.dumps({"machine": host, "latency_ms": args.latency_ms, **result}))


if __name__ == "__main__":
    main()
