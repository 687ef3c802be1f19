"""The webhook sink against a real receiver on 127.0.0.1: signing, batching, what answers mean."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from gradesync.clock import ManualClock
from gradesync.config.sinks import WebhookSinkConfig
from gradesync.models import OutboxEvent
from gradesync.sinks.testing import WebhookReceiver, grade_event, outbox_event
from gradesync.sinks.webhook import WebhookSink

SECRET = "whsec_" + base64.b64encode(b"a shared secret of the receiver").decode()


def verify(secret: str, headers: dict[str, str], body: bytes, now: int) -> bool:
    """The Standard Webhooks check, written from the specification's text: the key is the
    base64 part of the secret; the signed content is ``id.timestamp.body``; the header holds
    space-separated ``v1,<base64 signature>`` entries; the timestamp must be recent."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > 5 * 60:
        return False
    content = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for entry in headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def events(count: int, clock: ManualClock, start: int = 1) -> list[OutboxEvent]:
    return [
        outbox_event(grade_event(user=f"_{n}_1", time=clock.now()), seq=n)
        for n in range(start, start + count)
    ]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as started:
        yield started


def config(url: str, **overrides: Any) -> WebhookSinkConfig:
    return WebhookSinkConfig.model_validate(
        {"type": "webhook", "url": url + "/grades", "secret": SECRET} | overrides
    )


@pytest.fixture
async def sink(receiver: WebhookReceiver, clock: ManualClock) -> AsyncIterator[WebhookSink]:
    opened = WebhookSink(config(receiver.url), clock=clock)
    await opened.open()
    yield opened
    await opened.close()


async def test_each_event_is_posted_alone_and_signed_per_standard_webhooks(
    sink: WebhookSink, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    sent = events(3, clock)
    outcomes = await sink.deliver(sent)
    assert [o.kind for o in outcomes] == ["delivered"] * 3
    now = int(clock.now().timestamp())
    for post, event in zip(receiver.posts, sent, strict=True):
        assert post.headers["content-type"] == "application/cloudevents+json"
        assert post.headers["webhook-id"] == event.id
        assert post.body == event.payload.encode()
        assert verify(SECRET, dict(post.headers), post.body, now)
        assert not verify(SECRET, dict(post.headers), post.body + b" ", now)


async def test_batches_are_json_arrays_with_an_id_derived_from_their_events(
    receiver: WebhookReceiver, clock: ManualClock
) -> None:
    sink = WebhookSink(config(receiver.url, batch_size=3), clock=clock)
    sent = events(7, clock)
    assert [o.kind for o in await sink.deliver(sent)] == ["delivered"] * 7
    assert [len(p.events) for p in receiver.posts] == [3, 3, 1]
    assert [e["id"] for p in receiver.posts for e in p.events] == [e.id for e in sent]
    first = receiver.posts[0]
    assert first.headers["content-type"] == "application/cloudevents-batch+json"
    assert verify(SECRET, dict(first.headers), first.body, int(clock.now().timestamp()))

    await sink.deliver(sent[:3])  # the same events again: the same id, so receivers dedupe
    await sink.deliver(sent[1:4])
    ids = [p.headers["webhook-id"] for p in receiver.posts]
    assert ids[3] == ids[0]
    assert len({ids[0], ids[1], ids[2], ids[4]}) == 4
    await sink.close()


@pytest.mark.parametrize("status", [408, 429, 500, 503])
async def test_passing_failures_are_retried_honouring_retry_after(
    sink: WebhookSink, receiver: WebhookReceiver, clock: ManualClock, status: int
) -> None:
    receiver.answer(status, retry_after=120)
    outcomes = await sink.deliver(events(3, clock))
    assert len(outcomes) == 1  # order is kept: nothing after a retry is sent
    assert outcomes[0].kind == "retry"
    assert outcomes[0].retry_after == 120
    assert str(status) in outcomes[0].reason
    assert len(receiver.posts) == 1


async def test_network_errors_are_retried(clock: ManualClock) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = WebhookSink(config(f"http://127.0.0.1:{port}"), clock=clock)
    outcomes = await sink.deliver(events(2, clock))
    await sink.close()
    assert [o.kind for o in outcomes] == ["retry"]


async def test_events_failing_past_max_age_are_dead_lettered(
    receiver: WebhookReceiver, clock: ManualClock
) -> None:
    sink = WebhookSink(config(receiver.url, max_age="1h", batch_size=10), clock=clock)
    old = events(2, clock)
    await clock.advance(1800)
    young = events(1, clock, start=3)
    await clock.advance(1900)  # the first two are now older than an hour, the third is not
    receiver.outage(503)
    outcomes = await sink.deliver(old + young)
    await sink.close()
    assert [o.kind for o in outcomes] == ["dead", "dead", "retry"]
    assert "max_age 1h" in outcomes[0].reason


async def test_gone_disables_the_sink(
    sink: WebhookSink, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    receiver.answer(410)
    outcomes = await sink.deliver(events(3, clock))
    assert [o.kind for o in outcomes] == ["disabled"]
    assert "410" in outcomes[0].reason


async def test_a_refused_batch_is_sent_again_event_by_event(
    receiver: WebhookReceiver, clock: ManualClock
) -> None:
    sink = WebhookSink(config(receiver.url, batch_size=4), clock=clock)
    receiver.answer(400)  # the batch
    receiver.answer(204)
    receiver.answer(422)  # the second event alone: the one at fault
    outcomes = await sink.deliver(events(4, clock))
    await sink.close()
    assert [o.kind for o in outcomes] == ["delivered", "dead", "delivered", "delivered"]
    assert "422" in outcomes[1].reason
    assert [len(p.events) for p in receiver.posts] == [4, 1, 1, 1, 1]


async def test_the_secret_never_reaches_outcomes_or_logs(
    receiver: WebhookReceiver, clock: ManualClock
) -> None:
    sink = WebhookSink(config(receiver.url), clock=clock)
    receiver.answer(401)
    receiver.answer(503)
    with capture_logs() as logs:
        outcomes = await sink.deliver(events(1, clock)) + await sink.deliver(events(1, clock))
    await sink.close()
    key = SECRET.removeprefix("whsec_")
    text = json.dumps([o.reason for o in outcomes]) + json.dumps(logs, default=str)
    assert key not in text and "shared secret" not in text


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for a TLS receiver")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_tls_certificates_are_verified_unless_turned_off(
    tmp_path: Path, clock: ManualClock
) -> None:
    receiver = WebhookReceiver()
    await receiver.start(ssl_context=_self_signed(tmp_path))
    try:
        url = receiver.url
        checked = WebhookSink(config(url), clock=clock)
        unchecked = WebhookSink(config(url, verify_tls=False), clock=clock)
        refused = await checked.deliver(events(1, clock))
        accepted = await unchecked.deliver(events(1, clock))
        await checked.close()
        await unchecked.close()
    finally:
        await receiver.stop()
    assert url.startswith("https://")
    assert refused[0].kind == "retry" and "certificate" in refused[0].reason.lower()
    assert accepted[0].kind == "delivered"
    assert len(receiver.accepted) == 1
