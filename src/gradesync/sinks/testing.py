"""Test doubles of the sinks' far ends, shipped so tests, benchmarks and the demo share them.

:class:`WebhookReceiver` and :class:`FakeSis` (both SIS protocols and an OAuth2 token endpoint)
are real aiohttp applications on 127.0.0.1 that keep what they were sent and can be told to
fail. :func:`grade_event` builds a valid grade CloudEvent and :func:`fill_outbox` commits
events as a sync cycle would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from aiohttp import web

from gradesync.models import Course, OutboxEvent
from gradesync.store import NewEvent, StateStore, UnitOfWork

Answer = tuple[int, float | None]  # a scripted answer: status and Retry-After seconds


class _Server:
    """An aiohttp app on 127.0.0.1 (a free port unless told one); ``url`` once started."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_get("/_stats", self._stats)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._answers: deque[Answer] = deque()
        self._down: Answer | None = None

    async def start(self, port: int = 0, *, ssl_context: ssl.SSLContext | None = None) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=ssl_context).start()
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def answer(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (queued after earlier calls)."""
        self._answers.extend([(status, retry_after)] * times)

    def outage(self, status: int = 503, *, retry_after: float | None = None) -> None:
        """Answer every request with ``status`` until :meth:`recover`."""
        self._down = (status, retry_after)

    def recover(self) -> None:
        self._down = None
        self._answers.clear()

    def _scripted(self) -> web.Response | None:
        answer = self._answers.popleft() if self._answers else self._down
        if answer is None:
            return None
        status, wait = answer
        headers = {"Retry-After": f"{wait:g}"} if wait is not None else {}
        return web.json_response(
            {"message": f"scripted answer {status}"}, status=status, headers=headers
        )

    def stats(self) -> dict[str, int]:
        return {}

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(self.stats())


@dataclass(frozen=True)
class ReceivedPost:
    """One POST as the receiver saw it, and the status it answered."""

    headers: Mapping[str, str]
    body: bytes
    status: int

    @property
    def events(self) -> list[dict[str, Any]]:
        parsed = json.loads(self.body)
        return parsed if isinstance(parsed, list) else [parsed]


class WebhookReceiver(_Server):
    """Accepts POSTs at any path; ``posts`` holds every one, ``accepted`` the events of 2xx."""

    def __init__(self, *, keep: bool = True) -> None:
        super().__init__()
        self.app.router.add_post("/{path:.*}", self._receive)
        self.keep = keep
        self.posts: list[ReceivedPost] = []
        self.accepted: list[dict[str, Any]] = []
        self.count = 0

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        response = self._scripted() or web.Response(status=204)
        post = ReceivedPost(
            {k.lower(): v for k, v in request.headers.items()}, body, response.status
        )
        if 200 <= response.status < 300:
            events = post.events
            self.count += len(events)
            if self.keep:
                self.accepted += events
        if self.keep:
            self.posts.append(post)
        return response

    def stats(self) -> dict[str, int]:
        return {"events": self.count}


def _reply(message: str, status: int) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _limit(field: str) -> int:
    return 2000 if field in ("symbols", "optionalData", "instructions") else 333


class FakeSis(_Server):
    """A SIS speaking both protocols of docs/contract.md section 5, behind a bearer token.

    Give ``token`` for a static token, or ``client_id`` and ``client_secret`` to issue tokens
    at ``/oauth/token``. ``users`` limits who exists; ``refuse`` maps a user to the message with
    which every write for them is refused; ``poison`` users make a whole Grades Journey request
    fail with a 500; ``strict_columns`` refuses values for columns not provisioned.
    """

    TOKEN_PATH = "/oauth/token"
    JOURNEY = "/learn/api/v2/cc/gradejourney"

    def __init__(
        self,
        *,
        token: str | None = "sis-token",
        client_id: str | None = None,
        client_secret: str | None = None,
        users: set[str] | None = None,
        refuse: dict[str, str] | None = None,
        poison: set[str] | None = None,
        strict_columns: bool = False,
    ) -> None:
        super().__init__()
        pair = f"{client_id}:{client_secret}".encode()
        self._static = token
        self._basic = f"Basic {base64.b64encode(pair).decode()}" if client_id else None
        self.users, self.refuse, self.poison = users, refuse or {}, poison or set()
        self.strict_columns = strict_columns
        self.tokens: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.grades: dict[tuple[str, str, str], dict[str, Any]] = {}  # (user, course, item)
        self.schemas: dict[str, str] = {}
        self.columns: dict[tuple[str, str], dict[str, Any]] = {}  # (course, name)
        self.values: dict[tuple[str, str, str], str] = {}  # (course, user, name)
        self.external: dict[str, str] = {}  # course -> column name
        self.metadata: dict[tuple[str, str], str] = {}  # (course, user)
        grade = "/users/{user}/courses/{course}/gradebookItems/{item}/grade"
        self.app.router.add_post(self.TOKEN_PATH, self._issue)
        self.app.router.add_route("*", grade, self._grade)
        self.app.router.add_post(self.JOURNEY + "/{endpoint}", self._journey)

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def stats(self) -> dict[str, int]:
        return {"grades": len(self.grades), "values": len(self.values)}

    async def _issue(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        form = await request.post()
        if auth != self._basic or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"tok-{len(self.tokens) + 1}-{id(request)}"
        self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 3600})

    def _gate(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer != self._static and bearer not in self.tokens:
            return _reply("unauthorized", 401)
        return self._scripted()

    async def _grade(self, request: web.Request) -> web.Response:
        if (stop := self._gate(request)) is not None:
            return stop
        info = request.match_info
        key = (info["user"], info["course"], info["item"])
        current = self.grades.get(key)
        if request.method == "GET":
            if current is None:
                return _reply("Grade not found.", 404)
            return web.json_response({"grade": current})
        body = await request.json()
        grade = body.get("grade") if isinstance(body, dict) else None
        if not isinstance(grade, dict) or not {"points", "letterGrade"} <= grade.keys():
            return _reply("a grade needs points and letterGrade", 400)
        if self.users is not None and key[0] not in self.users:
            return _reply("User not found.", 404)
        if key[0] in self.refuse:
            return _reply(self.refuse[key[0]], 422)
        if request.method == "POST" and current is not None:
            return _reply("Grade already exists.", 409)
        if request.method == "PUT" and current is None:
            return _reply("Grade not found.", 404)
        fields = ("points", "letterGrade", "comments", "shareWithStudent")
        kept = {"id": current["id"] if current else len(self.grades) + 1}
        self.grades[key] = kept | {f: grade.get(f) for f in fields}
        return web.json_response(
            {"grade": self.grades[key]}, status=201 if current is None else 200
        )

    async def _journey(self, request: web.Request) -> web.Response:
        if (stop := self._gate(request)) is not None:
            return stop
        endpoint = request.match_info["endpoint"]
        items = await request.json()
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return _reply("the body must be a JSON array of objects", 400)
        if endpoint == "gradeValueAPI" and any(i.get("userId") in self.poison for i in items):
            return _reply("internal error", 500)
        handler = {
            "gradeSchemasAPI": self._schema,
            "gradableItemsAPI": self._column,
            "gradeColumnDeleteAPI": self._delete_column,
            "externalGradeColumnAPI": self._external_grade,
            "userMetadataAPI": self._user_metadata,
            "gradeValueAPI": self._value,
        }.get(endpoint)
        if handler is None:
            return _reply(f"no endpoint {endpoint}", 404)
        return web.json_response([self._result(endpoint, item, handler) for item in items])

    def _result(self, endpoint: str, item: dict[str, Any], handler: Any) -> dict[str, Any]:
        """One per-item result; a handler returns why it refused the item, or None."""
        too_long = [f for f, v in item.items() if isinstance(v, str) and len(v) > _limit(f)]
        if too_long:
            error = f"{too_long[0]} exceeds {_limit(too_long[0])} characters"
        else:
            error = handler(item)
        return {
            "status": "ERROR" if error else "OK",
            "message": error or f"{endpoint}: done",
            "courseId": item.get("courseId", ""),
            "name": item.get("name") or item.get("title") or item.get("userId", ""),
        }

    def _schema(self, item: dict[str, Any]) -> str | None:
        if item["title"] in self.schemas:
            return "Grade schema already exists"
        self.schemas[item["title"]] = item["symbols"]
        return None

    def _column(self, item: dict[str, Any]) -> str | None:
        key = (item["courseId"], item["name"])
        if key in self.columns:
            return "Grade column already exists"
        self.columns[key] = item
        return None

    def _delete_column(self, item: dict[str, Any]) -> str | None:
        key = (item["courseId"], item["name"])
        if self.columns.pop(key, None) is None:
            return "Grade column not found"
        self.values = {k: v for k, v in self.values.items() if (k[0], k[2]) != key}
        return None

    def _external_grade(self, item: dict[str, Any]) -> str | None:
        if self.strict_columns and (item["courseId"], item["name"]) not in self.columns:
            return "Grade column not found"
        self.external[item["courseId"]] = item["name"]
        return None

    def _user_metadata(self, item: dict[str, Any]) -> str | None:
        if self.users is not None and item["userId"] not in self.users:
            return "User not found"
        self.metadata[(item["courseId"], item["userId"])] = item.get("optionalData", "")
        return None

    def _value(self, item: dict[str, Any]) -> str | None:
        course, user, name = item["courseId"], item["userId"], item["name"]
        if self.users is not None and user not in self.users:
            return "User not found"
        if user in self.refuse:
            return self.refuse[user]
        if self.strict_columns and (course, name) not in self.columns:
            return "Grade column not found"
        if item["value"] == "":
            self.values.pop((course, user, name), None)
        else:
            self.values[(course, user, name)] = item["value"]
        return None


def grade_event(
    kind: str = "created",
    *,
    user: str = "_42_1",
    user_external: str | None = "s42",
    course_external: str | None = "BIO-100",
    child_external: str | None = None,
    column: str = "_7_1",
    column_name: str = "Lab 1",
    column_external: str | None = None,
    column_type: str = "Manual",
    possible: float | None = 10.0,
    grade: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    version: int = 1,
    time: datetime | None = None,
    column_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A grade CloudEvent that fits ``event.schema.json``; its id is derived from its content.

    ``child_external`` puts the student in a cross-listed child course (``_2_1``) of the
    source course ``_1_1``. ``grade`` defaults to ``{"score": 8.0}`` unless ``kind`` is
    ``deleted``, where ``previous`` defaults to it instead."""
    deleted = kind == "deleted"
    now = (time or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)).astimezone(UTC)
    sample = {"score": 8.0, "changeIndex": version}
    row = None if deleted else {"changeIndex": version} | (grade or sample)
    before = (previous or sample) if deleted or kind == "updated" else None
    source = {"id": "_1_1", "courseId": "BIO-100", "externalId": course_external}
    target = (
        {"id": "_2_1", "courseId": None, "externalId": child_external} if child_external else source
    )
    subject = f"courses/_1_1/columns/{column}/users/{user}"
    digest = hashlib.sha256(json.dumps([subject, version, kind, row], sort_keys=True).encode())
    return {
        "specversion": "1.0",
        "id": digest.hexdigest()[:32],
        "source": "https://learn.example.edu/courses/_1_1",
        "type": f"gradesync.grade.{kind}",
        "subject": subject,
        "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": {
            "course": target,
            "sourceCourse": source,
            "user": {"id": user, "externalId": user_external, "userName": None, "studentId": None},
            "column": {
                "id": column,
                "name": column_name,
                "externalId": column_external,
                "type": column_type,
                "scorePossible": possible,
                "due": None,
                "category": None,
            }
            | (column_extra or {}),
            "grade": row,
            "previous": before,
        },
    }


def new_event(event: dict[str, Any]) -> NewEvent:
    """The event as the sync engine commits it to the outbox."""
    when = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    payload = json.dumps(event, separators=(",", ":"))
    return NewEvent(event["id"], event["type"], event["subject"], "_1_1", when, payload)


async def fill_outbox(
    store: StateStore, events: Sequence[dict[str, Any]], chunk: int = 1000
) -> None:
    """Commit ``events`` to the outbox as a sync cycle of course ``_1_1`` would."""
    await store.save_courses([Course(id="_1_1")], selected_ids={"_1_1"})
    for start in range(0, len(events), chunk):
        part = [new_event(e) for e in events[start : start + chunk]]
        await store.commit(UnitOfWork(course_id="_1_1", events=part))


def outbox_event(event: dict[str, Any], seq: int) -> OutboxEvent:
    """The event as a sink receives it from the outbox, at position ``seq``."""
    made = new_event(event)
    return OutboxEvent(
        seq, made.id, made.type, made.subject, made.course_id, made.time, made.payload
    )
