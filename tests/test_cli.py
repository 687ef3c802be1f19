"""The command line as operators meet it: subprocesses, exit codes, messages, signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e_support import config_text as shared_config_text
from tests.e2e_support import run_gradesync, simulator_process, write_config

from gradesync.simulator import Simulator, World, WorldSpec, serve

pytestmark = pytest.mark.slow


def config_text(sim: Simulator, tmp: Path, *, secret: str | None = None, extra: str = "") -> str:
    return shared_config_text(
        sim, state=tmp / "state.db", events=tmp / "events.jsonl", secret=secret, sections=extra
    )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    world = World(WorldSpec(seed=4, courses=6, columns_per_course=5, students_per_course=8))
    async with serve(world, activity_per_minute=600) as running:
        yield running


def events_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_run_drains_on_sigterm_and_loses_nothing(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(sim, tmp_path, extra='[sync]\ninterval = "1s"\njitter = "0s"\n'))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gradesync",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    events = tmp_path / "events.jsonl"
    for _ in range(300):  # wait for the baseline and some activity to arrive
        if len(events_in(events)) > 200:
            break
        await asyncio.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    assert b"daemon.stopped" in err

    code, out, _ = await run_gradesync("status", "--config", str(config), "--json")
    assert code == 0
    state = json.loads(out)["state"]
    (sink,) = state["sinks"]
    assert sink["depth"] == 0, "events were left undelivered"
    ids = {e["id"] for e in events_in(events)}
    assert len(ids) == state["events"], "every committed event is in the file"


BAD_CONFIGS = {
    "missing key": (
        "[learn]\nbase_url = 'http://127.0.0.1:9'\nclient_id = 'x'\n",
        "learn.client_secret",
    ),
    "wrong type": (
        "[learn]\nbase_url = 'http://127.0.0.1:9'\nclient_id = 'x'\n"
        "client_secret = 's'\nconcurrency = 'many'\n",
        "learn.concurrency",
    ),
    "malformed TOML": ("[learn\nbase_url = 1\n", "line 1"),
    "unknown sink type": (
        "[learn]\nbase_url = 'http://127.0.0.1:9'\nclient_id = 'x'\n"
        "client_secret = 's'\n[[sinks]]\ntype = 'kafka'\n",
        "kafka",
    ),
    "unknown key": (
        "[learn]\nbase_url = 'http://127.0.0.1:9'\nclient_id = 'x'\n"
        "client_secret = 's'\nclient_secrett = 's'\n",
        "client_secrett",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
async def test_bad_configuration_exits_1_naming_the_problem(case: str, tmp_path: Path) -> None:
    text, named = BAD_CONFIGS[case]
    config = tmp_path / "config.toml"
    config.write_text(text)
    code, _, err = await run_gradesync("once", "--config", str(config))
    assert code == 1
    assert named in err
    assert str(config) in err


async def test_wrong_secret_exits_1_without_printing_it(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(sim, tmp_path, secret="not-the-secret-42"))
    for command in ("check", "once"):
        code, out, err = await run_gradesync(command, "--config", str(config))
        assert code == 1, err
        assert "refused" in err.lower()
        assert "not-the-secret-42" not in err + out


async def test_missing_config_is_a_usage_or_fatal_error(tmp_path: Path) -> None:
    code, _, err = await run_gradesync("once", "--config", str(tmp_path / "absent.toml"))
    assert code == 1
    assert "absent.toml" in err
    code, _, _ = await run_gradesync("no-such-command")
    assert code == 2


async def test_config_comes_from_the_environment_variable(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(sim, tmp_path))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gradesync",
        "check",
        env={**os.environ, "GRADESYNC_CONFIG": str(config)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"credentials: ok" in out


def test_simulate_and_once_give_schema_valid_events(tmp_path: Path, validate_event: Any) -> None:
    with simulator_process("--seed", "9", "--courses", "4", "--students", "5") as process:
        config = write_config(
            tmp_path / "config.toml", process, tmp_path / "state.db", tmp_path / "events.jsonl"
        )
        done = subprocess.run(
            [sys.executable, "-m", "gradesync", "once", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    events = events_in(tmp_path / "events.jsonl")
    assert events
    for event in events:
        validate_event(event)


async def test_demo_writes_events_of_each_type(tmp_path: Path, validate_event: Any) -> None:
    out = tmp_path / "demo"
    code, stdout, err = await run_gradesync("demo", "--duration", "15", "--out", str(out))
    assert code == 0, err[-2000:]
    events = events_in(out / "events.jsonl")
    assert {e["type"] for e in events} == {
        "gradesync.grade.created",
        "gradesync.grade.updated",
        "gradesync.grade.deleted",
    }
    for event in events[:: max(1, len(events) // 200)]:
        validate_event(event)
    assert str(out / "events.jsonl") in stdout
    code, status, _ = await run_gradesync("status", "--config", str(out / "gradesync.toml"))
    assert code == 0
    assert "file" in status


async def test_a_disabled_sink_is_enabled_again(tmp_path: Path) -> None:
    from gradesync.store import SQLiteStateStore

    config = tmp_path / "config.toml"
    config.write_text(
        "[learn]\nbase_url = 'http://127.0.0.1:9'\nclient_id = 'x'\nclient_secret = 's'\n"
        f"[state]\npath = '{tmp_path / 'state.db'}'\n"
    )
    async with SQLiteStateStore(tmp_path / "state.db") as store:
        await store.register_sinks(["hooks"])
        await store.disable_sink("hooks", "410 Gone from https://hooks.example.edu")
    code, out, _ = await run_gradesync("sinks", "enable", "hooks", "--config", str(config))
    assert code == 0
    assert "410 Gone" in out
    async with SQLiteStateStore(tmp_path / "state.db") as store:
        (sink,) = (await store.status()).sinks
        assert not sink.disabled
    code, _, err = await run_gradesync("sinks", "enable", "nope", "--config", str(config))
    assert code == 2
    assert "hooks" in err
