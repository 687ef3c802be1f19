"""``gradesync demo``: the whole idea in a minute, with no Learn server and no configuration.

It starts the built-in simulator with instructors editing grades, runs the daemon against it
with a file sink, and shows progress: a bar during the first full read, then running counts of
events by type and of API calls, next to what Anthology's recipe would have spent. Off a
terminal the progress is a plain line every few seconds.

Its output directory (``--out``) is its own: a marker file lists what a demo writes there, and
a new demo removes only those files. A directory holding anything else is refused before
anything is touched, as are bad options (exit 2, a usage error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import shutil
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from gradesync import logs, statelock
from gradesync.commands.common import Signals
from gradesync.config import Settings
from gradesync.config.values import parse_duration
from gradesync.daemon import open_service
from gradesync.files import private_directory, write_private_text
from gradesync.simulator import World, WorldSpec, serve
from gradesync.sync.cycle import CourseResult

HANDLES = frozenset({"stop"})

EXIT_USAGE = 2
TTY_EVERY = 0.5  # seconds between progress updates on a terminal
PLAIN_EVERY = 5.0  # seconds between progress lines elsewhere (a pipe, a log file)

MARKER = ".gradesync-demo"
STATE = "gradesync.db"
EVENTS = "events.jsonl"
CONFIG = "gradesync.toml"
# Everything a demo may leave in its directory besides the marker: the state and SQLite's
# files beside it, the state's lock, the events and the configuration.
WRITES = (
    STATE,
    f"{STATE}-wal",
    f"{STATE}-shm",
    f"{STATE}-journal",
    statelock.lock_path(Path(STATE)).name,
    EVENTS,
    CONFIG,
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more, not {text}")
    return value


def _interval(text: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError("must be longer than 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=_non_negative,
        default=None,
        metavar="SECONDS",
        help="stop by itself after this many seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo-out"),
        metavar="DIR",
        help="where the state and the events go (default: ./demo-out); a directory that is"
        " new, empty or a previous demo's",
    )
    parser.add_argument("--courses", type=_positive_int, default=40)
    parser.add_argument("--columns", type=_positive_int, default=10)
    parser.add_argument("--students", type=_positive_int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--edits-per-minute",
        type=_non_negative,
        default=600.0,
        help="how fast the simulated instructors edit grades",
    )
    parser.add_argument(
        "--interval", type=_interval, default=timedelta(seconds=5), help="per-course cycle interval"
    )


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


class Refused(Exception):
    """The demo will not use this output directory: a usage error."""


def _previous_demo(out: Path) -> list[Path]:
    """What to remove from ``out`` before a new demo starts there: only what a previous demo
    wrote, the marker last. :class:`Refused` if ``out`` holds anything else."""
    if not out.exists():
        if out.is_symlink():
            raise Refused(f"--out {out} is a link to nothing")
        return []
    if not out.is_dir():
        raise Refused(f"--out {out} is not a directory")
    present = sorted(entry.name for entry in out.iterdir())
    if not present:
        return []
    marker = out / MARKER
    if MARKER not in present or not marker.is_file():
        raise Refused(
            f"--out {out} is not empty and no demo wrote it ({_some(present)});"
            " name a new or empty directory"
        )
    listed = {line.strip() for line in marker.read_text(encoding="utf-8").splitlines()}
    ours = listed & set(WRITES)
    foreign = [
        name for name in present if name != MARKER and (name not in ours or (out / name).is_dir())
    ]
    if foreign:
        raise Refused(
            f"--out {out} holds files a demo did not write ({_some(foreign)});"
            " move them away or name another directory"
        )
    return [out / name for name in present if name != MARKER] + [marker]


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _fresh_directory(out: Path, previous: list[Path]) -> None:
    """A new simulated world each time: the demo starts from empty state. The marker is
    written before anything else, so a demo stopped at any point leaves a directory the next
    one recognises."""
    for path in previous:
        path.unlink(missing_ok=True)
    private_directory(out)
    write_private_text(
        out / MARKER,
        "# Written by `gradesync demo`: the files it writes here, which the next demo in this\n"
        "# directory removes. It refuses a directory holding anything else.\n"
        + "".join(f"{name}\n" for name in WRITES),
    )


def _write_config(out: Path, base_url: str, client_id: str) -> None:
    """A configuration for ``status`` and friends to read the demo's state afterwards."""
    write_private_text(
        out / CONFIG,
        f"""# Written by `gradesync demo`; the simulator it names is gone when the demo ends.
[learn]
base_url = {json.dumps(base_url)}
client_id = {json.dumps(client_id)}
client_secret = "demo"

[state]
path = {json.dumps(str((out / STATE).resolve()))}

[[sinks]]
type = "file"
path = {json.dumps(str((out / EVENTS).resolve()))}
""",
    )


def gradesync_command() -> str:
    """How to run this gradesync from where the demo ran: ``gradesync`` if that is on the
    PATH, else the script beside the running interpreter (``.venv/bin/gradesync`` after
    ``make demo``), else ``python -m gradesync`` with this interpreter."""
    script = Path(sys.executable).parent / "gradesync"
    if script.is_file() and os.access(script, os.X_OK):
        found = shutil.which("gradesync")
        if found is not None and os.path.samefile(found, script):
            return "gradesync"
        return shlex.quote(_from_here(script))
    return f"{shlex.quote(_from_here(Path(sys.executable)))} -m gradesync"


def _from_here(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, else absolute."""
    relative = os.path.relpath(path)
    if relative.startswith(os.pardir):
        return str(path)
    return relative if os.sep in relative else os.path.join(os.curdir, relative)


def _world_spec(args: argparse.Namespace) -> WorldSpec:
    return WorldSpec(
        seed=args.seed,
        courses=args.courses,
        columns_per_course=args.columns,
        students_per_course=args.students,
        # Each cross-listed parent takes two more courses as its children.
        cross_listed_parents=min(2, args.courses // 3),
    )


async def main(args: argparse.Namespace, signals: Signals) -> int:
    out: Path = args.out
    try:
        previous = await asyncio.to_thread(_previous_demo, out)
    except Refused as exc:
        print(f"gradesync demo: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if previous:
        # A demo still running there holds its state: say so rather than pull the files away.
        with statelock.hold(out / STATE):
            pass
    await asyncio.to_thread(_fresh_directory, out, previous)
    tty = sys.stderr.isatty()
    # The progress lines are the output; the service says only what needs attention.
    logs.configure("warning", json=not tty)
    world = World(_world_spec(args))
    interval: timedelta = args.interval
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
                "state": {"path": str(out / STATE)},
                "sync": {
                    "interval": interval,
                    "jitter": min(timedelta(seconds=1), interval / 2),
                    "concurrency": 8,
                    "drain_timeout": "5s",
                },
                "sinks": [{"type": "file", "path": str(out / EVENTS)}],
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
                    await asyncio.sleep(TTY_EVERY if tty else PLAIN_EVERY)

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
    config = shlex.quote(str(out / CONFIG))
    print(f"\nDemo finished: {progress.cycles} course cycles over {progress.courses} courses.")
    print(
        f"  events: {progress.events['created']} created, {progress.events['updated']} "
        f"updated, {progress.events['deleted']} deleted"
    )
    print(
        f"  API calls: {calls}; Anthology's recipe would have spent about "
        f"{progress.recipe_calls()} on the same schedule"
    )
    print(f"  events file: {out / EVENTS}")
    print(f"  state: {out / STATE}")
    print(f"  see what it holds: {gradesync_command()} status --config {config}")
    return 0
