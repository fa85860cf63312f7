from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simrenew.domain.catalog import Allowance, BucketKind
from simrenew.domain.errors import CouponInvalid, PromotionNotApplicable
from simrenew.domain.money import Money
from simrenew.domain.promotions import Promotion, PromotionKind, price_offer
from tests.unit.domain.builders import cny, hk, hkd, make_offer, make_promotion

AT = hk(2026, 6, 1)
OFFER = make_offer("M30", price="88")
BONUS_1G = Allowance("GBA", BucketKind.DATA_MB, 1024)


def percent(code: str, value: int, **kwargs: Any) -> Promotion:
    return make_promotion(code, kind=PromotionKind.PERCENT_OFF, percent=value, **kwargs)


def amount(code: str, money: Money, **kwargs: Any) -> Promotion:
    return make_promotion(code, kind=PromotionKind.AMOUNT_OFF, amount_off=money, **kwargs)


def bonus(code: str, allowance: Allowance = BONUS_1G, **kwargs: Any) -> Promotion:
    return make_promotion(code, kind=PromotionKind.BONUS_DATA, bonus=allowance, **kwargs)


def test_no_promotion_means_the_list_price() -> None:
    quote = price_offer(OFFER, [], at=AT)
    assert (quote.list_price, quote.discount, quote.price) == (hkd("88"), hkd("0"), hkd("88"))
    assert quote.promotions == ()
    assert quote.bonus == ()
    assert quote.offer is OFFER


def test_the_single_best_promotion_for_the_buyer_is_chosen() -> None:
    promotions = [percent("TENPC", 10), amount("FIVE", hkd("5")), amount("TEN", hkd("10"))]

    quote = price_offer(OFFER, promotions, at=AT)

    # 10 % of 88 is 8.80; HK$10 off is worth more.
    assert quote.promotion_codes == ("TEN",)
    assert quote.discount == hkd("10")
    assert quote.price == hkd("78")


def test_percent_wins_when_it_is_worth_more() -> None:
    quote = price_offer(OFFER, [percent("TWENTY", 20), amount("TEN", hkd("10"))], at=AT)
    assert quote.promotion_codes == ("TWENTY",)
    assert quote.discount == hkd("17.60")
    assert quote.price == hkd("70.40")


def test_money_off_beats_bonus_data_and_bonus_breaks_ties() -> None:
    plain = percent("A_PLAIN", 10)
    with_data = percent("B_DATA", 10, bonus=BONUS_1G)
    only_data = bonus("C_DATA")

    quote = price_offer(OFFER, [only_data, plain, with_data], at=AT)

    assert quote.promotion_codes == ("B_DATA",)
    assert quote.discount == hkd("8.80")
    assert quote.bonus == (BONUS_1G,)


def test_stackable_promotions_are_added_to_the_best_one() -> None:
    promotions = [
        percent("TENPC", 10),
        amount("FIVE", hkd("5")),
        bonus("DATA", stackable=True),
        amount("LOYAL", hkd("3"), stackable=True),
    ]

    quote = price_offer(OFFER, promotions, at=AT)

    assert quote.promotion_codes == ("TENPC", "DATA", "LOYAL")
    assert quote.discount == hkd("11.80")
    assert quote.price == hkd("76.20")
    assert quote.bonus == (BONUS_1G,)


def test_the_discount_is_capped_at_the_price() -> None:
    quote = price_offer(OFFER, [amount("HUGE", hkd("100"))], at=AT)
    assert quote.discount == hkd("88")
    assert quote.price == hkd("0")


def test_stacked_discounts_are_capped_at_the_price_too() -> None:
    promotions = [percent("HALF", 60), amount("MORE", hkd("50"), stackable=True)]
    quote = price_offer(OFFER, promotions, at=AT)
    assert quote.discount == hkd("88")
    assert quote.price == hkd("0")


def test_amount_off_in_another_currency_is_ignored() -> None:
    promotion = amount("RMB10", cny("10"))

    quote = price_offer(OFFER, [promotion], at=AT)

    assert quote.promotions == ()
    assert quote.price == hkd("88")
    assert promotion.discount_on(hkd("88")) == hkd("0")
    assert (
        promotion.why_not(
            offer=OFFER,
            at=AT,
            coupon=None,
            is_first_renewal=False,
            card_redemptions=0,
            global_redemptions=0,
        )
        == "not valid in this currency"
    )


# --- coupons ---------------------------------------------------------------------------------


def test_a_coupon_promotion_needs_its_code() -> None:
    spring = percent("SPRING", 25, coupon="SPRING26")

    without = price_offer(OFFER, [spring], at=AT)
    typed = price_offer(OFFER, [spring], at=AT, coupon="spring26")

    assert without.promotions == ()
    assert without.price == hkd("88")
    assert typed.promotion_codes == ("SPRING",)
    assert typed.price == hkd("66")


def test_an_unknown_coupon_is_invalid() -> None:
    with pytest.raises(CouponInvalid) as caught:
        price_offer(OFFER, [percent("SPRING", 25, coupon="SPRING26")], at=AT, coupon="NOPE")
    assert caught.value.code == "coupon_invalid"
    assert caught.value.params == {"coupon": "NOPE"}


def test_a_coupon_without_any_promotion_is_invalid() -> None:
    with pytest.raises(CouponInvalid):
        price_offer(OFFER, [percent("AUTO", 10)], at=AT, coupon="AUTO")


@pytest.mark.parametrize(
    ("promotion", "kwargs", "reason"),
    [
        (
            percent("OLD", 25, coupon="C", ends_at=hk(2026, 5, 1)),
            {},
            "outside its time window",
        ),
        (
            percent("OTHER", 25, coupon="C", offers=frozenset({"Y365"})),
            {},
            "not valid for this offer",
        ),
        (
            percent("LINE", 25, coupon="C", product_lines=frozenset({"HKDATA"})),
            {},
            "not valid for this card",
        ),
        (
            percent("FIRST", 25, coupon="C", first_renewal_only=True),
            {},
            "only for a card's first renewal",
        ),
        (
            percent("ONCE", 25, coupon="C", per_card_limit=1),
            {"card_redemptions": {"ONCE": 1}},
            "already used on this card",
        ),
        (
            percent("GONE", 25, coupon="C", global_limit=100),
            {"global_redemptions": {"GONE": 100}},
            "fully redeemed",
        ),
        (amount("RMB", cny("10"), coupon="C"), {}, "not valid in this currency"),
    ],
)
def test_a_coupon_that_does_not_apply_says_why(
    promotion: Promotion, kwargs: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PromotionNotApplicable) as caught:
        price_offer(OFFER, [promotion], at=AT, coupon="c", **kwargs)
    assert caught.value.code == "promotion_not_applicable"
    assert caught.value.params == {"promotion": promotion.code, "reason": reason}


# --- conditions ------------------------------------------------------------------------------


def test_the_time_window_includes_its_start_and_excludes_its_end() -> None:
    start, end = hk(2026, 6, 1, 0), hk(2026, 7, 1, 0)
    promotion = percent("JUNE", 10, starts_at=start, ends_at=end)

    def applies(at_: datetime) -> bool:
        return price_offer(OFFER, [promotion], at=at_).promotions != ()

    assert not applies(start - timedelta(microseconds=1))
    assert applies(start)
    assert applies(end - timedelta(microseconds=1))
    assert not applies(end)


def test_per_card_limit() -> None:
    promotion = amount("ONCE", hkd("10"), per_card_limit=1)
    assert price_offer(OFFER, [promotion], at=AT, card_redemptions={"ONCE": 0}).price == hkd("78")
    assert price_offer(OFFER, [promotion], at=AT, card_redemptions={"ONCE": 1}).price == hkd("88")
    # Another promotion's redemptions do not count.
    assert price_offer(OFFER, [promotion], at=AT, card_redemptions={"X": 5}).price == hkd("78")


def test_global_limit() -> None:
    promotion = amount("FIRST100", hkd("10"), global_limit=100)
    almost = price_offer(OFFER, [promotion], at=AT, global_redemptions={"FIRST100": 99})
    gone = price_offer(OFFER, [promotion], at=AT, global_redemptions={"FIRST100": 100})
    assert almost.price == hkd("78")
    assert gone.price == hkd("88")


def test_first_renewal_only() -> None:
    promotion = percent("WELCOME", 50, first_renewal_only=True)
    assert price_offer(OFFER, [promotion], at=AT, is_first_renewal=True).price == hkd("44")
    assert price_offer(OFFER, [promotion], at=AT, is_first_renewal=False).price == hkd("88")


def test_offer_and_product_line_restrictions() -> None:
    for_offer = amount("M30ONLY", hkd("10"), offers=frozenset({"M30"}))
    for_other = amount("Y365ONLY", hkd("20"), offers=frozenset({"Y365"}))
    other_line = amount("HKDATA", hkd("30"), product_lines=frozenset({"HKDATA"}))

    quote = price_offer(OFFER, [for_offer, for_other, other_line], at=AT)

    assert quote.promotion_codes == ("M30ONLY",)


# --- property --------------------------------------------------------------------------------


@st.composite
def promotions(draw: st.DrawFn) -> list[Promotion]:
    result = []
    for index in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(list(PromotionKind)))
        result.append(
            make_promotion(
                f"P{index}",
                kind=kind,
                percent=draw(st.integers(0, 100)),
                amount_off=Money(
                    draw(st.integers(0, 20_000)), draw(st.sampled_from(["HKD", "CNY"]))
                ),
                bonus=BONUS_1G if draw(st.booleans()) else None,
                stackable=draw(st.booleans()),
            )
        )
    return result


@given(promos=promotions(), price=st.integers(0, 20_000))
@settings(max_examples=200, deadline=None)
def test_the_quote_is_consistent(promos: list[Promotion], price: int) -> None:
    offer = make_offer(price=Money(price, "HKD").decimal_str())

    quote = price_offer(offer, promos, at=AT)

    assert quote.list_price == offer.price
    assert quote.discount + quote.price == quote.list_price
    assert 0 <= quote.price.amount_minor <= price
    assert quote.price.currency == "HKD"
    exclusive = [p for p in quote.promotions if not p.stackable]
    assert len(exclusive) <= 1
    # Every stackable promotion that applies is in, and none is in twice.
    applicable_stackable = {
        p.code
        for p in promos
        if p.stackable
        and not (
            p.kind is PromotionKind.AMOUNT_OFF and p.amount_off and p.amount_off.currency != "HKD"
        )
    }
    assert {p.code for p in quote.promotions if p.stackable} == applicable_stackable
    assert len(set(quote.promotion_codes)) == len(quote.promotion_codes)
    # One exclusive promotion whenever one applies, worth at least as much money off
    # as any other that applies.
    applicable_exclusive = [
        p
        for p in promos
        if not p.stackable
        and p.why_not(
            offer=offer,
            at=AT,
            coupon=None,
            is_first_renewal=False,
            card_redemptions=0,
            global_redemptions=0,
        )
        is None
    ]
    assert bool(exclusive) == bool(applicable_exclusive)
    if exclusive:
        best = exclusive[0].discount_on(offer.price).amount_minor
        for other in applicable_exclusive:
            assert other.discount_on(offer.price).amount_minor <= best
