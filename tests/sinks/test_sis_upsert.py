"""The SIS sink's ``upsert`` protocol against the fake SIS: read, then POST or PUT, per grade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from gradesync.clock import ManualClock
from gradesync.config.sinks import SisSinkConfig
from gradesync.models import OutboxEvent
from gradesync.sinks.sis import UpsertSink
from gradesync.sinks.testing import FakeSis, grade_event, outbox_event

GRADE = "/users/s42/courses/BIO-100/gradebookItems/LAB-1/grade"


def as_outbox(*events: dict[str, Any]) -> list[OutboxEvent]:
    return [outbox_event(e, seq) for seq, e in enumerate(events, 1)]


def history() -> list[OutboxEvent]:
    """Two students' grades in one column: created, updated, one of them deleted."""
    lab = {"column_external": "LAB-1"}
    return as_outbox(
        grade_event("created", grade={"score": 7.0}, **lab),
        grade_event("created", user="_43_1", user_external="s43", grade={"text": "B+"}, **lab),
        grade_event("updated", grade={"score": 9.5, "text": "A"}, version=2, **lab),
        grade_event("deleted", user="_43_1", user_external="s43", version=2, **lab),
    )


@pytest.fixture
async def sis() -> AsyncIterator[FakeSis]:
    async with FakeSis(token="static-token") as started:
        yield started


def upsert(sis: FakeSis, concurrency: int = 8, **overrides: Any) -> UpsertSink:
    settings = {"type": "sis", "base_url": sis.url, "token": "static-token"} | overrides
    cfg = SisSinkConfig.model_validate({k: v for k, v in settings.items() if v is not None})
    return UpsertSink(cfg, clock=ManualClock(), concurrency=concurrency)


async def test_a_history_of_changes_ends_in_the_right_grades_and_again_when_redelivered(
    sis: FakeSis,
) -> None:
    sink = upsert(sis)
    assert {o.kind for o in await sink.deliver(history())} == {"delivered"}
    expected = {
        ("s42", "BIO-100", "LAB-1"): {"points": 9.5, "letterGrade": "A"},
        ("s43", "BIO-100", "LAB-1"): {"points": None, "letterGrade": ""},  # cleared
    }
    state = {
        k: {"points": v["points"], "letterGrade": v["letterGrade"]} for k, v in sis.grades.items()
    }
    assert state == expected
    assert ("POST", GRADE) in sis.requests and ("PUT", GRADE) in sis.requests
    assert all(g["comments"] == "" and g["shareWithStudent"] for g in sis.grades.values())

    sis.requests.clear()
    assert {o.kind for o in await sink.deliver(history())} == {"delivered"}
    again = {
        k: {"points": v["points"], "letterGrade": v["letterGrade"]} for k, v in sis.grades.items()
    }
    assert again == expected
    assert "POST" not in {method for method, _ in sis.requests}  # every grade exists: PUT
    await sink.close()


async def test_deleting_a_grade_the_sis_never_had_writes_nothing(sis: FakeSis) -> None:
    sink = upsert(sis)
    outcomes = await sink.deliver(as_outbox(grade_event("deleted", column_external="LAB-1")))
    await sink.close()
    assert [o.kind for o in outcomes] == ["delivered"]
    assert sis.requests == [("GET", GRADE)]
    assert sis.grades == {}


async def test_the_item_is_the_column_external_id_else_its_name(sis: FakeSis) -> None:
    sink = upsert(sis)
    by_name = upsert(sis, item_id="name")
    await sink.deliver(as_outbox(grade_event(column_name="Lab 2 (b)", column_external=None)))
    await by_name.deliver(as_outbox(grade_event(column_name="Lab 3", column_external="LAB-3")))
    await sink.close()
    await by_name.close()
    assert set(sis.grades) == {("s42", "BIO-100", "Lab 2 (b)"), ("s42", "BIO-100", "Lab 3")}


async def test_an_event_without_course_or_user_identity_is_unmapped_and_not_sent(
    sis: FakeSis,
) -> None:
    sink = upsert(sis, user_id="studentId")
    outcomes = await sink.deliver(
        as_outbox(grade_event(course_external=None), grade_event(user_external="s1"))
    )
    await sink.close()
    assert [o.kind for o in outcomes] == ["unmapped", "unmapped"]
    assert "externalId" in outcomes[0].reason and "studentId" in outcomes[1].reason
    assert sis.requests == []


async def test_a_refusal_of_the_sis_is_a_rejection_with_its_message(sis: FakeSis) -> None:
    sis.refuse["s43"] = "Enrollment is closed for grading"
    sink = upsert(sis)
    outcomes = await sink.deliver(history()[:2])
    await sink.close()
    assert [o.kind for o in outcomes] == ["delivered", "rejected"]
    assert "Enrollment is closed for grading" in outcomes[1].reason


@pytest.mark.parametrize("status", [429, 502])
async def test_passing_failures_stop_the_batch_for_a_retry(sis: FakeSis, status: int) -> None:
    sink = upsert(sis, concurrency=1)
    sis.answer(status, retry_after=30)
    outcomes = await sink.deliver(history())
    await sink.close()
    assert [o.kind for o in outcomes] == ["retry"]
    assert outcomes[0].retry_after == 30


async def test_changes_of_one_grade_keep_their_order_when_written_concurrently(
    sis: FakeSis,
) -> None:
    events = [
        grade_event(
            "updated", user=f"_{u}_1", user_external=f"s{u}", grade={"score": float(v)}, version=v
        )
        for v in range(1, 6)
        for u in range(8)
    ]
    sink = upsert(sis, concurrency=8)
    assert {o.kind for o in await sink.deliver(as_outbox(*events))} == {"delivered"}
    await sink.close()
    assert {g["points"] for g in sis.grades.values()} == {5.0}
    assert len(sis.grades) == 8


async def test_oauth_tokens_are_reused_and_renewed_when_refused() -> None:
    async with FakeSis(token=None, client_id="gradesync", client_secret="s3cret") as sis:
        oauth = {
            "token_url": sis.url + FakeSis.TOKEN_PATH,
            "client_id": "gradesync",
            "client_secret": "s3cret",
        }
        sink = upsert(sis, token=None, oauth=oauth)
        await sink.deliver(history()[:2])
        assert len(sis.tokens) == 1
        sis.revoke_tokens()  # the SIS forgets the token: the next call gets 401, then a new one
        outcomes = await sink.deliver(history()[2:])
        await sink.close()
    assert {o.kind for o in outcomes} == {"delivered"}
    assert len(sis.tokens) == 1
    assert sis.grades[("s42", "BIO-100", "LAB-1")]["points"] == 9.5


async def test_a_refused_client_secret_leaves_events_waiting_and_is_never_shown() -> None:
    async with FakeSis(token=None, client_id="gradesync", client_secret="right") as sis:
        oauth = {
            "token_url": sis.url + FakeSis.TOKEN_PATH,
            "client_id": "gradesync",
            "client_secret": "wrong-secret",
        }
        sink = upsert(sis, token=None, oauth=oauth)
        with capture_logs() as logs:
            outcomes = await sink.deliver(history())
        await sink.close()
    assert [o.kind for o in outcomes] == ["retry"]
    assert "401" in outcomes[0].reason
    assert "wrong-secret" not in repr(logs) + outcomes[0].reason
    assert any(entry["event"] == "sis.token_refused" for entry in logs)


async def test_dry_run_sends_nothing_and_reports_delivered(sis: FakeSis) -> None:
    sink = upsert(sis, dry_run=True)
    with capture_logs() as logs:
        outcomes = await sink.deliver(history())
    await sink.close()
    assert {o.kind for o in outcomes} == {"delivered"}
    assert sis.requests == []
    writes = [e for e in logs if e["event"] == "sis.dry_run" and e["log_level"] == "debug"]
    assert len(writes) == 4 and writes[0]["body"]["grade"]["points"] == 7.0
    assert all("body" not in e for e in logs if e["log_level"] != "debug")
