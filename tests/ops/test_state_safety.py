"""One daemon per state, and read-only commands that never create one (docs/contract.md
section 6)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
from pathlib import Path

import pytest
from tests.e2e_support import NoLearn, config_text, run_gradesync
from tests.ops.conftest import StartDaemon
from tests.ops.ops_support import daemon_config

from gradesync.cli import build_parser
from gradesync.errors import StateError
from gradesync.simulator import Simulator
from gradesync.statelock import StateInUseError, hold
from gradesync.store import SQLiteStateStore

READ_ONLY = [
    ("status",),
    ("status", "--json"),
    ("deadletters", "list"),
    ("deadletters", "retry"),
    ("replay", "--sink", "file", "--since", "1h"),
    ("sinks", "enable", "file"),
    ("state", "backup", "{backup}"),
]


def write_config(tmp_path: Path, state: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(config_text(NoLearn(), state=state, events=tmp_path / "events.jsonl"))
    return config


def parse(command: tuple[str, ...], config: Path, backup: Path) -> argparse.Namespace:
    words = [word.format(backup=backup) for word in command]
    return build_parser(words[0]).parse_args([*words, "--config", str(config)])


async def call(args: argparse.Namespace) -> int:
    """The command's own ``main``, in this process (``cli.main`` would tune the collector)."""
    code: int = await importlib.import_module(args._module).main(args)
    return code


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
async def test_a_read_only_command_refuses_a_state_that_does_not_exist(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    state = tmp_path / "typo.db"
    args = parse(command, write_config(tmp_path, state), tmp_path / "backup.db")
    with pytest.raises(StateError, match=f"^state {re.escape(str(state))} does not exist"):
        await call(args)
    assert os.listdir(tmp_path) == ["config.toml"]


async def test_status_of_a_missing_state_exits_1_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "typo.db"
    code, out, err = await run_gradesync("status", "--config", str(write_config(tmp_path, state)))
    assert (code, out) == (1, "")
    assert err.startswith(f"gradesync: state {state} does not exist (")
    assert err.count("\n") == 1
    assert not state.exists()


async def test_once_is_refused_while_the_state_is_held_and_readers_carry_on(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"
    config = write_config(tmp_path, state)
    async with SQLiteStateStore(state) as store:
        await store.register_sinks(["file"])
    with hold(state):  # the daemon, as far as the lock can tell
        with pytest.raises(StateInUseError) as refused:
            await call(build_parser("once").parse_args(["once", "--config", str(config)]))
        assert str(refused.value) == (
            f"state {state} is in use by another gradesync (pid {os.getpid()});"
            " one run or once per state at a time"
        )
        for command in [("status",), ("deadletters", "list"), ("state", "backup", "{backup}")]:
            assert await call(parse(command, config, tmp_path / "backup.db")) == 0
    assert (tmp_path / "backup.db").is_file()


async def test_a_second_daemon_on_a_running_state_exits_1_naming_the_holder(
    sim: Simulator, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(daemon_config(sim, tmp_path))
    state = tmp_path / "state.db"
    daemon = await start_daemon(config)
    await daemon.wait_for_log("daemon.ready")

    second, status, deadletters, backup = await asyncio.gather(
        run_gradesync("once", "--config", str(config)),
        run_gradesync("status", "--config", str(config)),
        run_gradesync("deadletters", "list", "--config", str(config)),
        run_gradesync("state", "backup", "--config", str(config), str(tmp_path / "b.db")),
    )
    code, _, err = second
    assert code == 1
    assert err == (
        f"gradesync: state {state} is in use by another gradesync"
        f" (pid {daemon.process.pid}); one run or once per state at a time\n"
    )
    assert [status[0], deadletters[0], backup[0]] == [0, 0, 0], [status, deadletters, backup]
    assert await daemon.stop() == 0
