"""The ``limits``-based rate limiter: in memory, and on the local Redis.

The Redis case is skipped (with the reason) when no server answers at
``SIMRENEW_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0), except under CI,
where it must run. Each test uses its own key prefix, so runs never share budgets.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from simrenew.ratelimit import LimitsRateLimiter
from tests.conftest import IN_CI

REDIS_URL = os.environ.get("SIMRENEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_problem() -> str | None:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # any failure to connect means "not available"
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Iterator[LimitsRateLimiter]:
    if request.param == "memory":
        yield LimitsRateLimiter()
        return
    problem = _redis_problem()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"Redis is required in CI: {problem}")
        pytest.skip(f"Redis not available at {REDIS_URL}: {problem}")
    prefix = f"simrenew-test-{uuid.uuid4().hex}"
    limiter = LimitsRateLimiter(REDIS_URL, key_prefix=prefix)
    yield limiter
    limiter.storage.reset()


def test_allows_up_to_the_limit_then_says_how_long_to_wait(limiter: LimitsRateLimiter) -> None:
    hour = timedelta(hours=1)
    assert all(
        limiter.hit("code:number", "+85251234567", limit=3, window=hour).allowed for _ in "abc"
    )
    refused = limiter.hit("code:number", "+85251234567", limit=3, window=hour)
    assert not refused.allowed
    assert 3590 <= refused.retry_after <= 3601


def test_keys_and_scopes_have_their_own_budgets(limiter: LimitsRateLimiter) -> None:
    hour = timedelta(hours=1)
    assert limiter.hit("code:number", "a", limit=1, window=hour).allowed
    assert not limiter.hit("code:number", "a", limit=1, window=hour).allowed
    assert limiter.hit("code:number", "b", limit=1, window=hour).allowed
    assert limiter.hit("code:ip", "a", limit=1, window=hour).allowed


def test_peek_tells_without_counting(limiter: LimitsRateLimiter) -> None:
    hour = timedelta(hours=1)
    for _ in range(5):
        assert limiter.peek("staff:api:user", "root", limit=2, window=hour).allowed
    assert limiter.hit("staff:api:user", "root", limit=2, window=hour).allowed
    assert limiter.hit("staff:api:user", "root", limit=2, window=hour).allowed
    refused = limiter.peek("staff:api:user", "root", limit=2, window=hour)
    assert not refused.allowed
    assert 3590 <= refused.retry_after <= 3601


def test_two_limiters_on_one_redis_share_the_budget() -> None:
    problem = _redis_problem()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"Redis is required in CI: {problem}")
        pytest.skip(f"Redis not available at {REDIS_URL}: {problem}")
    prefix = f"simrenew-test-{uuid.uuid4().hex}"
    first = LimitsRateLimiter(REDIS_URL, key_prefix=prefix)
    second = LimitsRateLimiter(REDIS_URL, key_prefix=prefix)
    hour = timedelta(hours=1)
    try:
        assert first.hit("code:ip", "203.0.113.7", limit=2, window=hour).allowed
        assert second.hit("code:ip", "203.0.113.7", limit=2, window=hour).allowed
        assert not first.hit("code:ip", "203.0.113.7", limit=2, window=hour).allowed
    finally:
        first.storage.reset()
