"""Helpers for the operations tests: a daemon in a subprocess, a notify socket, free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e_support import config_text

from gradesync.config import Settings
from gradesync.models import Column
from gradesync.service import Service
from gradesync.simulator import Simulator

WAIT = 30.0  # seconds any one expected thing may take before a test gives up


def free_port() -> int:
    """A port nothing listens on right now (the daemon's health endpoint needs a fixed one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def daemon_config(
    sim: Simulator,
    tmp: Path,
    *,
    port: int | None = None,
    interval: str = "1s",
    state: str = "state.db",
    secret: str | None = None,
    extra: str = "",
) -> str:
    """A configuration for ``gradesync run`` against ``sim``: quick cycles, JSON logs. The
    scheduler is uniform: these tests count cycles of the daemon, and the adaptive one would
    rightly pace a course to what the daily budget affords, not every second."""
    health = f'[health]\nlisten = "127.0.0.1:{port}"\n' if port else ""
    cycles = f'[sync]\nscheduler = "uniform"\ninterval = "{interval}"\njitter = "0s"\n'
    return config_text(
        sim,
        state=tmp / state,
        events=tmp / "events.jsonl",
        secret=secret,
        sections=cycles + health + extra,
    )


class NotifyListener:
    """A service manager's end of the notify protocol: an abstract datagram socket."""

    def __init__(self) -> None:
        self.name = f"@gradesync-test-{uuid.uuid4().hex}"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind("\0" + self.name[1:])
        self.socket.setblocking(False)
        self.messages: list[str] = []
        self.arrived = asyncio.Event()

    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.socket, 65536)
            self.messages.append(data.decode())
            self.arrived.set()

    async def wait_for(self, line: str) -> int:
        """The index of the first message holding ``line``, waiting for it to arrive."""
        async with asyncio.timeout(WAIT):
            while True:
                for index, message in enumerate(self.messages):
                    if line in message.split("\n"):
                        return index
                self.arrived.clear()
                await self.arrived.wait()


class DaemonProcess:
    """``gradesync run`` in a subprocess; its JSON log lines parsed as they arrive."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.logs: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._logged = asyncio.Event()

    @classmethod
    async def start(cls, config: Path, env: dict[str, str] | None = None) -> DaemonProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gradesync",
            "run",
            "--config",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        return cls(process)

    async def read_logs(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            text = line.decode()
            self.raw.append(text)
            with contextlib.suppress(ValueError):
                self.logs.append(json.loads(text))
            self._logged.set()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs if entry.get("event") == name]

    async def wait_for_log(self, name: str, count: int = 1) -> dict[str, Any]:
        """The ``count``-th log line of event ``name``, waiting for it."""
        async with asyncio.timeout(WAIT):
            while len(self.events(name)) < count:
                if self.process.returncode is not None:
                    raise AssertionError(f"the daemon exited: {''.join(self.raw)[-2000:]}")
                self._logged.clear()
                await self._logged.wait()
        return self.events(name)[count - 1]

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def stop(self) -> int:
        """SIGTERM, then the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), WAIT)


def service_settings(sim: Simulator, tmp: Path, **sync: str) -> Settings:
    """Settings for a service in this process against ``sim``, with ``[sync]`` keys."""
    return Settings.model_validate(
        {
            "learn": {
                "base_url": sim.base_url,
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "requests_per_second": 1000,
            },
            "state": {"path": str(tmp / "state.db")},
            "sync": {"interval": "1m", "jitter": "1s", **sync},
            "sinks": [{"type": "file", "path": str(tmp / "events.jsonl")}],
        }
    )


def hang_course(service: Service, monkeypatch: pytest.MonkeyPatch, course_id: str) -> None:
    """Learn never answers the column list of ``course_id``: its cycles hang; others go on."""
    real = service.client.columns

    async def never() -> AsyncIterator[Column]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]

    def columns(requested: str, **options: Any) -> AsyncIterator[Column]:
        return never() if requested == course_id else real(requested, **options)

    monkeypatch.setattr(service.client, "columns", columns)
