"""Fixtures of the store's tests: a real SQLite file in tmp_path and a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.store.store_builders import COURSE, course

from gradesync.clock import ManualClock
from gradesync.store import SQLiteStateStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
async def store(db_path: Path, clock: ManualClock) -> AsyncIterator[SQLiteStateStore]:
    """An open store that already knows (and selects) the course ``COURSE``."""
    async with SQLiteStateStore(db_path, clock=clock) as opened:
        await opened.save_courses([course(COURSE)], selected_ids={COURSE})
        yield opened
