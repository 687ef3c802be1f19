"""The HTTP plumbing of the webhook and SIS sinks: what one request's answer says, and hides."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from gradesync.clock import ManualClock
from gradesync.sinks.http import HttpSession
from gradesync.sinks.testing import WebhookReceiver


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as started:
        yield started


@pytest.fixture
async def http() -> AsyncIterator[HttpSession]:
    session = HttpSession(ManualClock(), timeout=5)
    yield session
    await session.close()


def with_credentials(url: str) -> str:
    """``url`` with a user and password before the host and a token in the query."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://hook-user:pa55word@{rest}/hooks/grades?token=t0ken"


async def test_detail_names_method_path_and_status_never_the_credentials(
    receiver: WebhookReceiver, http: HttpSession
) -> None:
    receiver.answer(503, retry_after=30)
    answer = await http.send("POST", with_credentials(receiver.url), data=b"{}")
    assert answer.status == 503 and answer.retriable
    assert answer.detail == 'POST /hooks/grades -> 503 {"message": "scripted answer 503"}'
    assert answer.retry_after == 30
    assert answer.body == {"message": "scripted answer 503"}


async def test_an_empty_answer_has_no_body_and_a_bare_detail(
    receiver: WebhookReceiver, http: HttpSession
) -> None:
    answer = await http.send("POST", receiver.url + "/x", json_body=[{"a": 1}])
    assert answer.ok and answer.body is None and answer.retry_after is None
    assert answer.detail == "POST /x -> 204"
    assert receiver.accepted == [{"a": 1}]


async def test_a_body_kept_out_of_detail_is_still_read(
    receiver: WebhookReceiver, http: HttpSession
) -> None:
    receiver.answer(400)
    answer = await http.send("POST", receiver.url + "/token", data=b"{}", quote_body=False)
    assert answer.detail == "POST /token -> 400"
    assert answer.body == {"message": "scripted answer 400"}


async def test_no_answer_is_status_0_without_the_credentials(http: HttpSession) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = await http.send("POST", with_credentials(f"http://127.0.0.1:{port}"), data=b"{}")
    assert answer.status == 0 and answer.retriable
    assert answer.detail.startswith("POST /hooks/grades failed: ClientConnectorError")
    assert "pa55word" not in answer.detail and "t0ken" not in answer.detail
