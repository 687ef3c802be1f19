"""``gradesync check`` as an operator runs it: configuration, credentials, then each sink."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e_support import config_text, simulator_process

from gradesync import cli

pytestmark = pytest.mark.slow


def test_check_names_each_sink_and_fails_when_one_cannot_be_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with simulator_process("--courses", "2") as sim:
        archive = f'[[sinks]]\ntype = "file"\nname = "archive"\npath = "{tmp_path / "no" / "e"}"\n'
        config = tmp_path / "gradesync.toml"
        config.write_text(
            config_text(
                sim, state=tmp_path / "s.db", events=tmp_path / "events.jsonl", sections=archive
            )
        )
        assert cli.main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("credentials: ok")
    assert out[2].startswith("sink archive: FAILED (the directory")
    assert out[3].startswith("sink file: ok")
    assert not (tmp_path / "events.jsonl").exists()
