"""Files that hold grades or secrets, created readable by their owner only whatever the umask.

The state, the events file, backups, the lock beside the state and the demo's output all come
into being here: a file is created 0600 and a directory 0700. The mode is set again after
creation (a umask can only narrow what ``open`` asks for, and an odd one such as 0o277 would
leave the owner unable to write). Files and directories that already exist keep their mode: it
is the operator's to set.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def private_directory(path: Path) -> None:
    """Make ``path`` and whichever of its parents are missing, each created 0700."""
    missing: list[Path] = []
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            break
        if candidate.exists():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(candidate))
        missing.append(candidate)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIRECTORY_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # made meanwhile by someone else: theirs, mode and all
        os.chmod(directory, DIRECTORY_MODE)


def open_private(path: Path, flags: int) -> int:
    """``os.open`` that creates ``path`` if missing: a file it creates is 0600."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return os.open(path, (flags & ~os.O_CREAT) | os.O_CLOEXEC)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists (an existing file is left untouched)."""
    os.close(open_private(path, os.O_WRONLY))


def temporary_beside(path: Path, suffix: str = ".partial") -> Path:
    """A new, empty, 0600 file with a unique name in ``path``'s directory, for a copy that is
    renamed over ``path`` once complete (a rename within one directory is atomic)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.unlink(name)
        raise
    finally:
        os.close(fd)
    return Path(name)


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, 0600, atomically: a reader sees the old file or the new
    one, never a part."""
    partial = temporary_beside(path)
    try:
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
