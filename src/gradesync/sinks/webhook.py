"""The webhook sink: CloudEvents POSTed to one URL, signed per Standard Webhooks.

One POST per event (``application/cloudevents+json``), or with ``batch_size`` > 1 up to that
many per POST as a JSON array (``application/cloudevents-batch+json``). Every POST carries
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (docs/contract.md section 4).

What each answer means: any 2xx is delivered; 408, 429, 5xx and network errors are retried by
the deliverer (honouring ``Retry-After``) until the event is older than ``max_age``, then
dead-lettered; 410 disables the sink; any other 4xx is a dead letter. A batch that a 4xx
refuses is sent again one event per POST, so that one bad event never takes its neighbours
with it. The signing key and the URL's credentials never reach a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

import structlog

from gradesync.clock import Clock, SystemClock
from gradesync.config.sinks import WebhookSinkConfig
from gradesync.config.values import format_duration
from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome
from gradesync.sinks.http import HttpAnswer, HttpSession, retriable_status

log = structlog.get_logger("gradesync.sinks.webhook")

SINGLE_TYPE = "application/cloudevents+json"
BATCH_TYPE = "application/cloudevents-batch+json"


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of
    ``{id}.{timestamp}.{body}``."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def batch_id(event_ids: Sequence[str]) -> str:
    """A deterministic ``webhook-id`` for a batch: the same events always give the same id."""
    if len(event_ids) == 1:
        return event_ids[0]
    digest = hashlib.sha256("\n".join(event_ids).encode()).hexdigest()[:32]
    return f"batch_{digest}"


class WebhookSink:
    """POSTs events to ``config.url``; see the module docstring for what each answer means."""

    def __init__(self, config: WebhookSinkConfig, *, clock: Clock | None = None) -> None:
        self.name = config.name
        self._config = config
        self._key = config.signing_key()
        self._clock = clock or SystemClock()
        self._http = HttpSession(
            self._clock,
            timeout=config.timeout.total_seconds(),
            verify_tls=config.verify_tls,
        )

    async def open(self) -> None:
        await self._http.open()

    async def close(self) -> None:
        await self._http.close()

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        size = self._config.batch_size
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            answer = await self._post(chunk)
            if len(chunk) > 1 and _refused(answer.status):
                chunk_outcomes = await self._one_by_one(chunk)
            else:
                chunk_outcomes = self._judge(chunk, answer)
            outcomes += chunk_outcomes
            if _stops(chunk_outcomes[-1]):
                break
        return outcomes

    async def _one_by_one(self, chunk: Sequence[OutboxEvent]) -> list[Outcome]:
        """A refused batch, sent again one event per POST to find the events at fault."""
        outcomes: list[Outcome] = []
        for event in chunk:
            outcomes += self._judge([event], await self._post([event]))
            if _stops(outcomes[-1]):
                break
        return outcomes

    def _judge(self, chunk: Sequence[OutboxEvent], answer: HttpAnswer) -> list[Outcome]:
        """The outcomes of the events of one POST, in order; stops after a retry."""
        if answer.ok:
            return [Outcome.delivered() for _ in chunk]
        if answer.status == 410:
            return [Outcome.disabled(f"the receiver answered 410 Gone: {answer.detail}")]
        if not answer.retriable:
            return [Outcome.dead(f"the receiver refused the event: {answer.detail}") for _ in chunk]
        max_age, now = self._config.max_age, self._clock.now()
        expired = f"still failing after max_age {format_duration(max_age)}: {answer.detail}"
        outcomes: list[Outcome] = []
        for event in chunk:
            if now - event.time <= max_age:
                outcomes.append(Outcome.retry(answer.detail, answer.retry_after))
                break
            outcomes.append(Outcome.dead(expired))
        return outcomes

    async def _post(self, chunk: Sequence[OutboxEvent]) -> HttpAnswer:
        if len(chunk) == 1 and self._config.batch_size == 1:
            body, content_type = chunk[0].payload.encode(), SINGLE_TYPE
        else:
            body = ("[" + ",".join(e.payload for e in chunk) + "]").encode()
            content_type = BATCH_TYPE
        msg_id = batch_id([e.id for e in chunk])
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": content_type,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, msg_id, timestamp, body),
        }
        return await self._http.send("POST", self._config.url, data=body, headers=headers)


def _stops(outcome: Outcome) -> bool:
    """After this outcome nothing later may be sent: order is kept."""
    return outcome.kind in ("retry", "disabled")


def _refused(status: int) -> bool:
    """A 4xx that says "not this request" (so single events may fare better), 410 aside."""
    return status // 100 == 4 and status != 410 and not retriable_status(status)
