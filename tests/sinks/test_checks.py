"""``gradesync check`` proves each sink can be reached, and sends no grade doing so."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gradesync.config import Settings
from gradesync.sinks.registry import check_sink

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3Itc2lnbmluZw=="


def sink(table: dict[str, Any]) -> Any:
    settings = Settings.model_validate(
        {
            "learn": {
                "base_url": "https://learn.example.edu",
                "client_id": "g",
                "client_secret": "s",
            },
            "sinks": [table],
        }
    )
    return settings.sinks[0]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server that notes each request's method and path; /token issues a token to
    the right client secret only."""
    seen: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        if request.path == "/token":
            if "Basic" not in request.headers.get("Authorization", ""):
                return web.json_response({"error": "invalid_client"}, status=401)
            form = await request.post()
            assert form["grant_type"] == "client_credentials"
            return web.json_response({"access_token": "t0k3n", "expires_in": 3600})
        return web.Response(status=405)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), seen
    finally:
        await server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_file_sink_needs_a_writable_directory_and_creates_nothing(tmp_path: Path) -> None:
    ok = await check_sink(sink({"type": "file", "path": str(tmp_path / "events.jsonl")}))
    assert ok.ok and not (tmp_path / "events.jsonl").exists()
    missing = await check_sink(sink({"type": "file", "path": str(tmp_path / "no" / "e.jsonl")}))
    assert not missing.ok and "does not exist" in missing.detail


async def test_a_webhook_is_reachable_when_it_answers_anything_and_gets_no_event(
    receiver: tuple[str, list[str]],
) -> None:
    url, seen = receiver
    result = await check_sink(sink({"type": "webhook", "url": f"{url}/hooks", "secret": SECRET}))
    assert result.ok, result.detail
    assert seen == ["HEAD /hooks"], "a probe, not a POST of grades"


async def test_an_unreachable_webhook_and_a_failed_tls_handshake_are_named() -> None:
    down = await check_sink(
        sink({"type": "webhook", "url": f"http://127.0.0.1:{closed_port()}/h", "secret": SECRET})
    )
    assert not down.ok and down.detail.startswith("unreachable: HEAD /h failed")


async def test_tls_to_a_plain_server_fails_the_check(receiver: tuple[str, list[str]]) -> None:
    url, _ = receiver
    result = await check_sink(
        sink({"type": "webhook", "url": url.replace("http://", "https://"), "secret": SECRET})
    )
    assert not result.ok and "unreachable" in result.detail


async def test_an_sis_check_gets_a_token_and_sends_no_grade(
    receiver: tuple[str, list[str]],
) -> None:
    url, seen = receiver
    oauth = {"token_url": f"{url}/token", "client_id": "gs", "client_secret": "x"}
    result = await check_sink(sink({"type": "sis", "base_url": url, "oauth": oauth}))
    assert result.ok and "token was issued" in result.detail
    assert seen == ["HEAD /", "POST /token"]
    assert "t0k3n" not in result.detail


async def test_an_sis_whose_token_is_refused_fails_the_check(
    receiver: tuple[str, list[str]],
) -> None:
    url, _ = receiver
    oauth = {"token_url": f"{url}/nowhere", "client_id": "gs", "client_secret": "x"}
    result = await check_sink(sink({"type": "sis", "base_url": url, "oauth": oauth}))
    assert not result.ok and "no token issued" in result.detail
    assert "x" not in result.detail.split("no token issued")[1]
