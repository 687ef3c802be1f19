"""Run the simulator on a local port for the length of an ``async with`` block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from gradesync.clock import Clock
from gradesync.simulator.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    STATE,
    SimState,
    create_app,
)
from gradesync.simulator.faults import Dice, Faults, Stats
from gradesync.simulator.gradelog import Edit
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
) -> AsyncIterator[Simulator]:
    """Serve ``world`` on ``host:port`` (0: any free port) until the block ends."""
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
        activity = asyncio.create_task(state.activity.run(), name="simulator-activity")
        try:
            yield Simulator(f"http://{host}:{bound_port}", client_id, client_secret, state)
        finally:
            activity.cancel()
            await asyncio.gather(activity, return_exceptions=True)
    finally:
        await runner.cleanup()
