"""The SIS sink's ``gradesjourney`` protocol: the Grades Journey v2 incoming REST format.

Grade values go to ``gradeValueAPI`` in batches of ``batch_size``; the answer holds one result
per item in request order, and an item whose status is not ``OK`` is rejected with the target's
message, never retried. A request that fails as a whole (5xx, transport, a refusal of the whole
array) is split in halves until the items at fault stand alone: an item that still fails alone
while others of the same batch got through is set aside as a dead letter (or a rejection, for a
4xx), so one bad item never blocks the others. When nothing got through, the target is down (or
misconfigured) and the events wait for a retry. Items over a field limit of the format are
rejected before anything is sent, with a message naming the field.

Before the values: the grade schema of ``value = "schema"`` is created once
(``gradeSchemasAPI``); with ``provision_columns`` a column seen for the first time is created
(``gradableItemsAPI``) and a column deleted in Learn is deleted (``gradeColumnDeleteAPI``); a
column that Learn marks ``externalGrade`` is set as the external grade
(``externalGradeColumnAPI``); a student of a cross-listed child course gets enrollment metadata
naming both courses (``userMetadataAPI``).

What the sink has set up (schema, columns, external grades, metadata) it remembers in memory
only, and sends again after a restart: each of these calls sets a state rather than adding to
one, so the target's answer (created, or already there) is all the sink needs. An answer that
is not ``OK`` to one of them is logged as a warning and not retried; the grade values that
depend on it get the target's own verdict.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from gradesync.clock import Clock, SystemClock
from gradesync.config.sinks import SisSinkConfig
from gradesync.models import OutboxEvent
from gradesync.sinks.base import Outcome, in_order
from gradesync.sinks.http import HttpAnswer
from gradesync.sinks.sis.client import SisClient
from gradesync.sinks.sis.mapping import (
    GradeTarget,
    grade_value,
    map_event,
    optional_data,
    over_limit,
)

log = structlog.get_logger("gradesync.sinks.sis")

Indexed = tuple[int, dict[str, Any]]  # an event's place in the delivery, and its item


@dataclass
class _Probe:
    """What the requests of one batch have learnt: did any get through, how many lone items
    failed."""

    succeeded: bool = False
    lone_failures: int = 0

    @property
    def outage(self) -> bool:
        return self.lone_failures >= 2 and not self.succeeded


def item_type(target: GradeTarget) -> str:
    """``MANUAL_COLUMN``, or for a calculated column ``WEIGHTED_COLUMN`` when its name says it
    is weighted and ``TOTAL_COLUMN`` otherwise (the event does not carry the formula)."""
    if target.column_type != "Calculated":
        return "MANUAL_COLUMN"
    return "WEIGHTED_COLUMN" if "weight" in target.column_name.lower() else "TOTAL_COLUMN"


class GradesJourneySink:
    """Writes grade changes through the Grades Journey v2 endpoints; see the module docstring."""

    def __init__(self, config: SisSinkConfig, *, clock: Clock | None = None) -> None:
        self.name = config.name
        self._config = config
        self._client = SisClient(config, clock or SystemClock())
        self._base = config.gradesjourney_url.rstrip("/")
        self._bounds = config.grade_schema_bounds
        schema = config.grade_schema or ""
        self._schema_title = f"{config.name}-{hashlib.sha256(schema.encode()).hexdigest()[:8]}"
        self._schema_done = config.value != "schema"
        self._columns: set[tuple[str, str]] = set()
        self._external: set[tuple[str, str]] = set()
        self._metadata: set[tuple[str, str, str]] = set()

    async def open(self) -> None:
        if not self._config.dry_run:
            await self._client.open()

    async def close(self) -> None:
        await self._client.close()

    async def deliver(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        if not self._config.dry_run and (failed := await self._client.ready()) is not None:
            return [Outcome.retry(failed.detail, failed.retry_after)]
        results: list[Outcome | None] = [None] * len(events)
        mapped: list[tuple[int, GradeTarget]] = []
        for index, event in enumerate(events):
            target = map_event(event, self._config.user_id)
            if isinstance(target, Outcome):
                results[index] = target
            else:
                mapped.append((index, target))

        def removes_column(pair: tuple[int, GradeTarget]) -> bool:
            return self._config.provision_columns and pair[1].column_deleted

        # Runs of value changes and of column deletions, in event order.
        for removing, group in itertools.groupby(mapped, key=removes_column):
            run = list(group)
            write = self._remove_columns if removing else self._write_values
            if await write(run, results):
                break
        if self._config.dry_run:
            log.info("sis.dry_run", sink=self.name, events=len(events), wrote_nothing=True)
        return in_order(results)

    async def _write_values(
        self, run: list[tuple[int, GradeTarget]], results: list[Outcome | None]
    ) -> bool:
        """Set up what the run needs, then send its values; True when it must stop (retry)."""
        failed = await self._prepare([target for _, target in run])
        if failed is not None:
            results[run[0][0]] = Outcome.retry(failed.detail, failed.retry_after)
            return True
        items: list[Indexed] = []
        for index, target in run:
            value = grade_value(target, self._config.value, self._bounds)
            if isinstance(value, Outcome):
                results[index] = value
                continue
            item = {
                "courseId": target.course,
                "userId": target.user,
                "name": target.column_name,
                "value": value,
            }
            problem = over_limit("gradeValueAPI", item)
            if problem is None:
                items.append((index, item))
            else:
                results[index] = Outcome.rejected(problem)
        for start in range(0, len(items), self._config.batch_size):
            chunk = items[start : start + self._config.batch_size]
            probe = _Probe()
            verdicts = await self._bisect("gradeValueAPI", chunk, probe)
            settled = [_settle(verdict, probe) for verdict in verdicts]
            for (index, _), outcome in zip(chunk, settled, strict=True):
                results[index] = outcome
            if any(outcome.kind == "retry" for outcome in settled):
                return True
        return False

    async def _bisect(
        self, endpoint: str, items: list[Indexed], probe: _Probe
    ) -> list[Outcome | HttpAnswer]:
        """Send ``items``; on a failure of the whole request, send each half on its own. A lone
        item that failed comes back as its answer, judged once the whole batch is known."""
        answer = await self._post(endpoint, [item for _, item in items])
        if answer.ok:
            outcomes = per_item(endpoint, answer, len(items))
            probe.succeeded = probe.succeeded or outcomes[0].kind != "retry"
            return list(outcomes)
        if answer.status in (401, 408, 429) or probe.outage:  # not the items' fault
            return [Outcome.retry(answer.detail, answer.retry_after)] * len(items)
        if len(items) == 1:
            probe.lone_failures += 1
            return [answer]
        half = len(items) // 2
        left = await self._bisect(endpoint, items[:half], probe)
        if probe.outage:
            return left + [Outcome.retry(answer.detail, answer.retry_after)] * (len(items) - half)
        return left + await self._bisect(endpoint, items[half:], probe)

    async def _remove_columns(
        self, run: list[tuple[int, GradeTarget]], results: list[Outcome | None]
    ) -> bool:
        """Delete the columns of the run in the target; their grades go with them."""
        keys = list(dict.fromkeys((target.course, target.column_name) for _, target in run))
        items = [{"courseId": course, "name": name} for course, name in keys]
        failed = await self._setup("gradeColumnDeleteAPI", items)
        if failed is not None:
            results[run[0][0]] = Outcome.retry(failed.detail, failed.retry_after)
            return True
        self._columns.difference_update(keys)
        self._external.difference_update(keys)
        for index, _ in run:
            results[index] = Outcome.delivered()
        return False

    async def _prepare(self, targets: list[GradeTarget]) -> HttpAnswer | None:
        """Schema, columns, external grades and enrollment metadata the values rely on; the
        failed answer when the target could not be reached."""
        if not self._schema_done:
            schema = {"title": self._schema_title, "symbols": self._config.grade_schema}
            if (failed := await self._setup("gradeSchemasAPI", [schema])) is not None:
                return failed
            self._schema_done = True
        steps: list[tuple[str, set[Any], dict[Any, dict[str, Any]]]] = [
            ("gradableItemsAPI", self._columns, self._new_columns(targets)),
            ("externalGradeColumnAPI", self._external, self._new_external(targets)),
            ("userMetadataAPI", self._metadata, self._new_metadata(targets)),
        ]
        for endpoint, known, wanted in steps:
            if wanted:
                if (failed := await self._setup(endpoint, list(wanted.values()))) is not None:
                    return failed
                known.update(wanted)
        return None

    def _new_columns(self, targets: list[GradeTarget]) -> dict[Any, dict[str, Any]]:
        if not self._config.provision_columns:
            return {}
        wanted: dict[Any, dict[str, Any]] = {}
        for t in targets:
            key = (t.course, t.column_name)
            if key in self._columns or key in wanted:
                continue
            item: dict[str, Any] = {"courseId": t.course, "name": t.column_name}
            item["itemType"] = item_type(t)
            if t.score_possible is not None:
                item["points"] = t.score_possible
            item["dueDate"] = t.due or ""
            if t.available is not None:
                item["available"] = t.available
            if self._config.value == "schema":
                item["gradeSchema"] = self._schema_title
            item["optionalData"] = optional_data({"SIS_ID": t.column_external_id})
            wanted[key] = item
        return wanted

    def _new_external(self, targets: list[GradeTarget]) -> dict[Any, dict[str, Any]]:
        return {
            (t.course, t.column_name): {"courseId": t.course, "name": t.column_name}
            for t in targets
            if t.external_grade and (t.course, t.column_name) not in self._external
        }

    def _new_metadata(self, targets: list[GradeTarget]) -> dict[Any, dict[str, Any]]:
        wanted: dict[Any, dict[str, Any]] = {}
        for t in targets:
            data = optional_data({"childCourse": t.course, "parentCourse": t.parent_course})
            key = (t.course, t.user, data)
            if t.parent_course and key not in self._metadata:
                wanted[key] = {"courseId": t.course, "userId": t.user, "optionalData": data}
        return wanted

    async def _setup(self, endpoint: str, items: list[dict[str, Any]]) -> HttpAnswer | None:
        """Send set-up items; only an unreachable target (retriable) is returned as a failure."""
        sendable = []
        for item in items:
            problem = over_limit(endpoint, item)
            if problem is None:
                sendable.append(item)
            else:
                log.warning("sis.setup_refused", sink=self.name, endpoint=endpoint, reason=problem)
        if not sendable:
            return None
        answer = await self._post(endpoint, sendable)
        if answer.retriable:
            return answer
        for item, outcome in zip(sendable, per_item(endpoint, answer, len(sendable)), strict=True):
            if outcome.kind != "delivered":
                log.warning(
                    "sis.setup_refused",
                    sink=self.name,
                    endpoint=endpoint,
                    course=item.get("courseId"),
                    name=item.get("name") or item.get("title"),
                    reason=outcome.reason,
                )
        return None

    async def _post(self, endpoint: str, items: list[dict[str, Any]]) -> HttpAnswer:
        if self._config.dry_run:
            log.debug("sis.dry_run", sink=self.name, endpoint=endpoint, items=items)
            return HttpAnswer(
                200, f"POST {endpoint} (dry run)", body=[{"status": "OK"}] * len(items)
            )
        return await self._client.call("POST", f"{self._base}/{endpoint}", items)


def per_item(endpoint: str, answer: HttpAnswer, count: int) -> list[Outcome]:
    """The per-item results of an answer: ``OK`` delivered, anything else rejected with the
    target's message; a body that is not one result per item is retried as a whole."""
    body = answer.body
    if not answer.ok or not isinstance(body, list) or len(body) != count:
        return [Outcome.retry(f"{answer.detail}: not one result per item")] * count
    outcomes = []
    for result in body:
        status = result.get("status") if isinstance(result, dict) else None
        if status == "OK":
            outcomes.append(Outcome.delivered())
        else:
            message = result.get("message") if isinstance(result, dict) else None
            outcomes.append(Outcome.rejected(f"{endpoint} {status}: {message or 'no message'}"))
    return outcomes


def _settle(verdict: Outcome | HttpAnswer, probe: _Probe) -> Outcome:
    """A lone item's failure: its own fault when others got through, else a retry."""
    if isinstance(verdict, Outcome):
        return verdict
    if not probe.succeeded:
        return Outcome.retry(verdict.detail, verdict.retry_after)
    if verdict.retriable:
        return Outcome.dead(f"the SIS fails on this item alone: {verdict.detail}")
    return Outcome.rejected(f"the SIS refused this item: {verdict.detail}")
