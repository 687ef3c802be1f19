"""When the client asks for a token: once, reused to the margin, never in a storm."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.learn.learn_support import TOKEN_URL, Wire, make_settings, result, route

from gradesync.clock import ManualClock
from gradesync.errors import AuthenticationError
from gradesync.learn import LearnClient

VERSION = {"learn": {"major": 3900, "minor": 68, "patch": 0, "build": "rel.1"}}


class LearnTokens:
    """Learn's token endpoint: the same token while it lives, with its remaining lifetime."""

    def __init__(self, clock: ManualClock, lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.issued = 0
        self.expires_at = -1.0

    def __call__(self, url: Any, **_: Any) -> Any:
        now = self.clock.monotonic()
        if now >= self.expires_at:
            self.issued += 1
            self.expires_at = now + self.lifetime
        remaining = int(self.expires_at - now)
        token = {"access_token": f"tok-{self.issued}", "token_type": "bearer"}
        return result(payload=token | {"expires_in": remaining})


def token_requests(wire: Wire) -> int:
    return sum(len(v) for (m, url), v in wire.requests.items() if m == "POST")


@pytest.fixture
def manual() -> ManualClock:
    return ManualClock()


async def test_one_token_serves_until_the_margin_before_it_expires(manual: ManualClock) -> None:
    with Wire() as wire:
        wire.post(TOKEN_URL, callback=LearnTokens(manual), repeat=True)
        wire.get(route("v1/system/version"), payload=VERSION, repeat=True)
        async with LearnClient(make_settings(token_refresh_margin=60), clock=manual) as client:
            await client.system_version()
            await manual.advance(3539)
            await client.system_version()
            assert token_requests(wire) == 1
            await manual.advance(2)  # inside the margin: ask again
            await client.system_version()
            assert token_requests(wire) == 2


async def test_a_token_that_cannot_be_renewed_early_is_used_to_its_end(
    manual: ManualClock,
) -> None:
    tokens = LearnTokens(manual)
    with Wire() as wire:
        wire.post(TOKEN_URL, callback=tokens, repeat=True)
        wire.get(route("v1/system/version"), payload=VERSION, repeat=True)
        async with LearnClient(make_settings(token_refresh_margin=60), clock=manual) as client:
            await client.system_version()
            await manual.advance(3550)
            for _ in range(40):  # the last 50 s of the token's life
                await client.system_version()
                await manual.advance(1)
            assert token_requests(wire) == 2  # the first, and one early renewal that failed
            await manual.advance(10)  # now it has expired: a new token
            await client.system_version()
    assert token_requests(wire) == 3
    assert tokens.issued == 2


async def test_many_waiting_requests_share_one_token_request(manual: ManualClock) -> None:
    with Wire() as wire:
        wire.post(TOKEN_URL, callback=LearnTokens(manual), repeat=True)
        wire.get(route("v1/system/version"), payload=VERSION, repeat=True)
        async with LearnClient(make_settings(concurrency=4), clock=manual) as client:
            await asyncio.gather(*(client.system_version() for _ in range(25)))
            assert client.request_count == 25
            assert client.metrics.token_requests == 1
    assert token_requests(wire) == 1


async def test_a_401_gets_one_new_token_and_one_retry(manual: ManualClock) -> None:
    with Wire() as wire:
        wire.post(TOKEN_URL, callback=LearnTokens(manual), repeat=True)
        wire.get(route("v1/system/version"), status=401, payload={"status": 401})
        wire.get(route("v1/system/version"), payload=VERSION)
        async with LearnClient(make_settings(), clock=manual) as client:
            version = await client.system_version()
            assert client.metrics.reauthentications == 1
    assert version.learn is not None and version.learn.major == 3900
    assert token_requests(wire) == 2


async def test_a_fresh_token_that_is_refused_too_is_fatal(manual: ManualClock) -> None:
    with Wire() as wire:
        wire.post(TOKEN_URL, callback=LearnTokens(manual), repeat=True)
        wire.get(route("v1/system/version"), status=401, payload={"status": 401}, repeat=True)
        async with LearnClient(make_settings(), clock=manual) as client:
            with pytest.raises(AuthenticationError, match="Learn refused a new access token"):
                await client.system_version()
    assert token_requests(wire) == 2
