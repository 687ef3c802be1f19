"""Paths the simulator does not serve (501), methods it does not take (405), and the single-object
reads other Learn clients use: one grade, one child course, the cross-listing set, one category,
one user."""

from __future__ import annotations

import re

from tests.simulator.simclient import API, Api, Reply

from gradesync.simulator import World
from gradesync.simulator.site import SimCourse


def _plain(world: World) -> SimCourse:
    return next(c for c in world.courses if not c.children and c.parent is None)


def _rest_exception(reply: Reply, status: int) -> str:
    body = reply.json()
    assert reply.status == status == body["status"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["extraInfo"])
    message: str = body["message"]
    return message


async def _send(api: Api, method: str, path: str) -> Reply:
    if api.token is None:
        await api.fetch_token()
    headers = {"Authorization": f"Bearer {api.token}"}
    async with api.session.request(method, api.sim.base_url + API + path, headers=headers) as r:
        return Reply(r.status, r.headers, await r.read())


async def test_a_learn_endpoint_the_simulator_does_not_serve_answers_501(
    api: Api, world: World
) -> None:
    course = _plain(world).id
    for method, path in [
        ("GET", f"v1/courses/{course}/contents"),
        ("GET", f"v1/courses/{course}"),
        ("GET", "v1/users"),
        ("POST", f"v1/courses/{course}/gradebook/gradeNotations"),
    ]:
        reply = await _send(api, method, path)
        message = _rest_exception(reply, 501)
        assert message == f"The simulator does not serve {method} {API}{path}"
    assert api.sim.stats.count("unmatched", 501) == 4
    reply = await api.raw(f"v1/courses/{course}/contents", token="0" * 32)
    assert reply.status == 401  # the gate comes first, as for any API path


async def test_a_method_a_served_path_does_not_take_answers_405_with_allow(
    api: Api, world: World
) -> None:
    course = _plain(world)
    column = world.columns(course)[0].id
    for method, path, allow in [
        ("POST", "v3/courses", "GET,HEAD"),
        ("DELETE", f"v2/courses/{course.id}/gradebook/columns/{column}", "GET,HEAD"),
        ("PATCH", f"v1/courses/{course.id}/gradebook/logs", "GET,HEAD"),
        ("GET", "v1/oauth2/token", "POST"),
    ]:
        reply = await _send(api, method, path)
        assert method in _rest_exception(reply, 405)
        assert reply.headers["Allow"] == allow


async def test_a_single_grade_with_or_without_grade_details(api: Api, world: World) -> None:
    course = _plain(world)
    column = world.columns(course)[0]
    base = f"v2/courses/{course.id}/gradebook/columns/"
    rows = world.grade_rows(course, column)
    graded = rows[0]["userId"]
    status, row = await api.get(base + f"{column.id}/users/{graded}")
    assert (status, row) == (200, rows[0])
    body = world.user(world.user_index(graded))
    status, row = await api.get(
        base + f"{column.id}/users/userName:{body['userName']}?fields=score"
    )
    assert (status, row) == (200, {"score": rows[0]["score"]})
    fresh = world.add_student(course.id)
    status, row = await api.get(base + f"{column.id}/users/{fresh}")
    assert (status, row) == (200, {"userId": fresh, "columnId": column.id})
    status, row = await api.get(base + f"finalGrade/users/{graded}")
    assert status == 200 and row["changeIndex"] == 0
    status, _ = await api.get(base + f"{column.id}/users/_1_1")
    assert status == 404
    api.sim.faults.forbidden_columns = frozenset({column.id})
    status, _ = await api.get(base + f"{column.id}/users/{graded}")
    assert status == 403


async def test_one_child_and_the_cross_listing_set(api: Api, world: World) -> None:
    parent = next(c for c in world.courses if c.children)
    children = await api.walk(f"v1/courses/{parent.id}/children?expand=childCourse")
    child = children[1]["id"]
    status, one = await api.get(f"v1/courses/{parent.id}/children/{child}?expand=childCourse")
    assert (status, one) == (200, children[1])
    status, one = await api.get(f"v1/courses/{parent.id}/children/{child}?fields=id,parentId")
    assert one == {"id": child, "parentId": parent.id}
    plain = _plain(world).id
    status, _ = await api.get(f"v1/courses/{parent.id}/children/{plain}")
    assert status == 404
    status, body = await api.get(f"v1/courses/{plain}/children/{child}")
    assert (status, body["message"]) == (400, "Course not a cross-listed parent")
    links = [{k: v for k, v in c.items() if k != "childCourse"} for c in children]
    for course in (parent.id, child):
        assert await api.walk(f"v1/courses/{course}/crossListSet") == links
    assert await api.walk(f"v1/courses/{plain}/crossListSet") == []


async def test_one_category_and_one_user(api: Api, world: World) -> None:
    course = _plain(world).id
    categories = await api.walk(f"v1/courses/{course}/gradebook/categories")
    status, one = await api.get(f"v1/courses/{course}/gradebook/categories/{categories[2]['id']}")
    assert (status, one) == (200, categories[2])
    status, _ = await api.get(f"v1/courses/{course}/gradebook/categories/_1_1")
    assert status == 404
    user = world.student_ids(course)[0]
    status, body = await api.get(f"v1/users/{user}")
    assert (status, body) == (200, world.user(world.user_index(user)))
    status, body = await api.get(f"v1/users/externalId:{body['externalId']}?fields=id,name.given")
    assert set(body) == {"id", "name"} and set(body["name"]) == {"given"}
    status, _ = await api.get("v1/users/_1_1")
    assert status == 404
