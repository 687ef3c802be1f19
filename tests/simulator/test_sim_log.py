"""The gradebook log over HTTP: its parameters, which edits it holds, and its derived history."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.simulator.simclient import Api

from gradesync.clock import ManualClock
from gradesync.simulator import World, WorldSpec
from gradesync.simulator.derive import iso, parse_primary
from gradesync.simulator.site import SimCourse

LOGGED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MINUTE = timedelta(minutes=1)


def _plain(world: World) -> SimCourse:
    """A course with its own gradebook (not part of a cross-listed set)."""
    return next(c for c in world.courses if not c.children and c.parent is None)


def _logs(course: str, query: str = "") -> str:
    return f"v1/courses/{course}/gradebook/logs" + (f"?{query}" if query else "")


def _when(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["logged"])


def _number(entry_id: str) -> int:
    number = parse_primary(entry_id)
    assert number is not None, entry_id
    return number


def _desc(logged: str) -> list[int]:
    """A timestamp as a key that sorts it descending."""
    return [-ord(ch) for ch in logged]


def _student_with_grade(world: World, course: SimCourse, column: str) -> str:
    return next(r["userId"] for r in world.grade_rows(course, world.resolve_column(course, column)))


# -- the parameters ------------------------------------------------------------------------------


async def test_course_log_lists_its_entries_by_id_in_learns_shape(api: Api, world: World) -> None:
    course = _plain(world)
    entries = await api.walk(_logs(course.id))
    assert entries == world.log_entries(course.id)
    assert len(entries) > 100  # more than a page: the walk followed nextPage
    numbers = [_number(e["id"]) for e in entries]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    inputs = {c.id for c in world.columns(course) if not c.calculated}
    for entry in entries:
        assert {"id", "gradebookColumnId", "logged", "user"} <= set(entry)
        assert entry["gradebookColumnId"] in inputs
        assert LOGGED.fullmatch(entry["logged"])
        assert set(entry["user"]) == {"userId"}


async def test_since_is_inclusive_and_until_exclusive(
    api: Api, world: World, clock: ManualClock
) -> None:
    course = _plain(world)
    history = world.log_entries(course.id)
    mark = history[len(history) // 2]["logged"]
    after = await api.walk(_logs(course.id, f"since={mark}"))
    before = await api.walk(_logs(course.id, f"until={mark}"))
    assert after[0]["logged"] == mark
    assert before + after == history
    assert all(e["logged"] < mark for e in before)
    # An edit made now is logged at the clock's time, to the millisecond.
    await clock.advance(90.25)
    column = world.columns(course)[0].id
    world.set_score(course.id, column, _student_with_grade(world, course, column), 3.0)
    now = clock.now()
    one_ms = timedelta(milliseconds=1)
    window = [
        (f"since={iso(now)}", 1),
        (f"since={iso(now + one_ms)}", 0),
        (f"since={iso(now - one_ms)}&until={iso(now)}", 0),
        (f"since={iso(now)}&until={iso(now + one_ms)}", 1),
    ]
    for query, count in window:
        assert len(await api.walk(_logs(course.id, query))) == count, query
    (entry,) = await api.walk(_logs(course.id, f"since={iso(now)}"))
    assert entry["logged"] == iso(now) == "2026-01-05T08:01:30.250Z"


async def test_user_filter_takes_any_form_of_user_id(api: Api, world: World) -> None:
    course = _plain(world)
    user = world.student_ids(course.id)[3]
    body = world.user(world.user_index(user))
    mine = await api.walk(_logs(course.id, f"user.userId={user}"))
    assert mine and {e["user"]["userId"] for e in mine} == {user}
    assert mine == world.log_entries(course.id, user_id=user)
    external = await api.walk(_logs(course.id, f"user.userId=externalId:{body['externalId']}"))
    assert external == mine
    status, nobody = await api.get(_logs(course.id, "user.userId=_1_1"))
    assert (status, nobody) == (200, {"results": []})


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("id", lambda e: [_number(e["id"])]),
        ("id(desc)", lambda e: [-_number(e["id"])]),
        ("logged", lambda e: [e["logged"], _number(e["id"])]),
        ("logged(desc)", lambda e: [_desc(e["logged"]), _number(e["id"])]),
        ("gradebookColumnId", lambda e: [_number(e["gradebookColumnId"]), _number(e["id"])]),
        ("gradebookColumnId(desc)",
         lambda e: [-_number(e["gradebookColumnId"]), _number(e["id"])]),
        ("gradebookColumnId(desc),logged(desc)",
         lambda e: [-_number(e["gradebookColumnId"]), _desc(e["logged"]), _number(e["id"])]),
    ],
)  # fmt: skip
async def test_each_sort_and_its_descending_order(
    api: Api, world: World, sort: str, key: Any
) -> None:
    course = _plain(world)
    # A bulk edit, so that entries tie on logged and on column.
    column = world.columns(course)[1].id
    users = [r["userId"] for r in world.grade_rows(course, world.resolve_column(course, column))]
    world.set_scores(course.id, {(column, u): 1.0 for u in users[:3]})
    entries = await api.walk(_logs(course.id, f"sort={sort}&limit=50"))
    assert len(entries) == len(world.log_entries(course.id))
    assert entries == sorted(entries, key=key)


async def test_paging_follows_the_other_lists(api: Api, world: World) -> None:
    course = _plain(world)
    query = "sort=logged(desc)&since=2025-11-01T00:00:00.000Z&fields=id,logged&limit=7"
    status, first = await api.get(_logs(course.id, query))
    assert status == 200 and len(first["results"]) == 7
    next_page = first["paging"]["nextPage"]
    assert next_page.startswith(f"/learn/api/public/v1/courses/{course.id}/gradebook/logs?")
    assert parse_qs(urlsplit(next_page).query) == {
        "sort": ["logged(desc)"],
        "since": ["2025-11-01T00:00:00.000Z"],
        "fields": ["id,logged"],
        "limit": ["7"],
        "offset": ["7"],
    }
    walked = await api.walk(_logs(course.id, query))
    unpaged = _logs(course.id, "sort=logged(desc)&since=2025-11-01T00:00:00.000Z")
    assert [e["id"] for e in walked] == [e["id"] for e in await api.walk(unpaged)]
    status, whole = await api.get(unpaged)
    assert len(whole["results"]) == 100 and "nextPage" in whole["paging"]  # default: 100
    status, body = await api.get(_logs(course.id, "limit=101"))
    assert status == 400 and "100" in body["message"]
    status, body = await api.get(_logs(course.id, "limit=100"))
    assert status == 200


async def test_fields_select_dotted_names(api: Api, world: World) -> None:
    course = _plain(world)
    status, body = await api.get(_logs(course.id, "fields=id,user.userId,logged&limit=5"))
    assert status == 200
    assert all(set(e) == {"id", "user", "logged"} and set(e["user"]) == {"userId"}
               for e in body["results"])  # fmt: skip
    status, body = await api.get(_logs(course.id, "fields=gradebookColumnId&limit=5"))
    assert all(set(e) == {"gradebookColumnId"} for e in body["results"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "Invalid date for since: yesterday"),
        ("until=2025-13-45T00:00:00.000Z", "Invalid date for until"),
        ("sort=name", "Invalid sort field: name"),
        ("sort=logged(up)", "Invalid sort field"),
    ],
)
async def test_a_bad_date_or_sort_is_a_400_rest_exception(
    api: Api, world: World, query: str, message: str
) -> None:
    course = _plain(world)
    for path in (_logs(course.id, query),
                 f"v1/courses/{course.id}/gradebook/columns/finalGrade/logs?{query}"):  # fmt: skip
        status, body = await api.get(path)
        assert status == 400
        assert body["status"] == 400 and message in body["message"]
        assert re.fullmatch(r"[0-9a-f]{32}", body["extraInfo"])


async def test_column_log_takes_primary_external_and_final_grade_ids(
    api: Api, world: World
) -> None:
    course = _plain(world)
    column = next(c for c in world.columns(course) if c.external_id and c.graded)
    base = f"v1/courses/{course.id}/gradebook/columns/"
    mine = await api.walk(base + f"{column.id}/logs")
    assert mine and {e["gradebookColumnId"] for e in mine} == {column.id}
    assert mine == world.log_entries(course.id, column.id)
    assert await api.walk(base + f"externalId:{column.external_id}/logs") == mine
    assert await api.walk(base + "finalGrade/logs") == []  # calculated: never logged
    status, _ = await api.get(base + "_1_1/logs")
    assert status == 404
    status, _ = await api.get(_logs("_1_1"))
    assert status == 404


# -- what is logged ------------------------------------------------------------------------------


async def test_each_kind_of_edit_is_logged_at_its_time(
    api: Api, world: World, clock: ManualClock
) -> None:
    course = _plain(world)
    column = world.columns(course)[0].id
    user = _student_with_grade(world, course, column)
    before = world.grade(course.id, column, user)
    assert before is not None
    edits = [
        lambda: world.set_score(course.id, column, user, 7.5),
        lambda: world.set_text(course.id, column, user, "B+"),
        lambda: world.set_exempt(course.id, column, user, True),
        lambda: world.clear_grade(course.id, column, user),
    ]
    times = []
    for edit in edits:
        await clock.advance(61.5)
        edit()
        times.append(iso(clock.now()))
    since = iso(world.started)
    got = await api.walk(_logs(course.id, f"since={since}"))
    assert [e["logged"] for e in got] == times
    assert {e["gradebookColumnId"] for e in got} == {column}
    assert {e["user"]["userId"] for e in got} == {user}
    score, text, exempt, cleared = got
    assert (score["score"], score["previousScore"], score["exempt"]) == (
        7.5, before["score"], False)  # fmt: skip
    assert (text["text"], text["score"]) == ("B+", 7.5)
    assert exempt["exempt"] is True
    assert "score" not in cleared and "text" not in cleared and cleared["previousScore"] == 7.5
    kinds = [(e.kind, iso(e.at), e.logged) for e in world.edit_log(course.id)]
    assert kinds == [(k, t, True) for k, t in zip(["score", "text", "exempt", "clear"], times,
                                                   strict=True)]  # fmt: skip


async def test_calculated_columns_deletions_and_enrolments_leave_no_entry(
    api: Api, world: World, clock: ManualClock
) -> None:
    course = _plain(world)
    since = f"since={iso(world.started)}"
    total = world.grade(course.id, "finalGrade", world.student_ids(course.id)[0])
    await clock.advance(120)
    added = world.add_column(course.id, "Lab 1", possible=10)
    student = world.add_student(course.id)
    world.remove_student(course.id, world.student_ids(course.id)[1])
    world.disable_membership(course.id, world.student_ids(course.id)[2])
    doomed = world.columns(course)[1].id
    world.delete_column(course.id, doomed)
    assert await api.walk(_logs(course.id, since)) == []
    # A grade in the new column, for the new student: one entry, none for the Total it moves.
    world.set_score(course.id, added, student, 9.0)
    (entry,) = await api.walk(_logs(course.id, since))
    assert (entry["gradebookColumnId"], entry["user"]["userId"]) == (added, student)
    assert world.grade(course.id, "finalGrade", student) is not None and total is not None
    # A deleted column's entries go with it; its log is gone.
    assert doomed not in {e["gradebookColumnId"] for e in await api.walk(_logs(course.id))}
    status, _ = await api.get(f"v1/courses/{course.id}/gradebook/columns/{doomed}/logs")
    assert status == 404


async def test_a_bulk_edit_logs_its_grades_at_one_instant(
    api: Api, world: World, clock: ManualClock
) -> None:
    course = _plain(world)
    first, second = world.columns(course)[0].id, world.columns(course)[2].id
    users = world.student_ids(course.id)[:3]
    await clock.advance(30)
    indexes = world.set_scores(
        course.id, {(first, users[0]): 1.0, (first, users[1]): 2.0, (second, users[2]): 3.0}
    )
    assert indexes == list(range(indexes[0], indexes[0] + 3))
    entries = await api.walk(_logs(course.id, f"since={iso(world.started)}"))
    assert [e["score"] for e in entries] == [1.0, 2.0, 3.0]
    assert {e["logged"] for e in entries} == {iso(clock.now())}
    # Every target is checked first: one bad user, no edit at all.
    with pytest.raises(LookupError):
        world.set_scores(course.id, {(first, users[0]): 5.0, (first, "_1_1"): 5.0})
    assert len(world.edit_log()) == 3


async def test_bulk_edits_over_the_control_api_and_from_activity(
    api: Api, world: World, clock: ManualClock
) -> None:
    course = _plain(world)
    column = world.columns(course)[0].id
    users = world.student_ids(course.id)[:2]
    scores = [{"columnId": column, "userId": u, "score": 4} for u in users]
    status, body = await _control(api, "grades/bulk", {"courseId": course.id, "scores": scores})
    assert status == 200 and len(body["changeIndexes"]) == 2
    assert len({e.at for e in world.edit_log()}) == 1
    status, _ = await _control(api, "activity", {"perMinute": 1, "bulkShare": 1})
    assert status == 200
    await clock.advance(0)
    for _ in range(3):
        await clock.advance(60)
    api.sim.set_activity(0)
    made = world.edit_log()[2:]
    async with api.session.get(f"{api.sim.base_url}/__simulator__/state") as reply:
        activity = (await reply.json())["activity"]
    assert activity["bulkShare"] == 1
    assert len(made) == activity["edits"] >= 6  # each tick edits 2 or more
    assert len({e.at for e in made}) == 3
    status, _ = await _control(api, "activity", {"perMinute": 1, "bulkShare": 2})
    assert status == 400


# -- the derived history -------------------------------------------------------------------------


def test_history_is_spread_over_the_weeks_before_the_start_a_minute_apart(world: World) -> None:
    start = world.started
    bulk_seen = 0
    for course in world.courses:
        entries = world.log_entries(course.id)
        if course.parent is not None:
            assert entries == []  # a child's grades live in its parent's gradebook
            continue
        assert entries, course.id
        times = [_when(e) for e in entries]
        assert times == sorted(times)  # ids follow time within a course
        assert start - timedelta(weeks=8) < times[0] and times[-1] <= start - MINUTE
        assert times[-1] - times[0] > timedelta(weeks=2)
        assert times[-1] > start - timedelta(days=1)
        for scope in [entries] + [
            [e for e in entries if e["gradebookColumnId"] == c.id] for c in world.columns(course)
        ]:
            instants = sorted({_when(e) for e in scope})
            assert all(b - a >= MINUTE for a, b in itertools.pairwise(instants))
        by_instant: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            by_instant.setdefault(entry["logged"], []).append(entry)
        for group in by_instant.values():
            if len(group) > 1:  # a bulk upload: one column, one student each
                bulk_seen += 1
                assert len({e["gradebookColumnId"] for e in group}) == 1
                assert len({e["user"]["userId"] for e in group}) == len(group)
    assert bulk_seen > 0


def test_history_ends_in_each_grade_as_the_world_serves_it(world: World) -> None:
    course = _plain(world)
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in world.log_entries(course.id):
        last[entry["gradebookColumnId"], entry["user"]["userId"]] = entry
    graded = 0
    for column in world.columns(course):
        for row in world.grade_rows(course, column, include_disabled=True):
            if column.calculated:
                continue
            entry = last[column.id, row["userId"]]
            assert (entry.get("score"), entry.get("text"), entry["exempt"]) == (
                row.get("score"), row.get("text"), row["exempt"])  # fmt: skip
            graded += 1
    assert graded == len(last)
    kinds = world.log_entries(course.id)
    assert any("previousScore" in e for e in kinds)  # regrades
    assert any(e.get("text") for e in kinds) or any(e["exempt"] for e in kinds)


def test_history_is_derived_from_the_seed() -> None:
    spec = WorldSpec(seed=5, courses=9, columns_per_course=5, students_per_course=12)
    first, second = World(spec, clock=ManualClock()), World(spec, clock=ManualClock())
    other = World(WorldSpec(seed=6, courses=9, columns_per_course=5, students_per_course=12),
                  clock=ManualClock())  # fmt: skip
    for course in first.course_ids():
        assert first.log_entries(course) == second.log_entries(course)
    assert first.log_entries("_1006_1") != other.log_entries("_1006_1")
    # The history keeps its ids whatever changes: a column deleted, a student removed.
    course = "_1006_1"
    before = {e["id"]: e for e in first.log_entries(course)}
    column = first.column_ids(course)[0]
    first.delete_column(course, column)
    student = first.student_ids(course)[0]
    first.remove_student(course, student)
    after = first.log_entries(course)
    assert all(before[e["id"]] == e for e in after)
    assert {e["id"] for e in before.values() if e["gradebookColumnId"] != column} == {
        e["id"] for e in after
    }


async def test_a_read_since_the_start_derives_no_history(api: Api, world: World) -> None:
    course = _plain(world)
    status, body = await api.get(_logs(course.id, f"since={iso(world.started)}"))
    assert (status, body) == (200, {"results": []})
    assert world.log.derived == 0
    await api.get(_logs(course.id, "limit=1"))
    assert world.log.derived == 1


def test_an_institution_log_is_derived_one_course_at_a_time() -> None:
    world = World(WorldSpec(seed=1, courses=2_000, columns_per_course=20, students_per_course=40))
    course = world.courses[1_234]
    entries = world.log_entries(course.id)
    assert len(entries) > 19 * 40  # every grade of 19 input columns, some more than once
    assert world.log.derived == 1
    for other in world.courses[:100]:
        world.log_entries(other.id, since=world.started)
    assert world.log.derived == 1
    ids = {e["id"] for e in entries}
    assert ids.isdisjoint(e["id"] for e in world.log_entries(world.courses[1_235].id))


# -- the knobs -----------------------------------------------------------------------------------


async def _control(api: Api, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with api.session.post(f"{api.sim.base_url}/__simulator__/{path}", json=body) as reply:
        return reply.status, await reply.json()


async def test_unlogged_edits_are_kept_with_their_time_but_leave_no_entry(
    api: Api, world: World, clock: ManualClock
) -> None:
    course = _plain(world)
    column = world.columns(course)[0].id
    user = world.student_ids(course.id)[0]
    since = f"since={iso(world.started)}"
    world.log_edits = False
    await clock.advance(10.0004)
    world.set_score(course.id, column, user, 1.0)
    status, body = await _control(api, "gradebook-log", {"logEdits": True})
    assert (status, body) == (200, {"logEdits": True})
    world.set_score(course.id, column, user, 2.0)
    status, _ = await _control(api, "gradebook-log", {"logEdits": False})
    world.clear_grade(course.id, column, user)
    status, _ = await _control(api, "gradebook-log", {"logEdits": "no"})
    assert status == 400
    (entry,) = await api.walk(_logs(course.id, since))
    assert entry["score"] == 2.0
    edits = world.edit_log()
    assert [(e.kind, e.logged) for e in edits] == [("score", False), ("score", True),
                                                  ("clear", False)]  # fmt: skip
    assert edits[0].at == clock.now()  # the true time, to the microsecond
    assert entry["logged"] == iso(edits[1].at)
    async with api.session.get(f"{api.sim.base_url}/__simulator__/edits") as reply:
        listed = (await reply.json())["edits"]
    assert [e["entryId"] for e in listed] == [None, entry["id"], None]
    assert listed[0] | {"entryId": None} == {
        "at": clock.now().isoformat(), "kind": "score", "courseId": course.id,
        "columnId": column, "userId": user, "changeIndex": edits[0].change_index,
        "entryId": None,
    }  # fmt: skip
    assert api.sim.edits == edits


async def test_a_cleared_history_drops_the_courses_entries_so_far(
    api: Api, world: World, clock: ManualClock
) -> None:
    course, other = _plain(world), world.courses[7]
    column = world.columns(course)[0].id
    user = world.student_ids(course.id)[0]
    world.set_score(course.id, column, user, 1.0)
    kept = world.log_entries(other.id)
    world.clear_log(course.id)
    assert await api.walk(_logs(course.id)) == []
    assert world.log_entries(other.id) == kept
    await clock.advance(5)
    world.set_score(course.id, column, user, 2.0)
    (entry,) = await api.walk(_logs(course.id))
    assert entry["score"] == 2.0
    status, _ = await _control(api, "gradebook-log/clear", {"courseId": other.id})
    assert status == 200
    assert await api.walk(_logs(other.id)) == []
    status, _ = await _control(api, "gradebook-log/clear", {"courseId": "_1_1"})
    assert status == 404
    assert len(world.edit_log()) == 2  # the edits themselves are still known


async def test_missing_entitlements_answer_403(api: Api, world: World) -> None:
    course = _plain(world)
    status, body = await _control(api, "faults", {"forbidden_logs": True})
    assert status == 200 and body["forbidden_logs"] is True
    column = world.columns(course)[0].id
    for path in (_logs(course.id), f"v1/courses/{course.id}/gradebook/columns/{column}/logs"):
        status, body = await api.get(path)
        assert (status, body["status"], body["message"]) == (403, 403, "Access Denied")
    status, _ = await api.get(f"v2/courses/{course.id}/gradebook/columns/{column}/users")
    assert status == 200  # the grades are still readable
    api.sim.faults.forbidden_logs = False
    assert (await api.raw(_logs(course.id))).status == 200


async def test_an_older_learn_has_no_log_and_says_so_in_its_version(api: Api, world: World) -> None:
    course = _plain(world)
    status, version = await api.get("v1/system/version")
    learn = version["learn"]
    assert (learn["major"], learn["minor"]) >= (3900, 71)
    assert (learn["major"], learn["minor"], learn["patch"]) == (3900, 123, 0)
    status, _ = await _control(api, "faults", {"learn_version": "3900.70.0"})
    assert status == 200
    status, version = await api.get("v1/system/version")
    assert (version["learn"]["major"], version["learn"]["minor"]) == (3900, 70)
    column = world.columns(course)[0].id
    for path in (_logs(course.id), f"v1/courses/{course.id}/gradebook/columns/{column}/logs"):
        status, body = await api.get(path)
        assert (status, body["status"]) == (404, 404)
    api.sim.faults.learn_version = "3900.71.0"
    assert (await api.raw(_logs(course.id))).status == 200
    status, _ = await _control(api, "faults", {"learn_version": "latest"})
    assert status == 400
    assert api.sim.faults.learn_version == "3900.71.0"


def test_log_times_are_on_the_worlds_clock() -> None:
    clock = ManualClock(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    spec = WorldSpec(seed=2, courses=6, columns_per_course=3, students_per_course=5,
                     cross_listed_parents=0)  # fmt: skip
    world = World(spec, clock=clock)
    assert world.started == clock.now()
    entries = world.log_entries("_1005_1")
    assert entries and _when(entries[-1]) <= clock.now() - MINUTE
