"""Pay: start a payment with a provider and apply what providers say about it.

No database lock is held while a provider is called: the payment is saved as
``pending`` and committed, the provider is called, and its answer is recorded in a
new transaction, re-reading the payment in case a callback got there first.

A payment that is not final is re-checked with its provider on the schedule of
``simrenew.domain.payments.recheck_after`` (by the janitor, ``services/janitor.py``)
and before anything else is done to its order: a new payment or a cancellation.
Every re-check counts on that schedule, whoever makes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from simrenew.domain.errors import Conflict, PaymentMismatch, ProviderUnavailable
from simrenew.domain.ids import new_id
from simrenew.domain.messages import MessageKind
from simrenew.domain.money import Money
from simrenew.domain.orders import Channel, Order, OrderState
from simrenew.domain.payment_methods import PaymentMethod
from simrenew.domain.payments import (
    RECHECK_SCHEDULE,
    EventOutcome,
    Payment,
    PaymentEvent,
    PaymentState,
    next_recheck,
)
from simrenew.ports import (
    AuditRecord,
    PaymentRequest,
    ProviderError,
    ProviderResult,
    SavedMethodRef,
    UnitOfWork,
)
from simrenew.services.context import Context
from simrenew.services.fulfilment import fulfil_paid_order, refund_order
from simrenew.services.notifications import enqueue_message
from simrenew.services.payment_methods import enqueue_save, saver, usable_method
from simrenew.services.refunds import request_refund

RECHECK_PERIOD = RECHECK_SCHEDULE[-1]


class OrderNotPayable(Conflict):
    code = "order_not_payable"
    template = "Order {order} is {state} and cannot be paid."


def new_payment(
    order: Order,
    provider_name: str,
    *,
    now: datetime,
    save_for: str | None = None,
    method_id: str | None = None,
) -> Payment:
    """A pending payment for what ``order`` costs; the caller stores it."""
    return Payment(
        id=new_id("pay"),
        order_id=order.id,
        provider=provider_name,
        state=PaymentState.PENDING,
        amount=order.price,
        created_at=now,
        updated_at=now,
        save_for=save_for,
        method_id=method_id,
    )


def _payment_request(
    payment: Payment, order: Order, *, language: str, return_url: str = "", **extra: Any
) -> PaymentRequest:
    return PaymentRequest(
        payment_id=payment.id,
        order_id=order.id,
        amount_minor=payment.amount.amount_minor,
        currency=payment.amount.currency,
        description=f"{order.offer_code} {order.id}",
        language=language,
        return_url=return_url.replace("{order_id}", order.id),
        **extra,
    )


def request_checkout(
    ctx: Context,
    payment: Payment,
    order: Order,
    *,
    language: str,
    return_url: str = "",
    scenario: str | None = None,
) -> Payment:
    """Ask the provider to open ``payment`` (already committed as pending). Call it
    with no transaction open: no lock is held while a provider is called. A provider
    that cannot be reached leaves the payment ``unknown``, never ``failed``.

    ``return_url`` is where the provider sends the buyer back; ``{order_id}`` in it
    becomes the order's id, which callers that open the order and its payment in one
    step do not know beforehand."""
    provider = ctx.provider(payment.provider)
    customer_ref = None
    if payment.save_for is not None:
        with ctx.uow(write=False) as uow:
            customer_ref = uow.payment_methods.customer_ref(payment.save_for, payment.provider)
    request = _payment_request(
        payment,
        order,
        language=language,
        return_url=return_url,
        scenario=scenario,
        save_method=payment.save_for is not None,
        customer_ref=customer_ref,
    )
    try:
        result = provider.create_payment(request)
    except ProviderError as exc:
        result = ProviderResult(PaymentState.UNKNOWN, failure_code=f"provider_error: {exc}"[:64])
    if result.state is PaymentState.PENDING and result.provider_ref in (
        None,
        payment.provider_ref,
    ):
        # Nothing new to store: the checkout URL goes back to the caller, and is kept
        # only when there is a provider reference to keep anyway.
        return replace(payment, checkout_url=result.checkout_url)
    return record_provider_result(ctx, payment.id, result, reason="provider answered start")


def start_payment(
    ctx: Context,
    order_id: str,
    provider_name: str,
    *,
    actor: str,
    return_url: str = "",
    scenario: str | None = None,
    save_for: str | None = None,
) -> Payment:
    """Start paying ``order_id`` with ``provider_name``; returns the payment, with a
    checkout URL for hosted pages. While a payment with the same provider is still
    pending, that payment is returned instead of a second one. An earlier payment
    that may have taken the money (``unknown``, or ``pending`` with another provider)
    is re-checked with its provider first; if it did, the order is paid and no new
    payment is started. ``save_for`` (a subscriber id) asks the provider to keep the
    buyer's method for that subscriber once the payment succeeds. Raises
    ``OrderNotPayable`` unless the order awaits payment, ``ProviderUnavailable`` for
    an unknown provider, ``MethodCannotBeSaved`` when ``save_for`` is given for a
    provider that keeps no methods.
    """
    if save_for is None:
        ctx.provider(provider_name)
    else:
        saver(ctx, provider_name)
    payment, order, language = _open_payment(
        ctx, order_id, provider_name, actor=actor, save_for=save_for
    )
    return request_checkout(
        ctx, payment, order, language=language, return_url=return_url, scenario=scenario
    )


def pay_with_saved_method(
    ctx: Context, order_id: str, method_id: str, *, subscriber_id: str, actor: str
) -> Payment:
    """Pay ``order_id`` with one of ``subscriber_id``'s saved methods, no buyer at a
    provider page: the provider charges the method at once. Asking again while that
    charge is still pending hands back the same payment; the provider's idempotency
    per payment id makes a repeated charge call charge once. A charge whose answer
    is lost is ``unknown`` and re-checked like any other. Raises
    ``PaymentMethodNotFound``, ``PaymentMethodUnusable`` and ``OrderNotPayable``."""
    with ctx.uow(write=False) as uow:
        method = usable_method(uow, ctx, subscriber_id, method_id)
    payment, order, _ = _open_payment(
        ctx, order_id, method.provider, actor=actor, method_id=method.id
    )
    if payment.state is not PaymentState.PENDING:
        return payment
    return charge_saved_method(ctx, payment, order, method)


def charge_saved_method(
    ctx: Context, payment: Payment, order: Order, method: PaymentMethod
) -> Payment:
    """Ask the provider to charge ``method`` for ``payment`` (already committed as
    pending, naming the method) and record the answer. Call it with no transaction
    open; no answer leaves the payment ``unknown``."""
    request = _payment_request(payment, order, language="")
    try:
        result = saver(ctx, method.provider).charge_saved(
            request, SavedMethodRef(token=method.token, customer_ref=method.customer_ref)
        )
    except ProviderError as exc:
        result = ProviderResult(PaymentState.UNKNOWN, failure_code=f"provider_error: {exc}"[:64])
    return record_provider_result(ctx, payment.id, result, reason="saved method charged")


def _open_payment(
    ctx: Context,
    order_id: str,
    provider_name: str,
    *,
    actor: str,
    save_for: str | None = None,
    method_id: str | None = None,
) -> tuple[Payment, Order, str]:
    """The payment to go on with for ``order_id`` (a new one, committed as pending, or
    the one still pending for the same provider and purpose), its order and the
    card's language. Payments that may have paid already are re-checked first."""
    checked_first = False
    while True:
        with ctx.uow() as uow:
            order = uow.orders.get(order_id, lock=True)
            if order.state is not OrderState.AWAITING_PAYMENT:
                raise OrderNotPayable(order=order.id, state=order.state.value)
            payments = uow.payments.list_for_order(order.id)
            in_doubt = (
                [] if checked_first else [p for p in payments if _may_have_paid(p, provider_name)]
            )
            if not in_doubt:
                pending = [
                    p
                    for p in payments
                    if p.provider == provider_name
                    and p.state is PaymentState.PENDING
                    and (p.save_for, p.method_id) == (save_for, method_id)
                ]
                card = uow.cards.get(order.card_id)
                if pending:
                    # "Pay" pressed twice, or two devices: the same payment and checkout
                    # again (providers hand back the same session for the same
                    # payment), never a second charge.
                    payment = pending[0]
                else:
                    payment = new_payment(
                        order,
                        provider_name,
                        now=ctx.clock.now(),
                        save_for=save_for,
                        method_id=method_id,
                    )
                    uow.payments.add(payment, actor=actor)
                    uow.commit()
                return payment, order, card.language
        # Leaving the block rolled back: no lock is held while the providers are asked,
        # and the order is looked at again afterwards (now paid, or still awaiting).
        for doubtful in in_doubt:
            check_payment(ctx, doubtful, reason="re-checked before a new payment")
        checked_first = True


def _may_have_paid(payment: Payment, provider_name: str) -> bool:
    """Whether ``payment`` must be re-checked before the order is paid with
    ``provider_name``: it may have taken the money without our knowing. A payment
    pending with the same provider is not: it is the one handed back again."""
    if payment.state is PaymentState.UNKNOWN:
        return True
    return payment.state is PaymentState.PENDING and payment.provider != provider_name


def record_provider_result(
    ctx: Context, payment_id: str, result: ProviderResult, *, reason: str
) -> Payment:
    """Store what a provider answered (on start or on a re-check) in its own transaction."""
    with ctx.uow() as uow:
        payment = uow.payments.get(payment_id, lock=True)
        _apply_result(uow, ctx, payment, result, reason=reason)
        uow.commit()
        return uow.payments.get(payment_id)


def _apply_result(
    uow: UnitOfWork, ctx: Context, payment: Payment, result: ProviderResult, *, reason: str
) -> None:
    """What a provider said about ``payment`` (read with its row lock): a move it
    allows, new provider details, or a flagged mismatch that moves nothing."""
    now = ctx.clock.now()
    if result.amount_minor is not None and result.amount_minor != payment.amount.amount_minor:
        reported = Money(result.amount_minor, payment.amount.currency)
        _flag_mismatch(uow, payment, reported, actor=f"provider:{payment.provider}", at=now)
        return
    updated = replace(
        payment,
        provider_ref=result.provider_ref or payment.provider_ref,
        checkout_url=result.checkout_url or payment.checkout_url,
    )
    if result.state is not payment.state and PaymentState.allowed(payment.state, result.state):
        move_payment(
            uow,
            ctx,
            payment,
            updated,
            result.state,
            result.failure_code,
            reason=reason,
            actor=f"provider:{payment.provider}",
        )
    elif updated != payment:
        uow.payments.update(
            replace(updated, updated_at=now), payment.state, reason=reason, actor="system"
        )


def apply_payment_event(ctx: Context, event: PaymentEvent, *, payload: str) -> EventOutcome:
    """Apply a verified provider event, exactly once.

    Replays (same provider event id) are ``DUPLICATE``; an event that would move the
    payment backwards or out of a final state is kept but ``STALE``; an amount that
    differs from the payment is ``MISMATCH`` and changes nothing. A success fulfils
    the order in the same transaction.
    """
    now = ctx.clock.now()
    with ctx.uow() as uow:
        # The payment's row lock orders concurrent events for it; the event row's
        # unique (provider, event id) then turns a replay into DUPLICATE.
        payment = uow.payments.get(event.payment_id, lock=True)
        if event.amount is not None and event.amount != payment.amount:
            outcome = EventOutcome.MISMATCH
        elif event.state is payment.state or not PaymentState.allowed(payment.state, event.state):
            outcome = EventOutcome.STALE
        else:
            outcome = EventOutcome.APPLIED
        if not uow.payments.record_event(event, payload, now, outcome=outcome.value):
            return EventOutcome.DUPLICATE
        if outcome is EventOutcome.MISMATCH and event.amount is not None:
            _flag_mismatch(uow, payment, event.amount, actor=f"provider:{event.provider}", at=now)
        elif outcome is EventOutcome.APPLIED:
            updated = replace(payment, provider_ref=event.provider_ref or payment.provider_ref)
            move_payment(
                uow,
                ctx,
                payment,
                updated,
                event.state,
                event.failure_code,
                reason=f"event {event.event_id}",
                actor=f"provider:{event.provider}",
            )
        uow.commit()
        return outcome


def handle_callback(
    ctx: Context, provider_name: str, headers: Mapping[str, str], body: bytes
) -> EventOutcome:
    """A provider's callback as it arrived: verified by the provider module first
    (raises ``SignatureInvalid``), then applied."""
    provider = ctx.provider(provider_name)
    event = provider.parse_callback(headers, body, ctx.clock.now())
    return apply_payment_event(ctx, event, payload=body.decode("utf-8", errors="replace"))


def recheck_payment(ctx: Context, payment_id: str) -> Payment:
    """Ask the provider about a payment that is not final, record the answer and count
    the check on the payment's schedule (``check_payment``). A final payment is
    returned as it is. Raises ``PaymentNotFound``, and ``ProviderUnavailable`` if its
    provider is no longer configured."""
    with ctx.uow(write=False) as uow:
        payment = uow.payments.get(payment_id)
    if payment.state.is_final:
        return payment
    ctx.provider(payment.provider)  # an operator is told, rather than a check counted
    return check_payment(ctx, payment, reason="re-checked with provider")


def check_payment(
    ctx: Context, payment: Payment, *, reason: str, lease_until: datetime | None = None
) -> Payment:
    """Ask ``payment``'s provider for its status, with no transaction open, then
    ``record_check`` the answer. A provider that cannot be asked (``ProviderError``,
    or no longer configured) leaves the payment as it is, and the check still counts:
    the schedule moves on towards a person looking at it."""
    result: ProviderResult | None
    try:
        if _lost_saved_charge(ctx, payment):
            result = _ask_saved_charge_again(ctx, payment)
        else:
            result = ctx.provider(payment.provider).fetch_status(payment.id, payment.provider_ref)
    except (ProviderError, ProviderUnavailable):
        result = None
    return record_check(ctx, payment.id, result, reason=reason, lease_until=lease_until)


# How long every provider that keeps methods remembers a charge's idempotency key
# (PayPal-Request-Id: 6 hours for orders; Stripe's Idempotency-Key: 24 hours).
SAVED_CHARGE_KEY_KEPT = timedelta(hours=6)


def _lost_saved_charge(ctx: Context, payment: Payment) -> bool:
    """A saved-method charge whose answer was lost has no provider reference to look
    it up by (PayPal cannot search its orders). Asking to charge again with the same
    idempotency key returns the first charge's outcome without charging again, while
    the provider still remembers the key; after that, only ``fetch_status``."""
    return (
        payment.method_id is not None
        and payment.provider_ref is None
        and payment.state is PaymentState.UNKNOWN
        and ctx.clock.now() - payment.created_at < SAVED_CHARGE_KEY_KEPT
    )


def _ask_saved_charge_again(ctx: Context, payment: Payment) -> ProviderResult:
    assert payment.method_id is not None
    with ctx.uow(write=False) as uow:
        order = uow.orders.get(payment.order_id)
        method = uow.payment_methods.get(payment.method_id)
    return saver(ctx, payment.provider).charge_saved(
        _payment_request(payment, order, language=""),
        SavedMethodRef(token=method.token, customer_ref=method.customer_ref),
    )


def record_check(
    ctx: Context,
    payment_id: str,
    result: ProviderResult | None,
    *,
    reason: str,
    lease_until: datetime | None = None,
) -> Payment:
    """Record a re-check of ``payment_id`` in one transaction: what the provider said
    (as ``record_provider_result`` does: a success fulfils the order), and the check
    counted on the schedule: ``rechecks`` + 1 and the next check at the next
    scheduled time, or, when the schedule is over and the payment is still not final,
    flagged for manual review. ``result`` None means the provider could not be asked.

    ``lease_until`` is the janitor's claim on the payment: if the payment's
    ``recheck_at`` no longer holds it (another janitor took over after the lease
    ran out, or someone else re-checked it), the answer is still recorded but the
    check is not counted, so that a due time is counted once.
    """
    now = ctx.clock.now()
    with ctx.uow() as uow:
        payment = uow.payments.get(payment_id, lock=True)
        counts = lease_until is None or payment.recheck_at == lease_until
        if result is not None:
            _apply_result(uow, ctx, payment, result, reason=reason)
        if counts:
            checked = uow.payments.get(payment_id)
            final = checked.state.is_final
            next_at = None if final else next_recheck(checked.created_at, now)
            flag = not final and next_at is None
            uow.payments.record_check(
                payment_id, next_at=next_at, review_since=now if flag else None
            )
            if flag and checked.review_since is None:
                uow.audit.record(
                    AuditRecord(
                        "payment",
                        payment_id,
                        checked.state.value,
                        checked.state.value,
                        f"flagged for manual review: still {checked.state.value} after "
                        f"{checked.rechecks + 1} re-check(s) over {RECHECK_PERIOD.days} days",
                        "system:janitor",
                        now,
                    )
                )
        uow.commit()
        return uow.payments.get(payment_id)


def _flag_mismatch(
    uow: UnitOfWork, payment: Payment, reported: Money, *, actor: str, at: datetime
) -> None:
    """Kept for manual review; a payment never moves on an amount it was not made for."""
    mismatch = PaymentMismatch(
        payment=payment.id, reported=reported.display(), expected=payment.amount.display()
    )
    uow.audit.record(
        AuditRecord(
            "payment",
            payment.id,
            payment.state.value,
            payment.state.value,
            f"flagged: {mismatch.message}",
            actor,
            at,
        )
    )


def move_payment(
    uow: UnitOfWork,
    ctx: Context,
    before: Payment,
    updated: Payment,
    target: PaymentState,
    failure_code: str | None,
    *,
    reason: str,
    actor: str,
) -> None:
    now = ctx.clock.now()
    moved = updated.move_to(target, now, failure_code)
    uow.payments.update(moved, before.state, reason=reason, actor=actor)
    if target is PaymentState.SUCCEEDED:
        _on_success(uow, ctx, moved)
        enqueue_save(uow, moved, now=now)
    elif target is PaymentState.FAILED:
        order = uow.orders.get(moved.order_id)
        # Auto-renew tells its own failures, with when it tries next.
        if order.state is OrderState.AWAITING_PAYMENT and order.channel is not Channel.AUTO_RENEW:
            card = uow.cards.get(order.card_id)
            enqueue_message(
                uow,
                ctx,
                card,
                MessageKind.PAYMENT_FAILED,
                at=now,
                dedupe=moved.id,
                number=card.primary_number,
                order=order.id,
            )


def _on_success(uow: UnitOfWork, ctx: Context, payment: Payment) -> None:
    now = ctx.clock.now()
    order = uow.orders.get(payment.order_id, lock=True)
    if order.state in (OrderState.AWAITING_PAYMENT, OrderState.EXPIRED, OrderState.CANCELLED):
        paid = order.move_to(OrderState.PAID, now)
        # "paid" is noted, not stored: the same transaction stores where it leads.
        uow.orders.note(paid, order.state, reason=f"payment {payment.id}", actor="system:payments")
        if order.state is OrderState.EXPIRED:
            _reclaim_promotions(uow, paid, now=now)
        if order.state is OrderState.CANCELLED:
            card = uow.cards.get(order.card_id)
            refund_order(
                uow, ctx, paid, card, reason_code="order_cancelled", now=now, stored=order.state
            )
        else:
            fulfil_paid_order(uow, ctx, paid, now=now, stored=order.state)
    else:
        # The order was already paid by another payment (two checkout pages, a retry
        # that both went through): this money is not owed, give it back.
        request_refund(
            uow, payment, reason="duplicate_payment", requested_by="system:payments", now=now
        )


def _reclaim_promotions(uow: UnitOfWork, order: Order, *, now: datetime) -> None:
    """Expiry gave the order's promotion uses back; a late payment at the promoted
    price uses them after all. Past a global limit the price paid is still honoured
    (the buyer was quoted it), and the overrun is recorded for the operator."""
    wanted = set(order.promotions)
    for promotion in uow.catalog.promotions():
        if promotion.code not in wanted:
            continue
        if promotion.global_limit is None and promotion.per_card_limit is None:
            continue
        if not uow.catalog.reserve_redemption(promotion, order.card_id, order.id, now):
            uow.audit.record(
                AuditRecord(
                    "order",
                    order.id,
                    order.state.value,
                    order.state.value,
                    f"promotion {promotion.code} honoured past its global limit (late payment)",
                    "system:payments",
                    now,
                )
            )
