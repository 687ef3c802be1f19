"""One daemon per state: the lock beside the state, and what a second holder is told."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gradesync.errors import StateError
from gradesync.statelock import StateInUseError, hold, lock_path


def test_a_second_holder_is_refused_at_once_with_the_state_and_the_pid(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with hold(state):
        # Another open of the lock file, as another process would have: refused, not queued.
        with pytest.raises(StateInUseError) as refused, hold(state):
            pass
        message = str(refused.value)
        assert f"state {state} is in use" in message
        assert f"pid {os.getpid()}" in message
        assert "\n" not in message
        assert isinstance(refused.value, StateError)
    with hold(state):  # released at the end of the block
        pass


def test_the_lock_file_is_owner_only_kept_and_empty_once_released(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        state = tmp_path / "state.db"
        with hold(state):
            assert lock_path(state).read_text() == f"{os.getpid()}\n"
            assert os.stat(lock_path(state)).st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)
    assert lock_path(state).read_text() == ""
    assert not state.exists()


def test_a_state_in_a_missing_directory_cannot_be_locked(tmp_path: Path) -> None:
    state = tmp_path / "missing" / "state.db"
    expected = rf"cannot lock the state {re.escape(str(state))}: .*No such file"
    with pytest.raises(StateError, match=expected), hold(state):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib\n"
            "from gradesync.statelock import hold\n"
            "with hold(pathlib.Path(sys.argv[1])):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.read()\n",
            str(state),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(StateInUseError, match=f"pid {holder.pid}"), hold(state):
            pass
    finally:
        holder.kill()
        holder.wait()
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
    with hold(state):  # the kernel released it with the process
        pass
