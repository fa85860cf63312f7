"""Check, choose and pay for a logged-in subscriber's own cards."""

from __future__ import annotations

from simrenew.domain.accounts import Subscriber
from simrenew.domain.cards import Card
from simrenew.domain.orders import Channel, OrderState
from simrenew.services.auth import own_card
from simrenew.services.context import Context
from simrenew.services.ordering import Checkout, PlaceOrder, checkout, place_order
from simrenew.services.payment_methods import usable_method
from simrenew.services.payments import pay_with_saved_method
from simrenew.services.quoting import Quote, offers_for_card, quote


def my_card(ctx: Context, subscriber: Subscriber, card_id: str) -> Card:
    """One of the subscriber's cards. Raises ``CardNotFound`` for a card that is not
    theirs."""
    with ctx.uow(write=False) as uow:
        return own_card(uow, subscriber, card_id)


def my_offers(ctx: Context, subscriber: Subscriber, card_id: str) -> tuple[Card, list[Quote]]:
    """Every offer that fits one of the subscriber's cards, priced, with the validity
    it would give. Raises ``CardNotFound`` for a card that is not theirs."""
    return offers_for_card(ctx, my_card(ctx, subscriber, card_id).iccid)


def my_quote(
    ctx: Context, subscriber: Subscriber, card_id: str, offer_code: str, coupon: str | None
) -> Quote:
    """One offer priced for one of the subscriber's cards, coupon applied."""
    return quote(ctx, my_card(ctx, subscriber, card_id).iccid, offer_code, coupon=coupon)


def my_checkout(
    ctx: Context,
    subscriber: Subscriber,
    card_id: str,
    offer_code: str,
    *,
    coupon: str | None,
    pay_with: str,
    channel: Channel,
    idempotency_key: str | None,
    return_url: str = "",
    save_method: bool = False,
) -> Checkout:
    """Order for one of the subscriber's cards and open its payment (see
    ``ordering.checkout``); ``save_method`` keeps the method for the subscriber."""
    command = _my_order(ctx, subscriber, card_id, offer_code, coupon, channel, idempotency_key)
    return checkout(
        ctx,
        command,
        pay_with=pay_with,
        return_url=return_url,
        save_for=subscriber.id if save_method else None,
    )


def my_checkout_with_saved_method(
    ctx: Context,
    subscriber: Subscriber,
    card_id: str,
    offer_code: str,
    method_id: str,
    *,
    coupon: str | None,
    channel: Channel,
    idempotency_key: str | None,
) -> Checkout:
    """Order for one of the subscriber's cards and charge one of their saved methods
    at once. A repeat with the same idempotency key finds the same order, whose
    payment is then handed back rather than charged again."""
    command = _my_order(ctx, subscriber, card_id, offer_code, coupon, channel, idempotency_key)
    with ctx.uow(write=False) as uow:
        usable_method(uow, ctx, subscriber.id, method_id)  # refuse before ordering
    order, created = place_order(ctx, command)
    if order.state is not OrderState.AWAITING_PAYMENT:
        return Checkout(order, created, None)
    payment = pay_with_saved_method(
        ctx, order.id, method_id, subscriber_id=subscriber.id, actor=command.actor
    )
    return Checkout(order, created, payment)


def _my_order(
    ctx: Context,
    subscriber: Subscriber,
    card_id: str,
    offer_code: str,
    coupon: str | None,
    channel: Channel,
    idempotency_key: str | None,
) -> PlaceOrder:
    """The order command for one of the subscriber's cards (``CardNotFound`` if it is
    not theirs), placed in their name."""
    return PlaceOrder(
        my_card(ctx, subscriber, card_id).iccid,
        offer_code,
        channel,
        actor=f"subscriber:{subscriber.id}",
        coupon=coupon,
        idempotency_key=idempotency_key,
    )
