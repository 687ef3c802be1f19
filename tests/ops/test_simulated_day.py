"""A simulated day: the real service (scheduler, client, engine, store, delivery) against the
simulator over loopback HTTP, both on one simulated clock. Every edit is detected, the daily
budget holds, and the detection delay shows in /metrics and in ``status``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e_support import config_text
from tests.ops.ops_support import service_settings

from gradesync import cli, simtime
from gradesync.daemon import open_service
from gradesync.metrics import MetricsCollector
from gradesync.simulator import World, WorldSpec, serve
from gradesync.simulator.gradelog import Edit

BUDGET = 3_000  # requests a day: well above what 5 courses need, so none waits long


def detected(edits: list[Edit], events: list[dict[str, Any]]) -> dict[int, float]:
    """For each edit (by position) the seconds until an event at least as new was committed."""
    by_grade: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for event in events:
        data = event["data"]
        key = (data["sourceCourse"]["id"], data["column"]["id"], data["user"]["id"])
        by_grade.setdefault(key, []).append(event)
    found: dict[int, float] = {}
    for n, edit in enumerate(edits):
        for event in by_grade.get((edit.course_id, edit.column_id, edit.user_id), []):
            grade = event["data"]["grade"]
            newer = (
                grade["changeIndex"] >= edit.change_index
                if grade is not None
                else event["time"] >= edit.at.isoformat()
            )
            if newer:
                found[n] = (datetime.fromisoformat(event["time"]) - edit.at).total_seconds()
                break
    return found


async def a_day(tmp: Path) -> dict[str, Any]:
    clock = simtime.LoopClock()
    spec = WorldSpec(
        seed=8, courses=5, columns_per_course=4, students_per_course=6, cross_listed_parents=0
    )
    async with serve(World(spec, clock=clock), clock=clock, activity_per_minute=0.5) as sim:
        sim.faults.latency = 0.02  # simulated: it sleeps on the loop's clock
        settings = service_settings(sim, tmp, interval="15m", jitter="30s")
        settings = settings.model_copy(
            update={"learn": settings.learn.model_copy(update={"daily_request_budget": BUDGET})}
        )
        async with open_service(settings, clock=clock) as service:
            stop = asyncio.Event()
            running = asyncio.create_task(service.run(stop))
            used: list[int] = []
            for _ in range(24 * 60):  # a simulated day, sampled every minute
                await asyncio.sleep(60)
                used.append(service.budget.used)
            sim.set_activity(0)  # the instructors go home; an hour to catch up
            await asyncio.sleep(3600)
            metrics = await MetricsCollector(service).render()
            stop.set()
            await running
            selected = set(await service.store.courses())
            edits = [e for e in sim.world.edit_log() if e.course_id in selected]
    events = [json.loads(line) for line in (tmp / "events.jsonl").read_text().splitlines()]
    config = tmp / "gradesync.toml"
    config.write_text(config_text(sim, state=tmp / "state.db", events=tmp / "events.jsonl"))
    return {"edits": edits, "events": events, "used": used, "metrics": metrics, "config": config}


@pytest.mark.slow
def test_a_simulated_day_detects_every_edit_within_the_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = simtime.run(a_day(tmp_path))
    edits: list[Edit] = day["edits"]
    assert len(edits) > 500, "half an edit a simulated minute, for a day"
    delays = detected(edits, day["events"])
    # An edit that left the content as it was (the same text set again) makes no event, but
    # the snapshot committed for it is as new: detected too.
    with closing(sqlite3.connect(tmp_path / "state.db")) as db:
        snapshot = {
            (course, column, user): index
            for course, column, user, index in db.execute(
                "SELECT course_id, column_id, user_id, change_index FROM grades"
            )
        }
    quiet = [
        n
        for n, e in enumerate(edits)
        if n not in delays
        and snapshot.get((e.course_id, e.column_id, e.user_id), -1) >= e.change_index
    ]
    assert len(quiet) <= len(edits) // 50, "content-free edits are rare"
    missed = len(edits) - len(delays) - len(quiet)
    assert missed == 0, f"{missed} edits never detected"
    # A content-free edit makes no event, so its delay here runs to the grade's next event: the
    # bound (the uniform interval is 15 minutes) is on the 95th percentile.
    ranked = sorted(delays.values())
    assert ranked[int(len(ranked) * 0.95)] < 1800
    assert day["used"][-1] <= BUDGET, "never above the daily budget"
    families = {f.name: f for f in text_string_to_metric_families(day["metrics"].decode())}
    histogram = families["gradesync_detection_delay_seconds"]
    count = next(s.value for s in histogram.samples if s.name.endswith("_count"))
    assert count >= len(edits) * 0.9, "on the log, each edit's delay is known to the commit"
    capsys.readouterr()
    assert cli.main(["status", "--config", str(day["config"])]) == 0
    assert "detection delay over the last day of commits" in capsys.readouterr().out
