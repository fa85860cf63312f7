"""Promotions and the choice of the best one for the buyer.

One promotion per order, the one worth most to the buyer (money off first, then
bonus data), plus every applicable promotion marked ``stackable``. The quoted
price is the price charged: an order keeps the promotions it was quoted with.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from simrenew.domain.catalog import Allowance, Offer, Texts
from simrenew.domain.errors import CouponInvalid, PromotionNotApplicable
from simrenew.domain.money import Money


class PromotionKind(enum.StrEnum):
    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    BONUS_DATA = "bonus_data"


@dataclass(frozen=True, slots=True)
class Promotion:
    code: str
    name: Texts
    kind: PromotionKind
    starts_at: datetime
    ends_at: datetime
    percent: int = 0
    amount_off: Money | None = None
    bonus: Allowance | None = None
    coupon: str | None = None
    first_renewal_only: bool = False
    offers: frozenset[str] = frozenset()  # empty: every offer
    product_lines: frozenset[str] = frozenset()  # empty: every product line
    per_card_limit: int | None = None
    global_limit: int | None = None
    stackable: bool = False

    def discount_on(self, price: Money) -> Money:
        if self.kind is PromotionKind.PERCENT_OFF:
            return price.percent(self.percent)
        if self.kind is PromotionKind.AMOUNT_OFF and self.amount_off is not None:
            if self.amount_off.currency != price.currency:
                return Money.zero(price.currency)
            return self.amount_off
        return Money.zero(price.currency)

    def why_not(
        self,
        *,
        offer: Offer,
        at: datetime,
        coupon: str | None,
        is_first_renewal: bool,
        card_redemptions: int,
        global_redemptions: int,
    ) -> str | None:
        """``None`` if the promotion applies, else the reason it does not."""
        if self.coupon is not None and (coupon or "").upper() != self.coupon.upper():
            return "coupon required"
        if not self.starts_at <= at < self.ends_at:
            return "outside its time window"
        if self.offers and offer.code not in self.offers:
            return "not valid for this offer"
        if self.product_lines and offer.product_line not in self.product_lines:
            return "not valid for this card"
        if (
            self.kind is PromotionKind.AMOUNT_OFF
            and self.amount_off is not None
            and self.amount_off.currency != offer.price.currency
        ):
            return "not valid in this currency"
        if self.first_renewal_only and not is_first_renewal:
            return "only for a card's first renewal"
        if self.per_card_limit is not None and card_redemptions >= self.per_card_limit:
            return "already used on this card"
        if self.global_limit is not None and global_redemptions >= self.global_limit:
            return "fully redeemed"
        return None


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """The price of one offer for one card at one moment, promotions applied."""

    offer: Offer
    list_price: Money
    discount: Money
    price: Money
    promotions: tuple[Promotion, ...]
    bonus: tuple[Allowance, ...]

    @property
    def promotion_codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.promotions)


def _value(promotion: Promotion, price: Money) -> tuple[int, int]:
    bonus = promotion.bonus.amount if promotion.bonus else 0
    return (promotion.discount_on(price).amount_minor, bonus)


def price_offer(
    offer: Offer,
    promotions: Iterable[Promotion],
    *,
    at: datetime,
    coupon: str | None = None,
    is_first_renewal: bool = False,
    card_redemptions: Mapping[str, int] | None = None,
    global_redemptions: Mapping[str, int] | None = None,
) -> PriceQuote:
    """Apply the best promotion (plus stackable ones) to ``offer``.

    Raises ``CouponInvalid`` if ``coupon`` names no promotion, and
    ``PromotionNotApplicable`` if it names one that does not apply here.
    """
    card_redemptions = card_redemptions or {}
    global_redemptions = global_redemptions or {}
    candidates = list(promotions)
    applicable: list[Promotion] = []
    coupon_promotion: Promotion | None = None
    coupon_reason: str | None = None
    for promotion in candidates:
        reason = promotion.why_not(
            offer=offer,
            at=at,
            coupon=coupon,
            is_first_renewal=is_first_renewal,
            card_redemptions=card_redemptions.get(promotion.code, 0),
            global_redemptions=global_redemptions.get(promotion.code, 0),
        )
        if coupon and promotion.coupon and promotion.coupon.upper() == coupon.upper():
            coupon_promotion, coupon_reason = promotion, reason
        if reason is None:
            applicable.append(promotion)
    if coupon:
        if coupon_promotion is None:
            raise CouponInvalid(coupon=coupon)
        if coupon_reason is not None:
            raise PromotionNotApplicable(promotion=coupon_promotion.code, reason=coupon_reason)

    price = offer.price
    exclusive = [p for p in applicable if not p.stackable]
    chosen: list[Promotion] = []
    if exclusive:
        # A coupon the buyer typed wins ties; otherwise the most valuable, then by code
        # so that the choice is deterministic.
        chosen.append(
            max(
                exclusive,
                key=lambda p: (*_value(p, price), p is coupon_promotion, p.code),
            )
        )
    chosen.extend(sorted((p for p in applicable if p.stackable), key=lambda p: p.code))

    discount = Money.zero(price.currency)
    for promotion in chosen:
        discount = discount + promotion.discount_on(price)
    if discount.amount_minor > price.amount_minor:
        discount = price
    bonus = tuple(p.bonus for p in chosen if p.bonus is not None)
    return PriceQuote(offer, price, discount, price - discount, tuple(chosen), bonus)
