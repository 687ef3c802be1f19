"""The simulator against the later Learn document (3900.123): the gradebook log and the
version.

The document is read from ``$GRADESYNC_LEARN_API_DIR`` (else ``../shared/learn-api`` beside the
repository), as the 3900.68 one is; the tests that need it skip, saying so, where it is absent.
It types the log's answer (and every list) only as ``object``, so the log's list wrapper is
checked against the lists the 3900.68 document types, with the entry's certain fields required.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft4Validator
from tests.simulator.simclient import API, Api
from tests.simulator.speccheck import Checker, load
from tests.spec_support import SPEC_ENV, spec_dir, spec_path

from gradesync.simulator import World

SPEC_FILE = "learn-openapi-3900.123.json"
REST_EXCEPTION = "blackboard.platform.restspring.exception.RestException"
LOGS = "v1/courses/{courseId}/gradebook/logs"
COLUMN_LOGS = "v1/courses/{courseId}/gradebook/columns/{columnId}/logs"
# An entry as far as it is certain (docs/learn-api.md section 4.9); other fields are guesses.
ENTRY = {
    "type": "object",
    "required": ["id", "gradebookColumnId", "logged", "user"],
    "properties": {
        "id": {"type": "string", "pattern": "^_[0-9]+_1$"},
        "gradebookColumnId": {"type": "string"},
        "logged": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"},
        "user": {"type": "object", "required": ["userId"],
                 "properties": {"userId": {"type": "string"}}},
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = spec_dir() / SPEC_FILE
    if not path.is_file():
        pytest.skip(f"the official Learn OpenAPI document is not at {path} (set {SPEC_ENV})")
    return load(path, REST_EXCEPTION)


@pytest.fixture
def checker(spec: dict[str, Any]) -> Checker:
    return Checker(spec, REST_EXCEPTION)


@pytest.fixture(scope="module")
def list_wrapper() -> dict[str, Any]:
    """The list answer as the 3900.68 document types it (the crossListSet's), items aside."""
    path = spec_path()
    if not path.is_file():
        pytest.skip(f"the official Learn OpenAPI document is not at {path} (set {SPEC_ENV})")
    older = load(path, "RestException")
    template = API + "v1/courses/{courseId}/crossListSet"
    schema: dict[str, Any] = older["paths"][template]["get"]["responses"]["200"]["schema"]
    assert set(schema["properties"]) == {"results", "paging"}
    return {**schema, "properties": {**schema["properties"], "results": {
        "type": "array", "items": ENTRY}}, "definitions": older["definitions"]}  # fmt: skip


async def test_the_log_answers_fit_the_document(
    api: Api, world: World, checker: Checker, list_wrapper: dict[str, Any]
) -> None:
    parent = next(c for c in world.courses if c.children)
    column = world.columns(parent)[0]
    users = [r["userId"] for r in world.grade_rows(parent, column)]
    world.set_scores(parent.id, {(column.id, u): 1.0 for u in users[:2]})
    world.set_text(parent.id, column.id, users[2], "B+")
    world.set_exempt(parent.id, column.id, users[3], True)
    world.clear_grade(parent.id, column.id, users[4])
    for template, path in [
        (LOGS, f"v1/courses/{parent.id}/gradebook/logs"),
        (LOGS, f"v1/courses/{parent.id}/gradebook/logs?sort=logged(desc)&limit=3"),
        (COLUMN_LOGS, f"v1/courses/{parent.id}/gradebook/columns/{column.id}/logs"),
        (COLUMN_LOGS, f"v1/courses/{parent.id}/gradebook/columns/finalGrade/logs"),
    ]:
        reply = await api.raw(path)
        assert reply.status == 200
        checker.check(template, reply)  # typed "object"
        body = reply.json()
        errors = [f"{list(e.absolute_path)}: {e.message}"
                  for e in Draft4Validator(list_wrapper).iter_errors(body)]  # fmt: skip
        assert not errors, (path, errors)
        assert set(body) <= {"results", "paging"}
    errors = [
        (LOGS, f"v1/courses/{parent.id}/gradebook/logs?since=soon", 400),
        (COLUMN_LOGS, f"v1/courses/{parent.id}/gradebook/columns/_1_1/logs", 404),
    ]
    for template, path, status in errors:
        reply = await api.raw(path)
        assert reply.status == status
        checker.check(template, reply)
    api.sim.faults.forbidden_logs = True
    reply = await api.raw(f"v1/courses/{parent.id}/gradebook/logs")
    assert reply.status == 403
    checker.check(LOGS, reply)
    api.sim.faults.learn_version = "3900.68.0"
    reply = await api.raw(f"v1/courses/{parent.id}/gradebook/columns/{column.id}/logs")
    assert reply.status == 404
    checker.check(COLUMN_LOGS, reply)


async def test_the_version_fits_the_document(api: Api, checker: Checker) -> None:
    for version in ("3900.123.0", "3900.70.2"):
        api.sim.faults.learn_version = version
        reply = await api.raw("v1/system/version")
        checker.check("v1/system/version", reply)
