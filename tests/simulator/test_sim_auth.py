"""OAuth2 client credentials and the daily quota, driven by a manual clock."""

from __future__ import annotations

import aiohttp
import pytest
from tests.simulator.simclient import API, Api

from gradesync.clock import ManualClock
from gradesync.simulator import Faults

TOKEN = API + "v1/oauth2/token"


async def _post_token(
    api: Api, *, auth: str | None = None, data: dict[str, str] | None = None, query: str = ""
) -> tuple[int, dict[str, str], aiohttp.typedefs.LooseHeaders]:
    headers = {"Authorization": auth} if auth else {}
    async with api.session.post(
        api.sim.base_url + TOKEN + query, data=data or {}, headers=headers
    ) as response:
        return response.status, await response.json(), response.headers


async def test_the_same_token_comes_back_with_its_remaining_lifetime(
    api: Api, clock: ManualClock
) -> None:
    first = await api.fetch_token()
    assert first["token_type"] == "bearer"
    assert first["expires_in"] == 3600
    await clock.advance(600)
    again = await api.fetch_token()
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == 3000
    await clock.advance(3000)
    fresh = await api.fetch_token()
    assert fresh["access_token"] != first["access_token"]
    assert fresh["expires_in"] == 3600


async def test_token_answer_is_not_cached_and_accepts_grant_type_in_the_query(api: Api) -> None:
    status, body, headers = await _post_token(
        api, auth=api.basic(), query="?grant_type=client_credentials"
    )
    assert status == 200
    assert headers["Cache-Control"] == "no-store"  # type: ignore[index]
    assert "X-Rate-Limit-Limit" not in headers
    assert set(body) == {"access_token", "token_type", "expires_in"}


@pytest.mark.parametrize(
    ("auth", "data", "status", "error"),
    [
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ("wrong-secret", {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ("ok", {}, 400, "invalid_request"),
        ("ok", {"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
async def test_token_request_errors_use_the_oauth2_error_body(
    api: Api, auth: str | None, data: dict[str, str], status: int, error: str
) -> None:
    header = {
        None: None,
        "ok": api.basic(),
        "wrong-secret": api.basic(secret="not-the-secret"),
    }[auth]
    got, body, _ = await _post_token(api, auth=header, data=data)
    assert (got, body["error"]) == (status, error)
    assert body["error_description"]


async def test_api_calls_need_a_current_bearer_token(api: Api, clock: ManualClock) -> None:
    token = (await api.fetch_token())["access_token"]
    assert (await api.raw("v1/system/version")).status == 200
    unknown = await api.raw("v1/system/version", token="0" * 32)
    assert unknown.status == 401
    assert unknown.json()["status"] == 401
    async with api.session.get(api.sim.base_url + API + "v1/system/version") as response:
        assert response.status == 401  # no Authorization header at all
    await clock.advance(3600)
    expired = await api.raw("v1/system/version", token=token)
    assert expired.status == 401
    assert "X-Rate-Limit-Remaining" in expired.headers


async def test_shorter_token_lifetime_expires_mid_walk(api: Api, clock: ManualClock) -> None:
    api.sim.faults.token_lifetime = 60
    body = await api.fetch_token()
    assert body["expires_in"] == 60
    status, page = await api.get("v3/courses?limit=5")
    assert status == 200
    await clock.advance(61)
    status, _ = await api.get(page["paging"]["nextPage"])
    assert status == 401
    await api.fetch_token()
    status, _ = await api.get(page["paging"]["nextPage"])
    assert status == 200


async def test_spent_daily_quota_answers_429_until_the_bucket_refills(
    api: Api, clock: ManualClock
) -> None:
    api.sim.faults = Faults(daily_quota=3, token_lifetime=30 * 3600)
    remaining = []
    for _ in range(3):
        reply = await api.raw("v1/system/version")
        assert reply.status == 200
        assert reply.headers["X-Rate-Limit-Limit"] == "3"
        remaining.append(int(reply.headers["X-Rate-Limit-Remaining"]))
        await clock.advance(3600)
    assert remaining == [2, 1, 0]
    refused = await api.raw("v1/system/version")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) == 24 * 3600 - 3 * 3600
    assert refused.json()["status"] == 429
    await api.fetch_token()  # token requests do not count against the quota
    await clock.advance(21 * 3600)
    assert (await api.raw("v1/system/version")).status == 200
    assert api.sim.stats.count("v1/system/version", 429) == 1
