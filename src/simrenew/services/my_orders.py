"""Check, choose and pay for a logged-in subscriber's own cards."""

from __future__ import annotations

from simrenew.domain.accounts import Subscriber
from simrenew.domain.cards import Card
from simrenew.domain.orders import Channel
from simrenew.services.auth import own_card
from simrenew.services.context import Context
from simrenew.services.ordering import Checkout, PlaceOrder, checkout
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
) -> Checkout:
    """Order for one of the subscriber's cards and open its payment (see
    ``ordering.checkout``)."""
    card = my_card(ctx, subscriber, card_id)
    command = PlaceOrder(
        card.iccid,
        offer_code,
        channel,
        actor=f"subscriber:{subscriber.id}",
        coupon=coupon,
        idempotency_key=idempotency_key,
    )
    return checkout(ctx, command, pay_with=pay_with, return_url=return_url)
