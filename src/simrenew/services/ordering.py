"""Placing, cancelling and expiring orders."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from simrenew.domain.errors import (
    CardNotFound,
    IdempotencyInProgress,
    IllegalTransition,
    InvalidNumber,
    OrderLimitExceeded,
    PromotionNotApplicable,
)
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.orders import Channel, Order, OrderState
from simrenew.domain.payments import Payment
from simrenew.domain.promotions import Promotion
from simrenew.services.context import Context
from simrenew.services.fulfilment import fulfil_paid_order
from simrenew.services.lookup import normalize_card_key
from simrenew.services.payment_methods import saver
from simrenew.services.payments import (
    check_payment,
    new_payment,
    request_checkout,
    start_payment,
)
from simrenew.services.quoting import quote_for_card

LIMIT_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    card_key: str  # number or ICCID, as typed
    offer_code: str
    channel: Channel
    actor: str
    coupon: str | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """What makes two requests "the same" for an idempotency key."""
        canonical = json.dumps(
            [
                normalize_card_key(self.card_key),
                self.offer_code,
                (self.coupon or "").upper(),
                self.channel.value,
            ],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Checkout:
    order: Order
    created: bool
    payment: Payment | None  # None when there was nothing to pay, or on a replay


def place_order(ctx: Context, command: PlaceOrder) -> tuple[Order, bool]:
    """Create an order awaiting payment at the quoted price; returns ``(order, created)``.

    With an idempotency key, a repeat of the same request returns the first order
    (``created`` False) and the same key with a different request raises
    ``IdempotencyKeyReused``. Refuses, before any money moves, what the renewal rules
    or the product line's limits refuse: ``CardNotRenewable``, ``QueueLimitExceeded``,
    ``OfferNotAvailable``, ``OrderLimitExceeded``, ``CouponInvalid``,
    ``PromotionNotApplicable``. A price of zero (a full promotion) fulfils at once.
    """
    placed = _place(ctx, command, pay_with=None)
    return placed.order, placed.created


def checkout(
    ctx: Context,
    command: PlaceOrder,
    *,
    pay_with: str,
    return_url: str = "",
    scenario: str | None = None,
    save_for: str | None = None,
) -> Checkout:
    """``place_order`` and open its payment with ``pay_with`` in the same transaction,
    then ask the provider for its checkout (with no transaction open). What most
    callers want: one step from "buy this" to a payment page. A repeat with the same
    idempotency key whose order is still unpaid gets its checkout again.
    ``save_for`` keeps the buyer's method for that subscriber (``start_payment``)."""
    if save_for is None:
        ctx.provider(pay_with)
    else:
        saver(ctx, pay_with)
    placed = _place(ctx, command, pay_with=pay_with, save_for=save_for)
    if placed.payment is None:
        if not placed.created and placed.order.state is OrderState.AWAITING_PAYMENT:
            # A repeat of the same request (a retry after a crash or a lost answer):
            # the buyer needs the checkout again, and gets the same payment back.
            payment = start_payment(
                ctx,
                placed.order.id,
                pay_with,
                actor=command.actor,
                return_url=return_url,
                scenario=scenario,
                save_for=save_for,
            )
            return Checkout(placed.order, False, payment)
        return placed
    payment = request_checkout(
        ctx,
        placed.payment,
        placed.order,
        language=placed.language,
        return_url=return_url,
        scenario=scenario,
    )
    return Checkout(placed.order, placed.created, payment)


@dataclass(frozen=True, slots=True)
class _Placed(Checkout):
    language: str = "zh-Hant"


def _place(
    ctx: Context, command: PlaceOrder, *, pay_with: str | None, save_for: str | None = None
) -> _Placed:
    now = ctx.clock.now()
    scope = f"order:{command.actor}"
    order_id = new_id("ord")
    with ctx.uow() as uow:
        if command.idempotency_key:
            claim = uow.idempotency.claim(
                command.idempotency_key, scope, command.fingerprint(), now, result_ref=order_id
            )
            if not claim.fresh:
                if claim.result_ref is None:
                    raise IdempotencyInProgress(key=command.idempotency_key)
                return _Placed(uow.orders.get(claim.result_ref), False, None)

        try:
            key = normalize_card_key(command.card_key)
        except InvalidNumber:
            raise CardNotFound(key=command.card_key) from None
        card = uow.cards.find(key, lock=True)
        if card is None:
            raise CardNotFound(key=command.card_key)
        line = uow.catalog.product_line(card.product_line)
        offer = uow.catalog.offer(command.offer_code)
        quoted = quote_for_card(uow, ctx, card, line, offer, coupon=command.coupon)
        if quoted.refusal is not None:
            raise quoted.refusal
        price = quoted.price.price

        limits = line.limits
        if price.amount_minor and not limits.minimum <= price <= limits.maximum:
            raise OrderLimitExceeded(
                reason=f"An order must be between {limits.minimum} and {limits.maximum}; "
                f"this one is {price}."
            )
        spent = Money(uow.orders.committed_total(card.id, now - LIMIT_WINDOW), price.currency)
        if spent + price > limits.per_30_days:
            raise OrderLimitExceeded(
                reason=f"This number has {spent} of orders in the last 30 days; adding {price} "
                f"would pass the limit of {limits.per_30_days}."
            )

        order = Order(
            id=order_id,
            card_id=card.id,
            offer_code=offer.code,
            offer_version=offer.version,
            channel=command.channel,
            actor=command.actor,
            state=OrderState.AWAITING_PAYMENT,
            list_price=quoted.price.list_price,
            discount=quoted.price.discount,
            price=price,
            promotions=quoted.price.promotion_codes,
            created_at=now,
            expires_at=now + ctx.order_ttl,
            updated_at=now,
            idempotency_key=command.idempotency_key,
            bonus=quoted.price.bonus,
        )
        uow.orders.add(order, reason=f"placed via {command.channel.value}")
        for promotion in quoted.price.promotions:
            if not _counts(promotion):
                continue
            if not uow.catalog.reserve_redemption(promotion, card.id, order.id, now):
                raise PromotionNotApplicable(promotion=promotion.code, reason="fully redeemed")
        payment = None
        if price.is_zero():
            paid = order.move_to(OrderState.PAID, now)
            uow.orders.update(paid, order.state, reason="nothing to pay", actor=command.actor)
            order = fulfil_paid_order(uow, ctx, paid, now=now)
        elif pay_with is not None:
            payment = new_payment(order, pay_with, now=now, save_for=save_for)
            uow.payments.add(payment, actor=command.actor)
        uow.commit()
        return _Placed(order, True, payment, card.language)


def _counts(promotion: Promotion) -> bool:
    """Only limited promotions need their uses counted (and a row lock to count them)."""
    return promotion.global_limit is not None or promotion.per_card_limit is not None


def cancel_order(ctx: Context, order_id: str, *, actor: str) -> Order:
    """Cancel an unpaid order. Its payments that are not final are re-checked with
    their providers first: if one took the money, the order is paid and the cancel
    refused. Raises ``IllegalTransition`` once it is paid; a payment that still
    succeeds afterwards is refunded."""
    checked_first = False
    while True:
        now = ctx.clock.now()
        with ctx.uow() as uow:
            order = uow.orders.get(order_id, lock=True)
            if order.state is OrderState.CANCELLED:
                return order
            open_payments = (
                []
                if checked_first or order.state is not OrderState.AWAITING_PAYMENT
                else [p for p in uow.payments.list_for_order(order.id) if not p.state.is_final]
            )
            if not open_payments:
                cancelled = order.move_to(OrderState.CANCELLED, now)
                uow.orders.update(cancelled, order.state, reason="cancelled by buyer", actor=actor)
                uow.catalog.release_redemptions(order.id)
                uow.commit()
                return cancelled
        # Leaving the block rolled back: no lock is held while the providers are asked,
        # and the order is looked at again afterwards (now paid, or still awaiting).
        for payment in open_payments:
            check_payment(ctx, payment, reason="re-checked before cancelling")
        checked_first = True


def expire_unpaid_orders(ctx: Context, *, batch: int = 500) -> int:
    """Expire orders left unpaid past their deadline; returns how many."""
    now = ctx.clock.now()
    expired = 0
    while True:
        with ctx.uow() as uow:
            due = uow.orders.due_for_expiry(now, batch)
            for candidate in due:
                order = uow.orders.get(candidate.id, lock=True)
                try:
                    done = order.move_to(OrderState.EXPIRED, now)
                except IllegalTransition:
                    continue  # paid or cancelled meanwhile
                uow.orders.update(done, order.state, reason="unpaid in time", actor="system:expiry")
                uow.catalog.release_redemptions(order.id)
                expired += 1
            uow.commit()
        if len(due) < batch:
            return expired
