"""A full disk or an I/O error on the state is named as such by the scheduler, once, and the
courses carry on when it clears: not logged as a crashed course (a bug)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

from structlog.testing import capture_logs

from gradesync.clock import ManualClock
from gradesync.errors import StateError
from gradesync.models import Course
from gradesync.sync.cycle import CourseResult, Syncer
from gradesync.sync.scheduler import Scheduler, SchedulerOptions


class DiskFullSyncer:
    """The sync engine's seam as the scheduler sees it, over a state whose disk fills up."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.disk_full = True
        self.cycles = 0

    async def list_courses(self) -> list[Course]:
        return [Course.model_validate({"id": f"_{n}_1", "courseId": f"C{n}"}) for n in (1, 2)]

    async def sync_course(self, course: Course, *, full: bool = False) -> CourseResult:
        self.cycles += 1
        if self.disk_full:
            raise StateError(
                f"committing {course.id} failed on the state file /srv/state.db: "
                "database or disk is full",
                path="/srv/state.db",
                reason="database or disk is full",
            )
        result = CourseResult(course.id, "c", self.clock.now())
        result.finished = self.clock.now()
        return result


async def test_a_full_disk_is_said_once_and_the_courses_recover_when_space_returns() -> None:
    clock = ManualClock()
    syncer = DiskFullSyncer(clock)
    options = SchedulerOptions(interval=timedelta(seconds=60), jitter=timedelta(seconds=1))
    scheduler = Scheduler(cast(Syncer, syncer), clock, options)
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(scheduler.run(stop))
        for _ in range(5):  # five intervals of failed commits, two courses each
            await clock.advance(61)
        failed_cycles = syncer.cycles
        syncer.disk_full = False
        for _ in range(2):
            await clock.advance(61)
        stop.set()
        await running
    events: list[dict[str, Any]] = logs
    names = [e["event"] for e in events]
    assert failed_cycles >= 4, "the courses were tried again while the disk was full"
    assert names.count("state.write_failed") == 1
    failed = next(e for e in events if e["event"] == "state.write_failed")
    assert failed["path"] == "/srv/state.db" and failed["reason"] == "database or disk is full"
    assert "course.crashed" not in names
    assert names.count("state.recovered") == 1
    assert syncer.cycles > failed_cycles
