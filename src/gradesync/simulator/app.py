"""The aiohttp application: Learn's routes behind the gate (token, quota, faults, stats).

Every API request passes, in order: a dropped connection, added latency, the bearer token
(401), the daily quota (429 with ``Retry-After``), injected 429 and 5xx answers, the handler,
a malformed body, an oversized one, and an answer sent a byte at a time (``drip``). Answers
other than the token endpoint's carry ``X-Rate-Limit-Limit`` and ``X-Rate-Limit-Remaining``.
The token endpoint only gets latency: it is not rate limited and does not count against the
quota (docs/learn-api.md section 6). ``/__simulator__/`` is not Learn's: it controls the
simulator, needs no token and is not counted.

Past the gate, a path under ``/learn/api/public/`` that no route serves answers 501 (Learn has
many endpoints the simulator does not serve: a 404 would read as "no such object"), and a
method a served path does not take answers 405 with ``Allow``; both with a RestException body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from gradesync.clock import Clock, SystemClock
from gradesync.simulator.control import Activity, Control
from gradesync.simulator.faults import DROPPED, Dice, Faults, Stats
from gradesync.simulator.gate import Quota, Tokens
from gradesync.simulator.logapi import LogApi
from gradesync.simulator.playback import Playback
from gradesync.simulator.routes import PREFIX, LearnApi
from gradesync.simulator.wire import ApiError, rest_error
from gradesync.simulator.world import World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_CLIENT_ID = "gradesync"
DEFAULT_CLIENT_SECRET = "simulated-secret"
TOKEN_ENDPOINT = "v1/oauth2/token"

# A proxy in front of Learn answers 502/503 with a page of HTML, not a RestException.
_PROXY_PAGE = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"


@dataclass
class SimState:
    """Everything one running simulator shares between its handlers."""

    world: World
    faults: Faults
    clock: Clock
    tokens: Tokens
    quota: Quota
    stats: Stats
    dice: Dice
    activity: Activity
    playback: Playback  # the realistic activity (docs/activity.md)


STATE = web.AppKey("gradesync_simulator", SimState)


def _endpoint(request: web.Request) -> str:
    """The route template under the API prefix, as ``Stats`` counts it ("unmatched" for a path
    or method no route serves)."""
    if request.match_info.http_exception is not None:
        return "unmatched"
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    return template.removeprefix(PREFIX) if template.startswith(PREFIX) else "unmatched"


async def _injected(state: SimState) -> web.Response | None:
    """A 429 or 5xx the faults ask for, else None."""
    faults = state.faults
    if state.dice.roll(faults.rate_429):
        response = rest_error(429, "Rate limit exceeded")
        response.headers["Retry-After"] = str(faults.retry_after)
        return response
    if state.dice.roll(faults.rate_5xx):
        status = state.dice.pick((500, 502, 503))
        if status == 500:
            return rest_error(500, "An unexpected error occurred")
        reason = "Bad Gateway" if status == 502 else "Service Unavailable"
        return web.Response(
            status=status, text=_PROXY_PAGE.format(f"{status} {reason}"), content_type="text/html"
        )
    return None


async def _through_gate(request: web.Request, handler: Handler, state: SimState) -> web.Response:
    faults = state.faults
    delay = faults.latency + (faults.slow_latency if state.dice.roll(faults.slow_rate) else 0.0)
    if delay > 0:
        await asyncio.sleep(delay)  # models the network: real time, not the injected clock
    if not state.tokens.valid(request.headers.get("Authorization", "")):
        response = rest_error(401, "Bearer token is invalid or has expired")
        verdict = state.quota.peek()
    else:
        verdict = state.quota.take()
        if not verdict.allowed:
            response = rest_error(429, "Rate limit exceeded: the daily quota is spent")
            response.headers["Retry-After"] = str(verdict.retry_after)
        else:
            injected = await _injected(state)
            if injected is not None and injected.status == 429:
                verdict.remaining = 0  # Learn says no call is left when it answers 429
            response = injected or await _answer(request, handler)
            if response.status == 200 and state.dice.roll(faults.malformed_rate):
                response = _truncated(response)
            if response.status == 200 and faults.oversize:
                response = _padded(response, faults.oversize)
    response.headers["X-Rate-Limit-Limit"] = str(verdict.limit)
    response.headers["X-Rate-Limit-Remaining"] = str(verdict.remaining)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.Response:
    unrouted = request.match_info.http_exception
    if isinstance(unrouted, web.HTTPMethodNotAllowed):
        refused = rest_error(405, f"{request.method} is not allowed on {request.path}")
        refused.headers["Allow"] = ",".join(sorted(unrouted.allowed_methods))
        return refused
    if unrouted is not None:
        return rest_error(501, f"The simulator does not serve {request.method} {request.path}")
    try:
        response = await handler(request)
    except ApiError as exc:
        return rest_error(exc.status, exc.message)
    except web.HTTPException as exc:
        return rest_error(exc.status, exc.reason)
    assert isinstance(response, web.Response)
    return response


def _padded(response: web.Response, size: int) -> web.Response:
    """The same answer with ``size`` bytes of blank space after the JSON (still valid JSON)."""
    body = response.body if isinstance(response.body, bytes) else b""
    response.body = body + b" " * size
    return response


async def _dripped(
    request: web.Request, response: web.Response, interval: float
) -> web.StreamResponse:
    """Send ``response`` one byte every ``interval`` seconds, chunked (no length said ahead):
    each byte comes well within a read timeout, the whole answer never within a deadline."""
    body = response.body if isinstance(response.body, bytes) else b""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    stream = web.StreamResponse(status=response.status, headers=headers)
    stream.enable_chunked_encoding()
    await stream.prepare(request)
    for offset in range(len(body)):
        await stream.write(body[offset : offset + 1])
        await asyncio.sleep(interval)  # the network's pace: real time, not the injected clock
    await stream.write_eof()
    return stream


def _truncated(response: web.Response) -> web.Response:
    """The same 200 and content type, with the JSON cut short."""
    body = response.body if isinstance(response.body, bytes) else b"{}"
    cut = web.Response(body=body[: max(1, len(body) // 2)], status=200)
    cut.content_type = "application/json"
    return cut


@web.middleware
async def _gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PREFIX):
        return await handler(request)
    state = request.app[STATE]
    endpoint = _endpoint(request)
    if endpoint != TOKEN_ENDPOINT and state.dice.roll(state.faults.drop_rate):
        state.stats.record(endpoint, DROPPED)
        if request.transport is not None:
            request.transport.abort()
        return web.Response()  # never sent: the connection is already gone
    if endpoint == TOKEN_ENDPOINT:
        if state.faults.latency > 0:
            await asyncio.sleep(state.faults.latency)
        response: web.StreamResponse = await handler(request)
    else:
        response = await _through_gate(request, handler, state)
        if state.faults.drip > 0:
            state.stats.record(endpoint, response.status)
            return await _dripped(request, response, state.faults.drip)
    state.stats.record(endpoint, response.status)
    return response


def create_app(
    world: World,
    faults: Faults | None = None,
    clock: Clock | None = None,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> web.Application:
    """The simulator as an aiohttp application (serve it yourself, or use ``serve``)."""
    faults = faults or Faults()
    clock = clock or SystemClock()
    state = SimState(
        world=world,
        faults=faults,
        clock=clock,
        tokens=Tokens(client_id, client_secret, clock, faults),
        quota=Quota(clock, faults),
        stats=Stats(),
        dice=Dice(faults.seed),
        activity=Activity(world, clock),
        playback=Playback(world, clock),
    )
    app = web.Application(middlewares=[_gate])
    app[STATE] = state
    app.router.add_post(PREFIX + TOKEN_ENDPOINT, state.tokens.handle)
    app.router.add_routes(LearnApi(world, faults).routes())
    app.router.add_routes(LogApi(world, faults).routes())
    app.router.add_routes(Control(state).routes())
    return app
