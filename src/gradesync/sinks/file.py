"""The file sink: CloudEvents as JSON lines, appended, on disk before success is reported."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome


class FileSink:
    """Appends each event's JSON as one line and fsyncs before reporting it delivered.

    A crash between the write and the recorded delivery repeats lines on restart (same id, same
    content): at-least-once, as the contract promises; consumers deduplicate on ``id``.
    """

    def __init__(self, path: str | Path, *, name: str = "file", fsync: bool = True) -> None:
        self.name = name
        self._path = Path(path)
        self._fsync = fsync
        self._file: IO[str] | None = None

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._file = await asyncio.to_thread(self._path.open, "a", encoding="utf-8")

    async def close(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        if self._file is None:
            await self.open()
        assert self._file is not None
        try:
            await asyncio.to_thread(self._write, self._file, [e.payload for e in events])
        except OSError as exc:
            return [Outcome.retry(f"cannot write {self._path}: {exc.strerror or exc}")]
        return [Outcome.delivered() for _ in events]

    def _write(self, handle: IO[str], lines: list[str]) -> None:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
        if self._fsync:
            os.fsync(handle.fileno())
