"""Simulated time: gradesync and the simulator in one event loop whose clock jumps ahead whenever
every task waits, so that a week of an institution runs in minutes (tests and benchmarks).

The loop is a ``looptime`` loop (a test dependency, imported only here): its ``time()`` is
simulated, so ``asyncio.sleep``, aiohttp's timeouts and everything gradesync schedules run
unchanged on it; time moves on only when nothing is ready to run and no I/O is pending.
:class:`LoopClock` is gradesync's :class:`~gradesync.clock.Clock` on that time, for the
service and the simulator alike (request latency is then simulated on it too).

Two things would otherwise do work the loop cannot see, and let time jump over it:

- aiosqlite runs each SQLite call in a thread of its own; under simulated time the calls run in
  the loop's thread instead (:func:`sqlite_in_loop_thread`), so a commit takes no simulated
  time and nothing is skipped while it runs;
- asyncio-throttle measures its rate with ``time.monotonic()``; it is pointed at the loop's
  clock, so a rate limit holds in simulated seconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import types
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import aiosqlite.core
import asyncio_throttle.throttler

T = TypeVar("T")

START = datetime(2026, 10, 5, 0, 0, tzinfo=UTC)  # a Monday, mid-term in a northern autumn


class LoopClock:
    """The running loop's (simulated) time as gradesync's clock: ``now`` starts at ``start``."""

    def __init__(self, start: datetime = START) -> None:
        self._start = start
        self._origin = asyncio.get_running_loop().time()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic() - self._origin)

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@contextmanager
def sqlite_in_loop_thread() -> Iterator[None]:
    """Run aiosqlite's calls in the calling thread (no worker thread) while the block runs."""
    connection = aiosqlite.core.Connection
    saved = {
        name: getattr(connection, name) for name in ("_execute", "_connect", "__await__", "stop")
    }

    async def execute(self: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return partial(fn, *args, **kwargs)()

    async def connect(self: Any) -> Any:
        if self._connection is None:
            made: sqlite3.Connection = self._connector()
            self._connection = made
        return self

    def await_(self: Any) -> Any:
        return connect(self).__await__()

    def stop(self: Any) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    connection._execute = execute  # type: ignore[method-assign]
    connection._connect = connect  # type: ignore[method-assign]
    connection.__await__ = await_  # type: ignore[method-assign]
    connection.stop = stop  # type: ignore[method-assign]
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(connection, name, value)


@contextmanager
def throttle_on_loop_time() -> Iterator[None]:
    """Point asyncio-throttle's clock at the running loop's time while the block runs."""
    module: Any = asyncio_throttle.throttler
    saved = module.time
    module.time = types.SimpleNamespace(monotonic=lambda: asyncio.get_event_loop().time())
    try:
        yield
    finally:
        module.time = saved


def run(main: Coroutine[Any, Any, T], *, noop_cycles: int = 42) -> T:
    """Run ``main`` to its end on a fresh simulated-time loop (time starts at 0)."""
    import looptime  # a test dependency: only simulated runs need it

    loop = looptime.new_event_loop(start=0.0, noop_cycles=noop_cycles)
    try:
        with sqlite_in_loop_thread(), throttle_on_loop_time():
            return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
