"""Confirm: turn a paid order into validity, allowances and value, exactly once.

Runs inside the transaction that learned of the payment, so "paid" and "fulfilled"
commit together, with the confirmation SMS and provisioning in the outbox. A paid
order the rules no longer allow (the card was terminated meanwhile, the queue
filled up) is refunded instead, and the subscriber told.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from simrenew.domain.buckets import Bucket
from simrenew.domain.cards import Card, CardState
from simrenew.domain.catalog import OfferKind
from simrenew.domain.errors import CardNotRenewable, OfferNotAvailable, QueueLimitExceeded
from simrenew.domain.ids import new_id
from simrenew.domain.ledger import EntryKind, post
from simrenew.domain.messages import MessageKind, refund_reason
from simrenew.domain.money import Money
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.outbox import ProvisionAction
from simrenew.domain.promotions import PriceQuote
from simrenew.domain.renewals import plan_renewal
from simrenew.domain.timeutil import end_of_day
from simrenew.ports import UnitOfWork
from simrenew.services.context import Context
from simrenew.services.notifications import enqueue_message
from simrenew.services.provisioning import enqueue_provision
from simrenew.services.refunds import request_refund
from simrenew.services.scheduled_jobs import schedule_period

ACTOR = "system:fulfilment"


def fulfil_paid_order(
    uow: UnitOfWork, ctx: Context, order: Order, *, now: datetime, stored: OrderState | None = None
) -> Order:
    """Fulfil ``order`` (state ``paid``) inside ``uow``; returns it ``fulfilled``, or
    ``refunding`` when the card can no longer take it. ``stored`` is the state still
    in the database when ``paid`` was only noted: one UPDATE then writes the outcome."""
    card = uow.cards.get(order.card_id, lock=True)
    offer = uow.catalog.offer(order.offer_code, order.offer_version)
    line = uow.catalog.product_line(card.product_line)
    # The order keeps what it was sold with: this version, this price, this bonus.
    sold = PriceQuote(offer, order.list_price, order.discount, order.price, (), order.bonus)
    try:
        plan = plan_renewal(
            card,
            sold,
            line,
            periods=uow.cards.periods(card.id),
            now=now,
            tz=ctx.clock.tz,
            order_id=order.id,
        )
    except (CardNotRenewable, QueueLimitExceeded, OfferNotAvailable) as refusal:
        return refund_order(uow, ctx, order, card, reason_code=refusal.code, now=now, stored=stored)

    renewed = card
    if plan.new_state is not card.state:
        reason = "first activation" if card.state is CardState.IN_STOCK else "renewed in grace"
        renewed = card.move_to(
            plan.new_state, reason=f"{reason}: order {order.id}", actor=ACTOR, at=now
        )
    renewed = replace(renewed, validity_end=plan.validity_end, renewal_count=card.renewal_count + 1)
    if plan.credit_minor:
        entry = post(
            Money(card.balance_minor, order.price.currency),
            entry_id=new_id("led"),
            card_id=card.id,
            kind=EntryKind.TOP_UP,
            amount=Money(plan.credit_minor, order.price.currency),
            reason=f"top-up {offer.code}",
            order_id=order.id,
            at=now,
        )
        uow.cards.add_ledger_entry(entry)
        renewed = replace(renewed, balance_minor=entry.balance_after.amount_minor)
    uow.cards.update(renewed, at=now)
    if renewed.validity_end != card.validity_end or renewed.state is not card.state:
        # The new period's expiry, reminders and auto-renew attempts, recorded with it.
        schedule_period(uow, ctx, renewed, now=now)

    if plan.period is not None:
        uow.cards.add_period(plan.period)
    if plan.rollover_until is not None and card.validity_end is not None:
        uow.cards.extend_data_buckets(
            card.id, end_of_day(card.validity_end, ctx.clock.tz), plan.rollover_until
        )
    uow.cards.add_buckets(
        [
            Bucket(
                id=new_id("bkt"),
                card_id=card.id,
                zone=b.allowance.zone,
                kind=b.allowance.kind,
                initial=b.allowance.amount,
                used=0,
                valid_from=b.valid_from,
                valid_until=b.valid_until,
                order_id=order.id,
            )
            for b in plan.buckets
        ]
    )
    uow.orders.add_fulfilment(order.id, card.id, now)
    fulfilled = order.move_to(OrderState.FULFILLED, now)
    uow.orders.update(
        fulfilled, stored or order.state, reason="fulfilled", actor=ACTOR, audit_from=order.state
    )

    if card.state is CardState.IN_STOCK:
        enqueue_provision(uow, renewed, ProvisionAction.ACTIVATE, at=now, cause=order.id)
    elif card.state is CardState.GRACE and renewed.state is CardState.ACTIVE:
        enqueue_provision(uow, renewed, ProvisionAction.RESUME, at=now, cause=order.id)
    if plan.buckets:
        enqueue_provision(
            uow,
            renewed,
            ProvisionAction.ADD_ALLOWANCE,
            at=now,
            cause=order.id,
            details={
                "order_id": order.id,
                "allowances": [
                    {
                        "zone": b.allowance.zone,
                        "kind": b.allowance.kind.value,
                        "amount": b.allowance.amount,
                        "valid_until": b.valid_until.isoformat(),
                    }
                    for b in plan.buckets
                ],
            },
        )
    validity = plan.validity_end.isoformat() if plan.validity_end else "-"
    if offer.kind is OfferKind.ADDON:
        validity = plan.buckets[0].valid_until.astimezone(ctx.clock.tz).date().isoformat()
    enqueue_message(
        uow,
        ctx,
        renewed,
        MessageKind.RENEWAL_CONFIRMED,
        at=now,
        dedupe=order.id,
        number=renewed.primary_number,
        offer=offer.name.get(renewed.language),
        price=order.price.display(),
        validity_end=validity,
        order=order.id,
    )
    return fulfilled


def refund_order(
    uow: UnitOfWork,
    ctx: Context,
    order: Order,
    card: Card,
    *,
    reason_code: str,
    now: datetime,
    stored: OrderState | None = None,
) -> Order:
    """Move a paid order to ``refunding``: the refund goes to the provider through the
    outbox (no provider call inside a transaction) and the subscriber is told now."""
    refunding = order.move_to(OrderState.REFUNDING, now)
    uow.orders.update(
        refunding,
        stored or order.state,
        reason=f"refund: {reason_code}",
        actor=ACTOR,
        audit_from=order.state,
    )
    uow.catalog.release_redemptions(order.id)
    for payment in uow.payments.list_for_order(order.id):
        if payment.state.value == "succeeded":
            request_refund(uow, payment, reason=reason_code, requested_by=ACTOR, now=now)
    enqueue_message(
        uow,
        ctx,
        card,
        MessageKind.REFUND_ISSUED,
        at=now,
        dedupe=order.id,
        number=card.primary_number,
        order=order.id,
        price=order.price.display(),
        reason=refund_reason(reason_code, card.language),
    )
    return refunding
