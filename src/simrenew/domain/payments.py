"""Payments, provider events and the re-check schedule.

A payment is one attempt to collect an order's price through one provider. A
declined attempt stays ``failed``; a retry is a new payment for the same order.
A payment that is not final is re-checked with its provider on a fixed schedule
(``recheck_after``) and flagged for manual review when the schedule is over.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from simrenew.domain.errors import IllegalTransition
from simrenew.domain.money import Money


class PaymentState(enum.StrEnum):
    """What we know about a payment.

    ``pending``   started; the provider has not decided (or the buyer is on its page).
    ``unknown``   we asked and got no answer (time-out, 5xx): it may have been charged.
                  Never fulfilled; re-checked with the provider until final.
    ``succeeded`` the provider took the money.            (final)
    ``failed``    the provider said no.                   (final)
    ``cancelled`` abandoned before the provider decided.  (final)

    Final states never change: a late or replayed event cannot move a payment
    backwards. ``PaymentState.check`` raises ``IllegalTransition`` otherwise.
    """

    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return not PAYMENT_TRANSITIONS[self]

    @staticmethod
    def allowed(current: PaymentState, target: PaymentState) -> bool:
        return target in PAYMENT_TRANSITIONS[current]

    @staticmethod
    def check(current: PaymentState, target: PaymentState) -> None:
        if not PaymentState.allowed(current, target):
            raise IllegalTransition(entity="payment", current=current.value, target=target.value)


PAYMENT_TRANSITIONS: dict[PaymentState, frozenset[PaymentState]] = {
    PaymentState.PENDING: frozenset(
        {PaymentState.UNKNOWN, PaymentState.SUCCEEDED, PaymentState.FAILED, PaymentState.CANCELLED}
    ),
    # "unknown" → "pending" is allowed: a re-check may learn the buyer is still paying.
    PaymentState.UNKNOWN: frozenset(
        {PaymentState.PENDING, PaymentState.SUCCEEDED, PaymentState.FAILED, PaymentState.CANCELLED}
    ),
    PaymentState.SUCCEEDED: frozenset(),
    PaymentState.FAILED: frozenset(),
    PaymentState.CANCELLED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Payment:
    """One attempt to collect an order's price.

    ``recheck_at``, ``rechecks`` and ``review_since`` are the janitor's bookkeeping
    (when the provider is next asked, how many times it was, since when a person
    should look): read from storage, written only by the repository's schedule
    methods, never by ``move_to``.
    """

    id: str
    order_id: str
    provider: str
    state: PaymentState
    amount: Money
    created_at: datetime
    updated_at: datetime
    provider_ref: str | None = None
    failure_code: str | None = None
    checkout_url: str | None = None
    recheck_at: datetime | None = None
    rechecks: int = 0
    review_since: datetime | None = None
    # The subscriber who asked for the method to be kept for later (saved once the
    # payment succeeds), and the saved method this payment charged, if any.
    save_for: str | None = None
    method_id: str | None = None

    def move_to(
        self, target: PaymentState, at: datetime, failure_code: str | None = None
    ) -> Payment:
        PaymentState.check(self.state, target)
        return replace(self, state=target, updated_at=at, failure_code=failure_code)


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A provider's statement about a payment, already verified by its provider module.

    ``payment_id`` is our id, which every provider echoes back (metadata, out_trade_no,
    custom_id); ``event_id`` is the provider's and de-duplicates replays.
    """

    provider: str
    event_id: str
    payment_id: str
    state: PaymentState
    occurred_at: datetime
    amount: Money | None = None
    provider_ref: str | None = None
    failure_code: str | None = None


class EventOutcome(enum.StrEnum):
    """What applying a provider event did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # same (provider, event id) seen before
    STALE = "stale"  # would move the payment backwards or sideways; recorded, ignored
    MISMATCH = "mismatch"  # amount or currency differ from the payment; flagged


# --- the re-check schedule ---------------------------------------------------------------

# When a payment that is not final is asked about again, counted from its start:
# 5 minutes, an hour, then daily for a week. After the last one a person looks.
RECHECK_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(minutes=5),
    timedelta(hours=1),
    *(timedelta(days=day) for day in range(1, 8)),
)


def recheck_after(started_at: datetime, checks_done: int) -> datetime | None:
    """When the check after the first ``checks_done`` scheduled ones is due, or None
    when the schedule is over and the payment is for manual review.

    Raises ``ValueError`` for a negative ``checks_done``.
    """
    if checks_done < 0:
        raise ValueError(f"checks_done must not be negative, got {checks_done}")
    if checks_done >= len(RECHECK_SCHEDULE):
        return None
    return started_at + RECHECK_SCHEDULE[checks_done]


def checks_due_by(started_at: datetime, now: datetime) -> int:
    """How many of the scheduled checks are due at ``now`` (at or before it)."""
    return sum(1 for offset in RECHECK_SCHEDULE if started_at + offset <= now)


def next_recheck(started_at: datetime, now: datetime) -> datetime | None:
    """After a check made at ``now``: the first scheduled time after ``now``, or None
    when none is left (flag the payment for manual review).

    The schedule is kept by the clock rather than by counting calls, so that extra
    checks (a buyer pressing "pay" again, an operator's re-check) neither use up the
    schedule early nor, after a worker outage, make the janitor catch up with a burst
    of calls for times already past."""
    return recheck_after(started_at, checks_due_by(started_at, now))
