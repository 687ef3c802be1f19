"""One daemon per state: an exclusive lock on a file beside the state.

``run``, ``once`` and the demo hold ``<state>.lock`` with ``flock`` for as long as they work on
the state; the file holds the pid of the holder, for the message a second one gives. The lock
belongs to the open file, so the kernel releases it when the process ends however it ends: a
``kill -9`` never leaves a stale lock, and the file is never deleted (deleting it would let two
processes lock two different files of the same name). Commands that only read or mend the
state (``status``, ``state backup``, ``deadletters``) do not take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from gradesync.errors import StateError
from gradesync.files import open_private


class StateInUseError(StateError):
    """Another process holds the state's lock."""


def lock_path(state: Path) -> Path:
    return state.with_name(state.name + ".lock")


@contextlib.contextmanager
def hold(state: Path) -> Iterator[None]:
    """Hold the state's lock for the block; :class:`StateInUseError` at once if another
    process holds it, :class:`StateError` if the lock file cannot be opened."""
    path = lock_path(state)
    try:
        fd = open_private(path, os.O_RDWR)
    except OSError as exc:
        raise StateError(f"cannot lock the state {state}: {path}: {exc.strerror}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateInUseError(
                f"state {state} is in use by another gradesync (pid {_holder(fd)});"
                " one run or once per state at a time"
            ) from None
        except OSError as exc:  # a file system without locks (some network mounts)
            raise StateError(f"cannot lock the state {state}: {path}: {exc.strerror}") from exc
        # The pid is for the operator only: a full disk must not stop the daemon here.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """The pid the holder wrote, or ``unknown`` (it may not have written it yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
