"""The Sink protocol, the outcome of delivering one event, and what HTTP sinks share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gradesync.models import OutboxEvent

OutcomeKind = Literal["delivered", "retry", "dead", "rejected", "unmapped", "disabled"]


@dataclass(frozen=True)
class Outcome:
    """What became of one event: delivered, to retry later, refused for good (and why), or
    the sink itself is gone (``disabled``: the deliverer stops and the events wait)."""

    kind: OutcomeKind
    reason: str = ""
    retry_after: float | None = None

    @classmethod
    def delivered(cls) -> Outcome:
        return _DELIVERED

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None) -> Outcome:
        return cls("retry", reason, retry_after)

    @classmethod
    def dead(cls, reason: str) -> Outcome:
        return cls("dead", reason)

    @classmethod
    def rejected(cls, reason: str) -> Outcome:
        return cls("rejected", reason)

    @classmethod
    def unmapped(cls, reason: str) -> Outcome:
        return cls("unmapped", reason)

    @classmethod
    def disabled(cls, reason: str) -> Outcome:
        return cls("disabled", reason)

    @property
    def final(self) -> bool:
        """Refused for good: the event goes to the dead letters with its kind."""
        return self.kind in ("dead", "rejected", "unmapped")


_DELIVERED = Outcome("delivered")  # one for every delivered event: outcomes are frozen


class Sink(Protocol):
    """A destination for events. ``deliver`` returns one outcome per event, in order; it may
    stop early (fewer outcomes than events) after a ``retry`` or a ``disabled``, since order
    must be kept."""

    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]: ...


@dataclass(frozen=True)
class HttpAnswer:
    """How one request of an HTTP sink ended; ``status`` 0 means no response came back.

    ``detail`` names the method, the path and the status with an excerpt of the body, never a
    credential; ``body`` is the JSON the answer carried, if any."""

    status: int
    detail: str
    retry_after: float | None = None
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retriable(self) -> bool:
        """No answer at all, or a status worth sending again."""
        return self.status == 0 or retriable_status(self.status)


def retriable_status(status: int) -> bool:
    """Statuses worth sending again: request timeout, too many requests, server errors."""
    return status in (408, 429) or status >= 500


def in_order(results: Sequence[Outcome | None]) -> list[Outcome]:
    """The outcomes a sink may report for a batch written out of order: those up to the first
    event without one, or up to and including the first ``retry`` (order must be kept)."""
    outcomes: list[Outcome] = []
    for outcome in results:
        if outcome is None:
            break
        outcomes.append(outcome)
        if outcome.kind == "retry":
            break
    return outcomes
