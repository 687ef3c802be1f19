"""``gradesync demo``: it removes only what a demo wrote, refuses bad options and foreign
directories before touching anything, keeps its output owner-only, shows progress off a
terminal, and ends with a command that works."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e_support import run_gradesync

from gradesync.cli import build_parser
from gradesync.commands import demo
from gradesync.commands.common import Signals
from gradesync.config import load_settings
from gradesync.statelock import StateInUseError, hold


def demo_args(*options: str) -> argparse.Namespace:
    return build_parser("demo").parse_args(["demo", *options])


async def run_demo(out: Path) -> int:
    """A demo that stops as soon as it has started, over a world of three small courses."""
    args = demo_args(
        *("--out", str(out), "--duration", "0", "--courses", "3", "--columns", "1"),
        *("--students", "2", "--edits-per-minute", "0"),
    )
    return await demo.main(args, Signals())


def listing(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize(
    "option",
    [
        ("--courses", "0"),
        ("--students", "-1"),
        ("--columns", "many"),
        ("--interval", "0s"),
        ("--interval", "soon"),
        ("--duration", "-1"),
        ("--duration", "inf"),
        ("--edits-per-minute", "nan"),
    ],
    ids=" ".join,
)
def test_a_bad_option_is_a_usage_error(
    option: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        demo_args(*option)
    assert stopped.value.code == 2
    assert f"argument {option[0]}: " in capsys.readouterr().err


async def test_a_bad_option_touches_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = await run_gradesync("demo", "--out", str(out), "--courses", "0")
    assert code == 2
    assert "argument --courses: must be at least 1, not 0" in err
    assert not out.exists()


async def test_a_directory_a_demo_did_not_write_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("years of work")
    (out / "events.jsonl").write_text("not the demo's\n")
    assert await run_demo(out) == 2
    assert capsys.readouterr().err == (
        f"gradesync demo: error: --out {out} is not empty and no demo wrote it"
        " (chapter1.tex, events.jsonl); name a new or empty directory\n"
    )
    assert listing(out) == {"chapter1.tex": b"years of work", "events.jsonl": b"not the demo's\n"}

    (out / ".gradesync-demo").write_text("chapter1.tex\nevents.jsonl\n")  # a marker lies
    before = listing(out)
    assert await run_demo(out) == 2
    assert "holds files a demo did not write (chapter1.tex)" in capsys.readouterr().err
    assert listing(out) == before

    assert await run_demo(out / "chapter1.tex") == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.usefixtures("permissive_umask")
async def test_a_demo_replaces_only_a_previous_demo_and_keeps_its_output_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "demo-out"
    assert await run_demo(out) == 0
    (out / "events.jsonl").write_text("from the previous demo\n")
    assert await run_demo(out) == 0

    assert sorted(os.listdir(out)) == [
        ".gradesync-demo",
        "events.jsonl",
        "gradesync.db",
        "gradesync.db.lock",
        "gradesync.toml",
    ]
    assert b"from the previous demo" not in (out / "events.jsonl").read_bytes()
    assert [mode(out.parent), mode(out)] == [0o700, 0o700]
    assert {name: mode(out / name) for name in os.listdir(out)} == dict.fromkeys(
        os.listdir(out), 0o600
    )
    settings = load_settings(out / "gradesync.toml")
    assert settings.state.path == (out / "gradesync.db").resolve()
    assert "see what it holds: " in capsys.readouterr().out


async def test_a_demo_still_running_in_the_directory_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    assert await run_demo(out) == 0
    before = listing(out)
    with hold(out / "gradesync.db"), pytest.raises(StateInUseError, match="is in use"):
        await run_demo(out)
    assert listing(out).keys() == before.keys()
    assert (out / "gradesync.db").read_bytes() == before["gradesync.db"]


def test_progress_off_a_terminal_is_plain_lines_every_few_seconds() -> None:
    stream = io.StringIO()
    progress = demo.Progress(courses=3, columns=3, stream=stream)
    progress.show(1)
    progress.show(7)
    shown = stream.getvalue()
    assert "\r" not in shown and "\x1b" not in shown
    assert shown.count("\n") == 2 and shown.endswith("\n")
    assert 1 <= demo.PLAIN_EVERY <= 10


async def test_the_closing_hint_is_a_command_that_works_from_where_the_demo_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after ``make demo``: the venv's script is not on the PATH."""
    monkeypatch.setenv("PATH", "/nonexistent")
    out = tmp_path / "demo-out"
    assert await run_demo(out) == 0
    (hint,) = [line for line in capsys.readouterr().out.splitlines() if "see what it holds" in line]
    command = shlex.split(hint.split("see what it holds: ", 1)[1])
    assert command[-3:] == ["status", "--config", str(out / "gradesync.toml")]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert b"courses" in stdout


def test_the_hint_says_gradesync_when_it_is_on_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "gradesync").is_file():
        pytest.skip("gradesync is not installed beside this interpreter")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert demo.gradesync_command() == "gradesync"
    monkeypatch.setenv("PATH", "/nonexistent")
    assert (
        Path(shlex.split(demo.gradesync_command())[0]).resolve()
        == (bin_dir / "gradesync").resolve()
    )
