"""Check and choose: what a card has, which offers fit it, and at what price."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from simrenew.domain.cards import Card
from simrenew.domain.catalog import Offer, ProductLine
from simrenew.domain.errors import Conflict, OfferNotAvailable
from simrenew.domain.promotions import PriceQuote, Promotion, price_offer
from simrenew.domain.renewals import RenewalPlan, plan_renewal
from simrenew.ports import UnitOfWork
from simrenew.services.context import Context
from simrenew.services.lookup import find_card


@dataclass(frozen=True, slots=True)
class Quote:
    """An offer priced for a card, with what the card will look like once it is paid."""

    card: Card
    price: PriceQuote
    plan: RenewalPlan | None
    refusal: Conflict | None  # why this offer cannot be bought now, if it cannot

    @property
    def offer(self) -> Offer:
        return self.price.offer

    @property
    def available(self) -> bool:
        return self.refusal is None

    @property
    def validity_end_after(self) -> date | None:
        return self.plan.validity_end if self.plan else None


def _maybe_applicable(promotion: Promotion, offer: Offer, at: datetime, coupon: str | None) -> bool:
    """Cheap checks that need no database, so redemption counts are only read for
    promotions that could apply."""
    return (
        promotion.starts_at <= at < promotion.ends_at
        and (not promotion.offers or offer.code in promotion.offers)
        and (not promotion.product_lines or offer.product_line in promotion.product_lines)
    ) or bool(coupon and promotion.coupon and promotion.coupon.upper() == coupon.upper())


def price_for_card(
    uow: UnitOfWork,
    card: Card,
    offer: Offer,
    *,
    at: datetime,
    coupon: str | None,
    promotions: list[Promotion] | None = None,
) -> PriceQuote:
    """``offer`` for ``card`` with the best promotion; raises on a bad coupon."""
    candidates = [
        p
        for p in (promotions if promotions is not None else uow.catalog.promotions())
        if _maybe_applicable(p, offer, at, coupon)
    ]
    per_card = [p.code for p in candidates if p.per_card_limit is not None]
    global_ = [p.code for p in candidates if p.global_limit is not None]
    return price_offer(
        offer,
        candidates,
        at=at,
        coupon=coupon,
        is_first_renewal=card.renewal_count == 0,
        card_redemptions=uow.cards.redemptions_by_card(card.id, per_card) if per_card else {},
        global_redemptions=uow.catalog.global_redemptions(global_) if global_ else {},
    )


def quote_for_card(
    uow: UnitOfWork,
    ctx: Context,
    card: Card,
    line: ProductLine,
    offer: Offer,
    *,
    coupon: str | None,
    promotions: list[Promotion] | None = None,
) -> Quote:
    now = ctx.clock.now()
    if offer.product_line != card.product_line or not offer.active:
        raise OfferNotAvailable(offer=offer.code)
    price = price_for_card(uow, card, offer, at=now, coupon=coupon, promotions=promotions)
    try:
        plan = plan_renewal(
            card,
            price,
            line,
            periods=uow.cards.periods(card.id),
            now=now,
            tz=ctx.clock.tz,
            order_id=None,
        )
    except Conflict as refusal:
        return Quote(card, price, None, refusal)
    return Quote(card, price, plan, None)


def quote(ctx: Context, card_key: str, offer_code: str, *, coupon: str | None = None) -> Quote:
    """Price ``offer_code`` for the card found by number or ICCID.

    Raises ``CardNotFound``, ``OfferNotFound``, ``OfferNotAvailable``,
    ``CouponInvalid`` or ``PromotionNotApplicable``. A renewal the rules refuse
    (terminated card, queue limit) is returned with ``refusal`` set, not raised, so
    that a caller can show why.
    """
    with ctx.uow(write=False) as uow:
        card = find_card(uow, card_key)
        line = uow.catalog.product_line(card.product_line)
        return quote_for_card(uow, ctx, card, line, uow.catalog.offer(offer_code), coupon=coupon)


def offers_for_card(ctx: Context, card_key: str) -> tuple[Card, list[Quote]]:
    """Every active offer of the card's product line, priced, best promotion applied."""
    with ctx.uow(write=False) as uow:
        card = find_card(uow, card_key)
        line = uow.catalog.product_line(card.product_line)
        promotions = uow.catalog.promotions()
        quotes = [
            quote_for_card(uow, ctx, card, line, offer, coupon=None, promotions=promotions)
            for offer in uow.catalog.offers_for(card.product_line)
        ]
        return card, quotes
