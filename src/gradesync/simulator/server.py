"""Run the simulator on a local port for the length of an ``async with`` block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from gradesync.clock import Clock
from gradesync.simulator.activity import ActivityModel
from gradesync.simulator.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    STATE,
    SimState,
    create_app,
)
from gradesync.simulator.faults import Dice, Faults, Stats
from gradesync.simulator.gradelog import Edit
from gradesync.simulator.plan import ActivityPlan
from gradesync.simulator.world import World


class Simulator:
    """A running simulator: where it listens, its credentials, and its live state."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, state: SimState) -> None:
        self.base_url = base_url
        self.client_id = client_id
        self.client_secret = client_secret
        self._state = state

    @property
    def world(self) -> World:
        return self._state.world

    @property
    def faults(self) -> Faults:
        """The live fault parameters: change their fields, or assign a whole new ``Faults``."""
        return self._state.faults

    @faults.setter
    def faults(self, new: Faults) -> None:
        reseed = new.seed != self._state.faults.seed
        for name in Faults.model_fields:
            setattr(self._state.faults, name, getattr(new, name))
        if reseed:
            self._state.dice = Dice(new.seed)

    @property
    def stats(self) -> Stats:
        return self._state.stats

    def expire_token(self) -> None:
        """Revoke the current token, as if it had expired."""
        self._state.tokens.expire()

    def set_activity(self, per_minute: float, bulk_share: float | None = None) -> None:
        """Edit random grades at this rate (0 stops), paced by the simulator's clock; a
        ``bulk_share`` of the ticks make a bulk edit (None keeps the share as it is)."""
        self._state.activity.set_rate(per_minute, bulk_share)

    def set_activity_model(self, model: ActivityModel | None) -> ActivityPlan | None:
        """Play the realistic activity ``model`` from now, paced by the simulator's clock (None
        stops it); returns its plan, which also tells each course's true rates."""
        return self._state.playback.start(model)

    @property
    def activity_plan(self) -> ActivityPlan | None:
        """The realistic activity's plan being played (None when off)."""
        return self._state.playback.plan

    @property
    def edits(self) -> list[Edit]:
        """Every grade edit made on the simulator, with its true time (``World.edit_log``)."""
        return self._state.world.edit_log()


@asynccontextmanager
async def serve(
    world: World,
    faults: Faults | None = None,
    clock: Clock | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    activity_per_minute: float = 0.0,
    activity_bulk_share: float = 0.0,
    activity: ActivityModel | None = None,
) -> AsyncIterator[Simulator]:
    """Serve ``world`` on ``host:port`` (0: any free port) until the block ends. The uniform
    activity edits ``activity_per_minute`` random grades a minute; ``activity`` plays the
    realistic one from the clock's now (docs/activity.md). Both follow ``clock``."""
    app = create_app(world, faults, clock, client_id, client_secret)
    state = app[STATE]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        bound_port = server.sockets[0].getsockname()[1]
        state.activity.set_rate(activity_per_minute, activity_bulk_share)
        if activity is not None:
            state.playback.start(activity)
        tasks = [
            asyncio.create_task(state.activity.run(), name="simulator-activity"),
            asyncio.create_task(state.playback.run(), name="simulator-realistic-activity"),
        ]
        try:
            yield Simulator(f"http://{host}:{bound_port}", client_id, client_secret, state)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await runner.cleanup()
