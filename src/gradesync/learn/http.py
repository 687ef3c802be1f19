"""The one way a request reaches Learn, and the one function that judges its response.

:class:`Transport` sends a single request (quota check, the caller's gate, concurrency slot,
rate throttle) and turns every aiohttp failure into :class:`TransportError` at this boundary.
Each request has an overall deadline besides its connect and read timeouts, and its answer is
read up to a size limit, never further.
:func:`classify` maps a response's status and headers onto the error tree of
:mod:`gradesync.errors`, and :func:`retrying` waits out the retriable ones with capped,
jittered backoff on the clock.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any, TypeVar

import aiohttp
import structlog
from asyncio_throttle.throttler import Throttler
from yarl import URL

from gradesync.backoff import Backoff
from gradesync.clock import Clock
from gradesync.errors import (
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    LearnError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    RetriableLearnError,
    ServerError,
    TransportError,
)
from gradesync.httputil import retry_after_seconds
from gradesync.learn.endpoints import TOKEN, Endpoint
from gradesync.learn.metrics import Metrics
from gradesync.learn.quota import LearnQuota, RequestGate

T = TypeVar("T")

log = structlog.get_logger("gradesync.learn")

_EPOCH_THRESHOLD = 1_000_000_000  # an X-Rate-Limit-Reset this large is epoch seconds, not a delta
_MESSAGE_MAX = 200
_QUERY = re.compile(r"\?\S+")


@dataclass(frozen=True)
class Response:
    """A response read in full: the connection is back in the pool before anyone looks."""

    status: int
    headers: Mapping[str, str]
    content_type: str
    body: bytes


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the server asks us to wait: ``Retry-After`` (seconds or an HTTP date), else
    the older ``X-Rate-Limit-Reset`` (epoch seconds or a delta, docs/learn-api.md section 6)."""
    seconds_left = retry_after_seconds(headers.get("Retry-After"), now)
    if seconds_left is not None:
        return seconds_left
    reset = headers.get("X-Rate-Limit-Reset", "").strip()
    try:
        seconds = float(reset)
    except ValueError:
        return None
    if seconds >= _EPOCH_THRESHOLD:
        seconds -= now.timestamp()
    return max(0.0, seconds)


def rest_message(body: bytes) -> str | None:
    """The ``message`` of a RestException body (or an OAuth2Error's ``error``), on one line."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    message = data.get("message") or data.get("error")
    if not isinstance(message, str) or not message.strip():
        return None
    # A message that echoes a URL keeps its path but never its query string.
    text = _QUERY.sub("?...", " ".join(message.split()))
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."


def describe(endpoint: Endpoint, status: int, body: bytes = b"") -> str:
    """``GET v3/courses/{courseId}: 404 Not Found: Could not find ...``: no ids, no query."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown Status"
    text = f"{endpoint}: {status} {phrase}"
    message = rest_message(body) if body else None
    return f"{text}: {message}" if message else text


def classify(endpoint: Endpoint, response: Response, now: datetime) -> LearnError | None:
    """The error a response means, or None for a success: the one place a status is mapped
    onto the error tree."""
    status = response.status
    if 200 <= status < 300:
        return None
    where: dict[str, Any] = {
        "method": endpoint.method,
        "endpoint": endpoint.template,
        "status": status,
    }
    text = describe(endpoint, status, response.body)
    wait = retry_after(response.headers, now)
    if status == 429:
        return RateLimitedError(text, retry_after=wait, **where)
    if status == 501:  # Not Implemented: this Learn has no such endpoint, asking again won't help
        return NotFoundError(text, **where)
    if status >= 500:
        return ServerError(text, retry_after=wait, **where)
    if status == 408:
        return TransportError(text, retry_after=wait, **where)
    if endpoint == TOKEN and 400 <= status < 500:
        # the credentials were refused (docs/learn-api.md section 1)
        return AuthenticationError(text, **where)
    if status == 401:
        return AuthenticationError(f"{text} (Learn refused a new access token)", **where)
    if status == 403:
        return ForbiddenError(text, **where)
    if status == 404:
        return NotFoundError(text, **where)
    if 400 <= status < 500:
        return BadRequestError(text, **where)
    return MalformedResponseError(f"{text} (unexpected status)", **where)


def check_body(endpoint: Endpoint, response: Response, *, empty_ok: bool = False) -> bytes | None:
    """The body of a success if it claims to be JSON; None for an empty one when
    ``empty_ok`` (204, blank 200)."""
    where: dict[str, Any] = {
        "method": endpoint.method,
        "endpoint": endpoint.template,
        "status": response.status,
    }
    if response.status == 204 or not response.body.strip():
        if empty_ok:
            return None
        raise MalformedResponseError(f"{endpoint}: {response.status} with an empty body", **where)
    if "json" not in response.content_type:
        raise MalformedResponseError(
            f"{endpoint}: {response.status} with content type "
            f"{response.content_type or 'none'!r}, not JSON",
            **where,
        )
    return response.body


def decode_json(endpoint: Endpoint, response: Response, *, empty_ok: bool = False) -> Any:
    """The decoded JSON body of a success; None for an empty one when ``empty_ok``."""
    body = check_body(endpoint, response, empty_ok=empty_ok)
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise MalformedResponseError(
            f"{endpoint}: invalid JSON ({detail})",
            method=endpoint.method,
            endpoint=endpoint.template,
            status=response.status,
        ) from exc


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    endpoint: Endpoint,
    policy: Backoff,
    max_retries: int,
    clock: Clock,
    quota: LearnQuota,
    metrics: Metrics,
) -> T:
    """Run ``call`` until it succeeds, a non-retriable error comes, or retries run out.

    A server that asks for longer than ``policy.cap`` is not waited for here: the error goes
    to the caller, who defers the work (the scheduler honours its ``retry_after``); a 429 that
    does so means the daily quota is spent, and the quota goes to "exhausted until".
    """
    attempt = 0
    while True:
        try:
            return await call()
        except RetriableLearnError as exc:
            if policy.beyond_cap(exc.retry_after):
                if isinstance(exc, RateLimitedError) and exc.retry_after:
                    quota.exhaust(exc.retry_after)
                raise
            if attempt >= max_retries:
                raise
            wait = policy.delay(attempt, exc.retry_after)
            attempt += 1
            metrics.retries[endpoint.template] += 1
            log.debug("learn.retry", endpoint=str(endpoint), attempt=attempt, wait_s=wait)
            await clock.sleep(wait)


class Transport:
    """Sends one request at a time per slot, within the rate, and reads its body in full."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        concurrency: int,
        requests_per_second: float,
        timeout: aiohttp.ClientTimeout,
        quota: LearnQuota,
        metrics: Metrics,
        gate: RequestGate | None = None,
        max_body: int = 32 * 1024 * 1024,
    ) -> None:
        self._session = session
        self._max_body = max_body
        self._gate = gate
        self._slots = asyncio.Semaphore(concurrency)
        burst = max(1, int(requests_per_second))
        self._throttler = Throttler(rate_limit=burst, period=burst / requests_per_second)
        self._timeout = timeout
        self._quota = quota
        self._metrics = metrics

    async def admit(self) -> None:
        """Wait for the caller's own request budget, before a token is taken for the request:
        a long pause must not leave the request holding an expired token or a slot."""
        if self._gate is not None:
            await self._gate.acquire()

    async def send(
        self,
        endpoint: Endpoint,
        url: URL,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        api: bool = True,
    ) -> Response:
        """One request. API calls (``api``) obey the quota and the rate and feed the budget;
        the token request only takes a concurrency slot."""
        if api:
            try:
                self._quota.check(endpoint.method, endpoint.template)
            except RateLimitedError:
                self._metrics.record(endpoint.template, "quota", None)
                raise
        async with self._slots:
            if api:
                await self._throttler.acquire()  # type: ignore[no-untyped-call]
                self._metrics.api_requests += 1
            else:
                self._metrics.token_requests += 1
            started = time.perf_counter()
            try:
                async with self._session.request(
                    endpoint.method,
                    url,
                    headers=headers,
                    data=data,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as resp:
                    body = await read_limited(resp, self._max_body)
            except TooLarge:
                self._metrics.record(endpoint.template, "too_large", time.perf_counter() - started)
                raise MalformedResponseError(
                    f"{endpoint}: the answer is larger than learn.max_response_bytes "
                    f"({self._max_body} bytes); refused",
                    method=endpoint.method,
                    endpoint=endpoint.template,
                    status=resp.status,
                ) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._metrics.record(endpoint.template, "transport", time.perf_counter() - started)
                raise _transport_error(endpoint, exc, self._timeout.total) from exc
        self._metrics.record(endpoint.template, resp.status, time.perf_counter() - started)
        if api:
            self._quota.observe(resp.headers)
            if self._gate is not None:
                self._gate.observe(self._quota.remaining)
        return Response(resp.status, resp.headers, resp.content_type, body)


class TooLarge(Exception):
    """An answer went past the size limit while it was read."""


async def read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, or :class:`TooLarge` as soon as it is known to exceed ``limit`` bytes
    (by its ``Content-Length``, else while reading): never more than the limit is kept."""
    if resp.content_length is not None and resp.content_length > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    while chunk := await resp.content.read(min(limit + 1 - size, 1 << 16) or 1):
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_error(
    endpoint: Endpoint, exc: BaseException, deadline: float | None = None
) -> TransportError:
    """Name the failure by its kind only: aiohttp's own text may carry the URL's query."""
    if isinstance(exc, aiohttp.ServerTimeoutError):
        kind = "timed out waiting for the server"
    elif isinstance(exc, TimeoutError):
        kind = (
            f"timed out: no whole answer within learn.request_timeout ({deadline:g} s)"
            if deadline
            else "timed out"
        )
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        kind = "connection dropped by the server"
    elif isinstance(exc, aiohttp.ClientConnectionError):
        kind = f"connection failed ({type(exc).__name__})"
    else:
        kind = f"request failed ({type(exc).__name__})"
    return TransportError(
        f"{endpoint}: no response, {kind}", method=endpoint.method, endpoint=endpoint.template
    )
