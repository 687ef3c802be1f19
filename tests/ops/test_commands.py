"""``gradesync health`` and ``gradesync state backup`` when something is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e_support import run_gradesync
from tests.ops.ops_support import free_port

from gradesync.cli import build_parser
from gradesync.commands import health
from gradesync.errors import ConfigError

CONFIG = """
[learn]
base_url = "http://127.0.0.1:9"
client_id = "gradesync"
client_secret = "secret"

[state]
path = "{state}"
{health}
[[sinks]]
type = "file"
path = "events.jsonl"
"""


def probe(config: Path) -> int:
    return health.run(build_parser("health").parse_args(["health", "--config", str(config)]))


def test_the_probe_fails_when_no_daemon_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    port = free_port()
    config.write_text(
        CONFIG.format(state=tmp_path / "s.db", health=f'[health]\nlisten = "0.0.0.0:{port}"\n')
    )
    assert probe(config) == 1
    assert f"cannot reach http://127.0.0.1:{port}/healthz" in capsys.readouterr().err


def test_the_probe_needs_the_endpoint_turned_on(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(state=tmp_path / "s.db", health=""))
    with pytest.raises(ConfigError, match=r"health\.listen: the health endpoint is off"):
        probe(config)


@pytest.mark.slow
async def test_backup_of_a_missing_state_creates_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    state = tmp_path / "typo.db"
    config.write_text(CONFIG.format(state=state, health=""))
    code, _, err = await run_gradesync(
        "state", "backup", "--config", str(config), str(tmp_path / "b.db")
    )
    assert code == 1
    assert f"state {state} does not exist" in err
    assert not state.exists()
    assert not (tmp_path / "b.db").exists()
