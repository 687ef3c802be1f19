"""Every response gradesync uses fits the official Learn spec (Swagger 2.0, 3900.68).

The spec is read from ``$GRADESYNC_LEARN_API_DIR`` (else ``../shared/learn-api`` beside the
repository); ``speccheck`` says how a body is checked and which one deviation is allowed.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.simulator.simclient import API, Api, Reply
from tests.simulator.speccheck import Checker, load
from tests.spec_support import SPEC_ENV, spec_path

from gradesync.simulator import World


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = spec_path()
    if not path.is_file():
        pytest.skip(f"the official Learn OpenAPI document is not at {path} (set {SPEC_ENV})")
    return load(path, "RestException")


@pytest.fixture
def checker(spec: dict[str, Any]) -> Checker:
    return Checker(spec)


async def test_token_answers_fit_the_spec(api: Api, checker: Checker) -> None:
    template = "v1/oauth2/token"
    url = api.sim.base_url + API + template
    for headers, data in [
        ({"Authorization": api.basic()}, {"grant_type": "client_credentials"}),
        ({"Authorization": api.basic(secret="wrong")}, {"grant_type": "client_credentials"}),
        ({"Authorization": api.basic()}, {"grant_type": "nonsense"}),
    ]:
        async with api.session.post(url, headers=headers, data=data) as response:
            reply = Reply(response.status, response.headers, await response.read())
        checker.check(template, reply, method="post")


async def test_every_read_gradesync_uses_fits_the_spec(
    api: Api, world: World, checker: Checker
) -> None:
    parent = next(c for c in world.courses if c.children)
    plain = next(c for c in world.courses if c.parent is None and not c.children)
    column = world.columns(plain)[0]
    # Make every kind of grade row exist: override text, exempt, cleared, feedback.
    users = [r["userId"] for r in world.grade_rows(plain, column)]
    world.set_text(plain.id, column.id, users[0], "B+")
    world.set_exempt(plain.id, column.id, users[1], True)
    world.clear_grade(plain.id, column.id, users[2])
    grades = "v2/courses/{courseId}/gradebook/columns/{columnId}/users"
    reads = [
        ("v1/system/version", "v1/system/version"),
        ("v3/courses", "v3/courses?limit=4"),
        ("v3/courses/{courseId}", f"v3/courses/{parent.id}"),
        ("v3/courses/{courseId}", f"v3/courses/{world.courses[parent.children[0]].id}"),
        ("v1/courses/{courseId}/users", f"v1/courses/{parent.id}/users?expand=user"),
        ("v1/courses/{courseId}/users", f"v1/courses/{plain.id}/users?expand=user&limit=3"),
        ("v1/courses/{courseId}/children", f"v1/courses/{parent.id}/children"),
        ("v1/courses/{courseId}/children", f"v1/courses/{parent.id}/children?expand=childCourse"),
        ("v1/courses/{courseId}/gradebook/categories",
         f"v1/courses/{plain.id}/gradebook/categories"),
        ("v2/courses/{courseId}/gradebook/columns", f"v2/courses/{plain.id}/gradebook/columns"),
        ("v2/courses/{courseId}/gradebook/columns/{columnId}",
         f"v2/courses/{plain.id}/gradebook/columns/finalGrade"),
        (grades, f"v2/courses/{plain.id}/gradebook/columns/{column.id}/users"),
        (grades, f"v2/courses/{plain.id}/gradebook/columns/finalGrade/users"),
        (grades + "/lastChanged",
         f"v2/courses/{plain.id}/gradebook/columns/{column.id}/users/lastChanged"),
    ]  # fmt: skip
    for template, path in reads:
        reply = await api.raw(path)
        assert reply.status == 200, (path, reply.body[:200])
        checker.check(template, reply)


async def test_error_bodies_fit_the_spec(api: Api, world: World, checker: Checker) -> None:
    plain = next(c for c in world.courses if c.parent is None and not c.children)
    column = world.columns(plain)[0]
    api.sim.faults.forbidden_columns = frozenset({column.id})
    grades = "v2/courses/{courseId}/gradebook/columns/{columnId}/users"
    errors = [
        ("v3/courses/{courseId}", "v3/courses/externalId:nope", 404),
        ("v3/courses", "v3/courses?limit=1000", 400),
        ("v1/courses/{courseId}/children", f"v1/courses/{plain.id}/children", 400),
        (grades, f"v2/courses/{plain.id}/gradebook/columns/{column.id}/users", 403),
        ("v1/system/version", "v1/system/version", 401),
    ]
    for template, path, status in errors:
        reply = await api.raw(path, token="0" * 32 if status == 401 else None)
        assert reply.status == status, path
        checker.check(template, reply)
    api.sim.faults.daily_quota = 0
    reply = await api.raw("v3/courses")
    assert reply.status == 429
    checker.check("v3/courses", reply)


async def test_the_single_reads_other_clients_use_fit_the_spec(
    api: Api, world: World, checker: Checker
) -> None:
    parent = next(c for c in world.courses if c.children)
    child = world.courses[parent.children[0]].id
    column = world.columns(parent)[0]
    user = world.grade_rows(parent, column)[0]["userId"]
    fresh = world.add_student(parent.id, child_course_id=child)
    category = f"_{40_000_000 + parent.index * 3}_1"
    grade = "v2/courses/{courseId}/gradebook/columns/{columnId}/users/{userId}"
    reads = [
        (grade, f"v2/courses/{parent.id}/gradebook/columns/{column.id}/users/{user}", 200),
        (grade, f"v2/courses/{parent.id}/gradebook/columns/{column.id}/users/{fresh}", 200),
        (grade, f"v2/courses/{parent.id}/gradebook/columns/finalGrade/users/{user}", 200),
        (grade, f"v2/courses/{parent.id}/gradebook/columns/{column.id}/users/_1_1", 404),
        ("v1/courses/{courseId}/children/{childCourseId}",
         f"v1/courses/{parent.id}/children/{child}?expand=childCourse", 200),
        ("v1/courses/{courseId}/crossListSet", f"v1/courses/{parent.id}/crossListSet", 200),
        ("v1/courses/{courseId}/gradebook/categories/{categoryId}",
         f"v1/courses/{parent.id}/gradebook/categories/{category}", 200),
        ("v1/users/{userId}", f"v1/users/{user}", 200),
    ]  # fmt: skip
    for template, path, status in reads:
        reply = await api.raw(path)
        assert reply.status == status, (path, reply.body[:200])
        checker.check(template, reply)
