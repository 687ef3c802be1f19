"""Both SIS protocols through the real deliverer and a real SQLite store: refusals end as dead
letters of the right kind, shown by the store's status, and the rest arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gradesync.clock import ManualClock
from gradesync.config import Settings
from gradesync.config.sinks import SisSinkConfig
from gradesync.sinks.base import Sink
from gradesync.sinks.delivery import Deliverer
from gradesync.sinks.registry import build_sink
from gradesync.sinks.sis import GradesJourneySink, UpsertSink
from gradesync.sinks.testing import FakeSis, fill_outbox, grade_event
from gradesync.sinks.webhook import WebhookSink
from gradesync.store import SQLiteStateStore

LEARN = {"base_url": "https://learn.example.edu", "client_id": "id", "client_secret": "secret"}


@pytest.fixture
async def sis() -> AsyncIterator[FakeSis]:
    async with FakeSis(token="static-token", refuse={"s3": "Grades are locked"}) as started:
        yield started


def build(protocol: str, sis: FakeSis, clock: ManualClock) -> Sink:
    cfg = SisSinkConfig.model_validate(
        {
            "type": "sis",
            "name": "registrar",
            "protocol": protocol,
            "base_url": sis.url,
            "token": "static-token",
            "item_id": "name",
        }
    )
    if protocol == "upsert":
        return UpsertSink(cfg, clock=clock)
    return GradesJourneySink(cfg, clock=clock)


def events() -> list[dict[str, Any]]:
    def student(n: int, kind: str = "created", **kwargs: Any) -> dict[str, Any]:
        return grade_event(kind, user=f"_{n}_1", user_external=f"s{n}", **kwargs)

    return [
        student(1, grade={"score": 6.0}),
        student(2, grade={"score": 7.0}),
        student(3, grade={"score": 8.0}),  # the SIS refuses it
        grade_event(user="_4_1", user_external=None),  # no identity to send it by
        student(1, "updated", grade={"score": 9.0}, version=2),
        student(2, "deleted", version=2),
    ]


@pytest.mark.parametrize("protocol", ["upsert", "gradesjourney"])
async def test_rejected_and_unmapped_events_are_dead_letters_shown_by_status(
    tmp_path: Path, sis: FakeSis, protocol: str
) -> None:
    clock = ManualClock()
    sent = events()
    async with SQLiteStateStore(tmp_path / "state.db", clock=clock) as store:
        await fill_outbox(store, sent)
        await store.register_sinks(["registrar"])
        sink = build(protocol, sis, clock)
        deliverer = Deliverer(store, sink, clock, batch_size=4)
        assert await deliverer.drain() is None
        await sink.close()
        dead = await store.dead_letters("registrar")
        (status,) = (await store.status()).sinks

    assert [(d.event_id, d.kind) for d in dead] == [
        (sent[2]["id"], "rejected"),
        (sent[3]["id"], "unmapped"),
    ]
    assert "Grades are locked" in dead[0].reason
    assert "has no externalId" in dead[1].reason
    assert (status.rejected, status.unmapped, status.depth) == (1, 1, 0)
    assert deliverer.stats.delivered == 4
    if protocol == "upsert":
        points = {key[0]: grade["points"] for key, grade in sis.grades.items()}
        assert points == {"s1": 9.0, "s2": None}
    else:
        assert sis.values == {("BIO-100", "s1", "Lab 1"): "9"}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"type": "webhook", "url": "https://h.example.edu", "secret": "whsec_a2V5"}, WebhookSink),
        ({"type": "sis", "base_url": "https://sis.example.edu", "token": "t"}, UpsertSink),
        (
            {
                "type": "sis",
                "protocol": "gradesjourney",
                "base_url": "https://s.example.edu",
                "token": "t",
                "name": "registrar",
            },
            GradesJourneySink,
        ),
    ],
)
def test_each_sink_is_built_from_its_table_in_the_settings(
    table: dict[str, Any], expected: type[Sink]
) -> None:
    config = Settings.model_validate(
        {"learn": LEARN, "state": {"path": "state.db"}, "sinks": [table]}
    ).sinks[0]
    sink = build_sink(config)
    assert isinstance(sink, expected)
    assert sink.name == table.get("name", table["type"])
