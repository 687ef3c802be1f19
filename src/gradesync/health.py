"""The health endpoint of ``gradesync run`` (``gradesync health`` is the probe that asks it).

Off by default; ``[health] listen = "127.0.0.1:9108"`` turns it on:

- ``/healthz`` (liveness): 200 while the scheduler loop's heartbeat is fresh, else 503;
- ``/readyz`` (readiness): 200 when the state answers, Learn accepts the credentials and
  neither Learn's quota nor the daily request budget is spent, else 503 naming the check;
- ``/metrics``: Prometheus text (see ``gradesync.metrics``).

The probe (:mod:`gradesync.commands.health`) exits 0 on a 200 and 1 otherwise, so a container
``HEALTHCHECK`` can use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gradesync.config import LearnConfig
from gradesync.errors import AuthenticationError, ConfigError, LearnError, StateError

if TYPE_CHECKING:
    from gradesync.metrics import MetricsCollector
    from gradesync.service import Service

log = structlog.get_logger("gradesync.health")

CREDENTIALS_TIMEOUT = 5.0  # seconds /readyz waits for a token when none is held
HEARTBEAT_MARGIN = 60.0


def heartbeat_deadline(learn: LearnConfig) -> float:
    """Seconds the scheduler loop may go without a heartbeat and still count as alive.

    The loop reads the course list in line, so one slow read holds it up: the deadline is
    the longest that read may take with every retry spent (each try up to the connect and
    read timeouts, each wait up to ``retry_max_wait``), plus a margin. 13 minutes by default.
    """
    tries = learn.max_retries + 1
    per_try = (learn.connect_timeout + learn.read_timeout).total_seconds()
    waits = learn.max_retries * learn.retry_max_wait.total_seconds()
    return tries * per_try + waits + HEARTBEAT_MARGIN


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


class HealthApp:
    """The three routes over a running service and its statistics."""

    def __init__(
        self, service: Service, collector: MetricsCollector, *, stale_after: float
    ) -> None:
        self.service = service
        self.stats = service.stats
        self.collector = collector
        self.stale_after = stale_after

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def healthz(self, _: web.Request) -> web.Response:
        age = self.stats.heartbeat_age()
        if age is None:
            return _json(503, {"status": "starting", "stale_after_s": self.stale_after})
        body = {"heartbeat_age_s": round(age, 3), "stale_after_s": self.stale_after}
        if age > self.stale_after:
            return _json(503, {"status": "stale", **body})
        return _json(200, {"status": "ok", **body})

    async def readyz(self, _: web.Request) -> web.Response:
        checks = {
            "state": await self._state(),
            "credentials": await self._credentials(),
            "quota": self._quota(),
        }
        ready = all(value == "ok" for value in checks.values())
        body: dict[str, Any] = {"ready": ready, "checks": checks}
        stuck = self.service.stuck_courses()
        if stuck:  # a detail, not a verdict: the other courses go on
            body["stuck_courses"] = {course: round(age) for course, age in sorted(stuck.items())}
        return _json(200 if ready else 503, body)

    async def metrics(self, _: web.Request) -> web.Response:
        try:
            body = await self.collector.render()
        except StateError as exc:
            return web.Response(status=503, text=f"state unreadable: {exc}\n")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _state(self) -> str:
        try:
            for deliverer in self.service.deliverers:
                await self.service.store.outbox_depth(deliverer.sink.name)
        except StateError as exc:
            return f"unusable: {exc}"
        return "ok"

    async def _credentials(self) -> str:
        """A held token answers at once; otherwise one token request, briefly waited for."""
        try:
            await asyncio.wait_for(self.service.client.authenticate(), CREDENTIALS_TIMEOUT)
        except AuthenticationError as exc:
            return f"refused: {exc}"
        except LearnError as exc:
            return f"unconfirmed: {exc}"
        except TimeoutError:
            return f"unconfirmed: no token within {CREDENTIALS_TIMEOUT:.0f} s"
        return "ok"

    def _quota(self) -> str:
        until = self.service.client.quota.exhausted_until
        if until is not None:
            return f"Learn's quota is spent until {until.isoformat()}"
        if self.service.budget.paused:
            return "the daily request budget is spent; requests wait for it to refill"
        return "ok"


@asynccontextmanager
async def serve_health(address: tuple[str, int], health: HealthApp) -> AsyncIterator[None]:
    """Serve ``health`` on ``(host, port)`` for the length of the block."""
    runner = web.AppRunner(health.app(), access_log=None)
    await runner.setup()
    try:
        host, port = address
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise ConfigError(
                f"health.listen: cannot listen on {url_host(host)}:{port}: {exc.strerror or exc}"
            ) from None
        log.info("health.listening", url=f"http://{url_host(host)}:{port}/")
        yield
    finally:
        await runner.cleanup()


def url_host(host: str) -> str:
    """A host as it goes into a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host
