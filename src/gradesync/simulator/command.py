"""``gradesync simulate``: serve a simulated Learn site until SIGINT or SIGTERM.

The first three lines on stdout are for programs to parse (``base_url: ...``, ``client_id:
...``, ``client_secret: ...``); a curl hint follows. Both entry points exist: ``main(args,
signals)`` for a command line that owns the event loop and turns the signals of ``HANDLES``
into events (``signals.stop``), and ``run(args)`` for one that calls commands synchronously.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass
from typing import Protocol

from gradesync.simulator.activity import ActivityModel
from gradesync.simulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from gradesync.simulator.faults import Faults
from gradesync.simulator.routes import PREFIX
from gradesync.simulator.server import serve
from gradesync.simulator.world import World, WorldSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--seed", type=int, default=1, help="the world's seed")
    parser.add_argument("--courses", type=int, default=20)
    parser.add_argument("--columns", type=int, default=8, help="columns per course, with Total")
    parser.add_argument("--students", type=int, default=25, help="students per course")
    parser.add_argument(
        "--cross-listed-parents", type=int, default=None, help="default: 2 (fewer if small)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to each request")
    parser.add_argument("--rate-429", type=float, default=0.0, help="share answered 429")
    parser.add_argument("--rate-5xx", type=float, default=0.0, help="share answered 5xx")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of dropped connections")
    parser.add_argument("--malformed-rate", type=float, default=0.0, help="share of cut bodies")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds")
    parser.add_argument("--daily-quota", type=int, default=None, help="default: unlimited")
    parser.add_argument(
        "--activity",
        choices=("uniform", "realistic"),
        default="uniform",
        help="uniform: --activity-per-minute random edits; realistic: grading as it happens "
        "over a term (docs/activity.md), on the simulator's clock",
    )
    parser.add_argument(
        "--activity-week",
        type=int,
        default=None,
        help="realistic activity: the term week it starts in (default: 8 of 15)",
    )
    parser.add_argument("--activity-per-minute", type=float, default=0.0, help="random edits")
    parser.add_argument(
        "--activity-bulk-share",
        type=float,
        default=0.0,
        help="share of activity ticks that edit several grades at one instant",
    )
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)


def _world(args: argparse.Namespace) -> World:
    parents = args.cross_listed_parents
    if parents is None:
        parents = min(2, args.courses // 3)
    spec = WorldSpec(
        seed=args.seed,
        courses=args.courses,
        columns_per_course=args.columns,
        students_per_course=args.students,
        cross_listed_parents=parents,
    )
    return World(spec)


def _activity(args: argparse.Namespace) -> ActivityModel | None:
    """The realistic activity the options ask for (None for the uniform one)."""
    if args.activity == "uniform":
        if args.activity_week is not None:
            raise ValueError("--activity-week is for --activity realistic")
        return None
    if args.activity_per_minute or args.activity_bulk_share:
        raise ValueError("--activity-per-minute and --activity-bulk-share are for the uniform one")
    if args.activity_week is None:
        return ActivityModel()
    return ActivityModel(start_week=args.activity_week)


def _faults(args: argparse.Namespace) -> Faults:
    return Faults(
        latency=args.latency_ms / 1000,
        rate_429=args.rate_429,
        rate_5xx=args.rate_5xx,
        drop_rate=args.drop_rate,
        malformed_rate=args.malformed_rate,
        token_lifetime=args.token_lifetime,
        daily_quota=args.daily_quota,
        seed=args.seed,
    )


HANDLES = frozenset({"stop"})


class StopSignal(Protocol):
    """What ``main`` needs of the command line's signals: an event set by SIGTERM or SIGINT."""

    @property
    def stop(self) -> asyncio.Event: ...


@dataclass(frozen=True)
class _Stop:
    stop: asyncio.Event


async def main(args: argparse.Namespace, signals: StopSignal) -> int:
    """Serve until ``signals.stop`` is set; 2 when the options describe no possible world."""
    try:
        world, faults, activity = _world(args), _faults(args), _activity(args)
        if not 0 <= args.activity_bulk_share <= 1:
            raise ValueError("--activity-bulk-share must be between 0 and 1")
    except ValueError as exc:
        print(f"gradesync simulate: {exc}", file=sys.stderr)
        return 2
    async with serve(
        world,
        faults=faults,
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        activity_per_minute=args.activity_per_minute,
        activity_bulk_share=args.activity_bulk_share,
        activity=activity,
    ) as sim:
        print(f"base_url: {sim.base_url}")
        print(f"client_id: {sim.client_id}")
        print(f"client_secret: {sim.client_secret}")
        print(
            f"try: curl -s -u {sim.client_id}:{sim.client_secret} -d grant_type=client_credentials"
            f" {sim.base_url}{PREFIX}v1/oauth2/token"
        )
        sys.stdout.flush()
        await signals.stop.wait()
    return 0


def run(args: argparse.Namespace) -> int:
    """The synchronous entry point: SIGINT and SIGTERM stop the server, exit 0."""

    async def serve_until_signalled() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await main(args, _Stop(stop))

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(serve_until_signalled())
    return 0
