"""``gradesync run`` as systemd and Prometheus meet it, in a subprocess against the simulator."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e_support import run_gradesync
from tests.ops.conftest import StartDaemon
from tests.ops.ops_support import (
    DaemonProcess,
    NotifyListener,
    daemon_config,
    free_port,
)

from gradesync.simulator import Simulator

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, url: str) -> Samples:
    """Every sample of ``/metrics``, parsed by prometheus-client's own parser."""
    async with http.get(url) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str) -> float:
    return sum(value for (sample, _), value in samples.items() if sample == name)


async def cycles_later(daemon: DaemonProcess, more: int) -> None:
    """Wait until ``more`` course cycles have finished from now."""
    await daemon.wait_for_log("cycle.done", count=len(daemon.events("cycle.done")) + more)


async def test_daemon_tells_systemd_serves_health_and_metrics_and_backs_up_online(
    sim: Simulator, notify: NotifyListener, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(daemon_config(sim, tmp_path, port=port))
    daemon = await start_daemon(config, {"NOTIFY_SOCKET": notify.name, "WATCHDOG_USEC": "1000000"})
    ready = await notify.wait_for("READY=1")
    base = f"http://127.0.0.1:{port}"

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 200
            checks = (await response.json())["checks"]
            assert checks == {"state": "ok", "credentials": "ok", "quota": "ok"}
        first = await scrape(http, f"{base}/metrics")
        await cycles_later(daemon, 3)
        backup = tmp_path / "backup.db"
        backing_up = ("state", "backup", "--config", str(config), str(backup))
        code, out, err = await run_gradesync(*backing_up)
        assert code == 0, err
        assert str(backup) in out
        await cycles_later(daemon, 3)
        second = await scrape(http, f"{base}/metrics")

    assert total(second, "gradesync_cycles_total") > total(first, "gradesync_cycles_total")
    assert total(second, "gradesync_learn_requests_total") > total(
        first, "gradesync_learn_requests_total"
    )
    assert total(second, "gradesync_events_total") >= total(first, "gradesync_events_total") > 0
    assert total(second, "gradesync_sink_delivered_total") > 0
    assert ("gradesync_outbox_depth", (("sink", "file"),)) in second
    assert total(second, "gradesync_last_success_age_seconds") < 60

    code, out, _ = await run_gradesync("health", "--config", str(config))
    assert code == 0
    assert '"status": "ok"' in out

    assert await daemon.stop() == 0
    stopping = await notify.wait_for("STOPPING=1")
    messages = notify.messages
    pings = [i for i, m in enumerate(messages) if m == "WATCHDOG=1" and ready < i < stopping]
    assert pings, f"no watchdog ping between READY=1 and STOPPING=1: {messages}"
    assert stopping == len(messages) - 1, "STOPPING=1 is the last word"
    statuses = [m for m in messages[ready:] if m.startswith("STATUS=")]
    assert any("cycles" in s and "outbox file=" in s for s in statuses), statuses
    assert all("\n" not in s for s in statuses)

    # The copy taken while cycles committed is one consistent commit: SQLite finds it sound,
    # and every event in its outbox is accounted for by the grade versions beside it.
    with sqlite3.connect(backup) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        (versions,) = db.execute("SELECT coalesce(sum(version), 0) FROM grades").fetchone()
        (events,) = db.execute("SELECT count(*) FROM outbox").fetchone()
    assert events > 0
    assert versions == events
    restored = tmp_path / "restored.toml"
    restored.write_text(daemon_config(sim, tmp_path, state="backup.db"))
    code, _, err = await run_gradesync("status", "--config", str(restored))
    assert code == 0, err


async def test_sighup_applies_a_good_configuration_and_refuses_a_bad_one(
    sim: Simulator, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(daemon_config(sim, tmp_path))
    daemon = await start_daemon(config)
    await daemon.wait_for_log("daemon.ready")
    await cycles_later(daemon, 6)
    courses = sorted({entry["course_id"] for entry in daemon.events("cycle.done")})
    assert len(courses) >= 2
    dropped, kept = courses[0], courses[1:]

    # Good: applied in place (a new Learn client for the new rate); the state path is noted as
    # needing a restart, not changed.
    text = daemon_config(
        sim,
        tmp_path,
        interval="2s",
        state="elsewhere.db",
        extra=f'[selection]\nexclude_courses = ["{dropped}"]\n',
    )
    config.write_text(text.replace("requests_per_second = 1000", "requests_per_second = 500"))
    daemon.signal(signal.SIGHUP)
    reloaded = await daemon.wait_for_log("config.reloaded")
    assert sorted(reloaded["applied"]) == [
        "learn.requests_per_second",
        "selection.exclude_courses",
        "sync.interval",
    ]
    assert (await daemon.wait_for_log("config.restart_needed"))["keys"] == ["state.path"]
    after = len(daemon.logs)

    # Bad: a file that does not load, then credentials Learn refuses; one line each.
    good_text = config.read_text()
    config.write_text(good_text.replace("[sync]", "[sync]\nintervall = '5s'"))
    daemon.signal(signal.SIGHUP)
    refused = await daemon.wait_for_log("config.refused")
    assert "sync.intervall: unknown key" in refused["reason"]
    config.write_text(good_text.replace(sim.client_secret, "not-the-secret"))
    daemon.signal(signal.SIGHUP)
    refused = await daemon.wait_for_log("config.refused", count=2)
    assert "refused the client credentials" in refused["reason"]
    assert "not-the-secret" not in "".join(daemon.raw)

    # The daemon carries on with the good configuration: the dropped course is no longer read.
    for _ in range(3):
        await cycles_later(daemon, len(kept))
    late = [e["course_id"] for e in daemon.logs[after:] if e.get("event") == "cycle.done"]
    tail = late[len(late) // 2 :]
    assert dropped not in tail
    assert set(tail) <= set(kept)
    assert len(daemon.events("config.reloaded")) == 1
    assert await daemon.stop() == 0
    assert not (tmp_path / "elsewhere.db").exists()
