import random

import pytest

from gradesync.backoff import Backoff


def test_waits_grow_exponentially_up_to_the_cap_with_full_jitter() -> None:
    policy = Backoff(base=1.0, cap=60.0, rng=random.Random(7))
    assert [policy.ceiling(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    draws = [policy.delay(10) for _ in range(2_000)]
    assert max(draws) <= 60.0
    assert min(draws) < 3.0, "full jitter draws from zero, not from half the ceiling"


def test_retry_after_is_a_floor_even_beyond_the_cap() -> None:
    policy = Backoff(base=1.0, cap=60.0, rng=random.Random(1))
    assert all(policy.delay(0, retry_after=30.0) >= 30.0 for _ in range(100))
    assert policy.delay(0, retry_after=600.0) == 600.0
    assert policy.beyond_cap(600.0) and not policy.beyond_cap(60.0) and not policy.beyond_cap(None)


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert Backoff(base=0.5, cap=10.0).ceiling(10_000) == 10.0


def test_a_policy_without_room_to_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Backoff(base=-1.0, cap=1.0)
