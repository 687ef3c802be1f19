"""A large course: 200k grade rows written in batches, then read back by column."""

from __future__ import annotations

from tests.store.store_builders import COURSE

from gradesync.clock import ManualClock
from gradesync.store import ColumnCursor, SQLiteStateStore, StoredGrade, UnitOfWork

COLUMNS = 40
USERS = 5000


CONTENTS = [
    {"score": float(s), "text": str(s), "displayGrade": {"scaleType": "Score", "score": float(s)}}
    for s in range(101)
]


def row(column: int, user: int) -> StoredGrade:
    """A grade built without pydantic, so that the test spends its time in the store."""
    n = column * USERS + user
    return StoredGrade(
        COURSE, f"_{column}_1", f"_{user}_1", CONTENTS[n % 101], n, f"{n:032x}", 1 + user % 3
    )


async def test_two_hundred_thousand_grades_are_kept_and_read_back_by_key(
    store: SQLiteStateStore, clock: ManualClock
) -> None:
    for column in range(COLUMNS):
        unit = UnitOfWork(
            COURSE,
            cursors={f"_{column}_1": ColumnCursor(column * USERS + USERS - 1, clock.now())},
            grade_upserts=[row(column, user) for user in range(USERS)],
        )
        await store.commit(unit)

    assert (await store.status()).grades == COLUMNS * USERS
    read = await store.grades(COURSE, "_17_1")
    assert read == {f"_{user}_1": row(17, user) for user in range(USERS)}
    assert (await store.structure(COURSE)).cursors["_39_1"].change_index == COLUMNS * USERS - 1
    # Institution scale in mind: well under 150 bytes a row, keys and JSON included.
    wal = store.path.with_name(store.path.name + "-wal")
    assert store.path.stat().st_size + wal.stat().st_size < COLUMNS * USERS * 150
