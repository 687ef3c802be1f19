"""Helpers for end-to-end tests that run gradesync as a user would: in subprocesses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class SimulatorProcess:
    process: subprocess.Popen[str]
    base_url: str
    client_id: str
    client_secret: str


def gradesync(*args: str) -> list[str]:
    return [sys.executable, "-m", "gradesync", *args]


@contextmanager
def simulator_process(*options: str) -> Iterator[SimulatorProcess]:
    """``gradesync simulate --port 0`` in a subprocess; yields the credentials it printed."""
    process = subprocess.Popen(
        gradesync("simulate", "--port", "0", *options),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        found: dict[str, str] = {}
        while len(found) < 3:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the simulator exited early ({process.wait()})")
            key, _, value = line.partition(": ")
            if key in ("base_url", "client_id", "client_secret"):
                found[key] = value.strip()
        yield SimulatorProcess(
            process, found["base_url"], found["client_id"], found["client_secret"]
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


class Site(Protocol):
    """Where a configuration points: a simulator, in this process or in another."""

    @property
    def base_url(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...


@dataclass(frozen=True)
class NoLearn:
    """A Learn nobody answers at: for commands that only read the state."""

    base_url: str = "http://127.0.0.1:9"
    client_id: str = "gradesync"
    client_secret: str = "secret"


def config_text(
    site: Site,
    *,
    state: Path,
    events: Path,
    secret: str | None = None,
    requests_per_second: float = 1000,
    sections: str = "",
) -> str:
    """A configuration against ``site``: quick retries, JSON logs, one file sink at ``events``.
    ``secret`` replaces the site's; ``sections`` adds whole TOML sections."""
    return f"""
[learn]
base_url = "{site.base_url}"
client_id = "{site.client_id}"
client_secret = "{secret or site.client_secret}"
requests_per_second = {requests_per_second}
retry_max_wait = "1s"

[state]
path = "{state}"

[logging]
format = "json"
{sections}
[[sinks]]
type = "file"
path = "{events}"
"""


def write_config(
    path: Path, sim: SimulatorProcess, state: Path, events: Path, extra: str = ""
) -> Path:
    """A configuration for ``once`` at the default request rate (slow enough to be killed
    mid-run), which waits up to 20 s for its deliveries."""
    delivery = '[delivery]\nonce_wait = "20s"\n'
    path.write_text(
        config_text(
            sim, state=state, events=events, requests_per_second=10, sections=delivery + extra
        )
    )
    return path


COMMAND_TIMEOUT = 60.0  # seconds one command may take before a test gives up


async def run_gradesync(*args: str) -> tuple[int, str, str]:
    """Run one gradesync command to its end: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *gradesync(*args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
