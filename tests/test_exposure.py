"""Plain http and unchecked certificates are named at start-up, loopback addresses aside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from gradesync.config import Settings
from gradesync.config.exposure import exposures
from gradesync.daemon import open_service

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3Itc2lnbmluZw=="


def settings(
    learn_url: str, *, verify_tls: bool = True, sinks: Any = (), state: Path = Path("s.db")
) -> Settings:
    return Settings.model_validate(
        {
            "learn": {
                "base_url": learn_url,
                "client_id": "gradesync",
                "client_secret": "s3cret",
                "verify_tls": verify_tls,
            },
            "state": {"path": str(state)},
            "sinks": list(sinks) or [{"type": "file", "path": str(state.with_suffix(".jsonl"))}],
        }
    )


def test_https_everywhere_exposes_nothing() -> None:
    webhook = {"type": "webhook", "url": "https://hooks.example.edu/grades", "secret": SECRET}
    assert exposures(settings("https://learn.example.edu", sinks=[webhook])) == []


def test_loopback_addresses_are_not_warned_about() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:9000", "http://[::1]:80"):
        assert exposures(settings(url, verify_tls=False)) == [], url


def test_plain_http_and_unchecked_certificates_are_named_by_key() -> None:
    sinks = [
        {"type": "webhook", "url": "http://hooks.example.edu/g", "secret": SECRET},
        {
            "type": "webhook",
            "name": "audit",
            "url": "https://audit.example.edu/g",
            "secret": SECRET,
            "verify_tls": False,
        },
        {
            "type": "sis",
            "base_url": "http://sis.example.edu",
            "oauth": {
                "token_url": "https://sis.example.edu/token",
                "client_id": "gs",
                "client_secret": "x",
            },
        },
    ]
    found = dict(exposures(settings("http://learn.example.edu", verify_tls=False, sinks=sinks)))
    assert set(found) == {
        "learn.base_url",
        "learn.verify_tls",
        "sinks.webhook.url",
        "sinks.audit.verify_tls",
        "sinks.sis.base_url",
    }
    assert "client secret" in found["learn.base_url"]
    assert all("s3cret" not in text for text in found.values())


async def test_the_service_warns_once_per_exposure_at_start_up(tmp_path: Path) -> None:
    config = settings("http://learn.example.edu", state=tmp_path / "state.db")
    with capture_logs() as logs:
        async with open_service(config):
            pass
    warnings = [e for e in logs if e["event"] == "config.insecure"]
    assert [(w["key"], w["log_level"]) for w in warnings] == [("learn.base_url", "warning")]
