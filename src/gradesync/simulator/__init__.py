"""A faithful Blackboard Learn REST API simulator, for the demo, the tests and the benchmarks.

    world = World(WorldSpec(seed=1, courses=20))
    async with serve(world, faults=Faults(rate_5xx=0.05)) as sim:
        ...  # point a client at sim.base_url with sim.client_id / sim.client_secret

See ``world`` for the institution and its edits, ``gradelog`` for its gradebook log, ``routes``
and ``logapi`` for the endpoints, ``app`` for the order in which faults apply, ``control``
for the ``/__simulator__/`` endpoints, and ``activity``, ``plan`` and ``playback`` for the
realistic activity (docs/activity.md).
"""

from gradesync.simulator.activity import ActivityModel
from gradesync.simulator.app import create_app
from gradesync.simulator.faults import Faults, Stats
from gradesync.simulator.server import Simulator, serve
from gradesync.simulator.world import NotFound, World, WorldSpec

__all__ = [
    "ActivityModel",
    "Faults",
    "NotFound",
    "Simulator",
    "Stats",
    "World",
    "WorldSpec",
    "create_app",
    "serve",
]
