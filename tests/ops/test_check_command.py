"""``gradesync check`` as an operator runs it: configuration, credentials, then each sink."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e_support import simulator_process

from gradesync import cli

pytestmark = pytest.mark.slow


def test_check_names_each_sink_and_fails_when_one_cannot_be_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with simulator_process("--courses", "2") as sim:
        config = tmp_path / "gradesync.toml"
        config.write_text(
            f"""[learn]
base_url = "{sim.base_url}"
client_id = "{sim.client_id}"
client_secret = "{sim.client_secret}"

[[sinks]]
type = "file"
path = "{tmp_path / "events.jsonl"}"

[[sinks]]
type = "file"
name = "archive"
path = "{tmp_path / "missing" / "events.jsonl"}"
"""
        )
        assert cli.main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("credentials: ok")
    assert out[2].startswith("sink file: ok")
    assert out[3].startswith("sink archive: FAILED (the directory")
    assert not (tmp_path / "events.jsonl").exists()
