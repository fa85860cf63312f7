"""Rate limits for quick top-up (no login), per client IP and per number.

Quick top-up answers "does this number exist, and what does it buy" to anyone, so it
is throttled: per IP against one client sweeping numbers, per number against many
clients (a botnet) probing one. Built on the ``limits`` library with an in-process
moving window; a shared Redis-backed limiter (``simrenew.ratelimit``, the account
work) replaces this when it lands, which is why the interface is this small.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from simrenew.domain.cards import normalize_number
from simrenew.domain.errors import InvalidNumber
from simrenew.web.problems import Problem


@dataclass(frozen=True, slots=True)
class QuickLimitPolicy:
    lookup_per_ip: str = "30/minute"
    lookup_per_number: str = "10/minute"
    order_per_ip: str = "10/minute"
    order_per_number: str = "5/minute"


class QuickLimits:
    """One per application (``app.state.quick_limits``)."""

    def __init__(self, policy: QuickLimitPolicy | None = None) -> None:
        policy = policy or QuickLimitPolicy()
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {
            "lookup:ip": parse(policy.lookup_per_ip),
            "lookup:number": parse(policy.lookup_per_number),
            "order:ip": parse(policy.order_per_ip),
            "order:number": parse(policy.order_per_number),
        }

    def check(self, action: str, *, ip: str, number: str) -> None:
        """Count one ``action`` (``lookup`` or ``order``) for ``ip`` and ``number``;
        raises a 429 ``rate_limited`` problem with ``Retry-After`` past either limit."""
        for subject, value in (("ip", ip), ("number", _number_key(number))):
            item = self._items[f"{action}:{subject}"]
            if not self._limiter.hit(item, action, subject, value):
                reset = self._limiter.get_window_stats(item, action, subject, value).reset_time
                retry_after = max(1, math.ceil(reset - time.time()))
                problem = Problem(
                    429,
                    "rate_limited",
                    f"Too many requests; retry in {retry_after} seconds.",
                    title="Too many requests",
                    retry_after=retry_after,
                )
                problem.headers["Retry-After"] = str(retry_after)
                raise problem


def _number_key(number: str) -> str:
    # "+852 5123 4567" and "51234567" are one number; text that is no number at all is
    # counted as typed (cut short: it is a memory key).
    try:
        return normalize_number(number)
    except InvalidNumber:
        return number.strip()[:32]
