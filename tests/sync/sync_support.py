"""What the engine tests share: the real client and a real SQLite file against the simulator,
on one manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from gradesync.clock import ManualClock
from gradesync.learn import LearnClient, LearnSettings
from gradesync.learn.quota import RequestGate
from gradesync.simulator import Faults, Simulator, World, WorldSpec, serve
from gradesync.store import SQLiteStateStore
from gradesync.sync.cycle import Strategy, Syncer, SyncOptions
from gradesync.sync.selection import Selection


@dataclass
class Engine:
    sim: Simulator
    client: LearnClient
    store: SQLiteStateStore
    syncer: Syncer
    clock: ManualClock


@asynccontextmanager
async def open_engine(
    tmp: Path,
    spec: WorldSpec,
    *,
    strategy: Strategy = "auto",
    faults: Faults | None = None,
    gate: RequestGate | None = None,
    clock: ManualClock | None = None,
) -> AsyncIterator[Engine]:
    """A syncer on ``strategy`` over a simulator of ``spec`` and a state file in ``tmp``."""
    clock = clock or ManualClock()
    async with serve(World(spec), faults=faults, clock=clock) as sim:
        settings = LearnSettings(
            base_url=sim.base_url,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            requests_per_second=10_000,
        )
        async with (
            LearnClient(settings, clock=clock, gate=gate) as client,
            SQLiteStateStore(tmp / "state.db", clock=clock) as store,
        ):
            options = SyncOptions(site=sim.base_url, strategy=strategy)
            syncer = Syncer(client, store, Selection(), options, clock)
            yield Engine(sim, client, store, syncer, clock)
