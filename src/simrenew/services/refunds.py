"""Refunds: asking for one, and recording what the provider answered.

A refund is requested inside the transaction that decides it (fulfilment finding the
card cannot take the plan, a duplicate payment, staff): the ``refunds`` row and the
outbox REFUND message commit together. The outbox relay asks the provider with no
lock held (``refund_to_ask``), then records the answer in a new transaction
(``record_refund_answer``):

- accepted: the refund ``succeeded``; the order is ``refunded`` once every refund of
  it has, and the subscriber is told the money is back (``refund_completed``);
- ``manual_refund_required`` (FPS / bank transfer, cash, voucher): ``manual``, for
  staff to pay back by hand (``services/staff_refunds.py``);
- any other refusal: ``failed``, for staff to retry. A refusal is an answer, not a
  delivery error: the message is done, nothing retries it on its own.

A provider that cannot be reached raises; the relay retries the message and in the
end dead-letters it, while the refund stays ``requested``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from simrenew.domain.ids import new_id
from simrenew.domain.messages import MessageKind
from simrenew.domain.money import Money
from simrenew.domain.orders import OrderState
from simrenew.domain.outbox import OutboxKind
from simrenew.domain.payments import Payment, PaymentState
from simrenew.domain.refunds import Refund, RefundNotFound, RefundState
from simrenew.ports import AuditRecord, RefundResult, UnitOfWork
from simrenew.services.context import Context
from simrenew.services.notifications import enqueue_message

ACTOR = "system:refunds"


def request_refund(
    uow: UnitOfWork,
    payment: Payment,
    *,
    reason: str,
    requested_by: str,
    now: datetime,
    note: str | None = None,
) -> Refund:
    """Inside the caller's ``uow``: the full refund of ``payment`` (``succeeded``),
    and the outbox message that asks its provider for it.

    Safe to repeat: a payment that has a refund already gets that one back and
    nothing is written (a unique constraint settles two transactions racing).
    Raises ``ValueError`` for a payment that did not take any money.
    """
    if payment.state is not PaymentState.SUCCEEDED:
        raise ValueError(f"payment {payment.id} is {payment.state.value}: nothing to refund")
    existing = uow.refunds.for_payment(payment.id)
    if existing is not None:
        return existing
    refund = Refund(
        id=new_id("rfd"),
        payment_id=payment.id,
        order_id=payment.order_id,
        provider=payment.provider,
        amount=payment.amount,
        state=RefundState.REQUESTED,
        reason=reason,
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
        note=note,
    )
    if not uow.refunds.add(refund):
        # Another transaction refunded this payment between our read and our insert.
        raced = uow.refunds.for_payment(payment.id)
        if raced is None:
            raise RuntimeError(f"refund of payment {payment.id} neither added nor found")
        return raced
    _ask_provider(uow, refund, now=now)
    return refund


def _ask_provider(uow: UnitOfWork, refund: Refund, *, now: datetime) -> None:
    # One message per attempt: a retry is a new message, the first keeps the key the
    # refunds of earlier versions had (their messages may still be in the outbox).
    suffix = "" if refund.attempts == 1 else f":{refund.attempts}"
    uow.outbox.add(
        OutboxKind.REFUND,
        {"payment_id": refund.payment_id, "order_id": refund.order_id, "reason": refund.reason},
        at=now,
        dedupe_key=f"refund:{refund.payment_id}{suffix}",
    )


def ask_again(uow: UnitOfWork, refund: Refund, *, actor: str, now: datetime) -> Refund:
    """Inside the caller's ``uow``: a ``failed`` refund (read with its lock) asked of
    its provider once more. Raises ``IllegalTransition`` for any other state."""
    retried = refund.retried(now)
    uow.refunds.update(retried, refund.state, reason=f"retry {retried.attempts}", actor=actor)
    _ask_provider(uow, retried, now=now)
    return retried


@dataclass(frozen=True, slots=True)
class RefundAsk:
    """What the relay hands the provider for a refund still to be asked."""

    refund_id: str
    payment_id: str
    provider: str
    provider_ref: str | None
    amount: Money


def refund_to_ask(ctx: Context, payment_id: str) -> RefundAsk | None:
    """The refund of ``payment_id`` if it waits for its provider's answer; None when
    it has one already (a repeated delivery: nobody is asked twice). Raises
    ``RefundNotFound`` when the payment has no refund at all."""
    with ctx.uow(write=False) as uow:
        refund = uow.refunds.for_payment(payment_id)
        if refund is None:
            raise RefundNotFound(key=f"payment {payment_id}")
        if refund.state is not RefundState.REQUESTED:
            return None
        payment = uow.payments.get(payment_id)
    return RefundAsk(refund.id, payment.id, payment.provider, payment.provider_ref, refund.amount)


def record_refund_answer(ctx: Context, refund_id: str, result: RefundResult) -> Refund:
    """Record the provider's answer to a ``requested`` refund (see the module's
    docstring); an answer to a refund that has one already changes nothing.
    Raises ``RefundNotFound``."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        # Locks in one order everywhere: the order, then its refund.
        order_id = uow.refunds.get(refund_id).order_id
        uow.orders.get(order_id, lock=True)
        refund = uow.refunds.get(refund_id, lock=True)
        if refund.state is not RefundState.REQUESTED:
            return refund
        answered = refund.answered(
            succeeded=result.succeeded,
            provider_ref=result.provider_ref,
            failure_code=result.failure_code,
            at=now,
        )
        what = (
            f"provider accepted, ref {answered.provider_ref or '-'}"
            if result.succeeded
            else f"provider answered {answered.failure_code}"
        )
        uow.refunds.update(answered, refund.state, reason=what, actor=ACTOR)
        if answered.state is RefundState.SUCCEEDED:
            complete_refund(uow, ctx, answered, actor=ACTOR, now=now)
        uow.commit()
    return answered


def complete_refund(
    uow: UnitOfWork, ctx: Context, refund: Refund, *, actor: str, now: datetime
) -> None:
    """Inside the caller's ``uow``, for a refund that has just ``succeeded`` (the
    caller holds its order's lock): the payment's audit line, the order ``refunded``
    once all its refunds are (a duplicate payment's refund leaves a fulfilled order
    as it is), and the subscriber told the money is back."""
    reference = refund.provider_ref or refund.payout_reference or "-"
    uow.audit.record(
        AuditRecord(
            "payment",
            refund.payment_id,
            "succeeded",
            "refunded",
            f"refunded ({refund.reason}) ref {reference}",
            actor,
            now,
        )
    )
    order = uow.orders.get(refund.order_id, lock=True)
    refunds = uow.refunds.list_for_order(order.id)
    if order.state is OrderState.REFUNDING and all(
        r.state is RefundState.SUCCEEDED for r in refunds
    ):
        done = order.move_to(OrderState.REFUNDED, now)
        uow.orders.update(done, order.state, reason=f"refund of {refund.payment_id}", actor=actor)
    card = uow.cards.get(order.card_id)
    enqueue_message(
        uow,
        ctx,
        card,
        MessageKind.REFUND_COMPLETED,
        at=now,
        dedupe=refund.id,
        number=card.primary_number,
        order=order.id,
        price=refund.amount.display(),
    )
