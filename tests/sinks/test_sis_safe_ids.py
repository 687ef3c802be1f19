"""Ids go into SIS paths only as safe segments: an identity that could reach another resource is
refused, the event set aside as unmapped with the reason, and nothing is sent for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gradesync.clock import ManualClock
from gradesync.config.sinks import SisSinkConfig
from gradesync.models import OutboxEvent
from gradesync.sinks.sis import GradesJourneySink, UpsertSink
from gradesync.sinks.sis.mapping import segment_problem
from gradesync.sinks.testing import FakeSis, grade_event, outbox_event


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("..", "is empty, '.' or '..'"),
        (".", "is empty, '.' or '..'"),
        ("s42/../admin", "holds '/'"),
        ("a\\b", "holds '\\'"),
        ("s42?role=admin", "holds '?'"),
        ("s42#x", "holds '#'"),
        ("s4\x002", "holds a control character"),
        ("%2e%2E", "is empty, '.' or '..' once percent-decoded"),
        ("s42%2Fadmin", "holds '/' once percent-decoded"),
        ("s42%252Fadmin", "holds '/' once percent-decoded"),
        ("s42%00", "holds a control character once percent-decoded"),
    ],
)
def test_an_unsafe_segment_is_named_for_what_is_wrong(value: str, problem: str) -> None:
    assert segment_problem(value) == problem


@pytest.mark.parametrize("value", ["s42", "BIO-100.2026", "Lab 1: part (a)", "100%", "élève"])
def test_ordinary_ids_are_safe_segments(value: str) -> None:
    assert segment_problem(value) is None


@pytest.fixture
async def sis() -> AsyncIterator[FakeSis]:
    async with FakeSis(token="static-token") as started:
        yield started


def sink_config(sis: FakeSis, **overrides: Any) -> SisSinkConfig:
    settings = {"type": "sis", "base_url": sis.url, "token": "static-token"} | overrides
    return SisSinkConfig.model_validate(settings)


def events(*bodies: dict[str, Any]) -> list[OutboxEvent]:
    return [outbox_event(body, seq) for seq, body in enumerate(bodies, 1)]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            grade_event(user_external=".."),
            "the user's externalId cannot be a SIS path segment: it is empty, '.' or '..'",
        ),
        (
            grade_event(course_external="BIO-100/../CHEM-200"),
            "the course's externalId cannot be a SIS path segment: it holds '/'",
        ),
        (
            grade_event(column_external="LAB%2F1"),
            "the column's externalId cannot be a SIS path segment: it holds '/' once "
            "percent-decoded",
        ),
        (
            grade_event(column_name="Lab ?1"),
            "the column's name cannot be a SIS path segment: it holds '?'",
        ),
    ],
    ids=["dot-user", "slash-course", "encoded-item", "query-in-name"],
)
async def test_upsert_sets_an_unsafe_event_aside_and_sends_the_others(
    sis: FakeSis, event: dict[str, Any], reason: str
) -> None:
    sink = UpsertSink(sink_config(sis), clock=ManualClock())
    good = grade_event(user="_43_1", user_external="s43", column_external="LAB-1")
    outcomes = await sink.deliver(events(event, good))
    await sink.close()
    assert [(o.kind, o.reason) for o in outcomes] == [("unmapped", reason), ("delivered", "")]
    assert {path for _, path in sis.requests} == {
        "/users/s43/courses/BIO-100/gradebookItems/LAB-1/grade"
    }


async def test_an_identity_with_a_control_character_is_sent_nowhere(sis: FakeSis) -> None:
    config = sink_config(sis, protocol="gradesjourney")
    sink = GradesJourneySink(config, clock=ManualClock())
    outcomes = await sink.deliver(events(grade_event(user_external="s4\x1b2")))
    await sink.close()
    assert [(o.kind, o.reason) for o in outcomes] == [
        ("unmapped", "user _42_1: its externalId holds a control character")
    ]
    assert sis.requests == []
