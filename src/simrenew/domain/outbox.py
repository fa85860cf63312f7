"""Side effects as data: what the outbox carries and how often it retries."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


class OutboxKind(enum.StrEnum):
    SMS = "sms"
    EMAIL = "email"
    PROVISION = "provision"  # a command to the network (activate, suspend, resume, ...)
    REFUND = "refund"  # give a payment back through its provider
    SAVE_METHOD = "save_method"  # ask the provider which method a payment saved; keep it
    FORGET_METHOD = "forget_method"  # ask the provider to delete a saved method
    AUTO_RENEW = "auto_renew"  # one auto-renew try: order and charge the saved method


class OutboxState(enum.StrEnum):
    """``pending`` → ``delivered``, or ``dead`` after too many failures (then an operator
    retries it, back to ``pending``). ``pending`` rows may be claimed under a lease."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str
    kind: OutboxKind
    payload: dict[str, Any]
    created_at: datetime
    available_at: datetime
    attempts: int = 0
    state: OutboxState = OutboxState.PENDING
    last_error: str | None = None
    dedupe_key: str | None = None


MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 5 s, 10 s, 20 s ... capped at an hour."""
    # The exponent is capped so that any attempt count stays within timedelta's range.
    delay: timedelta = BASE_DELAY * (2 ** min(max(attempts - 1, 0), 20))
    return min(delay, MAX_DELAY)


class ProvisionAction(enum.StrEnum):
    ACTIVATE = "activate"
    SUSPEND = "suspend"  # outgoing service stopped at the start of grace
    RESUME = "resume"  # renewed in grace
    TERMINATE = "terminate"
    ADD_ALLOWANCE = "add_allowance"
