"""Delivery: moves events from the outbox to one sink, in order, at least once.

The sink's position in the store advances only after the sink reported the events delivered,
so a crash at any instant repeats events rather than losing them. A ``retry`` outcome stops
the batch (order is kept) and backs off by :mod:`gradesync.backoff` (full jitter, capped at
``retry_max_wait``); the sink's ``retry_after`` is a floor, honoured even beyond the cap (a
receiver that asks for an hour is left alone for an hour). A final refusal (dead, rejected,
unmapped) goes to the dead letters and delivery carries on with the next event. A ``disabled``
outcome (the receiver is gone for good) disables the sink in the store: its events wait in the
outbox until an operator enables it, and a sink found disabled at start is not delivered to at
all.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from gradesync.backoff import Backoff
from gradesync.clock import Clock, sleep_or_event
from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome, Sink
from gradesync.store import OutboxStore

log = structlog.get_logger("gradesync.delivery")

IDLE_RECHECK = 3600.0  # seconds: with nothing pending, look at the outbox again this often


@dataclass
class DeliveryStats:
    delivered: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    failures: int = 0  # retry outcomes and sink exceptions
    failing_since: float | None = None
    last_error: str | None = None


class Deliverer:
    """Delivers one sink's pending events; ``run`` loops until stopped."""

    def __init__(
        self,
        store: OutboxStore,
        sink: Sink,
        clock: Clock,
        *,
        batch_size: int = 500,
        retry_base: float = 0.5,
        retry_max_wait: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.sink = sink
        self._store = store
        self._clock = clock
        self._batch_size = batch_size
        self._backoff = Backoff(retry_base, retry_max_wait, rng or random.Random())
        self._attempt = 0
        self.stats = DeliveryStats()
        self.wake = asyncio.Event()
        self._draining = asyncio.Lock()
        self.disabled: str | None = None  # why the sink is disabled, once it is
        self._checked = False

    async def drain(
        self, *, deadline: float | None = None, stop: asyncio.Event | None = None
    ) -> float | None:
        """Deliver until the outbox is empty (None) or the sink asks to wait (seconds; infinite
        while the sink is disabled and events wait for it).

        Between batches it also gives up once ``deadline`` (monotonic) has passed or ``stop``
        is set, and returns 0.0: more is pending. Drains take turns: a second one waits for the
        first, so two callers (the ``run`` loop and a final drain) never send an event twice.
        """
        async with self._draining:
            return await self._drain(deadline, stop)

    async def _drain(self, deadline: float | None, stop: asyncio.Event | None) -> float | None:
        if not self._checked:
            await self._check_disabled()
        if self.disabled is not None:
            return await self._parked()
        while True:
            if (stop is not None and stop.is_set()) or (
                deadline is not None and self._clock.monotonic() >= deadline
            ):
                return 0.0
            batch = await self._store.pending(self.sink.name, self._batch_size)
            if not batch:
                return None
            try:
                outcomes = await self.sink.deliver(batch)
            except Exception as exc:  # a sink bug must not stop the daemon; retry it later
                log.exception("sink.error", sink=self.sink.name)
                return self._failed(f"{type(exc).__name__}: {exc}", None)
            stopped = await self._record(batch, outcomes)
            if stopped is not None and stopped.kind == "disabled":
                await self._disable(stopped.reason)
                return await self._parked()
            if stopped is not None:
                return self._failed(stopped.reason, stopped.retry_after)
            if len(outcomes) < len(batch):
                return self._failed("the sink stopped part-way through a batch", None)
            self._recovered()

    async def _record(
        self, batch: Sequence[OutboxEvent], outcomes: Sequence[Outcome]
    ) -> Outcome | None:
        """Record the outcomes in order; returns the one that stopped the batch, if any.

        Delivered events of the main stream are acknowledged together, by the last of each run
        (the store moves the sink's position over all of them at once); events served from the
        retry queue (``retried``) are acknowledged one by one."""
        run_end: int | None = None
        for event, outcome in zip(batch, outcomes, strict=False):
            main_stream = not event.retried
            if outcome.kind == "delivered":
                self.stats.delivered += 1
                if main_stream:
                    run_end = event.seq
                else:
                    await self._store.mark_delivered(self.sink.name, event.seq)
                continue
            await self._acknowledge(run_end)
            run_end = None
            if not outcome.final:
                return outcome
            await self._store.dead_letter(self.sink.name, event, outcome.reason, kind=outcome.kind)
            self.stats.refused[outcome.kind] = self.stats.refused.get(outcome.kind, 0) + 1
            log.warning(
                "event.refused",
                sink=self.sink.name,
                event_id=event.id,
                kind=outcome.kind,
                reason=outcome.reason,
            )
        await self._acknowledge(run_end)
        return None

    async def _acknowledge(self, upto_seq: int | None) -> None:
        if upto_seq is not None:
            await self._store.mark_delivered(self.sink.name, upto_seq)

    async def _check_disabled(self) -> None:
        mine = [s for s in await self._store.sinks() if s.name == self.sink.name]
        self._checked = True
        if mine and mine[0].disabled:
            self.disabled = mine[0].disabled_reason or "disabled"
            log.error("sink.disabled", sink=self.sink.name, reason=self.disabled, at_start=True)

    async def _disable(self, reason: str) -> None:
        await self._store.disable_sink(self.sink.name, reason)
        self.disabled = reason
        log.error(
            "sink.disabled",
            sink=self.sink.name,
            reason=reason,
            hint="events wait in the outbox until the sink is enabled again",
        )

    async def _parked(self) -> float | None:
        """A disabled sink: nothing to wait for when its outbox is empty, else forever."""
        return math.inf if await self._store.outbox_depth(self.sink.name) else None

    def _failed(self, reason: str, retry_after: float | None) -> float:
        self.stats.failures += 1
        if self.stats.failing_since is None:
            self.stats.failing_since = self._clock.monotonic()
            log.warning("sink.failing", sink=self.sink.name, reason=reason)
        self.stats.last_error = reason
        wait = self._backoff.delay(self._attempt, retry_after)
        self._attempt += 1
        return wait

    def _recovered(self) -> None:
        if self.stats.failing_since is not None:
            log.info(
                "sink.recovered",
                sink=self.sink.name,
                failed_for=self._clock.monotonic() - self.stats.failing_since,
            )
        self.stats.failing_since = None
        self.stats.last_error = None
        self._attempt = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver whenever woken (new events committed) or a retry wait ends, until ``stop``."""
        while not stop.is_set():
            self.wake.clear()
            wait = await self.drain(stop=stop)
            if self.disabled is not None:
                return
            if wait is None:  # all delivered: until new events are committed
                await sleep_or_event(self._clock, IDLE_RECHECK, stop, self.wake)
            else:  # the sink asked to wait: new events do not shorten that
                await sleep_or_event(self._clock, wait, stop)
