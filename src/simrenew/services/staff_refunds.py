"""Refunds by staff (roles ``admin`` and ``cs``): refunding an order in full, the list
of refunds by state, retrying one the provider refused, and recording the payout of
one made by hand.

Each use case is one transaction that ends before any provider is asked: a refund
is asked of its provider by the outbox relay (``services/refunds.py``). The staff
user is read again inside it, so a user deactivated or re-roled since logging in is
refused from the next step.

A refunded order's plan stays on the card. The spec lets customer service refund but
says nothing of taking service back, and what was given cannot be taken back
cleanly (data used, a queued period others now follow): the refund is the
operator's decision to give the money back, recorded with its reason. An order that
was paid but never fulfilled gives its promotion uses back, as fulfilment's own
refunds do.
"""

from __future__ import annotations

from dataclasses import dataclass

from simrenew.domain.messages import MessageKind
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.payments import PaymentState
from simrenew.domain.refunds import (
    OrderNotRefundable,
    Refund,
    RefundState,
    payout_reference,
    staff_note,
)
from simrenew.domain.staff import Action, StaffUser, require
from simrenew.ports import UnitOfWork
from simrenew.services.context import Context
from simrenew.services.notifications import enqueue_message
from simrenew.services.refunds import ask_again, complete_refund, request_refund

STAFF_REFUND = "staff_refund"  # the reason code; the staff user's words go in the note
REFUNDABLE = (OrderState.PAID, OrderState.FULFILLED)


@dataclass(frozen=True, slots=True)
class OrderRefund:
    """What ``refund_order_by_staff`` did: the order as it is now, its refunds, and
    whether it was refunded before this request (a repeat changes nothing)."""

    order: Order
    refunds: tuple[Refund, ...]
    repeated: bool


def _current(uow: UnitOfWork, staff: StaffUser) -> StaffUser:
    current = uow.staff.get(staff.id)
    require(current, Action.REFUND)
    return current


def refund_order_by_staff(
    ctx: Context, staff: StaffUser, order_id: str, *, reason: str
) -> OrderRefund:
    """Refund ``order_id`` in full: the order moves to ``refunding`` (``refunded`` once
    every refund succeeded), each payment that took money for it is refunded, and
    the subscriber is told. Asking again for an order already refunding or refunded
    gives its refunds back and changes nothing.

    Raises ``NotPermitted`` (role), ``StaffLoginFailed`` (deactivated meanwhile),
    ``RefundReasonMissing``, ``OrderNotFound``, and ``OrderNotRefundable`` for an
    order neither paid nor fulfilled, or with no payment that took money.
    """
    require(staff, Action.REFUND)
    note = staff_note(reason)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = _current(uow, staff)
        order = uow.orders.get(order_id, lock=True)
        if order.state in (OrderState.REFUNDING, OrderState.REFUNDED):
            refunds = tuple(uow.refunds.list_for_order(order.id))
            if refunds:
                return OrderRefund(order, refunds, repeated=True)
        if order.state not in REFUNDABLE:
            raise OrderNotRefundable(order=order.id, reason=f"it is {order.state.value}")
        taken = [
            p for p in uow.payments.list_for_order(order.id) if p.state is PaymentState.SUCCEEDED
        ]
        if not taken:
            raise OrderNotRefundable(order=order.id, reason="no payment took money for it")
        refunding = order.move_to(OrderState.REFUNDING, now)
        uow.orders.update(
            refunding, order.state, reason=f"refund by staff: {note}", actor=current.actor
        )
        if order.state is OrderState.PAID:
            uow.catalog.release_redemptions(order.id)
        refunds = tuple(
            request_refund(
                uow, payment, reason=STAFF_REFUND, requested_by=current.actor, now=now, note=note
            )
            for payment in taken
        )
        card = uow.cards.get(order.card_id)
        enqueue_message(
            uow,
            ctx,
            card,
            MessageKind.REFUND_APPROVED,
            at=now,
            dedupe=order.id,
            number=card.primary_number,
            order=order.id,
            price=order.price.display(),
        )
        uow.commit()
    return OrderRefund(refunding, refunds, repeated=False)


def list_refunds(
    ctx: Context, *, state: RefundState | None = None, limit: int = 100
) -> list[Refund]:
    """Refunds, oldest first, of one ``state`` or all: ``failed`` and ``manual`` are
    the ones waiting for a person. For the operator's console (whoever runs it holds
    the database), as ``list_staff`` is; it changes nothing."""
    with ctx.uow(write=False) as uow:
        return uow.refunds.list_in_state(state, limit)


def _locked(uow: UnitOfWork, refund_id: str) -> Refund:
    """``refund_id`` with its row lock, its order's taken first: every refund path
    locks the order, then the refund."""
    order_id = uow.refunds.get(refund_id).order_id
    uow.orders.get(order_id, lock=True)
    return uow.refunds.get(refund_id, lock=True)


def retry_refund(ctx: Context, staff: StaffUser, refund_id: str) -> Refund:
    """Ask the provider again for a ``failed`` refund (the cause of the refusal was
    dealt with). Raises ``NotPermitted``, ``RefundNotFound`` and
    ``IllegalTransition`` for a refund that is not ``failed``."""
    require(staff, Action.REFUND)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = _current(uow, staff)
        retried = ask_again(uow, _locked(uow, refund_id), actor=current.actor, now=now)
        uow.commit()
    return retried


def record_payout(ctx: Context, staff: StaffUser, refund_id: str, *, reference: str) -> Refund:
    """Record that ``staff`` paid a ``manual`` (or ``failed``) refund back by hand,
    with the transfer's or receipt's ``reference``: the refund ``succeeded``, the
    order is ``refunded`` once all its refunds are, and the subscriber is told.

    Raises ``NotPermitted``, ``PayoutReferenceInvalid``, ``RefundNotFound`` and
    ``IllegalTransition`` for a refund that is ``requested`` (its provider may still
    make it) or already ``succeeded``.
    """
    require(staff, Action.REFUND)
    ref = payout_reference(reference)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = _current(uow, staff)
        refund = _locked(uow, refund_id)
        paid = refund.paid_out(reference=ref, by=current.actor, at=now)
        uow.refunds.update(
            paid, refund.state, reason=f"paid out by hand, ref {ref}", actor=current.actor
        )
        complete_refund(uow, ctx, paid, actor=current.actor, now=now)
        uow.commit()
    return paid
