"""What a SIGHUP may change in place, and what waits for a restart."""

from __future__ import annotations

from typing import Any

from gradesync.config import Settings
from gradesync.config.reload import changed_keys, effective, needs_restart


def settings(**learn: Any) -> Settings:
    return Settings.model_validate(
        {
            "learn": {
                "base_url": "https://learn.example.edu",
                "client_id": "gradesync",
                "client_secret": "old-secret",
                **learn,
            },
            "state": {"path": "state.db"},
            "sinks": [{"type": "file", "path": "events.jsonl"}],
        }
    )


def test_a_reload_keeps_what_needs_a_restart_as_started() -> None:
    started = settings()
    new = Settings.model_validate(
        {
            **settings(
                base_url="https://other.example.edu", client_secret="new-secret", concurrency=2
            ).model_dump(),
            "state": {"path": "elsewhere.db"},
            "sync": {"interval": "5m"},
        }
    )
    changed = changed_keys(started, new)
    assert sorted(k for k in changed if needs_restart(k)) == ["learn.base_url", "state.path"]
    assert sorted(k for k in changed if not needs_restart(k)) == [
        "learn.client_secret",
        "learn.concurrency",
        "sync.interval",
    ]
    applied = effective(started, new)
    assert applied.learn.base_url == "https://learn.example.edu"
    assert str(applied.state.path) == "state.db"
    assert applied.learn.client_secret.get_secret_value() == "new-secret"
    assert applied.learn.concurrency == 2
    assert applied.sync.interval.total_seconds() == 300
    assert changed_keys(started, applied) == [
        "learn.client_secret",
        "learn.concurrency",
        "sync.interval",
    ]


def test_an_unchanged_file_changes_nothing() -> None:
    assert changed_keys(settings(), settings()) == []
