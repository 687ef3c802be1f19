"""Bad data from Learn as the operator sees it (docs/contract.md section 6): ``once`` exits 3
while a row is set aside, ``status`` and ``/metrics`` count it, and the count goes back to 0
once Learn sends the row good."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from tests.e2e_support import config_text

from gradesync.cli import build_parser
from gradesync.commands import once, status
from gradesync.config import load_settings
from gradesync.daemon import open_service
from gradesync.metrics import MetricsCollector
from gradesync.service import log_cycle
from gradesync.simulator import Simulator, World, WorldSpec, serve
from gradesync.sync.cycle import CourseResult


def a_graded_row(sim: Simulator) -> tuple[str, str, str]:
    world = sim.world
    course = next(c for c in world.courses if c.parent is None and not c.children)
    column = next(c.id for c in world.columns(course) if not c.calculated)
    user = world.student_ids(course.id)[0]
    world.set_score(course.id, column, user, 4.0)
    return course.id, column, user


async def test_once_status_and_metrics_count_a_row_set_aside_until_it_resolves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = WorldSpec(
        seed=4, courses=2, columns_per_course=3, students_per_course=4, cross_listed_parents=0
    )
    async with serve(World(spec)) as sim:
        config = tmp_path / "config.toml"
        state, events = tmp_path / "state.db", tmp_path / "events.jsonl"
        config.write_text(config_text(sim, state=state, events=events))
        course, column, user = a_graded_row(sim)
        sim.faults.bad_rows = {(course, column, user): "overflow"}

        def command(name: str, *extra: str) -> argparse.Namespace:
            return build_parser(name).parse_args([name, "--config", str(config), *extra])

        assert await once.main(command("once")) == 3
        delivered = [json.loads(line)["subject"] for line in events.read_text().splitlines()]
        assert delivered and f"courses/{course}/columns/{column}/users/{user}" not in delivered
        capsys.readouterr()

        assert await status.main(command("status", "--json")) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["state"]["set_aside"] == 1
        (row,) = shown["set_aside"]
        assert (row["course_id"], row["column_id"], row["user_id"]) == (course, column, user)
        assert row["reason"].startswith("score is not a finite number")

        assert await status.main(command("status")) == 0
        text = capsys.readouterr().out
        assert "rows from Learn set aside: 1" in text and user in text

        async with open_service(load_settings(str(config))) as service:
            exposition = (await MetricsCollector(service).render()).decode()
        assert "gradesync_rows_set_aside 1.0" in exposition

        sim.faults.bad_rows = {}
        assert await once.main(command("once")) == 0
        delivered = [json.loads(line)["subject"] for line in events.read_text().splitlines()]
        assert f"courses/{course}/columns/{column}/users/{user}" in delivered
        assert await status.main(command("status", "--json")) == 0
        assert json.loads(capsys.readouterr().out)["state"]["set_aside"] == 0


def test_the_cycle_line_counts_the_rows_set_aside() -> None:
    result = CourseResult("_1_1", "c1", datetime(2026, 1, 5, tzinfo=UTC), set_aside=2)
    with structlog.testing.capture_logs() as logs:
        log_cycle(result)
    (line,) = logs
    assert (line["event"], line["set_aside"]) == ("cycle.done", 2)
