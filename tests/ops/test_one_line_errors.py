"""``gradesync once`` ends an operational failure raised inside a course's cycle in one line
with the contract's exit code, never a traceback (docs/contract.md section 6)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e_support import SimulatorProcess, config_text, simulator_process

from gradesync import cli
from gradesync.errors import AuthenticationError, StateError
from gradesync.models import Course
from gradesync.sync.cycle import CourseResult, Syncer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    options = ("--courses", "6", "--columns", "2", "--students", "3", "--cross-listed-parents", "0")
    with simulator_process(*options) as running:
        yield running


def write_config(sim: SimulatorProcess, tmp: Path) -> Path:
    config = tmp / "gradesync.toml"
    config.write_text(config_text(sim, state=tmp / "state.db", events=tmp / "events.jsonl"))
    return config


REFUSED = AuthenticationError("POST v1/oauth2/token: 401 Unauthorized: invalid_client", status=401)
DISK_FULL = StateError(
    "committing course _1_1 failed on the state file state.db: database or disk is full",
    path="state.db",
    reason=str(sqlite3.OperationalError("database or disk is full")),
)


@pytest.mark.parametrize(
    ("error", "code"),
    [(REFUSED, 1), (DISK_FULL, 1)],
    ids=["credentials-refused-mid-run", "disk-full"],
)
def test_a_failure_inside_a_course_cycle_ends_once_in_one_line(
    sim: SimulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    code: int,
) -> None:
    real = Syncer.sync_course
    calls = 0

    async def failing_after_the_first(
        self: Syncer, course: Course, *, full: bool = False
    ) -> CourseResult:
        nonlocal calls
        calls += 1
        if calls > 1:  # the first course commits; a later one meets the failure
            raise error
        return await real(self, course, full=full)

    monkeypatch.setattr(Syncer, "sync_course", failing_after_the_first)
    config = write_config(sim, tmp_path)
    assert cli.main(["once", "--config", str(config)]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last == f"gradesync: {error}"


def test_an_unusable_state_ends_once_in_one_line(
    sim: SimulatorProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(sim, tmp_path)
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 100)
    assert cli.main(["once", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("gradesync: ")
    assert "state.db" in err
