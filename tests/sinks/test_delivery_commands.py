"""The operator's commands on delivery: ``deadletters list|retry`` and ``replay``."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from gradesync.cli import main
from gradesync.commands.replay import parse_since
from gradesync.sinks.testing import fill_outbox, grade_event
from gradesync.store import SQLiteStateStore

SECRET = "whsec_" + base64.b64encode(b"commands").decode()
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """The commands configure logging onto pytest's captured stream; undo that after."""
    handlers = logging.root.handlers[:]
    yield
    structlog.reset_defaults()
    logging.root.handlers[:] = handlers


def write_config(tmp_path: Path) -> str:
    path = tmp_path / "gradesync.toml"
    path.write_text(
        "[learn]\n"
        'base_url = "https://learn.example.edu"\nclient_id = "id"\nclient_secret = "secret"\n'
        f"[state]\npath = {json.dumps(str(tmp_path / 'state.db'))}\n"
        '[[sinks]]\ntype = "webhook"\nurl = "https://hooks.example.edu/grades"\n'
        f'secret = "{SECRET}"\n'
    )
    return str(path)


def prepare(tmp_path: Path) -> list[str]:
    """Four events an hour apart; the webhook got all, refusing the second and third."""
    sent = [grade_event(user=f"_{n}_1", time=START + timedelta(hours=n)) for n in range(4)]

    async def fill() -> None:
        async with SQLiteStateStore(tmp_path / "state.db") as store:
            await fill_outbox(store, sent)
            await store.register_sinks(["webhook"])
            for event in await store.pending("webhook", 10):
                if event.id == sent[1]["id"]:
                    await store.dead_letter("webhook", event, "refused: 400", kind="dead")
                elif event.id == sent[2]["id"]:
                    await store.dead_letter("webhook", event, "no externalId", kind="unmapped")
                else:
                    await store.mark_delivered("webhook", event.seq)

    asyncio.run(fill())
    return [e["id"] for e in sent]


def pending(tmp_path: Path) -> list[str]:
    async def read() -> list[str]:
        async with SQLiteStateStore(tmp_path / "state.db") as store:
            return [e.id for e in await store.pending("webhook", 10)]

    return asyncio.run(read())


def test_deadletters_list_shows_each_with_its_kind_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = write_config(tmp_path), prepare(tmp_path)
    assert main(["deadletters", "list", "--config", config, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["event_id"], d["kind"], d["reason"]) for d in listed] == [
        (ids[1], "dead", "refused: 400"),
        (ids[2], "unmapped", "no externalId"),
    ]
    assert main(["deadletters", "list", "--config", config, "--kind", "unmapped"]) == 0
    text = capsys.readouterr().out
    assert ids[2] in text and ids[1] not in text and "1 dead letters" in text


def test_deadletters_retry_queues_them_for_delivery_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = write_config(tmp_path), prepare(tmp_path)
    assert main(["deadletters", "retry", "--config", config, "--sink", "webhook"]) == 0
    assert "2 dead letters queued" in capsys.readouterr().out
    assert pending(tmp_path) == [ids[1], ids[2]]
    assert main(["deadletters", "list", "--config", config, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_an_unknown_sink_is_a_usage_error(tmp_path: Path) -> None:
    config, _ = write_config(tmp_path), prepare(tmp_path)
    assert main(["deadletters", "retry", "--config", config, "--sink", "nope"]) == 2
    assert main(["replay", "--config", config, "--sink", "nope", "--since", "1d"]) == 2


def test_replay_delivers_again_from_a_time_on_leaving_dead_letters_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = write_config(tmp_path), prepare(tmp_path)
    since = (START + timedelta(minutes=30)).isoformat()
    assert main(["replay", "--config", config, "--sink", "webhook", "--since", since]) == 0
    assert "1 events" in capsys.readouterr().out  # the fourth; the second and third are dead
    assert pending(tmp_path) == [ids[3]]
    assert main(["replay", "--config", config, "--sink", "webhook", "--since", "soon"]) == 2


def test_since_takes_iso_times_dates_and_durations_ago() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_since("2d", now) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == datetime(2026, 3, 10, 10, 30, tzinfo=UTC)
    assert parse_since("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_since("2026-03-01T08:00:00+01:00", now) == datetime(2026, 3, 1, 7, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither an ISO date or time nor a duration"):
        parse_since("last week", now)
