"""The ``RateLimiter`` port on the ``limits`` library, moving-window strategy.

Redis when ``SIMRENEW_REDIS_URL`` is set, so that every API process on every machine
counts against the same budget; process memory otherwise (embedded mode, one process).
"""

from __future__ import annotations

import time
from datetime import timedelta

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from simrenew.ports import Throttle


class LimitsRateLimiter:
    def __init__(self, redis_url: str | None = None, *, key_prefix: str = "simrenew") -> None:
        self.storage: Storage = (
            RedisStorage(redis_url, key_prefix=key_prefix) if redis_url else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, scope: str, key: str, *, limit: int, window: timedelta) -> Throttle:
        item = RateLimitItemPerSecond(limit, max(window // timedelta(seconds=1), 1))
        if self._limiter.hit(item, scope, key):
            return Throttle(allowed=True)
        return self._refused(item, scope, key)

    def peek(self, scope: str, key: str, *, limit: int, window: timedelta) -> Throttle:
        item = RateLimitItemPerSecond(limit, max(window // timedelta(seconds=1), 1))
        if self._limiter.test(item, scope, key):
            return Throttle(allowed=True)
        return self._refused(item, scope, key)

    def _refused(self, item: RateLimitItemPerSecond, scope: str, key: str) -> Throttle:
        stats = self._limiter.get_window_stats(item, scope, key)
        # ``limits`` speaks epoch seconds; whole seconds are all a Retry-After needs.
        wait = int(stats.reset_time) + 1 - time.time_ns() // 1_000_000_000
        return Throttle(allowed=False, retry_after=max(wait, 1))
