"""Cash at a counter: an agent opens a shift, takes cash for orders awaiting payment,
and closes the shift with the count and sum per currency of what was taken.

Taking cash is one transaction: the payment (provider ``cash``) is recorded as a
``succeeded`` event through the payments service's own path, so the order is paid
and fulfilled in the same commit as the receipt, the shift's books and the audit
line. The event id ``cash:<shift id>:<order id>`` makes a repeat harmless.

``settle_taken_payment`` is that path for any money we took ourselves rather than a
provider (cash here, voucher PINs in ``services/vouchers.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.payments import Payment, PaymentEvent, PaymentState
from simrenew.domain.staff import (
    Action,
    CashReceipt,
    CashShift,
    NoOpenShift,
    ShiftAlreadyOpen,
    ShiftTotal,
    StaffUser,
    make_change,
    require,
)
from simrenew.ports import AuditRecord, UnitOfWork
from simrenew.services.context import Context

# The payments service's own transition (state, audit, and on success the order paid
# and fulfilled), used inside our transaction rather than through a new one as
# ``apply_payment_event`` would: the payment, its event and what it pays must commit
# together with the receipt or the voucher.
from simrenew.services.payments import OrderNotPayable, move_payment, new_payment

CASH = "cash"


@dataclass(frozen=True, slots=True)
class TakenPayment:
    """A payment we collected ourselves, for ``settle_taken_payment``."""

    provider: str  # "cash" or "voucher"
    event_id: str  # de-duplicates, as a provider's event id does
    provider_ref: str  # what identifies it on our side: the receipt, the serial
    payload: dict[str, str]  # kept with the event (never a PIN)
    actor: str


def settle_taken_payment(
    uow: UnitOfWork, ctx: Context, order: Order, taken: TakenPayment
) -> Payment:
    """Record that ``order`` (read with its row lock, awaiting payment) was paid in
    full by ``taken``, inside ``uow``: its ``pending`` payment with that provider (one
    started on the web) or a new one, moved to ``succeeded`` by a recorded event;
    the order is then paid and fulfilled as for any provider's success.

    Raises ``OrderNotPayable`` unless the order awaits payment, and ``RuntimeError``
    if the event was recorded before (the callers' locks make that impossible).
    """
    if order.state is not OrderState.AWAITING_PAYMENT:
        raise OrderNotPayable(order=order.id, state=order.state.value)
    now = ctx.clock.now()
    payment = _pending_payment(uow, order, taken.provider)
    if payment is None:
        payment = new_payment(order, taken.provider, now=now)
        uow.payments.add(payment, actor=taken.actor)
    event = PaymentEvent(
        provider=taken.provider,
        event_id=taken.event_id,
        payment_id=payment.id,
        state=PaymentState.SUCCEEDED,
        occurred_at=now,
        amount=payment.amount,
        provider_ref=taken.provider_ref,
    )
    payload = json.dumps(taken.payload, sort_keys=True, separators=(",", ":"))
    if not uow.payments.record_event(event, payload, now, outcome="applied"):
        raise RuntimeError(f"{taken.provider} event {taken.event_id} was recorded before")
    move_payment(
        uow,
        ctx,
        payment,
        replace(payment, provider_ref=taken.provider_ref),
        PaymentState.SUCCEEDED,
        None,
        reason=f"event {taken.event_id}",
        actor=taken.actor,
    )
    return uow.payments.get(payment.id)


def _pending_payment(uow: UnitOfWork, order: Order, provider: str) -> Payment | None:
    """The order's pending payment with ``provider`` (the buyer chose it on the web
    before coming to the counter or typing the PIN), re-read with its row lock: the
    janitor may have cancelled it meanwhile."""
    for payment in uow.payments.list_for_order(order.id):
        if payment.provider == provider and payment.state is PaymentState.PENDING:
            locked = uow.payments.get(payment.id, lock=True)
            if locked.state is PaymentState.PENDING:
                return locked
    return None


def _current(uow: UnitOfWork, staff: StaffUser) -> StaffUser:
    """``staff`` as stored now, checked again: deactivated or re-roled since login
    means refused from the next step."""
    current = uow.staff.get(staff.id)
    require(current, Action.RECORD_CASH)
    return current


def open_shift(ctx: Context, staff: StaffUser) -> CashShift:
    """Open a cash shift for ``staff``. Raises ``NotPermitted`` for a role that may not
    take cash and ``ShiftAlreadyOpen`` if one is open (a database constraint)."""
    require(staff, Action.RECORD_CASH)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        _current(uow, staff)
        shift = CashShift(id=new_id("shf"), staff_id=staff.id, opened_at=now)
        if not uow.cash.open_shift(shift):
            existing = uow.cash.open_shift_for(staff.id)
            raise ShiftAlreadyOpen(
                username=staff.username, shift=existing.id if existing else "unknown"
            )
        uow.audit.record(
            AuditRecord("cash_shift", shift.id, None, "open", "shift opened", staff.actor, now)
        )
        uow.commit()
    return shift


def record_cash_payment(
    ctx: Context, staff: StaffUser, order_id: str, *, tendered: Money
) -> CashReceipt:
    """Take ``tendered`` in cash for ``order_id`` at ``staff``'s counter; returns the
    receipt with the change to give back. The order is paid and fulfilled in the same
    transaction.

    Raises ``NotPermitted`` (role), ``StaffLoginFailed`` (deactivated meanwhile),
    ``NoOpenShift``, ``OrderNotFound``, ``OrderNotPayable`` (not awaiting payment),
    ``CurrencyMismatch`` and ``TenderedTooLittle``; ``ProviderUnavailable`` if this
    instance does not offer cash.
    """
    require(staff, Action.RECORD_CASH)
    ctx.provider(CASH)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = _current(uow, staff)
        # The shift's row lock keeps a close from slipping between the check and the
        # receipt: a closed shift's totals never change afterwards.
        shift = uow.cash.open_shift_for(current.id, lock=True)
        if shift is None:
            raise NoOpenShift(username=current.username)
        order = uow.orders.get(order_id, lock=True)
        if order.state is not OrderState.AWAITING_PAYMENT:
            raise OrderNotPayable(order=order.id, state=order.state.value)
        change = make_change(order.price, tendered)
        receipt_id = new_id("csh")
        payment = settle_taken_payment(
            uow,
            ctx,
            order,
            TakenPayment(
                provider=CASH,
                event_id=f"cash:{shift.id}:{order.id}",
                provider_ref=receipt_id,
                payload={
                    "receipt": receipt_id,
                    "shift": shift.id,
                    "staff": current.username,
                    "tendered": tendered.decimal_str(),
                    "change": change.decimal_str(),
                    "currency": tendered.currency,
                },
                actor=current.actor,
            ),
        )
        receipt = CashReceipt(
            id=receipt_id,
            order_id=order.id,
            payment_id=payment.id,
            shift_id=shift.id,
            staff_id=current.id,
            amount=order.price,
            tendered=tendered,
            change=change,
            taken_at=now,
        )
        uow.cash.add_receipt(receipt)
        uow.audit.record(
            AuditRecord(
                "cash_receipt",
                receipt.id,
                None,
                "taken",
                f"cash for order {order.id}: {order.price} ({tendered} tendered, {change} change) "
                f"in shift {shift.id}",
                current.actor,
                now,
            )
        )
        uow.commit()
    return receipt


def close_shift(ctx: Context, staff: StaffUser) -> ShiftTotal:
    """Close ``staff``'s open shift; returns what it took. Raises ``NoOpenShift``."""
    require(staff, Action.RECORD_CASH)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = _current(uow, staff)
        shift = uow.cash.open_shift_for(current.id, lock=True)
        if shift is None:
            raise NoOpenShift(username=current.username)
        closed = shift.close(now)
        uow.cash.close_shift(closed)
        totals = tuple(uow.cash.totals(shift.id))
        summary = ", ".join(f"{t.count} × {t.total}" for t in totals) or "no cash"
        uow.audit.record(
            AuditRecord(
                "cash_shift",
                shift.id,
                "open",
                "closed",
                f"shift closed: {summary}",
                staff.actor,
                now,
            )
        )
        uow.commit()
    return ShiftTotal(shift=closed, username=current.username, totals=totals)


def shift_total(ctx: Context, shift_id: str) -> ShiftTotal:
    """What shift ``shift_id`` took so far (open) or in all (closed). Raises
    ``ShiftNotFound``."""
    with ctx.uow(write=False) as uow:
        shift = uow.cash.get_shift(shift_id)
        user = uow.staff.get(shift.staff_id)
        return ShiftTotal(
            shift=shift, username=user.username, totals=tuple(uow.cash.totals(shift_id))
        )
