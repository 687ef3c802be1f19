"""A bare HTTP client for the simulator's tests: what a Learn client would send, no more."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from gradesync.simulator import Simulator

API = "/learn/api/public/"


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Api:
    """Token, GET and a page walk over real HTTP; no retries, no parsing beyond JSON."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.token: str | None = None

    def basic(self, client_id: str | None = None, secret: str | None = None) -> str:
        return aiohttp.encode_basic_auth(
            client_id or self.sim.client_id, secret or self.sim.client_secret
        )

    async def fetch_token(self) -> dict[str, Any]:
        async with self.session.post(
            self.sim.base_url + API + "v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": self.basic()},
        ) as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
        self.token = body["access_token"]
        return body

    async def raw(self, path: str, *, token: str | None = None, encoded: bool = False) -> Reply:
        """GET ``path`` (relative to the API root, or absolute as in ``nextPage``)."""
        if self.token is None:
            await self.fetch_token()
        target = path if path.startswith("/") else API + path
        url = URL(self.sim.base_url + target, encoded=encoded)
        headers = {"Authorization": f"Bearer {token or self.token}"}
        async with self.session.get(url, headers=headers) as response:
            return Reply(response.status, response.headers, await response.read())

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Status and decoded JSON (None for an empty body)."""
        reply = await self.raw(path, **kwargs)
        return reply.status, reply.json()

    async def walk(self, path: str) -> list[dict[str, Any]]:
        """Every row of a list, following ``nextPage`` verbatim; asserts each page is a 200."""
        rows: list[dict[str, Any]] = []
        next_path: str | None = path
        while next_path is not None:
            status, body = await self.get(next_path)
            assert status == 200, body
            rows += body["results"]
            next_path = body.get("paging", {}).get("nextPage")
        return rows
