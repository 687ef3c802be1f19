"""The simulator at institution scale: memory of a 5M-grade world and grade-page latency.

Starts ``gradesync simulate`` with 5,000 courses x 25 columns x 40 students in its own process,
makes 1% of the grades churn through the control endpoint, then reads a few hundred grade pages
(``limit=100``) across random courses, one at a time. Ends by printing one JSON line: the
world's size, the simulator process's peak RSS (VmHWM) and the median and p95 page latency.

    python bench/simulator.py [--courses 5000 --columns 25 --students 40 --pages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

API = "/learn/api/public/"


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


async def measure(base_url: str, secret: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    async with aiohttp.ClientSession(base_url) as session:
        started = time.perf_counter()
        churn = round(args.courses * args.columns * args.students * args.churn)
        async with session.post("/__simulator__/random-edits", json={"n": churn}) as response:
            edits = (await response.json())["edits"]
        churn_seconds = time.perf_counter() - started
        async with session.post(
            API + "v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": aiohttp.encode_basic_auth("gradesync", secret)},
        ) as response:
            token = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        latencies: list[float] = []
        rows = 0
        while len(latencies) < args.pages:
            course = f"_{1000 + rng.randrange(6, args.courses)}_1"  # past the cross-listed sets
            path = f"{API}v2/courses/{course}/gradebook/columns?fields=id"
            async with session.get(path, headers=headers) as response:
                columns = [c["id"] for c in (await response.json())["results"]]
            column = rng.choice(columns)
            path = f"{API}v2/courses/{course}/gradebook/columns/{column}/users?limit=100"
            begin = time.perf_counter()
            async with session.get(path, headers=headers) as response:
                body = await response.json()
            latencies.append((time.perf_counter() - begin) * 1000)
            assert response.status == 200, body
            rows += len(body["results"])
    latencies.sort()
    return {
        "churn_edits": edits,
        "churn_seconds": round(churn_seconds, 2),
        "grade_pages": len(latencies),
        "grade_rows": rows,
        "page_ms_median": round(statistics.median(latencies), 2),
        "page_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=5_000)
    parser.add_argument("--columns", type=int, default=25)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--churn", type=float, default=0.01, help="share of grades edited")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    secret = "bench-secret"
    command = [
        sys.executable, "-m", "gradesync", "simulate", "--seed", str(args.seed),
        "--courses", str(args.courses), "--columns", str(args.columns),
        "--students", str(args.students), "--client-secret", secret,
    ]  # fmt: skip
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().removeprefix("base_url: ").strip()
            ready_seconds = time.perf_counter() - started
            result = asyncio.run(measure(base_url, secret, args))
            rss = peak_rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(
        json.dumps(
            {
                "courses": args.courses,
                "columns_per_course": args.columns,
                "students_per_course": args.students,
                "grades": args.courses * args.columns * args.students,
                "ready_seconds": round(ready_seconds, 2),
                **result,
                "simulator_peak_rss_mb": round(rss, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
