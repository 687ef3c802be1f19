"""Fixtures for the simulator's tests: a small world served on a free port, and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from tests.simulator.simclient import Api

from gradesync.clock import ManualClock
from gradesync.simulator import Faults, Simulator, World, WorldSpec, serve

SPEC = WorldSpec(seed=7, courses=12, columns_per_course=6, students_per_course=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def world(clock: ManualClock) -> World:
    return World(SPEC, clock=clock)


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=3)


@pytest.fixture
async def sim(world: World, faults: Faults, clock: ManualClock) -> AsyncIterator[Simulator]:
    async with serve(world, faults=faults, clock=clock) as running:
        yield running


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(sim, session)
