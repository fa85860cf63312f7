"""Refunds: giving one payment back, in full, at most once.

A refund is asked of the payment's provider through the outbox; the provider's
answer moves it on. Providers that cannot give money back by themselves (FPS / bank
transfer, cash, voucher PINs) answer ``manual_refund_required``: a person pays the
money back and records the payout with its reference.

    DomainError
    ├── InvalidInput
    │   ├── RefundReasonMissing      staff give a reason for every refund
    │   └── PayoutReferenceInvalid   a manual payout names its reference
    ├── NotFound
    │   └── RefundNotFound
    └── Conflict
        ├── IllegalTransition        a move the table does not allow
        └── OrderNotRefundable       only a paid or fulfilled order with money taken
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from simrenew.domain.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from simrenew.domain.money import Money

# What in-house providers (FPS, cash, voucher) answer: not a refusal, a hand-over.
MANUAL_REFUND_REQUIRED = "manual_refund_required"
MAX_NOTE_LENGTH = 500
MAX_REFERENCE_LENGTH = 128  # the column's width


class RefundReasonMissing(InvalidInput):
    code = "refund_reason_missing"
    template = "A refund by staff needs a reason (at most {limit} characters)."


class PayoutReferenceInvalid(InvalidInput):
    code = "payout_reference_invalid"
    template = "A payout needs the reference of the transfer or receipt (1 to {limit} characters)."


class RefundNotFound(NotFound):
    code = "refund_not_found"
    template = "No refund {key!r}."


class OrderNotRefundable(Conflict):
    code = "order_not_refundable"
    template = "Order {order} cannot be refunded: {reason}."


class RefundState(enum.StrEnum):
    """Where a refund is.

    ``requested``  waiting for the provider's answer (an outbox REFUND message).
    ``succeeded``  the money is on its way back or back.               (final)
    ``failed``     the provider refused; staff retry it (→ ``requested``) or pay
                   the money back by hand (→ ``manual``).
    ``manual``     the provider cannot refund by itself: staff pay it back and
                   record the payout's reference (→ ``succeeded``).

    ``RefundState.check`` raises ``IllegalTransition`` for a move not in the table.
    """

    REQUESTED = "requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MANUAL = "manual"

    @property
    def is_final(self) -> bool:
        return not REFUND_TRANSITIONS[self]

    @staticmethod
    def check(current: RefundState, target: RefundState) -> None:
        if target not in REFUND_TRANSITIONS[current]:
            raise IllegalTransition(entity="refund", current=current.value, target=target.value)


REFUND_TRANSITIONS: dict[RefundState, frozenset[RefundState]] = {
    RefundState.REQUESTED: frozenset(
        {RefundState.SUCCEEDED, RefundState.FAILED, RefundState.MANUAL}
    ),
    # A refusal is for a person: ask again (the cause was fixed) or pay by hand.
    RefundState.FAILED: frozenset({RefundState.REQUESTED, RefundState.MANUAL}),
    RefundState.MANUAL: frozenset({RefundState.SUCCEEDED}),
    RefundState.SUCCEEDED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Refund:
    """The refund of one payment, in full.

    ``requested_by`` is an actor (``system:fulfilment``, ``system:payments``,
    ``staff:<username>``); ``reason`` a code (``card_not_renewable``,
    ``duplicate_payment``, ``staff_refund``, ...) and ``note`` what staff wrote.
    ``attempts`` counts the times it was asked of the provider (a retry adds one).
    """

    id: str
    payment_id: str
    order_id: str
    provider: str
    amount: Money
    state: RefundState
    reason: str
    requested_by: str
    created_at: datetime
    updated_at: datetime
    attempts: int = 1
    note: str | None = None
    provider_ref: str | None = None
    failure_code: str | None = None
    payout_reference: str | None = None
    paid_out_by: str | None = None
    completed_at: datetime | None = None

    def move_to(self, target: RefundState, at: datetime) -> Refund:
        RefundState.check(self.state, target)
        done = at if target is RefundState.SUCCEEDED else None
        return replace(self, state=target, updated_at=at, completed_at=done)

    def answered(
        self, *, succeeded: bool, provider_ref: str | None, failure_code: str | None, at: datetime
    ) -> Refund:
        """The provider's answer to a ``requested`` refund: ``succeeded``, ``manual``
        (the provider cannot do it) or ``failed`` (it refused). Raises
        ``IllegalTransition`` for a refund that is not ``requested``: nobody asked."""
        if self.state is not RefundState.REQUESTED:
            raise IllegalTransition(
                entity="refund", current=self.state.value, target="answered by its provider"
            )
        if succeeded:
            target = RefundState.SUCCEEDED
        elif failure_code == MANUAL_REFUND_REQUIRED:
            target = RefundState.MANUAL
        else:
            target = RefundState.FAILED
        moved = self.move_to(target, at)
        return replace(
            moved,
            provider_ref=provider_ref or self.provider_ref,
            failure_code=None if succeeded else (failure_code or "refused"),
        )

    def retried(self, at: datetime) -> Refund:
        """A ``failed`` refund asked of the provider again."""
        moved = self.move_to(RefundState.REQUESTED, at)
        return replace(moved, attempts=self.attempts + 1, failure_code=None)

    def paid_out(self, *, reference: str, by: str, at: datetime) -> Refund:
        """A person paid the money back by hand (``manual``, or ``failed`` when the
        provider will not do it); ``reference`` is the transfer's or the voucher's.
        Raises ``IllegalTransition`` otherwise: a ``requested`` refund may still be
        made by its provider, and paying it by hand too would pay it twice."""
        if self.state not in (RefundState.MANUAL, RefundState.FAILED):
            raise IllegalTransition(
                entity="refund", current=self.state.value, target=RefundState.SUCCEEDED.value
            )
        manual = self if self.state is RefundState.MANUAL else self.move_to(RefundState.MANUAL, at)
        done = manual.move_to(RefundState.SUCCEEDED, at)
        return replace(done, payout_reference=reference, paid_out_by=by)


def staff_note(text: str) -> str:
    """The reason staff gave for a refund, trimmed; raises ``RefundReasonMissing``
    when it is empty or too long."""
    note = text.strip()
    if not note or len(note) > MAX_NOTE_LENGTH:
        raise RefundReasonMissing(limit=MAX_NOTE_LENGTH)
    return note


def payout_reference(text: str) -> str:
    """A manual payout's reference, trimmed; raises ``PayoutReferenceInvalid``."""
    reference = text.strip()
    if not reference or len(reference) > MAX_REFERENCE_LENGTH:
        raise PayoutReferenceInvalid(limit=MAX_REFERENCE_LENGTH)
    return reference
