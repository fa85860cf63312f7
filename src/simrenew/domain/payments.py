"""Payments and provider events.

A payment is one attempt to collect an order's price through one provider. A
declined attempt stays ``failed``; a retry is a new payment for the same order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

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
