"""The file sink only ever holds whole lines (docs/contract.md section 6): a write that fails
part-way is cut back before the retry, and delivery resumes when space returns."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

from gradesync.clock import ManualClock
from gradesync.errors import ConfigError
from gradesync.models import OutboxEvent
from gradesync.sinks.delivery import Deliverer
from gradesync.sinks.file import FileSink
from gradesync.sinks.testing import fill_outbox, grade_event, outbox_event
from gradesync.store import SQLiteStateStore


def events(first: int, count: int) -> list[OutboxEvent]:
    return [outbox_event(grade_event(user=f"_{n}_1"), n) for n in range(first, first + count)]


def lines(path: Path) -> list[dict[str, Any]]:
    """Every line of the file as JSON: fails on a torn line."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "the file ends inside a line"
    return [json.loads(line) for line in data.splitlines()]


class FullDisk(FileSink):
    """A disk with ``room`` bytes left: a write takes what fits, the next one fails with
    ENOSPC, as the kernel does when a disk fills part-way through a write. With ``cut_off``,
    the file is lost from under the sink as the write fails, so the rollback fails too."""

    def __init__(self, path: Path, room: int, *, cut_off: bool = False) -> None:
        super().__init__(path)
        self.room = room
        self.cut_off = cut_off

    def _write(self, fd: int, data: memoryview) -> int:
        if self.room <= 0:
            if self.cut_off:
                os.close(fd)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(fd, data[: self.room])
        self.room -= written
        return written


async def test_a_write_that_fails_part_way_is_cut_back_to_the_last_whole_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    sink = FullDisk(path, room=10**6)
    first = events(1, 3)
    assert [o.kind for o in await sink.deliver(first)] == ["delivered"] * 3
    whole = path.read_bytes()

    sink.room = len(first[0].payload) + 100  # one line and a part of the next
    (outcome,) = await sink.deliver(events(4, 3))
    assert outcome.kind == "retry"
    assert outcome.reason == f"cannot write {path}: No space left on device"
    assert path.read_bytes() == whole

    sink.room = 10**6  # space again
    retried = events(4, 3)
    assert [o.kind for o in await sink.deliver(retried)] == ["delivered"] * 3
    assert [e["id"] for e in lines(path)] == [e.id for e in first + retried]
    await sink.close()


async def test_delivery_resumes_when_space_returns_and_every_event_arrives_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    sent = [grade_event(user=f"_{n}_1") for n in range(40)]
    async with SQLiteStateStore(tmp_path / "state.db", clock=ManualClock()) as store:
        await store.register_sinks(["file"])
        await fill_outbox(store, sent)
        line = len(outbox_event(sent[0], 1).payload) + 1
        sink = FullDisk(path, room=2 * 8 * line + line // 2)  # two batches and a part
        deliverer = Deliverer(store, sink, ManualClock(), batch_size=8)
        assert await deliverer.drain() is not None  # the disk filled: a wait, then a retry
        assert deliverer.stats.last_error == f"cannot write {path}: No space left on device"
        delivered_before = len(lines(path))
        assert delivered_before == 16
        assert await deliverer.drain() is not None  # still full: nothing written, nothing torn
        assert len(lines(path)) == delivered_before

        sink.room = 10**7
        assert await deliverer.drain() is None
        assert await store.pending("file", 100) == []
        await sink.close()
    assert [e["id"] for e in lines(path)] == [e["id"] for e in sent]


async def test_a_rollback_that_fails_is_finished_when_the_file_is_opened_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    sink = FullDisk(path, room=10**6)
    await sink.deliver(events(1, 2))
    sink.room, sink.cut_off = 150, True
    with structlog.testing.capture_logs() as logged:
        (outcome,) = await sink.deliver(events(3, 2))
        assert outcome.kind == "retry"
        assert not path.read_bytes().endswith(b"\n")  # torn, and the sink knows it

        sink.room, sink.cut_off = 10**6, False
        assert [o.kind for o in await sink.deliver(events(3, 2))] == ["delivered"] * 2
    assert [e["data"]["user"]["id"] for e in lines(path)] == ["_1_1", "_2_1", "_3_1", "_4_1"]
    (removed,) = [e for e in logged if e["event"] == "sink.file.partial_line_removed"]
    assert removed["path"] == str(path) and removed["bytes"] == 150
    await sink.close()


async def test_a_file_left_ending_inside_a_line_is_cut_back_when_opened(tmp_path: Path) -> None:
    """A crash or power cut part-way through a write that was never reported delivered."""
    path = tmp_path / "events.jsonl"
    whole = "".join(e.payload + "\n" for e in events(1, 2))
    path.write_text(whole + '{"specversion": "1.0", "id": "0')
    sink = FileSink(path)
    await sink.open()
    assert path.read_text() == whole
    await sink.deliver(events(3, 1))
    assert len(lines(path)) == 3
    await sink.close()


async def test_a_file_that_is_not_lines_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("no line break in here")
    sink = FileSink(path)
    with pytest.raises(ConfigError, match=f"sink file: cannot open the events file {path}: "):
        await sink.open()
    (outcome,) = await sink.deliver(events(1, 1))
    assert outcome.kind == "retry" and "not an events file" in outcome.reason
    assert path.read_text() == "no line break in here"


async def test_an_events_file_it_creates_is_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = tmp_path / "new" / "dir" / "events.jsonl"
        sink = FileSink(path)
        await sink.deliver(events(1, 1))
        await sink.close()
    finally:
        os.umask(previous)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert os.stat(path.parent.parent).st_mode & 0o777 == 0o700


async def test_an_events_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    sink = FileSink(tmp_path / "file" / "events.jsonl", name="archive")
    with pytest.raises(ConfigError) as refused:
        await sink.open()
    assert str(refused.value) == (
        f"sink archive: cannot open the events file {tmp_path}/file/events.jsonl: Not a directory"
    )


# A real kernel refusing a write part-way: the file-size limit makes writes past it fail with
# EFBIG after a short write, as a disk filling does with ENOSPC (Python ignores SIGXFSZ). Run in
# a process of its own: the limit applies to every file the process writes.
_FILE_SIZE_LIMIT = """
import asyncio, json, resource, sys
from gradesync.sinks.file import FileSink
from gradesync.sinks.testing import grade_event, outbox_event

def batch(first, count):
    return [outbox_event(grade_event(user=f"_{n}_1"), n) for n in range(first, first + count)]

async def main(path):
    sink = FileSink(path)
    kinds = [o.kind for o in await sink.deliver(batch(1, 2))]
    size = len(open(path, "rb").read())
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 200, hard))
    failed = await sink.deliver(batch(3, 2))
    kept = len(open(path, "rb").read())
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    resumed = [o.kind for o in await sink.deliver(batch(3, 2))]
    await sink.close()
    print(json.dumps([kinds, size, [o.kind for o in failed], failed[0].reason, kept, resumed]))

asyncio.run(main(sys.argv[1]))
"""


def test_a_real_short_write_leaves_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", _FILE_SIZE_LIMIT, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    kinds, size, failed, reason, kept, resumed = json.loads(done.stdout)
    assert kinds == ["delivered"] * 2
    assert failed == ["retry"] and reason == f"cannot write {path}: File too large"
    assert kept == size  # the 200 bytes that fitted were cut back off
    assert resumed == ["delivered"] * 2
    assert len(lines(path)) == 4
