"""The read endpoints as a Learn client sees them over HTTP: paging, fields, filters, ids."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.simulator.simclient import Api

from gradesync.simulator import World


def _graded_course(world: World) -> str:
    """A course that keeps its own gradebook (not a cross-listed parent or child)."""
    return next(
        c.id for c in world.courses if not c.children and c.parent is None and world.columns(c)
    )


async def test_paging_returns_every_row_once_and_next_page_keeps_the_query(api: Api) -> None:
    status, first = await api.get("v3/courses?limit=5&fields=id,name&availability.available=Yes")
    assert status == 200
    next_page = first["paging"]["nextPage"]
    assert next_page.startswith("/learn/api/public/v3/courses?")
    query = parse_qs(urlsplit(next_page).query)
    assert query == {
        "limit": ["5"],
        "fields": ["id,name"],
        "availability.available": ["Yes"],
        "offset": ["5"],
    }
    rows = await api.walk("v3/courses?limit=5&fields=id,name&availability.available=Yes")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    expected = [c.id for c in api.sim.world.courses if c.body["availability"]["available"] == "Yes"]
    assert ids == expected
    assert all(set(r) == {"id", "name"} for r in rows)


async def test_last_page_has_no_paging_and_default_limit_is_the_maximum(api: Api) -> None:
    status, body = await api.get("v3/courses")
    assert status == 200
    assert len(body["results"]) == 12  # fewer than the default of 100: one page
    assert "paging" not in body


async def test_limit_above_the_endpoint_maximum_is_refused_naming_it(api: Api) -> None:
    course = api.sim.world.course_ids()[0]
    for path, maximum in [
        ("v3/courses?limit=101", 100),
        (f"v1/courses/{course}/users?limit=201", 200),
        (f"v2/courses/{course}/gradebook/columns?limit=201", 200),
    ]:
        status, body = await api.get(path)
        assert status == 400
        assert str(maximum) in body["message"]
    status, _ = await api.get(f"v1/courses/{course}/users?limit=200")
    assert status == 200


async def test_column_grades_page_at_most_one_hundred(api: Api, world: World) -> None:
    course = world.resolve_course(_graded_course(world))
    column = world.columns(course)[0]
    for _ in range(90):
        world.set_score(course.id, column.id, world.add_student(course.id), 1.0)
    path = f"v2/courses/{course.id}/gradebook/columns/{column.id}/users"
    status, body = await api.get(path)
    assert status == 200
    assert len(body["results"]) == 100
    assert body["paging"]["nextPage"].endswith("?offset=100")
    status, _ = await api.get(path + "?limit=101")
    assert status == 400
    rows = await api.walk(path + "?limit=7")
    assert [r["userId"] for r in rows] == [r["userId"] for r in world.grade_rows(course, column)]


async def test_fields_select_dotted_names_and_omit_the_rest(api: Api, world: World) -> None:
    course = _graded_course(world)
    status, body = await api.get(
        f"v2/courses/{course}/gradebook/columns?fields=id,score.possible,grading.due"
    )
    assert status == 200
    for column in body["results"]:
        assert set(column) == {"id", "score", "grading"} or set(column) == {"id", "score"}
        assert set(column["score"]) == {"possible"}
        assert set(column.get("grading", {"due": 1})) == {"due"}
    status, body = await api.get(
        f"v1/courses/{course}/users?expand=user&fields=userId,user.externalId,user.name.family"
    )
    member = body["results"][0]
    assert set(member) == {"userId", "user"}
    assert set(member["user"]) == {"externalId", "name"}
    assert set(member["user"]["name"]) == {"family"}


async def test_change_index_filter_returns_only_later_rows(api: Api, world: World) -> None:
    course = world.resolve_course(_graded_course(world))
    column = world.columns(course)[0]
    students = [r["userId"] for r in world.grade_rows(course, column)]
    mark = world.change_index
    first = world.set_score(course.id, column.id, students[0], 4.5)
    second = world.clear_grade(course.id, column.id, students[1])
    path = f"v2/courses/{course.id}/gradebook/columns/{column.id}/users?changeIndex={mark}"
    status, body = await api.get(path)
    assert status == 200
    assert [(r["userId"], r["changeIndex"]) for r in body["results"]] == [
        (students[0], first),
        (students[1], second),
    ]
    cleared = body["results"][1]
    assert not {"score", "text", "displayGrade"} & set(cleared)


async def test_last_changed_is_a_bare_row_of_the_highest_change_index(
    api: Api, world: World
) -> None:
    course = world.resolve_course(_graded_course(world))
    column = world.columns(course)[0]
    base = f"v2/courses/{course.id}/gradebook/columns/"
    status, row = await api.get(base + f"{column.id}/users/lastChanged")
    assert status == 200
    rows = world.grade_rows(course, column)
    assert row == max(rows, key=lambda r: r["changeIndex"])
    user = world.student_ids(course.id)[-1]
    index = world.set_score(course.id, column.id, user, 2.0)
    status, row = await api.get(base + f"{column.id}/users/lastChanged")
    assert (row["userId"], row["changeIndex"]) == (user, index)
    assert "results" not in row


async def test_last_changed_is_204_for_a_new_column_and_for_calculated(
    api: Api, world: World
) -> None:
    course = _graded_course(world)
    new = world.add_column(course, "Quiz 9", possible=20.0)
    base = f"v2/courses/{course}/gradebook/columns/"
    for column in (new, "finalGrade"):
        reply = await api.raw(base + f"{column}/users/lastChanged")
        assert (reply.status, reply.body) == (204, b"")
    status, body = await api.get(base + f"{new}/users")
    assert (status, body) == (200, {"results": []})


async def test_cross_listed_parent_lists_its_childrens_students(api: Api, world: World) -> None:
    parent = next(c for c in world.courses if c.children)
    status, body = await api.get(f"v3/courses/{parent.id}?fields=id,hasChildren,parentId")
    assert body == {"id": parent.id, "hasChildren": True}
    children = await api.walk(f"v1/courses/{parent.id}/children")
    child_ids = [c["id"] for c in children]
    assert child_ids == [world.courses[i].id for i in parent.children]
    assert all(c["parentId"] == parent.id for c in children)
    for child_id in child_ids:
        status, child = await api.get(f"v3/courses/{child_id}?fields=parentId,hasChildren")
        assert child == {"parentId": parent.id, "hasChildren": False}
        status, columns = await api.get(f"v2/courses/{child_id}/gradebook/columns")
        assert columns["results"] == []  # grades of the set live in the parent
    members = await api.walk(f"v1/courses/{parent.id}/users?role=Student")
    by_child = {m["childCourseId"] for m in members}
    assert by_child == set(child_ids)
    assert all(m["courseId"] == parent.id for m in members)
    column = world.columns(parent)[0]
    grades = await api.walk(f"v2/courses/{parent.id}/gradebook/columns/{column.id}/users")
    assert {g["userId"] for g in grades} <= {m["userId"] for m in members}
    status, error = await api.get(f"v1/courses/{child_ids[0]}/children")
    assert status == 400
    assert error["message"] == "Course not a cross-listed parent"


async def test_disabled_memberships_are_hidden_from_grades_unless_asked(
    api: Api, world: World
) -> None:
    course = world.resolve_course(_graded_course(world))
    column = world.columns(course)[0]
    user = next(r["userId"] for r in world.grade_rows(course, column))
    world.disable_membership(course.id, user)
    path = f"v2/courses/{course.id}/gradebook/columns/{column.id}/users"
    assert user not in {r["userId"] for r in await api.walk(path)}
    assert user in {r["userId"] for r in await api.walk(path + "?includeDisabledMemberships=true")}
    members = await api.walk(f"v1/courses/{course.id}/users?availability.available=Disabled")
    assert user in {m["userId"] for m in members}


async def test_secondary_ids_resolve_but_an_encoded_colon_does_not(api: Api, world: World) -> None:
    course = world.courses[1].body
    for ref in (f"externalId:{course['externalId']}", f"courseId:{course['courseId']}",
                f"uuid:{course['uuid']}", course["id"]):  # fmt: skip
        status, body = await api.get(f"v3/courses/{ref}?fields=id")
        assert (status, body) == (200, {"id": course["id"]}), ref
    status, body = await api.get(f"v3/courses/externalId%3A{course['externalId']}", encoded=True)
    assert status == 404
    assert isinstance(body["status"], int)
    assert len(body["extraInfo"]) == 32
    status, _ = await api.get("v3/courses/_999999_1")
    assert status == 404
    column = world.resolve_course(_graded_course(world))
    first = world.columns(column)[0]
    status, body = await api.get(
        f"v2/courses/{column.id}/gradebook/columns/externalId:{first.external_id}?fields=id"
    )
    assert body == {"id": first.id}


async def test_course_filters_match_learns_parameters(api: Api, world: World) -> None:
    spring = await api.walk("v3/courses?termId=externalId:2026-SP&fields=id,termId")
    assert spring
    assert {c["termId"] for c in spring} == {"_12_1"}
    source = await api.walk("v3/courses?dataSourceId=_21_1&fields=dataSourceId")
    assert {c["dataSourceId"] for c in source} == {"_21_1"}
    cutoff = sorted(c.body["created"] for c in world.courses)[6]
    newer = await api.walk(f"v3/courses?created={cutoff}&createdCompare=greaterOrEqual")
    older = await api.walk(f"v3/courses?created={cutoff}&createdCompare=lessThan")
    assert len(newer) + len(older) == len(world.courses)
    assert all(c["created"] >= cutoff for c in newer)
    by_name = await api.walk("v3/courses?sort=courseId(desc)&fields=courseId")
    names = [c["courseId"] for c in by_name]
    assert names == sorted(names, reverse=True)
