"""``gradesync simulate``: the lines other programs parse, a working token, a clean stop."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys

import aiohttp
import pytest
from tests.simulator.simclient import API

from gradesync.commands.common import Signals
from gradesync.simulator import command


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


async def test_simulate_prints_where_and_how_then_serves_until_stopped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stop = asyncio.Event()
    args = _args("--courses", "4", "--students", "3", "--client-secret", "s3cret")
    server = asyncio.create_task(command.main(args, Signals(stop=stop)))
    out = ""
    for _ in range(100_000):  # yield until the server has printed its lines; no timed waits
        if out or server.done():
            break
        await asyncio.sleep(0)
        out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("base_url: http://127.0.0.1:")
    assert lines[1:3] == ["client_id: gradesync", "client_secret: s3cret"]
    assert "curl" in lines[3]
    base_url = lines[0].removeprefix("base_url: ")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            base_url + API + "v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": aiohttp.encode_basic_auth("gradesync", "s3cret")},
        ) as response,
    ):
        assert response.status == 200
    stop.set()
    assert await server == 0


def test_impossible_world_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = _args("--courses", "3", "--cross-listed-parents", "2")
    assert asyncio.run(command.main(args, Signals())) == 2
    assert "cross-listed" in capsys.readouterr().err


@pytest.mark.slow
def test_the_console_script_stops_cleanly_on_sigterm() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "gradesync", "simulate", "--courses", "3"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    ) as process:
        try:
            assert process.stdout is not None
            first = [process.stdout.readline() for _ in range(3)]
            keys = [line.split(":")[0] for line in first]
            assert keys == ["base_url", "client_id", "client_secret"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
