"""How close the Learn client gets to the throughput its concurrency allows.

Starts ``gradesync simulate`` in a separate process with an added latency of L ms, then keeps
N requests in flight (grade pages of many columns) until a fixed number has been answered. With
latency L, N slots can at best answer N / L requests per second; the ratio says how much of that
the client reaches. Prints one JSON line:

    python bench/client_throughput.py [--concurrency 16] [--latency-ms 20] [--requests 3000]

``--reference`` runs the same client against a server that answers one fixed grade page after
the same latency (also in a separate process): the client's own ceiling, without the
simulator's work per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import web

import _common
from gradesync import logs
from gradesync.learn import LearnClient, LearnSettings

START_TIMEOUT = 60.0


@contextlib.contextmanager
def simulator(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """Run ``gradesync simulate`` until the block ends; yield its printed connection lines."""
    with _common.simulator(
        seed=1,
        courses=args.courses,
        columns=args.columns,
        students=args.students,
        latency_ms=args.latency_ms,
    ) as sim:
        yield {
            "base_url": sim.base_url,
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
        }


def _reference_main(latency: float, students: int, port_out: Connection) -> None:
    asyncio.run(_reference_serve(latency, students, port_out))


async def _reference_serve(latency: float, students: int, port_out: Connection) -> None:
    """One course, ten columns, and the same page of grades for every column."""
    row = {"columnId": "_1_1", "displayGrade": {"scaleType": "Score", "score": 12.5,
           "possible": 20.0}, "score": 12.5, "exempt": False, "changeIndex": 1000505}  # fmt: skip
    page = json.dumps({"results": [{"userId": f"_{n}_1", **row} for n in range(students)]})
    courses = json.dumps({"results": [{"id": "_1_1"}]})
    columns = json.dumps({"results": [{"id": f"_{n}_1"} for n in range(1, 11)]})

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "reference", "expires_in": 3600})

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(latency)
        path = request.path
        body = (
            courses if path.endswith("/courses") else columns if path.endswith("/columns") else page
        )
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/learn/api/public/v1/oauth2/token", token)
    app.router.add_get("/{path:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port_out.send(runner.addresses[0][1])
    await asyncio.Event().wait()


@contextlib.contextmanager
def reference_server(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """Run the fixed-answer server in another process until the block ends."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_reference_main, args=(args.latency_ms / 1000, args.students, child), daemon=True
    )
    process.start()
    try:
        if not parent.poll(START_TIMEOUT):
            raise SystemExit("the reference server did not start")
        base_url = f"http://127.0.0.1:{parent.recv()}"
        yield {"base_url": base_url, "client_id": "reference", "client_secret": "reference"}
    finally:
        process.terminate()
        process.join(10)


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
        "server": "reference" if args.reference else "simulator",
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
    parser.add_argument("--reference", action="store_true", help="a fixed-answer server instead")
    args = parser.parse_args()
    logs.configure("warning", stream=sys.stderr)  # stdout carries the one JSON line
    with (reference_server if args.reference else simulator)(args) as connection:
        result = asyncio.run(measure(connection, args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
