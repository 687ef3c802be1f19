"""Anthology's recipe for pulling grades, followed literally, next to gradesync on one world.

The recipe ("Pulling Gradebook Data and Assessment Grades", Anthology, 2023) as a plain
synchronous script on the standard library: the courses; per course its memberships
(``expand=user``), gradebook categories and columns; every column's grades, caching each
column's highest ``changeIndex``. A later cycle does the same, but asks ``lastChanged`` per
column first and re-reads only the columns that moved; Calculated columns, whose
``lastChanged`` is always empty, are read in full every time. Courses are shared out over
``--concurrency`` threads (16, as gradesync's ``learn.concurrency``); each is read in order.

Starts ``gradesync simulate`` in a process of its own, then on the same world: the recipe's
first read, gradesync's (``gradesync once``), 1% of the grades edited at random through the
control endpoint, the recipe's cycle, gradesync's. Requests are counted by the simulator.
The recipe only reads; gradesync's first read here records the state but, unless
``--baseline-events``, no event per grade (``sync.emit_baseline = false``): bench/baseline.py
measures the first read with them.
Prints a table and ends with one JSON line:

    python bench/recipe.py [--scale 1] [--churn 0.01] [--concurrency 16] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import resource
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import (
    COLUMNS,
    COURSES,
    STUDENTS,
    Simulator,
    bench_world,
    machine,
    measured,
    run_once,
    stored_grades,
    table,
    write_config,
)

API = "/learn/api/public"


class Session:
    """What a script would do with ``requests.Session``: a kept-alive connection (one per
    thread), a bearer token fetched once and again on a 401, JSON answers."""

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        url = urllib.parse.urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.token = ""
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection(self.host, self.port)
        return connection

    def _send(self, method: str, path: str, body: str | None, headers: dict[str, str]) -> Any:
        connection = self._connection()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status == 204 or not data:
            return response.status, None
        return response.status, json.loads(data)

    def authenticate(self) -> None:
        headers = {
            "Authorization": f"Basic {self.basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        status, body = self._send(
            "POST", f"{API}/v1/oauth2/token", "grant_type=client_credentials", headers
        )
        if status != 200:
            raise SystemExit(f"token request: HTTP {status}")
        self.token = body["access_token"]

    def get(self, path: str, **params: str) -> Any:
        """GET ``path`` (under the API root, or a ``nextPage`` link); the JSON, None for 204."""
        if not path.startswith(API):
            path = API + path
        if params:
            path += "?" + urllib.parse.urlencode(params, safe=",:.")
        for _ in range(2):
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            status, body = self._send("GET", path, None, headers)
            if status != 401:
                break
            self.authenticate()
        if status not in (200, 204):
            raise SystemExit(f"GET {path.partition('?')[0]}: HTTP {status}")
        return body

    def pages(self, path: str, **params: str) -> Iterator[dict[str, Any]]:
        """Every result of a list, following ``paging.nextPage`` as given."""
        body = self.get(path, **params)
        while True:
            yield from body["results"]
            link = (body.get("paging") or {}).get("nextPage")
            if not link:
                return
            body = self.get(link)


class Recipe:
    """The recipe's reads, and the ``changeIndex`` it caches per column between cycles."""

    def __init__(self, session: Session, workers: int) -> None:
        self.session = session
        self.workers = workers
        self.cached: dict[str, int] = {}
        self.counts: Counter[str] = Counter()

    def cycle(self, *, first: bool) -> None:
        """One pull of every available course: in full the first time, then by lastChanged."""
        self.counts = Counter()
        courses = list(
            self.session.pages(
                "/v3/courses",
                **{
                    "availability.available": "Yes",
                    "fields": "id,created,availability.available,hasChildren",
                },
            )
        )
        with ThreadPoolExecutor(self.workers) as pool:
            for _ in pool.map(lambda c: self.course(c["id"], first=first), courses):
                pass

    def course(self, course_id: str, *, first: bool) -> None:
        session = self.session
        base = f"/v1/courses/{course_id}"
        memberships = list(
            session.pages(
                f"{base}/users", expand="user", fields="id,userId,user.externalId,childCourseId"
            )
        )
        categories = list(session.pages(f"{base}/gradebook/categories"))
        columns = list(
            session.pages(
                f"/v2/courses/{course_id}/gradebook/columns",
                fields="id,externalId,name,displayName,gradebookCategoryId,score.possible,"
                "grading.type,grading.due,availability.available",
            )
        )
        self.counts.update(memberships=len(memberships), categories=len(categories))
        for column in columns:
            grades = f"/v2/courses/{course_id}/gradebook/columns/{column['id']}/users"
            if (column.get("grading") or {}).get("type") == "Calculated":
                self.counts["calculated_reads"] += 1
                self.read(grades, column["id"])
                continue
            if first:
                self.counts["first_reads"] += 1
                self.read(grades, column["id"])
                continue
            last = session.get(f"{grades}/lastChanged")
            index = last.get("changeIndex", 0) if last else 0
            self.counts["last_changed"] += 1
            if index > self.cached.get(column["id"], 0):
                self.counts["re_reads"] += 1
                self.read(grades, column["id"], at_least=index)

    def read(self, path: str, column_id: str, *, at_least: int = 0) -> None:
        """Every grade of a column; cache the column's highest changeIndex."""
        rows = list(self.session.pages(path))
        self.counts["grades"] += len(rows)
        self.cached[column_id] = max([at_least, *(row.get("changeIndex", 0) for row in rows)])


def timed(action: Any) -> tuple[float, float]:
    """Wall and CPU seconds of ``action()`` in this process."""
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return seconds, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime


def requests_of(sim: Simulator, action: Any) -> dict[str, Any]:
    sim.reset_stats()
    seconds, cpu = timed(action)
    return {
        "requests": sum(sim.api_requests().values()),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
    }


def gradesync_once(sim: Simulator, config: Path) -> dict[str, Any]:
    """One ``gradesync once``: the requests the simulator served it, its time and its CPU."""
    sim.reset_stats()
    run = run_once(config)
    return {
        "requests": sum(sim.api_requests().values()),
        "seconds": round(run.seconds, 2),
        "cpu_seconds": round(run.cpu_seconds, 2),
        "events": run.events,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    courses = max(3, round(COURSES * args.scale))
    with bench_world(args, courses) as (sim, directory):
        config = write_config(
            directory, sim, concurrency=args.concurrency, emit_baseline=args.baseline_events
        )
        session = Session(sim.base_url, sim.client_id, sim.client_secret)
        session.authenticate()
        recipe = Recipe(session, args.concurrency)

        print("the recipe's first read ...", file=sys.stderr)
        recipe_first = requests_of(sim, lambda: recipe.cycle(first=True))
        recipe_first["counts"] = dict(recipe.counts)
        print("gradesync's first read ...", file=sys.stderr)
        gradesync_first = gradesync_once(sim, config)
        grades = stored_grades(directory)
        edits = sim.control("random-edits", {"n": round(grades * args.churn), "seed": args.seed})

        print(f"{edits['edits']} edits; the recipe's cycle ...", file=sys.stderr)
        recipe_steady = requests_of(sim, lambda: recipe.cycle(first=False))
        recipe_steady["counts"] = dict(recipe.counts)
        print("gradesync's cycle ...", file=sys.stderr)
        gradesync_steady = gradesync_once(sim, config)
    return {
        "courses": courses,
        "grades": grades,
        "edits": edits["edits"],
        "recipe": {"first": recipe_first, "steady": recipe_steady},
        "gradesync": {"first": gradesync_first, "steady": gradesync_steady},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1: 2,000 courses")
    parser.add_argument("--columns", type=int, default=COLUMNS, help="per course, with Total")
    parser.add_argument("--students", type=int, default=STUDENTS, help="per course")
    parser.add_argument("--churn", type=float, default=0.01, help="share of grades edited")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="the recipe's threads; learn.concurrency"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--baseline-events",
        action="store_true",
        help="gradesync's first read also records an event per grade (off: like the recipe)",
    )
    args = parser.parse_args()

    host = machine()
    result = measure(args)
    result["baseline_events"] = args.baseline_events
    recipe, ours = result["recipe"], result["gradesync"]
    counts = recipe["steady"]["counts"]
    inputs = counts["last_changed"]
    print(measured(host))
    print(
        f"{result['courses']} courses, {result['grades']:,} grades; {result['edits']:,} edits "
        f"({args.churn:.0%}) moved {counts['re_reads']:,} of {inputs:,} non-calculated columns "
        f"({counts['re_reads'] / inputs:.0%}); {args.latency_ms:g} ms latency"
    )
    headers = ["", "first read requests", "first read s", "cycle requests", "cycle s"]
    rows = [
        [name, *(r[cycle][key] for cycle in ("first", "steady") for key in ("requests", "seconds"))]
        for name, r in (
            ("recipe", recipe),
            ("gradesync" if args.baseline_events else "gradesync (no baseline events)", ours),
        )
    ]
    print(table(headers, rows))
    ratio = recipe["steady"]["requests"] / ours["steady"]["requests"]
    print(f"recipe / gradesync requests per cycle: {ratio:.2f}x")
    result["recipe_over_gradesync"] = round(ratio, 3)
    print(json.dumps({"machine": host, "latency_ms": args.latency_ms, **result}))


if __name__ == "__main__":
    main()
