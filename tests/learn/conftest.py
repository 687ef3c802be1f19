"""Fixtures for the Learn client tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.learn.learn_support import TOKEN_URL, JumpClock, Wire


@pytest.fixture
def clock() -> JumpClock:
    return JumpClock()


@pytest.fixture
def wire() -> Iterator[Wire]:
    """aioresponses with a token endpoint that always grants the same token."""
    with Wire() as mocked:
        mocked.post(
            TOKEN_URL,
            payload={"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600},
            repeat=True,
        )
        yield mocked
