"""The simulator against the later Learn document (3900.123): the gradebook log, the reads it
types, and every GET path it lists, each served or answered 501 (never a bare 404).

The document is read from ``$GRADESYNC_LEARN_API_DIR`` (else ``../shared/learn-api`` beside the
repository), as the 3900.68 one is; the tests that need it skip, saying so, where it is absent.
It types the log's answer (and every list) only as ``object``, so the log's list wrapper is
checked against the lists the 3900.68 document types, with the entry's certain fields required.

Besides ``RestException.status`` (``speccheck``), one artefact of how the document was generated
is patched: it types a Java list property (``java.util.List<...>``, a user's
``institutionRoleIds`` for one) as an object with an ``empty`` flag, where 3900.68 and Learn
have a JSON array.
"""

from __future__ import annotations

import re
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
# The GET paths of the document the simulator serves; every other one answers 501.
SERVED = {
    "v1/system/version",
    "v3/courses",
    "v3/courses/{courseId}",
    "v1/courses/{courseId}/users",
    "v1/courses/{courseId}/children",
    "v1/courses/{courseId}/children/{childCourseId}",
    "v1/courses/{courseId}/crossListSet",
    "v1/courses/{courseId}/gradebook/categories",
    "v1/courses/{courseId}/gradebook/categories/{categoryId}",
    "v2/courses/{courseId}/gradebook/columns",
    "v2/courses/{courseId}/gradebook/columns/{columnId}",
    "v2/courses/{courseId}/gradebook/columns/{columnId}/users",
    "v2/courses/{courseId}/gradebook/columns/{columnId}/users/lastChanged",
    "v2/courses/{courseId}/gradebook/columns/{columnId}/users/{userId}",
    LOGS,
    COLUMN_LOGS,
    "v1/users/{userId}",
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = spec_dir() / SPEC_FILE
    if not path.is_file():
        pytest.skip(f"the official Learn OpenAPI document is not at {path} (set {SPEC_ENV})")
    document = load(path, REST_EXCEPTION)
    definitions = document["definitions"]
    for name in [n for n in definitions if n.startswith("java.util.List<")]:
        item = name.removeprefix("java.util.List<").removesuffix(">")
        items: dict[str, Any] = {}
        if item == "java.lang.String":
            items = {"type": "string"}
        elif item in definitions:
            items = {"$ref": f"#/definitions/{item}"}
        definitions[name] = {"type": "array", "items": items}
    return document


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


def _refs(world: World) -> dict[str, str]:
    """Ids that exist, for the path parameters of the served GET paths."""
    parent = next(c for c in world.courses if c.children)
    column = world.columns(parent)[0]
    return {
        "courseId": parent.id,
        "childCourseId": world.courses[parent.children[0]].id,
        "columnId": column.id,
        "userId": world.grade_rows(parent, column)[0]["userId"],
        "categoryId": f"_{40_000_000 + parent.index * 3}_1",
    }


async def test_every_get_path_of_the_document_is_served_or_answers_501(
    api: Api, world: World, spec: dict[str, Any]
) -> None:
    refs = _refs(world)
    served, unserved = set(), set()
    for full, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        template = full.removeprefix(API)
        path = re.sub(r"\{(\w+)\}", lambda m: refs.get(m.group(1), "_1_1"), template)
        reply = await api.raw(path)
        assert reply.status != 404, (template, reply.body[:200])
        if reply.status == 501:
            assert "does not serve" in reply.json()["message"]
            unserved.add(template)
        else:
            assert reply.status in (200, 204), (template, reply.status, reply.body[:200])
            served.add(template)
    assert served == SERVED
    assert len(unserved) > 100


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


async def test_the_reads_it_types_fit_the_document(
    api: Api, world: World, checker: Checker
) -> None:
    refs = _refs(world)
    course, child, user = refs["courseId"], refs["childCourseId"], refs["userId"]
    for version in ("3900.123.0", "3900.70.2"):
        api.sim.faults.learn_version = version
        reply = await api.raw("v1/system/version")
        checker.check("v1/system/version", reply)
    reads = [
        ("v1/courses/{courseId}/children/{childCourseId}",
         f"v1/courses/{course}/children/{child}", 200),
        ("v1/courses/{courseId}/children/{childCourseId}",
         f"v1/courses/{course}/children/{child}?expand=childCourse", 200),
        ("v1/courses/{courseId}/children/{childCourseId}",
         f"v1/courses/{child}/children/{course}", 400),
        ("v1/courses/{courseId}/crossListSet", f"v1/courses/{child}/crossListSet", 200),
        ("v1/courses/{courseId}/gradebook/categories/{categoryId}",
         f"v1/courses/{course}/gradebook/categories/{refs['categoryId']}", 200),
        ("v1/courses/{courseId}/gradebook/categories/{categoryId}",
         f"v1/courses/{course}/gradebook/categories/_1_1", 404),
        ("v1/users/{userId}", f"v1/users/{user}", 200),
        ("v1/users/{userId}", "v1/users/_1_1", 404),
    ]  # fmt: skip
    for template, path, status in reads:
        reply = await api.raw(path)
        assert reply.status == status, (path, reply.body[:200])
        checker.check(template, reply)
