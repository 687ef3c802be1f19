"""The SIS sink's ``upsert`` protocol: one REST resource per grade, read then written.

For each change: ``GET {base}/users/{user}/courses/{course}/gradebookItems/{item}/grade``;
a 404 is answered with a ``POST`` of the grade, a 200 (even with a blank grade: one that was
cleared) with a ``PUT``. A deleted grade is a ``PUT`` of null points and blank letter and
comments; when the SIS has no such grade there is nothing to clear. Writing the same change
twice leaves the same grade, so a re-delivered event does no harm.

Changes to different grades are written a few at a time; changes to one grade keep their order,
and after a change that must be retried nothing later of that grade is sent.

User, course and item are each one path segment: an identity that could reach another resource
(``..``, a ``/``, ``?`` or ``#``, also percent-encoded) is refused and the event unmapped with
the reason (``mapping.segment_problem``); nothing is sent for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import structlog

from gradesync.clock import Clock, SystemClock
from gradesync.config.sinks import SisSinkConfig
from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome, in_order
from gradesync.sinks.http import HttpAnswer
from gradesync.sinks.sis.client import SisClient
from gradesync.sinks.sis.mapping import GradeTarget, letter, map_event, points, segment_problem

log = structlog.get_logger("gradesync.sinks.sis")


def grade_body(target: GradeTarget) -> dict[str, Any]:
    """The ``{"grade": ...}`` body written by POST and PUT; null points for a deletion."""
    return {
        "grade": {
            "points": points(target.grade),
            "letterGrade": letter(target.grade),
            "comments": "",
            "shareWithStudent": True,
        }
    }


def judge(answer: HttpAnswer) -> Outcome:
    """The outcome of a write (or of a read that could not decide one)."""
    if answer.ok:
        return Outcome.delivered()
    if answer.retriable:
        return Outcome.retry(answer.detail, answer.retry_after)
    return Outcome.rejected(answer.detail)


class UpsertSink:
    """Writes each grade change as its own REST resource; see the module docstring."""

    def __init__(
        self, config: SisSinkConfig, *, clock: Clock | None = None, concurrency: int = 8
    ) -> None:
        self.name = config.name
        self._config = config
        self._client = SisClient(config, clock or SystemClock(), connections=concurrency)
        self._concurrency = concurrency

    async def open(self) -> None:
        if not self._config.dry_run:
            await self._client.open()

    async def close(self) -> None:
        await self._client.close()

    def item_of(self, target: GradeTarget) -> str:
        """The gradebook item: the column's externalId (when so configured and set), else its
        name."""
        if self._config.item_id == "externalId" and target.column_external_id:
            return target.column_external_id
        return target.column_name

    def unsafe(self, target: GradeTarget) -> Outcome | None:
        """The unmapped outcome of a target whose user, course or item cannot be a path
        segment; None when all three can."""
        item = self.item_of(target)
        for what, value in (
            (f"the user's {self._config.user_id}", target.user),
            ("the course's externalId", target.course),
            (f"the column's {'name' if item == target.column_name else 'externalId'}", item),
        ):
            problem = segment_problem(value)
            if problem is not None:
                return Outcome.unmapped(f"{what} cannot be a SIS path segment: it {problem}")
        return None

    def url_of(self, target: GradeTarget) -> str:
        user, course, item = (
            quote(v, safe="") for v in (target.user, target.course, self.item_of(target))
        )
        return f"{self._config.base_url}/users/{user}/courses/{course}/gradebookItems/{item}/grade"

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        if not self._config.dry_run and (failed := await self._client.ready()) is not None:
            return [Outcome.retry(failed.detail, failed.retry_after)]
        results: list[Outcome | None] = [None] * len(events)
        chains: dict[str, list[tuple[int, GradeTarget]]] = {}
        for index, event in enumerate(events):
            mapped = map_event(event, self._config.user_id)
            if not isinstance(mapped, Outcome):
                mapped = self.unsafe(mapped) or mapped
            if isinstance(mapped, Outcome):
                results[index] = mapped
            else:
                chains.setdefault(self.url_of(mapped), []).append((index, mapped))
        slots = asyncio.Semaphore(self._concurrency)

        async def write_chain(chain: list[tuple[int, GradeTarget]]) -> None:
            for index, target in chain:
                async with slots:
                    outcome = await self._write(target)
                results[index] = outcome
                if outcome.kind == "retry":
                    return

        async with asyncio.TaskGroup() as group:
            for chain in chains.values():
                group.create_task(write_chain(chain))
        if self._config.dry_run:
            log.info("sis.dry_run", sink=self.name, events=len(events), wrote_nothing=True)
        return in_order(results)

    async def _write(self, target: GradeTarget) -> Outcome:
        url = self.url_of(target)
        body = grade_body(target)
        if self._config.dry_run:
            log.debug("sis.dry_run", sink=self.name, url=url, body=body)
            return Outcome.delivered()
        current = await self._client.call("GET", url)
        if current.status == 404:
            if target.deleted:
                return Outcome.delivered()  # nothing to clear
            written = await self._client.call("POST", url, body)
            if written.status != 409:  # 409: created meanwhile, so it is a PUT after all
                return judge(written)
        elif not current.ok:
            return judge(current)
        return judge(await self._client.call("PUT", url, body))
