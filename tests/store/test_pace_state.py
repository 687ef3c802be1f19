"""The adaptive scheduler's state: each course's pace and estimator, the institution-wide state,
the outlook it weighs courses by, and the pace as ``status`` shows it."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest
from tests.e2e_support import NoLearn, config_text
from tests.store.store_builders import COURSE, course, cycle

from gradesync.cli import build_parser
from gradesync.clock import ManualClock
from gradesync.commands import status
from gradesync.errors import StateError
from gradesync.models import Column, Membership
from gradesync.store import SCHEMA_VERSION, SQLiteStateStore, UnitOfWork
from gradesync.store.protocol import CourseOutlook
from gradesync.store.schema import MIGRATIONS, migrate

OTHER, UNSELECTED = "_11_1", "_12_1"


def due_column(column_id: str, due: str | None) -> Column:
    """A column as Learn sends it, with ``grading.due`` when given."""
    grading: dict[str, str] = {"type": "Manual"}
    if due is not None:
        grading["due"] = due
    return Column.model_validate({"id": column_id, "name": column_id, "grading": grading})


def member(course_id: str, user_id: str) -> Membership:
    return Membership.model_validate(
        {"userId": user_id, "courseId": course_id, "courseRoleId": "Student"}
    )


async def test_a_version_8_file_keeps_its_course_status_and_gains_the_pace(
    db_path: Path, clock: ManualClock
) -> None:
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        assert await migrate(db, str(db_path), MIGRATIONS[:8]) == 0
        await db.execute(
            "INSERT INTO courses (id, data, selected, first_seen, last_seen)"
            " VALUES (?, ?, 1, '2025-09-01T00:00:00.000000+00:00',"
            " '2025-09-01T00:00:00.000000+00:00')",
            (COURSE, course().model_dump_json(by_alias=True, exclude_none=True)),
        )
        await db.execute(
            "INSERT INTO course_status (course_id, last_success, next_due) VALUES"
            " (?, '2025-09-01T00:05:00.000000+00:00', '2025-09-01T00:20:00.000000+00:00')",
            (COURSE,),
        )

    async with SQLiteStateStore(db_path, clock=clock) as store:
        assert (await store.status()).schema_version == SCHEMA_VERSION
        [kept] = await store.course_status()
        assert kept.last_success == datetime(2025, 9, 1, 0, 5, tzinfo=UTC)
        assert kept.next_due == datetime(2025, 9, 1, 0, 20, tzinfo=UTC)
        assert (kept.pace, kept.rate_per_day) == (None, None)
        assert await store.paces() == {}
        assert await store.scheduler_state("week") is None
        await store.set_pace(COURSE, next_due=None, pace="warm", rate=2.0, estimate="{}")
        await store.set_scheduler_state("week", "[]")
    async with aiosqlite.connect(db_path) as db:
        columns = [row[1] for row in await db.execute_fetchall("PRAGMA table_info(course_status)")]
    assert columns[-3:] == ["pace", "rate", "estimate"]


async def test_set_pace_keeps_all_four_and_overwrites_them_the_next_time(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    await store.commit(UnitOfWork(COURSE, cycle=cycle("c1", clock.now(), clock.now())))
    due = clock.now() + timedelta(minutes=7)
    await store.set_pace(
        COURSE, next_due=due, pace="hot", rate=12.0, estimate='{"edits":[3,4],"a":0.5}'
    )
    [shown] = await store.course_status()
    assert (shown.next_due, shown.pace, shown.rate_per_day) == (due, "hot", 12.0)
    assert shown.last_success == clock.now(), "the cycle's outcome is left as it was"
    assert await store.paces() == {COURSE: '{"edits":[3,4],"a":0.5}'}

    later = due + timedelta(hours=6)
    await store.set_pace(COURSE, next_due=later, pace="cold", rate=0.25, estimate='{"a":0.1}')
    [shown] = await store.course_status()
    assert (shown.next_due, shown.pace, shown.rate_per_day) == (later, "cold", 0.25)
    assert await store.paces() == {COURSE: '{"a":0.1}'}

    await store.set_pace(COURSE, next_due=None, pace=None, rate=None, estimate=None)
    [shown] = await store.course_status()
    assert (shown.next_due, shown.pace, shown.rate_per_day) == (None, None, None)
    assert await store.paces() == {}


async def test_paces_are_kept_per_course_and_survive_a_restart(
    db_path: Path, clock: ManualClock
) -> None:
    async with SQLiteStateStore(db_path, clock=clock) as store:
        await store.save_courses([course(), course(OTHER)], selected_ids={COURSE, OTHER})
        await store.set_pace(COURSE, next_due=None, pace="new", rate=None, estimate='{"n":1}')
        await store.set_pace(OTHER, next_due=None, pace="backoff", rate=3.5, estimate='{"n":2}')
    async with SQLiteStateStore(db_path, clock=clock) as store:
        assert await store.paces() == {COURSE: '{"n":1}', OTHER: '{"n":2}'}
        shown = {s.course_id: (s.pace, s.rate_per_day) for s in await store.course_status()}
        assert shown == {COURSE: ("new", None), OTHER: ("backoff", 3.5)}


async def test_set_pace_of_a_course_the_state_does_not_know_is_refused(
    store: SQLiteStateStore,
) -> None:
    with pytest.raises(StateError, match="_99_1 is not in the state"):
        await store.set_pace("_99_1", next_due=None, pace="hot", rate=1.0, estimate="{}")
    assert await store.paces() == {}


async def test_scheduler_state_round_trips_by_name_and_survives_a_restart(
    db_path: Path, clock: ManualClock
) -> None:
    async with SQLiteStateStore(db_path, clock=clock) as store:
        assert await store.scheduler_state("week") is None
        await store.set_scheduler_state("week", '{"mon":[1,2]}')
        await store.set_scheduler_state("budget", '{"spent":3}')
        await store.set_scheduler_state("week", '{"mon":[5]}')
    async with SQLiteStateStore(db_path, clock=clock) as store:
        assert await store.scheduler_state("week") == '{"mon":[5]}'
        assert await store.scheduler_state("budget") == '{"spent":3}'
        assert await store.scheduler_state("nothing") is None


async def test_the_outlook_counts_columns_members_and_due_dates_of_selected_courses_only(
    store: SQLiteStateStore,
) -> None:
    await store.save_courses(
        [course(), course(OTHER), course(UNSELECTED)], selected_ids={COURSE, OTHER}
    )
    columns = [
        due_column("_1_1", "2025-10-01T23:59:00.000Z"),
        due_column("_2_1", None),
        due_column("_3_1", "2025-09-15T12:00:00+02:00"),
    ]
    await store.commit(
        UnitOfWork(
            COURSE, columns=columns, memberships=[member(COURSE, f"_{n}_1") for n in range(5)]
        )
    )
    await store.commit(
        UnitOfWork(
            UNSELECTED,
            columns=[due_column("_4_1", "2025-11-01T00:00:00Z")],
            memberships=[member(UNSELECTED, "_1_1")],
        )
    )

    outlook = await store.course_outlook()
    assert outlook == {
        COURSE: CourseOutlook(
            columns=3,
            members=5,
            due=(
                datetime(2025, 9, 15, 10, 0, tzinfo=UTC),
                datetime(2025, 10, 1, 23, 59, tzinfo=UTC),
            ),
        ),
        OTHER: CourseOutlook(columns=0, members=0, due=()),
    }
    assert all(moment.tzinfo is UTC for moment in outlook[COURSE].due)


def write_config(tmp_path: Path, state: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(config_text(NoLearn(), state=state, events=tmp_path / "events.jsonl"))
    return config


async def test_status_shows_each_courses_pace_and_rate(
    db_path: Path, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with SQLiteStateStore(db_path, clock=clock) as store:
        await store.save_courses([course(), course(OTHER)], selected_ids={COURSE, OTHER})
        await store.set_pace(COURSE, next_due=clock.now(), pace="hot", rate=12.0, estimate="{}")
    config = write_config(tmp_path, db_path)

    def command(*extra: str) -> argparse.Namespace:
        return build_parser("status").parse_args(["status", "--config", str(config), *extra])

    capsys.readouterr()
    assert await status.main(command("--json")) == 0
    shown = {c["course_id"]: c for c in json.loads(capsys.readouterr().out)["courses"]}
    assert (shown[COURSE]["pace"], shown[COURSE]["rate_per_day"]) == ("hot", 12.0)
    assert (shown[OTHER]["pace"], shown[OTHER]["rate_per_day"]) == (None, None)

    assert await status.main(command()) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("course "))
    headings = [h.strip() for h in header.split("  ") if h.strip()]
    assert headings[headings.index("next due") + 1] == "pace"
    start = header.index("pace")
    rows = {line.split()[0]: line for line in lines if line.startswith((COURSE, OTHER))}
    assert rows[COURSE][start:].startswith("hot 12.0/d ")
    assert rows[OTHER][start:].startswith("- ")
