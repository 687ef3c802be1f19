"""``gradesync demo``: the whole idea in a minute, with no Learn server and no configuration.

It starts the built-in simulator with instructors editing grades, runs the daemon against it
with a file sink, and shows progress: a bar during the first full read, then running counts of
events by type and of API calls, next to what Anthology's recipe would have spent.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from gradesync import logs
from gradesync.commands.common import Signals
from gradesync.config import Settings
from gradesync.daemon import open_service
from gradesync.simulator import World, WorldSpec, serve
from gradesync.sync.cycle import CourseResult

HANDLES = frozenset({"stop"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop by itself after this many seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--out",
        default="demo-out",
        metavar="DIR",
        help="where the state and the events go (default: ./demo-out)",
    )
    parser.add_argument("--courses", type=int, default=40)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--edits-per-minute",
        type=float,
        default=600.0,
        help="how fast the simulated instructors edit grades",
    )
    parser.add_argument("--interval", default="5s", help="per-course cycle interval")


class Progress:
    """Live progress on a terminal; plain periodic lines elsewhere."""

    def __init__(self, courses: int, columns: int, stream: TextIO) -> None:
        self.courses = courses
        self.columns = columns
        self.stream = stream
        self.tty = stream.isatty()
        self.events: Counter[str] = Counter()
        self.done: set[str] = set()
        self.rounds = 0
        self.cycles = 0

    def result(self, result: CourseResult) -> None:
        self.events.update(result.events)
        self.cycles += 1
        self.done.add(result.course_id)

    def recipe_calls(self) -> int:
        """Anthology's own estimate per full pull, 1 + 3*nCourses + nColumns, once per round of
        every course (what following the published recipe on the same schedule costs)."""
        rounds = max(1, self.cycles / max(1, self.courses))
        return round(rounds * (1 + 3 * self.courses + self.columns))

    def line(self, calls: int) -> str:
        if len(self.done) < self.courses:
            width = 30
            filled = width * len(self.done) // max(1, self.courses)
            return (
                f"first full read [{'#' * filled}{'.' * (width - filled)}] "
                f"{len(self.done)}/{self.courses} courses, "
                f"{self.events['created']} grades, {calls} API calls"
            )
        return (
            f"events: {self.events['created']} created, {self.events['updated']} updated, "
            f"{self.events['deleted']} deleted | API calls {calls} "
            f"(recipe: ~{self.recipe_calls()}) | cycles {self.cycles}"
        )

    def show(self, calls: int) -> None:
        text = self.line(calls)
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _fresh_directory(out: Path) -> None:
    """A new simulated world each time: the demo starts from empty state."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


def _write_config(out: Path, base_url: str, client_id: str) -> None:
    """A configuration for ``status`` and friends to read the demo's state afterwards."""
    (out / "gradesync.toml").write_text(
        f"""# Written by `gradesync demo`; the simulator it names is gone when the demo ends.
[learn]
base_url = "{base_url}"
client_id = "{client_id}"
client_secret = "demo"

[state]
path = "{(out / "gradesync.db").resolve()}"

[[sinks]]
type = "file"
path = "{(out / "events.jsonl").resolve()}"
"""
    )


async def main(args: argparse.Namespace, signals: Signals) -> int:
    out = Path(args.out)
    await asyncio.to_thread(_fresh_directory, out)
    tty = sys.stderr.isatty()
    # The progress lines are the output; the service says only what needs attention.
    logs.configure("warning", json=not tty)
    world = World(
        WorldSpec(
            seed=args.seed,
            courses=args.courses,
            columns_per_course=args.columns,
            students_per_course=args.students,
        )
    )
    async with serve(world, activity_per_minute=args.edits_per_minute) as sim:
        settings = Settings.model_validate(
            {
                "learn": {
                    "base_url": sim.base_url,
                    "client_id": sim.client_id,
                    "client_secret": sim.client_secret,
                    "requests_per_second": 200,
                    "concurrency": 16,
                    # A simulator has no quota to protect: let the demo run at full speed.
                    "daily_request_budget": 10_000_000,
                },
                "state": {"path": str(out / "gradesync.db")},
                "sync": {
                    "interval": args.interval,
                    "jitter": "1s",
                    "concurrency": 8,
                    "drain_timeout": "5s",
                },
                "sinks": [{"type": "file", "path": str(out / "events.jsonl")}],
            }
        )
        await asyncio.to_thread(_write_config, out, sim.base_url, sim.client_id)
        async with open_service(settings) as service:
            courses = await service.syncer.list_courses()
            columns = sum(len(world.column_ids(c.id)) for c in courses)
            progress = Progress(len(courses), columns, sys.stderr)
            service.observers.append(progress.result)
            service.scheduler.rng.seed(args.seed)

            async def show() -> None:
                while True:
                    progress.show(service.client.request_count)
                    await asyncio.sleep(0.5 if tty else 5.0)

            async def timer() -> None:
                if args.duration is not None:
                    await asyncio.sleep(args.duration)
                    signals.stop.set()

            async with asyncio.TaskGroup() as group:
                shower = group.create_task(show())
                clock_task = group.create_task(timer())
                await service.run(signals.stop)
                shower.cancel()
                clock_task.cancel()
            calls = service.client.request_count
    if tty:
        sys.stderr.write("\n")
    print(f"\nDemo finished: {progress.cycles} course cycles over {progress.courses} courses.")
    print(
        f"  events: {progress.events['created']} created, {progress.events['updated']} "
        f"updated, {progress.events['deleted']} deleted"
    )
    print(
        f"  API calls: {calls}; Anthology's recipe would have spent about "
        f"{progress.recipe_calls()} on the same schedule"
    )
    print(f"  events file: {out / 'events.jsonl'}")
    print(f"  state: {out / 'gradesync.db'}")
    print(f"  see what it holds: gradesync status --config {out / 'gradesync.toml'}")
    return 0
