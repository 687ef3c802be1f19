from gradesync.models import Column, Grade


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
