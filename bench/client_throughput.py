"""How close the Learn client gets to the throughput its concurrency allows.

Starts ``gradesync simulate`` in a separate process with an added latency of L ms, then keeps
N requests in flight (grade pages of many columns) until a fixed number has been answered. With
latency L, N slots can at best answer N / L requests per second; the ratio says how much of that
the client reaches. Prints one JSON line:

    python bench/client_throughput.py [--concurrency 16] [--latency-ms 20] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from gradesync import logs
from gradesync.learn import LearnClient, LearnSettings

START_TIMEOUT = 60.0


@contextlib.contextmanager
def simulator(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """Run ``gradesync simulate`` until the block ends; yield its printed connection lines."""
    command = [
        sys.executable, "-m", "gradesync", "simulate", "--port", "0",
        "--latency-ms", str(args.latency_ms), "--courses", str(args.courses),
        "--columns", str(args.columns), "--students", str(args.students),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        connection = _connection_lines(process)
        # Keep reading what else it prints, so a full pipe never stalls the simulator.
        threading.Thread(target=process.stdout.read, daemon=True).start()  # type: ignore[union-attr]
        yield connection
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


async def measure(connection: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    settings = LearnSettings(
        base_url=connection["base_url"],
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
        concurrency=args.concurrency,
        requests_per_second=1_000_000,
        max_retries=0,
    )
    async with LearnClient(settings) as client:
        await client.authenticate()
        targets = [
            (course.id, column.id)
            async for course in client.courses()
            for column in [c async for c in client.columns(course.id)]
        ]

        async def worker(jobs: Iterator[int]) -> None:
            for n in jobs:  # one shared iterator: every slot stays busy to the very end
                course_id, column_id = targets[n % len(targets)]
                async for _ in client.column_grades(course_id, column_id):
                    pass

        async def run(total: int) -> None:
            jobs = iter(range(total))
            async with asyncio.TaskGroup() as group:
                for _ in range(args.concurrency):
                    group.create_task(worker(jobs))

        await run(args.concurrency * 4)  # warm up: every pooled connection open
        before = client.request_count
        started = time.perf_counter()
        await run(args.requests)
        seconds = time.perf_counter() - started
        requests = client.request_count - before
    rps = requests / seconds
    ideal = args.concurrency / (args.latency_ms / 1000)
    return {
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(rps, 1),
        "ideal_rps": round(ideal, 1),
        "ratio": round(rps / ideal, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--courses", type=int, default=30)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--students", type=int, default=25)
    args = parser.parse_args()
    logs.configure("warning", stream=sys.stderr)  # stdout carries the one JSON line
    with simulator(args) as connection:
        result = asyncio.run(measure(connection, args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
