"""Fixtures of the operations tests: a simulated Learn site with activity, a notify socket, and
daemons that never outlive their test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from tests.ops.ops_support import DaemonProcess, NotifyListener

from gradesync.simulator import Simulator, World, WorldSpec, serve

StartDaemon = Callable[..., Awaitable[DaemonProcess]]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    spec = WorldSpec(
        seed=7, courses=6, columns_per_course=4, students_per_course=6, cross_listed_parents=1
    )
    world = World(spec)
    async with serve(world, activity_per_minute=600) as running:
        yield running


@pytest.fixture
async def notify() -> AsyncIterator[NotifyListener]:
    listener = NotifyListener()
    task = asyncio.create_task(listener.listen())
    try:
        yield listener
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        listener.socket.close()


@pytest.fixture
async def start_daemon() -> AsyncIterator[StartDaemon]:
    """Starts ``gradesync run`` with a config file; each is killed at the end if still up."""
    started: list[tuple[DaemonProcess, asyncio.Task[None]]] = []

    async def start(config: Path, env: dict[str, str] | None = None) -> DaemonProcess:
        daemon = await DaemonProcess.start(config, env)
        started.append((daemon, asyncio.create_task(daemon.read_logs())))
        return daemon

    try:
        yield start
    finally:
        for daemon, reader in started:
            if daemon.process.returncode is None:
                daemon.process.kill()
                await daemon.process.wait()
            await reader
