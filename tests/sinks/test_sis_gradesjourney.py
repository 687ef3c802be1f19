"""The SIS sink's ``gradesjourney`` protocol against the fake SIS: batches, per-item results,
provisioning, field limits, and a batch split so one bad item never blocks the others."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gradesync.clock import ManualClock
from gradesync.config.sinks import SisSinkConfig
from gradesync.models import OutboxEvent
from gradesync.sinks.sis import GradesJourneySink
from gradesync.sinks.testing import FakeSis, grade_event, outbox_event

JOURNEY = FakeSis.JOURNEY


def as_outbox(*events: dict[str, Any]) -> list[OutboxEvent]:
    return [outbox_event(e, seq) for seq, e in enumerate(events, 1)]


def student(n: int, kind: str = "created", **kwargs: Any) -> dict[str, Any]:
    return grade_event(kind, user=f"_{n}_1", user_external=f"s{n}", **kwargs)


def history() -> list[OutboxEvent]:
    """Grades in two columns, updated and deleted; then one column deleted in Learn."""
    quiz = {"column": "_8_1", "column_name": "Quiz", "column_external": "QZ-1", "possible": 20.0}
    return as_outbox(
        student(1, grade={"score": 8.0}),
        student(2, grade={"text": "B+"}),
        student(1, **quiz, grade={"score": 15.0}),
        student(1, "updated", grade={"score": 9.5}, version=2),
        student(2, "deleted", version=2),
        student(1, "deleted", **quiz, version=2, column_extra={"deleted": True}),
    )


@pytest.fixture
async def sis() -> AsyncIterator[FakeSis]:
    async with FakeSis(token="static-token") as started:
        yield started


def journey(sis: FakeSis, **overrides: Any) -> GradesJourneySink:
    settings = {
        "type": "sis",
        "protocol": "gradesjourney",
        "base_url": sis.url,
        "token": "static-token",
    }
    cfg = SisSinkConfig.model_validate(settings | overrides)
    return GradesJourneySink(cfg, clock=ManualClock())


def posts(sis: FakeSis, endpoint: str) -> int:
    return sis.requests.count(("POST", f"{JOURNEY}/{endpoint}"))


async def test_a_history_with_provisioning_ends_in_the_right_columns_and_values(
    sis: FakeSis,
) -> None:
    sis.strict_columns = True  # values only for columns that exist
    sink = journey(sis, provision_columns=True)
    assert {o.kind for o in await sink.deliver(history())} == {"delivered"}
    assert sis.values == {("BIO-100", "s1", "Lab 1"): "9.5"}
    assert set(sis.columns) == {("BIO-100", "Lab 1")}  # Quiz was created, then deleted
    assert sis.columns[("BIO-100", "Lab 1")]["itemType"] == "MANUAL_COLUMN"
    assert sis.columns[("BIO-100", "Lab 1")]["points"] == 10.0

    # Again, and again after a restart (the sink's memory lost): the target ends the same.
    assert {o.kind for o in await sink.deliver(history())} == {"delivered"}
    await sink.close()
    restarted = journey(sis, provision_columns=True)
    assert {o.kind for o in await restarted.deliver(history())} == {"delivered"}
    await restarted.close()
    assert sis.values == {("BIO-100", "s1", "Lab 1"): "9.5"}
    assert set(sis.columns) == {("BIO-100", "Lab 1")}


async def test_without_provisioning_values_are_written_and_columns_left_alone(
    sis: FakeSis,
) -> None:
    sink = journey(sis, batch_size=2)
    assert {o.kind for o in await sink.deliver(history())} == {"delivered"}
    await sink.close()
    assert sis.values == {("BIO-100", "s1", "Lab 1"): "9.5"}
    assert sis.columns == {}
    assert posts(sis, "gradableItemsAPI") == posts(sis, "gradeColumnDeleteAPI") == 0
    assert posts(sis, "gradeValueAPI") == 3  # six values in batches of two


@pytest.mark.parametrize(
    ("mode", "grade", "expected"),
    [
        ("text", {"text": "B+", "score": 8.5}, "B+"),
        ("text", {"score": 8.0}, "8"),
        ("text", {"displayGrade": {"scaleType": "Tabular", "text": "Pass"}}, "Pass"),
        ("score", {"text": "B+", "score": 8.5}, "8.5"),
        ("score", {"displayGrade": {"scaleType": "Score", "score": 7.0}}, "7"),
        ("schema", {"score": 8.5}, "B"),
        ("schema", {"score": 9.0}, "A"),
        ("schema", {"score": 0.5}, "F"),
    ],
)
async def test_values_are_the_text_the_score_or_a_schema_symbol(
    sis: FakeSis, mode: str, grade: dict[str, Any], expected: str
) -> None:
    sink = journey(sis, value=mode, grade_schema="A=90:B=80:C=70:F=0")
    assert [o.kind for o in await sink.deliver(as_outbox(student(1, grade=grade)))] == ["delivered"]
    await sink.close()
    assert sis.values == {("BIO-100", "s1", "Lab 1"): expected}


async def test_a_grade_schema_is_created_once_and_named_by_provisioned_columns(
    sis: FakeSis,
) -> None:
    sink = journey(sis, value="schema", grade_schema="P=50:F=0", provision_columns=True)
    await sink.deliver(as_outbox(student(1)))
    await sink.deliver(as_outbox(student(2)))
    await sink.close()
    assert posts(sis, "gradeSchemasAPI") == 1
    ((title, symbols),) = sis.schemas.items()
    assert symbols == "P=50:F=0"
    assert sis.columns[("BIO-100", "Lab 1")]["gradeSchema"] == title
    assert sis.values == {("BIO-100", "s1", "Lab 1"): "P", ("BIO-100", "s2", "Lab 1"): "P"}


async def test_items_the_target_refuses_are_rejections_with_its_message_and_not_retried(
    sis: FakeSis,
) -> None:
    sis.users = {"s1", "s3"}
    sink = journey(sis)
    outcomes = await sink.deliver(as_outbox(student(1), student(2), student(3)))
    await sink.close()
    assert [o.kind for o in outcomes] == ["delivered", "rejected", "delivered"]
    assert "User not found" in outcomes[1].reason
    assert posts(sis, "gradeValueAPI") == 1


async def test_items_over_a_field_limit_are_rejected_before_sending(sis: FakeSis) -> None:
    sink = journey(sis)
    long_name = "Essay " + "x" * 330
    outcomes = await sink.deliver(
        as_outbox(student(1), student(2, column_name=long_name), student(3))
    )
    await sink.close()
    assert [o.kind for o in outcomes] == ["delivered", "rejected", "delivered"]
    assert outcomes[1].reason.startswith("name is 336 characters, over the 333")
    assert set(sis.values) == {("BIO-100", "s1", "Lab 1"), ("BIO-100", "s3", "Lab 1")}


async def test_a_failed_batch_is_split_so_one_bad_item_never_blocks_the_others(
    sis: FakeSis,
) -> None:
    sis.poison = {"s5"}  # any request carrying this student fails as a whole with a 500
    sink = journey(sis)
    outcomes = await sink.deliver(as_outbox(*(student(n) for n in range(1, 9))))
    await sink.close()
    assert [o.kind for o in outcomes] == ["delivered"] * 4 + ["dead"] + ["delivered"] * 3
    assert "500" in outcomes[4].reason
    assert len(sis.values) == 7
    assert posts(sis, "gradeValueAPI") <= 8  # halves, not one request per item


async def test_an_unreachable_target_is_retried_without_a_flood_of_requests(
    sis: FakeSis,
) -> None:
    sis.outage(503, retry_after=45)
    sink = journey(sis)
    outcomes = await sink.deliver(as_outbox(*(student(n) for n in range(1, 101))))
    await sink.close()
    assert [o.kind for o in outcomes] == ["retry"]
    assert outcomes[0].retry_after == 45
    assert posts(sis, "gradeValueAPI") <= 10


async def test_external_grade_column_and_cross_listed_enrollment_metadata(sis: FakeSis) -> None:
    sink = journey(sis)
    final = {"column_name": "Final Grade", "column_extra": {"externalGrade": True}}
    outcomes = await sink.deliver(
        as_outbox(student(1, **final), student(2, child_external="BIO-100-02", **final))
    )
    await sink.close()
    assert {o.kind for o in outcomes} == {"delivered"}
    assert sis.external == {"BIO-100": "Final Grade", "BIO-100-02": "Final Grade"}
    assert sis.metadata == {("BIO-100-02", "s2"): "childCourse=BIO-100-02:parentCourse=BIO-100"}
    assert ("BIO-100-02", "s2", "Final Grade") in sis.values


async def test_calculated_columns_are_provisioned_as_total_or_weighted(sis: FakeSis) -> None:
    sink = journey(sis, provision_columns=True)
    await sink.deliver(
        as_outbox(
            student(1, column="_9_1", column_name="Total", column_type="Calculated"),
            student(1, column="_10_1", column_name="Weighted Total", column_type="Calculated"),
        )
    )
    await sink.close()
    kinds = {name: item["itemType"] for (_, name), item in sis.columns.items()}
    assert kinds == {"Total": "TOTAL_COLUMN", "Weighted Total": "WEIGHTED_COLUMN"}


async def test_dry_run_sends_nothing_yet_still_refuses_items_over_a_limit(sis: FakeSis) -> None:
    sink = journey(
        sis, dry_run=True, provision_columns=True, value="schema", grade_schema="P=50:F=0"
    )
    outcomes = await sink.deliver(as_outbox(student(1), student(2, column_name="x" * 400)))
    await sink.close()
    assert [o.kind for o in outcomes] == ["delivered", "rejected"]
    assert sis.requests == []
