"""The Sink protocol and the outcome of delivering one event (HTTP sinks share :mod:`.http`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

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
