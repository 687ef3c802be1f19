"""The first full read of a large institution, at several sizes, against the ideal.

For each scale, starts ``gradesync simulate`` (2,000 courses x 20 columns x 40 students at
scale 1, with an added latency per request) in a process of its own, runs ``gradesync once``
on an empty state with ``learn.concurrency`` 16, and compares its wall time with the ideal:
requests x latency / concurrency, the time the requests alone take when every slot is busy.
Requests are counted by the simulator, peak RSS and CPU by ``wait4`` on the gradesync process.
Prints a table and ends with one JSON line:

    python bench/baseline.py [--scale 0.25,0.5,1] [--latency-ms 20] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from _common import (
    COLUMNS,
    COURSES,
    STUDENTS,
    bench_world,
    machine,
    measured,
    run_once,
    state_size_mb,
    stored_grades,
    table,
    write_config,
)


def delivery_seconds(cycles: list[dict[str, Any]], done: dict[str, Any]) -> float:
    """From the last course's ``cycle.done`` to ``once.done``: the delivery left once every
    course is read (the sink takes each course's events as it commits, during the sync)."""
    last = max(datetime.fromisoformat(c["timestamp"]) for c in cycles)
    return (datetime.fromisoformat(done["timestamp"]) - last).total_seconds()


def measure(scale: float, args: argparse.Namespace) -> dict[str, Any]:
    courses = max(1, round(COURSES * scale))
    with bench_world(args, courses) as (sim, directory):
        config = write_config(
            directory, sim, concurrency=args.concurrency, sync_concurrency=args.sync_concurrency
        )
        sim.reset_stats()
        sim_cpu = sim.cpu_seconds()
        run = run_once(config)
        sim_cpu = sim.cpu_seconds() - sim_cpu
        requests = sum(sim.api_requests().values())
        grades = stored_grades(directory)
        state_mb = state_size_mb(directory)
    ideal = requests * args.latency_ms / 1000 / args.concurrency
    return {
        "scale": scale,
        "courses": courses,
        "selected_courses": len(run.cycles),
        "grades": grades,
        "events": run.events,
        "requests": requests,
        "seconds": round(run.seconds, 2),
        "ideal_seconds": round(ideal, 2),
        "ratio_to_ideal": round(run.seconds / ideal, 3),
        "delivery_seconds": round(delivery_seconds(run.cycles, run.done), 2),
        "grades_per_second": round(grades / run.seconds),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "gradesync_cpu_seconds": round(run.cpu_seconds, 2),
        "simulator_cpu_seconds": round(sim_cpu, 2),
        "state_mb": round(state_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="0.25,0.5,1", help="comma-separated world sizes")
    parser.add_argument("--columns", type=int, default=COLUMNS, help="per course, with Total")
    parser.add_argument("--students", type=int, default=STUDENTS, help="per course")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16, help="learn.concurrency")
    parser.add_argument("--sync-concurrency", type=int, default=16, help="courses at once")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    host = machine()
    results = []
    for scale in (float(s) for s in args.scale.split(",")):
        print(f"scale {scale}: {round(COURSES * scale)} courses ...", file=sys.stderr)
        results.append(measure(scale, args))
    print(measured(host))
    print(
        f"{args.columns} columns x {args.students} students per course, "
        f"{args.latency_ms:g} ms latency, concurrency {args.concurrency}"
    )
    shown = {
        "scale": "scale",
        "courses": "selected_courses",
        "grades": "grades",
        "requests": "requests",
        "wall s": "seconds",
        "ideal s": "ideal_seconds",
        "x ideal": "ratio_to_ideal",
        "grades/s": "grades_per_second",
        "peak RSS MB": "peak_rss_mb",
        "state MB": "state_mb",
        "cpu s": "gradesync_cpu_seconds",
        "sim cpu s": "simulator_cpu_seconds",
    }
    print(table(list(shown), [[r[key] for key in shown.values()] for r in results]))
    print(json.dumps({"machine": host, "latency_ms": args.latency_ms, "results": results}))


if __name__ == "__main__":
    main()
