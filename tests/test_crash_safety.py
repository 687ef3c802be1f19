"""No event is lost and none changes meaning when ``gradesync once`` is killed at any instant."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.e2e_support import gradesync, simulator_process, write_config

pytestmark = pytest.mark.slow


def read_events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("strategy", ["changeindex", "changelog"])
def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path, strategy: str) -> None:
    rng = random.Random(20261123)
    on = f'[sync]\nstrategy = "{strategy}"\n'
    with simulator_process(
        "--seed",
        "5",
        "--courses",
        "8",
        "--columns",
        "5",
        "--students",
        "8",
        "--latency-ms",
        "15",
    ) as sim:
        # The reference: an undisturbed run from empty state (ids are deterministic).
        reference_events = tmp_path / "reference.jsonl"
        reference = write_config(
            tmp_path / "reference.toml", sim, tmp_path / "reference.db", reference_events, on
        )
        assert (
            subprocess.run(
                gradesync("once", "--config", str(reference)), capture_output=True, timeout=120
            ).returncode
            == 0
        )
        expected = {e["id"] for e in read_events(reference_events)}
        assert len(expected) > 100

        events = tmp_path / "events.jsonl"
        config = write_config(tmp_path / "config.toml", sim, tmp_path / "state.db", events, on)
        kills = 0
        for _ in range(6):
            process = subprocess.Popen(
                gradesync("once", "--config", str(config)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # A random instant: during start-up, the course walk, a commit or a delivery.
            time.sleep(rng.uniform(0.2, 1.6))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
        assert kills >= 3, "the runs finished before they could be killed; slow the simulator"
        final = subprocess.run(
            gradesync("once", "--config", str(config)), capture_output=True, text=True, timeout=120
        )
        assert final.returncode == 0, final.stderr[-2000:]

    seen: dict[str, str] = {}
    for event in read_events(events):
        text = json.dumps(event, sort_keys=True)
        assert seen.setdefault(str(event["id"]), text) == text, "one id, two contents"
    assert expected <= set(seen), f"{len(expected - set(seen))} events were lost"
    assert set(seen) == expected, "the interrupted runs invented events"
