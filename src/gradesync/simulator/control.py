"""``/__simulator__/...``: drive the world and the faults over HTTP (JSON in, JSON out).

Learn has no such path, so a client can never reach it by mistake. No token is needed and the
requests are not counted in the stats. Ids are the same as the World's Python API takes.

    GET  /__simulator__/state                 changeIndex, sizes, faults, stats, activity
    GET  /__simulator__/grade?courseId=&columnId=&userId=   the row as served (or null)
    POST /__simulator__/faults                {field: value, ...}: change fault parameters;
                                              bad_rows, bad_columns as [{courseId, columnId,
                                              userId (rows only), kind}]
    POST /__simulator__/stats/reset
    POST /__simulator__/token/expire          revoke the current token
    POST /__simulator__/grades/score          {courseId, columnId, userId, score}
    POST /__simulator__/grades/text           {courseId, columnId, userId, text|null}
    POST /__simulator__/grades/exempt         {courseId, columnId, userId, exempt}
    POST /__simulator__/grades/clear          {courseId, columnId, userId}
    POST /__simulator__/grades/bulk           {courseId, scores: [{columnId, userId, score}]}
                                              -> {changeIndexes}: one instant for them all
    POST /__simulator__/students              {courseId, childCourseId?} -> {userId}
    POST /__simulator__/students/remove       {courseId, userId}
    POST /__simulator__/memberships/disable   {courseId, userId, disabled?}
    POST /__simulator__/columns               {courseId, name, type?, possible?, due?}
    POST /__simulator__/columns/delete        {courseId, columnId}
    POST /__simulator__/random-edits          {n, seed?}
    POST /__simulator__/activity              {perMinute, bulkShare?}: bulkShare of the ticks
                                              make a bulk edit instead of one edit (default 0)
    POST /__simulator__/activity/realistic    {model: {field: value, ...} | null}: play the
                                              realistic activity from now, the fields of
                                              ActivityModel given, the others by default
                                              (docs/activity.md); null stops it
    GET  /__simulator__/activity/rates?courseId=&since=&until=   the realistic activity's true
                                              expected grade edits of a course in the window,
                                              and its rate per hour at since, since + 1 h, ...
                                              (default: the day from now; 31 days at most)
    GET  /__simulator__/edits?courseId=       every edit with its true time, logged or not
    POST /__simulator__/gradebook-log         {logEdits}: off, new edits leave no log entry
    POST /__simulator__/gradebook-log/clear   {courseId}: drop the course's log entries so far

The log's other knobs are faults: ``forbidden_logs`` (403) and ``learn_version`` (below 3900.71
the log paths answer 404).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from gradesync.clock import Clock
from gradesync.simulator.activity import ActivityModel
from gradesync.simulator.derive import iso
from gradesync.simulator.faults import Dice
from gradesync.simulator.site import NotFound
from gradesync.simulator.world import World

if TYPE_CHECKING:
    from gradesync.simulator.app import SimState

CONTROL = "/__simulator__/"


class Activity:
    """Edits random grades at a set rate, paced by the injected clock (for the demo). A share
    of the ticks (``bulk_share``, none by default) make a bulk edit instead: several grades of
    one column at one instant."""

    def __init__(self, world: World, clock: Clock) -> None:
        self.world = world
        self.clock = clock
        self.per_minute = 0.0
        self.bulk_share = 0.0
        self.edits = 0
        self._changed = asyncio.Event()
        self._dice = random.Random(world.spec.seed)

    def set_rate(self, per_minute: float, bulk_share: float | None = None) -> None:
        if per_minute < 0:
            raise ValueError("perMinute cannot be negative")
        if bulk_share is not None and not 0 <= bulk_share <= 1:
            raise ValueError("bulkShare must be between 0 and 1")
        self.per_minute = per_minute
        if bulk_share is not None:
            self.bulk_share = bulk_share
        self._changed.set()

    async def run(self) -> None:
        """Runs until cancelled."""
        while True:
            if self.per_minute <= 0:
                self._changed.clear()
                await self._changed.wait()
                continue
            await self.clock.sleep(60.0 / self.per_minute)
            if self.per_minute > 0:
                if self.bulk_share > 0 and self._dice.random() < self.bulk_share:
                    self.edits += self.world.random_bulk_edit()
                else:
                    self.edits += self.world.random_edits(1)


Action = Callable[[dict[str, Any]], Any]


class Control:
    """The control routes of one simulator."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def routes(self) -> list[web.RouteDef]:
        world = self.state.world
        actions: dict[str, Action] = {
            "grades/score": lambda b: {
                "changeIndex": world.set_score(*_grade_ref(b), float(b["score"]))
            },
            "grades/text": lambda b: {"changeIndex": world.set_text(*_grade_ref(b), b["text"])},
            "grades/exempt": lambda b: {
                "changeIndex": world.set_exempt(*_grade_ref(b), bool(b["exempt"]))
            },
            "grades/clear": lambda b: {"changeIndex": world.clear_grade(*_grade_ref(b))},
            "grades/bulk": lambda b: {"changeIndexes": world.set_scores(b["courseId"], _scores(b))},
            "students": lambda b: {
                "userId": world.add_student(b["courseId"], child_course_id=b.get("childCourseId"))
            },
            "students/remove": lambda b: world.remove_student(b["courseId"], b["userId"]),
            "memberships/disable": lambda b: world.disable_membership(
                b["courseId"], b["userId"], disabled=bool(b.get("disabled", True))
            ),
            "columns": lambda b: {"columnId": self._add_column(b)},
            "columns/delete": lambda b: world.delete_column(b["courseId"], b["columnId"]),
            "random-edits": lambda b: {
                "edits": world.random_edits(int(b["n"]), seed=b.get("seed")),
                "changeIndex": world.change_index,
            },
            "activity": lambda b: self.state.activity.set_rate(
                float(b["perMinute"]), _optional_float(b.get("bulkShare"))
            ),
            "activity/realistic": self._set_realistic,
            "gradebook-log": self._set_logging,
            "gradebook-log/clear": lambda b: world.clear_log(b["courseId"]),
            "faults": self._set_faults,
            "stats/reset": lambda _: self.state.stats.reset(),
            "token/expire": lambda _: self.state.tokens.expire(),
        }
        routes = [web.post(CONTROL + path, _action(act)) for path, act in actions.items()]
        routes += [
            web.get(CONTROL + "state", self.show_state),
            web.get(CONTROL + "grade", self.show_grade),
            web.get(CONTROL + "edits", self.show_edits),
            web.get(CONTROL + "activity/rates", self.show_rates),
        ]
        return routes

    def _add_column(self, body: dict[str, Any]) -> str:
        due = datetime.fromisoformat(body["due"]) if body.get("due") else None
        return self.state.world.add_column(
            body["courseId"],
            body["name"],
            type=body.get("type", "Manual"),
            possible=float(body.get("possible", 100.0)),
            due=due,
        )

    def _set_realistic(self, body: dict[str, Any]) -> dict[str, Any] | None:
        fields = body["model"]
        if fields is not None and not isinstance(fields, dict):
            raise ValueError("model must be an object of ActivityModel fields, or null")
        model = None if fields is None else ActivityModel.from_json(fields)
        self.state.playback.start(model)
        return self.state.playback.summary()

    def _set_logging(self, body: dict[str, Any]) -> dict[str, Any]:
        on = body["logEdits"]
        if not isinstance(on, bool):
            raise ValueError("logEdits must be true or false")
        self.state.world.log_edits = on
        return {"logEdits": on}

    def _set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        faults = self.state.faults
        # Validate everything first so a bad field changes nothing.
        merged = faults.model_validate(faults.model_dump() | body)
        for name in body:
            setattr(faults, name, getattr(merged, name))
        if "seed" in body:
            self.state.dice = Dice(faults.seed)
        return faults.model_dump(mode="json")

    async def show_state(self, request: web.Request) -> web.Response:
        state = self.state
        return web.json_response(
            {
                "changeIndex": state.world.change_index,
                "courses": len(state.world.courses),
                "faults": state.faults.model_dump(mode="json"),
                "stats": {
                    "total": state.stats.total,
                    "byEndpoint": state.stats.by_endpoint(),
                },
                "activity": {
                    "perMinute": state.activity.per_minute,
                    "bulkShare": state.activity.bulk_share,
                    "edits": state.activity.edits,
                    "realistic": state.playback.summary(),
                },
                "logEdits": state.world.log_edits,
                "started": state.world.started.isoformat(),
            }
        )

    async def show_grade(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            row = self.state.world.grade(q["courseId"], q["columnId"], q["userId"])
        except KeyError as exc:
            return _problem(400, f"missing {exc}")
        except NotFound as exc:
            return _problem(404, str(exc))
        return web.json_response(row)

    async def show_edits(self, request: web.Request) -> web.Response:
        try:
            edits = self.state.world.edit_log(request.query.get("courseId") or None)
        except NotFound as exc:
            return _problem(404, str(exc))
        return web.json_response({"edits": [edit.as_json() for edit in edits]})

    async def show_rates(self, request: web.Request) -> web.Response:
        plan = self.state.playback.plan
        if plan is None:
            return _problem(404, "the realistic activity is off")
        q = request.query
        try:
            since = datetime.fromisoformat(q["since"]) if "since" in q else self.state.clock.now()
            until = datetime.fromisoformat(q["until"]) if "until" in q else since + _DAY
            if since.tzinfo is None or until.tzinfo is None:
                raise ValueError("since and until must carry a time zone")
            if not since < until <= since + 31 * _DAY:
                raise ValueError("until must be after since, by 31 days at most")
            course = q["courseId"]
            hours = [since]
            while hours[-1] + _HOUR < until:
                hours.append(hours[-1] + _HOUR)
            body = {
                "courseId": course,
                "since": iso(since),
                "until": iso(until),
                "expected": plan.expected(course, since, until),
                "hourly": [{"hour": iso(h), "rate": plan.rate(course, h)} for h in hours],
            }
        except KeyError as exc:
            return _problem(400, f"missing {exc}")
        except ValueError as exc:
            return _problem(400, str(exc))
        except NotFound as exc:
            return _problem(404, str(exc))
        return web.json_response(body)


_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def _grade_ref(body: dict[str, Any]) -> tuple[str, str, str]:
    return body["courseId"], body["columnId"], body["userId"]


def _scores(body: dict[str, Any]) -> dict[tuple[str, str], float]:
    scores = body["scores"]
    if not isinstance(scores, list) or not all(isinstance(s, dict) for s in scores):
        raise ValueError("scores must be a list of {columnId, userId, score}")
    return {(s["columnId"], s["userId"]): float(s["score"]) for s in scores}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _action(act: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A POST handler: the JSON body to ``act``; its result (or ``{}``) as the JSON answer."""

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return _problem(400, "the body is not JSON")
        if not isinstance(body, dict):
            return _problem(400, "the body must be a JSON object")
        try:
            result = act(body)
        except KeyError as exc:
            return _problem(400, f"missing {exc}")
        except NotFound as exc:
            return _problem(404, str(exc))
        except (ValueError, TypeError, ValidationError) as exc:
            return _problem(400, str(exc))
        return web.json_response(result if result is not None else {})

    return handle
