"""Helpers for end-to-end tests that run gradesync as a user would: in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


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


def write_config(
    path: Path, sim: SimulatorProcess, state: Path, events: Path, extra: str = ""
) -> Path:
    path.write_text(
        f"""
[learn]
base_url = "{sim.base_url}"
client_id = "{sim.client_id}"
client_secret = "{sim.client_secret}"
retry_max_wait = "1s"

[state]
path = "{state}"

[delivery]
once_wait = "20s"

[logging]
format = "json"
{extra}
[[sinks]]
type = "file"
path = "{events}"
"""
    )
    return path
