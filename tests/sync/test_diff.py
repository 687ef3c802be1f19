from dataclasses import dataclass
from typing import Any

from gradesync.models import Grade
from gradesync.sync.diff import diff_column


@dataclass
class Snap:
    content: dict[str, Any]
    change_index: int
    digest: str
    version: int


def grade(user: str, ci: int, **fields: Any) -> Grade:
    return Grade.model_validate({"userId": user, "changeIndex": ci, **fields})


def snap_of(row: Grade, version: int = 1) -> Snap:
    return Snap(row.content(), row.change_index, row.digest(), version)


def test_new_grade_is_created_and_ungraded_row_is_nothing() -> None:
    d = diff_column({}, [grade("u1", 5, score=7.0), grade("u2", 6)], full=False)
    assert [(c.user_id, c.kind, c.version) for c in d.changes] == [("u1", "created", 1)]
    assert d.max_change_index == 6


def test_moved_index_over_same_content_emits_nothing_but_is_recorded() -> None:
    old = grade("u1", 5, score=7.0)
    d = diff_column({"u1": snap_of(old)}, [grade("u1", 9, score=7.0)], full=False)
    assert d.changes == []
    assert [(q.user_id, q.change_index, q.version) for q in d.quiet] == [("u1", 9, 1)]


def test_changed_score_is_updated_with_previous_and_next_version() -> None:
    old = grade("u1", 5, score=7.0)
    d = diff_column({"u1": snap_of(old, 3)}, [grade("u1", 9, score=8.0)], full=False)
    (change,) = d.changes
    assert (change.kind, change.version) == ("updated", 4)
    assert change.previous == {"score": 7.0, "changeIndex": 5}


def test_cleared_row_is_deleted() -> None:
    old = grade("u1", 5, text="A")
    d = diff_column({"u1": snap_of(old)}, [grade("u1", 11, exempt=False)], full=False)
    assert [(c.kind, c.grade) for c in d.changes] == [("deleted", None)]


def test_missing_row_is_deleted_only_in_a_full_read() -> None:
    stored = {"u1": snap_of(grade("u1", 5, score=1.0)), "u2": snap_of(grade("u2", 6, score=2.0))}
    rows = [grade("u1", 5, score=1.0)]
    assert diff_column(stored, rows, full=False).changes == []
    assert [(c.user_id, c.kind) for c in diff_column(stored, rows, full=True).changes] == [
        ("u2", "deleted")
    ]


def test_tombstone_then_regrade_is_created_with_a_new_version() -> None:
    tomb = Snap({}, 11, "", 2)
    d = diff_column({"u1": tomb}, [grade("u1", 12, score=3.0)], full=True)
    assert [(c.kind, c.version) for c in d.changes] == [("created", 3)]


def test_calculated_rows_compare_by_content() -> None:
    old = grade("u1", 0, score=50.0, displayGrade={"scaleType": "Score", "score": 50.0})
    new = grade("u1", 0, score=55.0, displayGrade={"scaleType": "Score", "score": 55.0})
    assert [c.kind for c in diff_column({"u1": snap_of(old)}, [new], full=True).changes] == [
        "updated"
    ]
    assert diff_column({"u1": snap_of(old)}, [old], full=True).changes == []
