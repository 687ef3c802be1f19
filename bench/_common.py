"""What the institution-scale benchmarks share: the simulator and ``gradesync once`` in
processes of their own, the simulator's request counts, the machine, and the output.

Every figure comes from outside the measured process: requests are counted by the simulator,
wall time and peak RSS by this process waiting for ``gradesync once`` (``wait4``), so nothing
is instrumented inside gradesync itself.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradesync.simulator import World, WorldSpec

# The institution at scale 1: 2,000 courses x 20 columns (one a Calculated total) x 40 students.
COURSES, COLUMNS, STUDENTS = 2_000, 20, 40
START_TIMEOUT = 300.0  # a 2,000-course world takes a while to derive
TOKEN_ENDPOINT = "v1/oauth2/token"


def gradesync(*args: str) -> list[str]:
    return [sys.executable, "-m", "gradesync", *args]


@dataclass
class Simulator:
    """A running ``gradesync simulate``: its connection lines and its control endpoint."""

    process: subprocess.Popen[str]
    base_url: str
    client_id: str
    client_secret: str

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET (no body) or POST a JSON body to ``/__simulator__/<path>``; the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}/__simulator__/{path}",
            data=data,
            headers={"Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            return json.load(answer)

    def api_requests(self) -> Counter[str]:
        """API requests served since the last reset, by endpoint template (tokens left out)."""
        stats = self.control("state")["stats"]["byEndpoint"]
        counts: Counter[str] = Counter()
        for endpoint, by_status in stats.items():
            if endpoint != TOKEN_ENDPOINT:
                counts[endpoint] = sum(by_status.values())
        return counts

    def reset_stats(self) -> None:
        self.control("stats/reset", {})

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)


@contextmanager
def simulator(
    *, seed: int, courses: int, columns: int, students: int, latency_ms: float
) -> Iterator[Simulator]:
    """``gradesync simulate --port 0`` in its own process until the block ends."""
    command = gradesync(
        "simulate", "--port", "0", "--seed", str(seed), "--courses", str(courses),
        "--columns", str(columns), "--students", str(students), "--latency-ms", str(latency_ms),
    )  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        found = _connection_lines(process)
        # Keep reading what else it prints, so a full pipe never stalls the simulator.
        threading.Thread(target=process.stdout.read, daemon=True).start()  # type: ignore[union-attr]
        yield Simulator(process, found["base_url"], found["client_id"], found["client_secret"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def bench_world(args: Any, courses: int) -> Iterator[tuple[Simulator, Path]]:
    """The simulator for ``courses`` courses (the rest of the shape from ``args``) and a
    scratch directory for gradesync's state, both gone when the block ends."""
    with (
        simulator(
            seed=args.seed,
            courses=courses,
            columns=args.columns,
            students=args.students,
            latency_ms=args.latency_ms,
        ) as sim,
        tempfile.TemporaryDirectory(prefix="gradesync-bench-") as tmp,
    ):
        yield sim, Path(tmp)


def _connection_lines(process: subprocess.Popen[str]) -> dict[str, str]:
    """``base_url:``, ``client_id:`` and ``client_secret:``, the simulator's first lines."""
    assert process.stdout is not None
    wanted = ("base_url", "client_id", "client_secret")
    found: dict[str, str] = {}
    deadline = time.monotonic() + START_TIMEOUT
    while len(found) < len(wanted):
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            raise SystemExit(f"the simulator did not start (exit code {process.poll()})")
        key, sep, value = line.partition(":")
        if sep and key.strip() in wanted:
            found[key.strip()] = value.strip()
    return found


def replica(seed: int, courses: int, columns: int, students: int) -> World:
    """The world ``gradesync simulate`` builds from the same options, in this process."""
    spec = WorldSpec(
        seed=seed,
        courses=courses,
        columns_per_course=columns,
        students_per_course=students,
        cross_listed_parents=min(2, courses // 3),  # the simulate command's default
    )
    return World(spec)


def write_config(
    directory: Path,
    sim: Simulator,
    *,
    concurrency: int = 16,
    sync_concurrency: int = 16,
    emit_baseline: bool = True,
) -> Path:
    """A config for ``gradesync once``: fast and unthrottled, one file sink, JSON logs.
    Without ``emit_baseline`` the first read records the state but no events."""
    path = directory / "gradesync.toml"
    path.write_text(
        f"""
[learn]
base_url = "{sim.base_url}"
client_id = "{sim.client_id}"
client_secret = "{sim.client_secret}"
concurrency = {concurrency}
requests_per_second = 1000000
daily_request_budget = 1000000000

[state]
path = "{directory / "state.db"}"

[sync]
concurrency = {sync_concurrency}
emit_baseline = {str(emit_baseline).lower()}

[delivery]
once_wait = "600s"

[logging]
format = "json"

[[sinks]]
type = "file"
path = "{directory / "events.jsonl"}"
"""
    )
    return path


@dataclass
class OnceRun:
    """One ``gradesync once`` as seen from outside: time, memory, CPU and its log lines."""

    exit_code: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    cycles: list[dict[str, Any]] = field(default_factory=list)
    done: dict[str, Any] = field(default_factory=dict)

    @property
    def reads(self) -> Counter[str]:
        """Columns read in full, as a delta, or found unchanged, over every course."""
        total: Counter[str] = Counter()
        for cycle in self.cycles:
            total.update(cycle.get("reads", {}))
        return total

    @property
    def events(self) -> int:
        return int(self.done.get("events", 0))


def run_once(config: Path) -> OnceRun:
    """Run ``gradesync once --config`` to the end; peak RSS and CPU come from ``wait4``."""
    started = time.perf_counter()
    process = subprocess.Popen(
        gradesync("once", "--config", str(config)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    run = OnceRun(
        exit_code=process.returncode,
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
    for line in lines:
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("event") == "cycle.done":
            run.cycles.append(record)
        elif record.get("event") == "once.done":
            run.done = record
    if run.exit_code != 0 or not run.done:
        tail = "".join(lines[-5:])
        raise SystemExit(f"gradesync once failed (exit {run.exit_code}):\n{tail}")
    return run


def state_size_mb(directory: Path) -> float:
    """The state database with its write-ahead log, as it lies on disk."""
    files = [directory / name for name in ("state.db", "state.db-wal", "state.db-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


def stored_grades(directory: Path) -> int:
    """Grade rows in the state (live grades and tombstones), read with the stdlib sqlite3."""
    with sqlite3.connect(f"file:{directory / 'state.db'}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT count(*) FROM grades WHERE content != '{}'").fetchone()
    return int(count)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    """The machine the figures were taken on, and how busy it was when they were."""
    model = next(
        (
            line.partition(":")[2].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def measured(host: dict[str, Any]) -> str:
    """The machine line of a report; adds the load averages at the end of the run to ``host``
    (those at its start are in it already), since other work on the machine slows the run."""
    host["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return (
        f"{host['nproc']} x {host['cpu']}, Python {host['python']}; "
        f"load (1, 5, 15 min) {host['load']} at start, {host['load_after']} at end"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])]
        parts += [value.rjust(width) for value, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
