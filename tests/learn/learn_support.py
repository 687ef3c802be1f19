"""Helpers for the Learn client tests: test settings, a jumping clock, URL patterns."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import aiohttp
from aioresponses import CallbackResult, aioresponses

from gradesync.clock import ManualClock
from gradesync.learn import LearnSettings

BASE = "https://learn.example.edu"
API = re.escape(BASE + "/learn/api/public/")
TOKEN_URL = BASE + "/learn/api/public/v1/oauth2/token"
SECRET = "s3cret-do-not-print"


class JumpClock(ManualClock):
    """A manual clock on which every sleep returns at once, moving time by its length.

    Retries and backoff then cost nothing real, and ``slept`` shows every wait asked for.
    """

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.advance(max(0.0, seconds))


def make_settings(**overrides: Any) -> LearnSettings:
    """Settings for tests: no backoff beyond what a server asks, no real rate pacing."""
    values: dict[str, Any] = {
        "base_url": BASE,
        "client_id": "gradesync-app",
        "client_secret": SECRET,
        "backoff_base": 0.0,
        "requests_per_second": 10_000,
        "max_retries": 2,
    }
    values.update(overrides)
    return LearnSettings(**values)


def route(path_regex: str) -> re.Pattern[str]:
    """A URL pattern for aioresponses: an API path (regex) with any query string."""
    return re.compile(f"^{API}{path_regex}(\\?.*)?$")


class CompatResponse(aiohttp.ClientResponse):
    """A response aioresponses 0.7.9 can build under aiohttp 3.14, which added the required
    ``stream_writer`` argument (pnuckowski/aioresponses#289, not yet released)."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class Wire(aioresponses):  # type: ignore[misc]
    """aioresponses whose canned responses are :class:`CompatResponse`."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatResponse)
        super().add(*args, **kwargs)


def result(**kwargs: Any) -> CallbackResult:
    """A callback's response, built the compatible way."""
    return CallbackResult(response_class=CompatResponse, **kwargs)
