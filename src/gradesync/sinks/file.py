"""The file sink: CloudEvents as JSON lines, appended, on disk before success is reported."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Sequence
from pathlib import Path

import structlog

from gradesync.errors import ConfigError
from gradesync.files import open_private, private_directory
from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome

log = structlog.get_logger("gradesync.sinks.file")

# How far back from the end a line break is looked for when the file ends inside a line.
TAIL_WINDOW = 1024 * 1024


class FileSink:
    """Appends each event's JSON as one line and fsyncs before reporting it delivered.

    The file only ever holds whole lines. A write that fails part-way (a full disk, an I/O
    error) is cut back to where it started before the retry is reported, and a file found
    ending inside a line when opened (a crash or power cut part-way through a write that was
    never reported delivered) is cut back to its last whole line. A crash between the write and
    the recorded delivery repeats lines on restart (same id, same content): at-least-once, as
    the contract promises; consumers deduplicate on ``id``. A file it creates is owner-only.
    """

    def __init__(self, path: str | Path, *, name: str = "file", fsync: bool = True) -> None:
        self.name = name
        self._path = Path(path)
        self._fsync = fsync
        self._fd: int | None = None

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self._open)
        except OSError as exc:
            raise ConfigError(
                f"sink {self.name}: cannot open the events file {self._path}: {_reason(exc)}"
            ) from exc

    async def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            await asyncio.to_thread(os.close, fd)

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        data = "".join(event.payload + "\n" for event in events).encode("utf-8")
        try:
            await asyncio.to_thread(self._append, data)
        except OSError as exc:
            return [Outcome.retry(f"cannot write {self._path}: {_reason(exc)}")]
        return [Outcome.delivered() for _ in events]

    def _open(self) -> int:
        if self._fd is None:
            private_directory(self._path.parent)
            fd = open_private(self._path, os.O_RDWR | os.O_APPEND)
            try:
                self._cut_partial_line(fd)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        return self._fd

    def _append(self, data: bytes) -> None:
        """Append ``data`` whole, or leave the file as it was."""
        fd = self._open()
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                written = self._write(fd, view)
                if written <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
            if self._fsync:
                os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, start)
            except OSError:
                # Not undone: the next delivery opens the file again, which cuts it back to
                # its last whole line before anything else is written.
                self._fd = None
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise

    def _write(self, fd: int, data: memoryview) -> int:
        """One ``write``; the kernel may take only part of ``data`` (a disk filling up)."""
        return os.write(fd, data)

    def _cut_partial_line(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        start = max(0, size - TAIL_WINDOW)
        last_break = os.pread(fd, size - start, start).rfind(b"\n")
        if last_break < 0:
            # Not a file of lines as far as can be seen: cutting could destroy someone's data.
            raise OSError(
                errno.EINVAL,
                "it does not end with a line break and none is near its end:"
                " not an events file? move it aside",
            )
        keep = start + last_break + 1
        os.ftruncate(fd, keep)
        log.warning(
            "sink.file.partial_line_removed",
            sink=self.name,
            path=str(self._path),
            bytes=size - keep,
        )


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
