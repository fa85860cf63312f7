"""Rate limits for quick top-up (no login), per client IP and per number.

Quick top-up answers "does this number exist, and what does it buy" to anyone, so it
is throttled: per IP against one client sweeping numbers, per number against many
clients (a botnet) probing one. Counted in the same ``RateLimiter`` as the login
codes (the ``limits`` library; Redis when ``SIMRENEW_REDIS_URL`` is set).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from simrenew.domain.cards import normalize_number
from simrenew.domain.errors import InvalidNumber
from simrenew.ports import RateLimiter
from simrenew.web.problems import Problem


@dataclass(frozen=True, slots=True)
class QuickLimitPolicy:
    """Requests per minute; from settings (``SIMRENEW_QUICK_*_PER_MINUTE``)."""

    lookup_per_ip: int = 30
    lookup_per_number: int = 10
    order_per_ip: int = 10
    order_per_number: int = 5


class QuickLimits:
    """One per application (``app.state.quick_limits``), counting in the shared
    ``RateLimiter``: Redis when configured, so every API process shares one budget."""

    def __init__(self, limiter: RateLimiter, policy: QuickLimitPolicy | None = None) -> None:
        policy = policy or QuickLimitPolicy()
        self._limiter = limiter
        self._per_minute = {
            "lookup:ip": policy.lookup_per_ip,
            "lookup:number": policy.lookup_per_number,
            "order:ip": policy.order_per_ip,
            "order:number": policy.order_per_number,
        }

    def check(self, action: str, *, ip: str, number: str) -> None:
        """Count one ``action`` (``lookup`` or ``order``) for ``ip`` and ``number``;
        raises a 429 ``rate_limited`` problem with ``Retry-After`` past either limit."""
        for subject, value in (("ip", ip), ("number", _number_key(number))):
            throttle = self._limiter.hit(
                f"quick:{action}:{subject}",
                value,
                limit=self._per_minute[f"{action}:{subject}"],
                window=timedelta(minutes=1),
            )
            if not throttle.allowed:
                retry_after = max(throttle.retry_after or 1, 1)
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
