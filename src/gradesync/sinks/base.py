"""The Sink protocol and the outcome of delivering one event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from gradesync.store import OutboxEvent

OutcomeKind = Literal["delivered", "retry", "dead", "rejected", "unmapped"]


@dataclass(frozen=True)
class Outcome:
    """What became of one event: delivered, to retry later, or refused for good (and why)."""

    kind: OutcomeKind
    reason: str = ""
    retry_after: float | None = None

    @classmethod
    def delivered(cls) -> Outcome:
        return cls("delivered")

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None) -> Outcome:
        return cls("retry", reason, retry_after)

    @property
    def final(self) -> bool:
        """Refused for good: the event goes to the dead letters with its kind."""
        return self.kind in ("dead", "rejected", "unmapped")


class Sink(Protocol):
    """A destination for events. ``deliver`` returns one outcome per event, in order; it may
    stop early (fewer outcomes than events) after a ``retry``, since order must be kept."""

    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]: ...
