"""The health endpoint over a real service against the simulator; heartbeats on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from gradesync.clock import ManualClock
from gradesync.config import Settings
from gradesync.daemon import open_service
from gradesync.health import HealthApp
from gradesync.metrics import DaemonStats, MetricsCollector
from gradesync.service import Service
from gradesync.simulator import Simulator

STALE_AFTER = 60.0


def settings_for(sim: Simulator, tmp: Path, *, secret: str | None = None) -> Settings:
    return Settings.model_validate(
        {
            "learn": {
                "base_url": sim.base_url,
                "client_id": sim.client_id,
                "client_secret": secret or sim.client_secret,
                "requests_per_second": 1000,
            },
            "state": {"path": str(tmp / "state.db")},
            "sinks": [{"type": "file", "path": str(tmp / "events.jsonl")}],
        }
    )


@asynccontextmanager
async def endpoint(
    settings: Settings, clock: ManualClock
) -> AsyncIterator[tuple[TestClient[Any, Any], Service, DaemonStats]]:
    """The health app over a service of ``settings``; heartbeats are timed by ``clock``."""
    async with open_service(settings) as service:
        service.stats = DaemonStats(clock)
        health = HealthApp(service, MetricsCollector(service), stale_after=STALE_AFTER)
        async with TestClient(TestServer(health.app())) as client:
            yield client, service, service.stats


async def test_liveness_follows_the_scheduler_heartbeat(sim: Simulator, tmp_path: Path) -> None:
    clock = ManualClock()
    async with endpoint(settings_for(sim, tmp_path), clock) as (client, _, stats):
        answer = await client.get("/healthz")
        assert answer.status == 503
        assert (await answer.json())["status"] == "starting"
        stats.heartbeat()
        await clock.advance(STALE_AFTER)
        assert (await client.get("/healthz")).status == 200
        await clock.advance(1)
        answer = await client.get("/healthz")
        assert answer.status == 503
        assert (await answer.json())["status"] == "stale"
        stats.heartbeat()
        assert (await client.get("/healthz")).status == 200


async def test_readiness_fails_while_the_learn_quota_is_spent(
    sim: Simulator, tmp_path: Path
) -> None:
    async with endpoint(settings_for(sim, tmp_path), ManualClock()) as (client, service, _):
        answer = await client.get("/readyz")
        assert answer.status == 200
        assert await answer.json() == {
            "ready": True,
            "checks": {"state": "ok", "credentials": "ok", "quota": "ok"},
        }
        service.client.quota.exhaust(600)
        answer = await client.get("/readyz")
        assert answer.status == 503
        checks = (await answer.json())["checks"]
        assert checks["quota"].startswith("Learn's quota is spent until")
        assert checks["credentials"] == "ok"


async def test_readiness_names_refused_credentials(sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path, secret="not-the-secret")
    async with endpoint(settings, ManualClock()) as (client, _, _):
        answer = await client.get("/readyz")
        body = await answer.text()
    assert answer.status == 503
    assert '"credentials": "refused: Learn refused the client credentials' in body
    assert "not-the-secret" not in body


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_what_cycles_and_deliveries_did(sim: Simulator, tmp_path: Path) -> None:
    async with endpoint(settings_for(sim, tmp_path), ManualClock()) as (client, service, stats):
        before = samples(await (await client.get("/metrics")).text())
        await service.sync_courses()
        # A second collector over the same service has its own registry: no clash.
        MetricsCollector(service)
        pending = samples(await (await client.get("/metrics")).text())
        await service.deliver_pending(service.clock.monotonic() + 10)
        after = samples(await (await client.get("/metrics")).text())
    created = ("gradesync_events_total", (("type", "created"),))
    assert before[created] == 0
    assert after[created] == pending[created] > 0
    assert after[("gradesync_cycles_total", (("outcome", "ok"),))] == stats.cycles_ok > 0
    assert after[("gradesync_cycle_duration_seconds_count", ())] == stats.cycles
    depth = ("gradesync_outbox_depth", (("sink", "file"),))
    assert pending[depth] == pending[created]
    assert after[depth] == 0
    assert after[("gradesync_sink_delivered_total", (("sink", "file"),))] == pending[created]
    assert after[("gradesync_dead_letters", (("kind", "dead"), ("sink", "file")))] == 0
    courses = ("gradesync_learn_requests_total", (("endpoint", "v3/courses"), ("status", "200")))
    assert after[courses] >= 1
    assert after[("gradesync_state_grades", ())] > 0
