import json
from typing import Any

import pytest
from pydantic import ValidationError

from gradesync.models import GRADE_CONTENT_FIELDS, Column, Grade, content_digest


def test_attempt_spelling_from_the_guide_reads_as_attempts() -> None:
    column = Column.model_validate({"id": "_1_1", "grading": {"type": "Attempt"}})
    assert column.type == "Attempts"


def test_row_without_grade_fields_is_not_a_grade() -> None:
    row = Grade.model_validate({"userId": "_5_1", "changeIndex": 12, "exempt": False})
    assert not row.is_grade
    assert Grade.model_validate({"userId": "_5_1", "exempt": True}).is_grade


def test_content_copies_wire_names_and_digest_ignores_change_index() -> None:
    a = Grade.model_validate(
        {
            "userId": "_5_1",
            "score": 7.5,
            "displayGrade": {"scaleType": "Score", "score": 7.5},
            "notes": "private",
            "status": "Graded",
            "changeIndex": 3,
        }
    )
    b = a.model_copy(update={"change_index": 99})
    assert a.content() == {"score": 7.5, "displayGrade": {"scaleType": "Score", "score": 7.5}}
    assert a.digest() == b.digest()
    assert a.digest() != a.model_copy(update={"score": 8.0}).digest()


def _dumped_content(grade: Grade) -> dict[str, Any]:
    """What ``Grade.content`` was first written as: pydantic's dump, cut to the copied fields."""
    wire = grade.model_dump(mode="json", by_alias=True, exclude_none=True)
    out = {k: wire[k] for k in GRADE_CONTENT_FIELDS if k in wire}
    if out.get("exempt") is False:
        del out["exempt"]
    return out


def test_content_is_what_the_pydantic_dump_gives_for_every_kind_of_row() -> None:
    """``content`` is written out by hand for speed; digests (and so the stored snapshots of
    every existing state file) depend on it giving exactly what the dump gave."""
    rows: list[dict[str, Any]] = [
        {"score": 14.89, "displayGrade": {"scaleType": "Score", "score": 14.89, "possible": 20}},
        {"text": "A-", "displayGrade": {"scaleType": "Tabular", "text": "A-"}, "corrupt": False},
        {"exempt": True, "exempt_note": "ignored", "feedback": "Très bien ✓"},
        {"exempt": False, "score": 0},
        {"overridden": "2024-05-01T12:00:00.123Z", "score": 99.5, "gradeNotationId": "_3_1"},
        {"overridden": "2024-05-01T12:00:00+02:00", "text": "Incomplete"},
        {"score": 1e16, "displayGrade": {"score": 1e-7}},
        {"status": "NeedsGrading", "notes": "not copied", "corrupt": True},
        {},
    ]
    for row in rows:
        grade = Grade.model_validate({"userId": "_1_1", "columnId": "_2_1", **row})
        assert json.dumps(grade.content()) == json.dumps(_dumped_content(grade)), row
        assert grade.digest() == content_digest(_dumped_content(grade)), row
    # A NaN score cannot be represented faithfully: it is refused, and the row set aside.
    with pytest.raises(ValidationError, match="finite number"):
        Grade.model_validate_json(b'{"userId": "_1_1", "score": NaN}')
