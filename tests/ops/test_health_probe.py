"""``gradesync health`` against a real health endpoint: where it takes the address from, and that
nothing else of the configuration can make a healthy daemon look unhealthy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.ops.ops_support import free_port

from gradesync.cli import build_parser
from gradesync.commands import health
from gradesync.config import Settings
from gradesync.daemon import open_service
from gradesync.errors import ConfigError
from gradesync.health import HealthApp, serve_health
from gradesync.metrics import MetricsCollector
from gradesync.simulator import Simulator

# Everything but [health] is wrong: a URL that is none, an unknown key, no sink at all.
BROKEN = """
[learn]
base_url = "not a url"
client_id = "gradesync"
colour = "blue"
{health}
"""


@pytest.fixture
async def healthy_port(sim: Simulator, tmp_path: Path) -> AsyncIterator[int]:
    """The port of a real health endpoint, over a service whose scheduler has turned once."""
    settings = Settings.model_validate(
        {
            "learn": {
                "base_url": sim.base_url,
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
            },
            "state": {"path": str(tmp_path / "state.db")},
            "sinks": [{"type": "file", "path": str(tmp_path / "events.jsonl")}],
        }
    )
    port = free_port()
    async with open_service(settings) as service:
        service.stats.heartbeat()
        app = HealthApp(service, MetricsCollector(service), stale_after=60.0)
        async with serve_health(("127.0.0.1", port), app):
            yield port


async def probe(*args: str) -> int:
    """``gradesync health ARGS`` beside the endpoint's event loop (the probe blocks)."""
    parsed = build_parser("health").parse_args(["health", "--timeout", "5", *args])
    return await asyncio.to_thread(health.run, parsed)


def config_listening_on(tmp_path: Path, port: int | None) -> Path:
    config = tmp_path / "broken.toml"
    listen = f'[health]\nlisten = "0.0.0.0:{port}"\n' if port else ""
    config.write_text(BROKEN.format(health=listen))
    return config


async def test_a_broken_learn_section_does_not_fail_the_probe(
    healthy_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(health.LISTEN_ENV, raising=False)
    config = config_listening_on(tmp_path, healthy_port)
    assert await probe("--config", str(config)) == 0
    assert await probe("--config", str(config), "--ready") == 0


async def test_the_listen_variable_wins_over_the_file(
    healthy_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_listening_on(tmp_path, free_port())  # nothing listens there
    monkeypatch.setenv(health.LISTEN_ENV, f"0.0.0.0:{healthy_port}")
    assert await probe("--config", str(config)) == 0


async def test_the_url_option_wins_over_the_variable_and_the_file(
    healthy_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_listening_on(tmp_path, free_port())
    monkeypatch.setenv(health.LISTEN_ENV, f"127.0.0.1:{free_port()}")
    assert await probe("--config", str(config), "--url", f"http://127.0.0.1:{healthy_port}") == 0


async def test_the_probe_names_the_unreachable_endpoint_it_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv(health.LISTEN_ENV, f"[::]:{port}")
    assert await probe("--config", str(config_listening_on(tmp_path, None))) == 1
    assert f"cannot reach http://[::1]:{port}/healthz" in capsys.readouterr().err


def test_a_bad_listen_value_names_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(health.LISTEN_ENV, "9108")
    with pytest.raises(ConfigError, match=rf"environment variable {health.LISTEN_ENV}: health"):
        health.run(build_parser("health").parse_args(["health"]))
    monkeypatch.delenv(health.LISTEN_ENV)
    config = tmp_path / "c.toml"
    config.write_text("[health]\nlisten = 9108\n")
    with pytest.raises(ConfigError, match=rf"{config}: health\.listen: must be a string"):
        health.run(build_parser("health").parse_args(["health", "--config", str(config)]))


@pytest.mark.parametrize("url", ["127.0.0.1:9108", "http://127.0.0.1:9108/healthz", "ftp://h:1"])
def test_a_url_with_a_path_or_without_a_scheme_is_a_usage_error(url: str) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser("health").parse_args(["health", "--url", url])
    assert exited.value.code == 2
