"""``gradesync status``: what the state holds, as a readable table or as JSON for scripts."""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from gradesync.commands.common import add_config_argument, load
from gradesync.config import format_duration
from gradesync.daemon import open_store
from gradesync.store import CourseStatus, CourseStructure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _pace(course: CourseStatus) -> str:
    """The scheduler's pace of the course and its estimated grade edits a day, "-" unknown."""
    if course.rate_per_day is None:
        return course.pace or "-"
    return f"{course.pace or '-'} {course.rate_per_day:.1f}/d"


def _strategy(course: CourseStatus, configured: str) -> str:
    """How the course is read now: on its gradebook log, or by changeIndex (and why)."""
    if course.log_fallback:
        return f"changeindex (log: {course.log_fallback[:40]})"
    if course.log_cursor is not None or course.last_sweep is not None:
        return "changelog"
    return "changeindex" if configured in ("auto", "changelog") else configured


def _delays(sorted_delays: list[float]) -> dict[str, float]:
    """Count, p50 and p95 of detection delays given in ascending order (nearest rank)."""
    if not sorted_delays:
        return {"count": 0}

    def rank(q: float) -> float:
        return sorted_delays[min(len(sorted_delays) - 1, max(0, round(q * len(sorted_delays)) - 1))]

    return {"count": len(sorted_delays), "p50_s": rank(0.5), "p95_s": rank(0.95)}


def _age(now: datetime, moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    return format_duration(timedelta(seconds=seconds))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _cursor_summary(structure: CourseStructure) -> dict[str, Any]:
    """Where reading resumes: the highest ``changeIndex`` cursor, the oldest full read."""
    cursors = structure.cursors.values()
    full_reads = [c.full_read_at for c in cursors if c.full_read_at is not None]
    return {
        "max_change_index": max((c.change_index for c in cursors), default=None),
        "oldest_full_read": min(full_reads) if full_reads else None,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    now, stuck_after = datetime.now(UTC), settings.sync.stuck_after
    strategy = settings.sync.strategy
    async with open_store(settings) as store:
        status = await store.status()
        courses = await store.course_status()
        delays = await store.detection_delays()
        dead = await store.dead_letters()
        aside = await store.set_aside_rows()
        cursors = {
            c.course_id: _cursor_summary(await store.structure(c.course_id)) for c in courses
        }
    if args.json:
        print(
            json.dumps(
                _plain(
                    {
                        "state": dataclasses.asdict(status),
                        "courses": [
                            {
                                **dataclasses.asdict(c),
                                "stuck": c.stuck(now, stuck_after),
                                "strategy": _strategy(c, strategy),
                                "cursor": cursors[c.course_id],
                            }
                            for c in courses
                        ],
                        "dead_letters": [dataclasses.asdict(d) for d in dead],
                        "detection_delay_last_day": _delays(delays),
                        "set_aside": [dataclasses.asdict(r) for r in aside],
                    }
                ),
                indent=2,
            )
        )
        return 0
    print(
        f"state {status.path} (schema {status.schema_version}): {status.courses} courses, "
        f"{status.columns} columns, {status.grades} grades, {status.events} events"
    )
    if status.last_cycle:
        c = status.last_cycle
        verdict = "running" if c.finished is None else "ok" if c.ok else f"failed: {c.error or ''}"
        print(f"last cycle: {c.course_id} at {_when(c.finished or c.started)} {verdict}")
    if delays:
        summary = _delays(delays)
        p50, p95 = (
            format_duration(timedelta(seconds=round(summary[q]))) for q in ("p50_s", "p95_s")
        )
        print(
            "detection delay over the last day of commits (log entry to commit, "
            f"{summary['count']} changes): p50 {p50}, p95 {p95}"
        )
    stuck = [c for c in courses if c.stuck(now, stuck_after)]
    if stuck:
        print(
            f"{len(stuck)} courses stuck: a cycle has run for over "
            f"{format_duration(stuck_after)} ({', '.join(c.course_id for c in stuck[:10])})"
        )
    print()
    print(
        _table(
            [
                "course",
                "name",
                "columns",
                "grades",
                "cursor",
                "oldest full read",
                "last success",
                "failing since",
                "next due",
                "pace",
                "running since",
                "strategy",
                "log cursor age",
                "last sweep",
                "last error",
            ],
            [
                [
                    c.course_id,
                    (c.name or "")[:30],
                    str(c.columns),
                    str(c.grades),
                    str(cursors[c.course_id]["max_change_index"] or "-"),
                    _when(cursors[c.course_id]["oldest_full_read"]),
                    _when(c.last_success),
                    _when(c.error_since),
                    _when(c.next_due),
                    _pace(c),
                    _when(c.running_since) + (" STUCK" if c.stuck(now, stuck_after) else ""),
                    _strategy(c, strategy),
                    _age(now, c.log_cursor),
                    _when(c.last_sweep),
                    (c.last_error or "")[:60],
                ]
                for c in courses
            ],
        )
    )
    print()
    print(
        _table(
            ["sink", "delivered to", "outbox depth", "dead", "rejected", "unmapped", "state"],
            [
                [
                    s.name,
                    str(s.position),
                    str(s.depth),
                    str(s.dead),
                    str(s.rejected),
                    str(s.unmapped),
                    f"DISABLED: {s.disabled_reason}" if s.disabled else "active",
                ]
                for s in status.sinks
            ],
        )
    )
    if aside:
        print()
        print(
            f"rows from Learn set aside: {len(aside)} (they cannot be represented faithfully; "
            "retried each cycle, resolved when Learn sends them good)"
        )
        print(
            _table(
                ["course", "kind", "column", "user", "since", "reason"],
                [
                    [
                        r.course_id,
                        r.kind,
                        r.column_id or "?",  # an id Learn sent unusable
                        r.user_id or ("?" if r.kind == "grade" else "-"),
                        _when(r.first_seen),
                        r.reason[:70],
                    ]
                    for r in aside[:20]
                ],
            )
        )
    if dead:
        print()
        print(
            _table(
                ["sink", "kind", "event", "when", "reason"],
                [[d.sink, d.kind, d.event_id[:12], _when(d.at), d.reason[:70]] for d in dead[-20:]],
            )
        )
    return 0
