"""Limits per product line (per order, per 30 days, 12 months queued) refuse before
any money moves and write nothing; promotions honour their global and per-card
limits, and a cancelled order gives its redemption back."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.demo.seed import demo_text
from simrenew.domain.catalog import Allowance, BucketKind
from simrenew.domain.errors import (
    OrderLimitExceeded,
    PromotionNotApplicable,
    QueueLimitExceeded,
)
from simrenew.domain.money import Money
from simrenew.domain.orders import Channel, Order, OrderState
from simrenew.services.cards import show_card
from simrenew.services.catalog import import_catalog
from simrenew.services.ordering import PlaceOrder, cancel_order, expire_unpaid_orders, place_order
from simrenew.services.payments import handle_callback, start_payment
from simrenew.services.quoting import quote
from tests.support import FixedClock, order, pay, renew

A, B, C, D = "+85251234567", "+85261234567", "+85291234567", "+85251234568"  # ONE2 cards


def hkd(text: str) -> Money:
    return Money.parse(text, "HKD")


def _written(app: App) -> dict[str, Any]:
    """Everything an order could write, to prove a refusal wrote none of it."""
    counted = (
        tables.orders,
        tables.audit_log,
        tables.outbox,
        tables.promotion_redemptions,
        tables.idempotency_keys,
        tables.payments,
    )
    with app.engine.connect() as connection:
        state: dict[str, Any] = {
            table.name: connection.scalar(select(func.count()).select_from(table))
            for table in counted
        }
        state["redeemed"] = dict(
            connection.execute(select(tables.promotions.c.code, tables.promotions.c.redeemed)).all()
        )
    return state


def _redeemed(app: App, code: str) -> int:
    with app.engine.connect() as connection:
        return int(
            connection.scalar(
                select(tables.promotions.c.redeemed).where(tables.promotions.c.code == code)
            )
        )


def _place(
    app: App, card: str, offer: str, *, key: str | None = None, coupon: str | None = None
) -> tuple[Order, bool]:
    return place_order(
        app.ctx,
        PlaceOrder(card, offer, Channel.WEB, actor="test", coupon=coupon, idempotency_key=key),
    )


def _promotion(code: str, body: str) -> str:
    return f"""
  - code: {code}
    name: {{zh-Hant: {code}, zh-Hans: {code}, en: {code}}}
    starts_at: "2026-01-01T00:00:00+08:00"
    ends_at: "2028-01-01T00:00:00+08:00"
{body}"""


def _import_with(app: App, *promotions: str) -> None:
    import_catalog(app.ctx, demo_text("catalog.yaml") + "".join(promotions))


# --- per order -----------------------------------------------------------------------------


def test_a_discount_below_the_per_order_minimum_is_refused_and_writes_nothing(app: App) -> None:
    # ONE2 orders must be at least HK$10.00; ONE2-M1 lists at HK$88.00.
    _import_with(
        app,
        _promotion(
            "CUT78",
            '    kind: amount_off\n    amount: "78.00"\n    currency: HKD\n'
            "    coupon: CUT78\n    offers: [ONE2-M1]\n",
        ),
        _promotion(
            "CUT79",
            '    kind: amount_off\n    amount: "79.00"\n    currency: HKD\n'
            "    coupon: CUT79\n    offers: [ONE2-M1]\n",
        ),
    )
    before = _written(app)

    for attempt in range(2):  # the key is not left claimed by the refusal
        with pytest.raises(OrderLimitExceeded) as refused:
            _place(app, A, "ONE2-M1", coupon="CUT79", key="min-1")
        assert "HK$10.00" in refused.value.message, attempt
        assert "HK$9.00" in refused.value.message
        assert _written(app) == before

    at_minimum, created = _place(app, A, "ONE2-M1", coupon="CUT78", key="min-2")
    assert created and at_minimum.price == hkd("10.00")


def test_an_order_above_the_per_order_maximum_is_refused_and_writes_nothing(app: App) -> None:
    # The catalogue file cannot hold an offer above its line's maximum, but an operator
    # may lower the maximum afterwards: orders must then be refused.
    with app.engine.begin() as connection:
        connection.execute(
            update(tables.product_lines)
            .where(tables.product_lines.c.code == "ONE2")
            .values(order_max_minor=20000)
        )
        connection.execute(
            update(tables.catalog_state).values(revision=tables.catalog_state.c.revision + 1)
        )
    app.uow.catalog_cache.expire()
    before = _written(app)

    with pytest.raises(OrderLimitExceeded) as refused:
        _place(app, A, "ONE2-M3", key="max-1")

    assert "HK$200.00" in refused.value.message
    assert "HK$238.00" in refused.value.message
    assert _written(app) == before
    assert _place(app, A, "ONE2-M1")[0].price == hkd("88.00")


# --- per 30 days -------------------------------------------------------------------------------


def test_the_30_day_maximum_counts_open_and_paid_orders_up_to_the_limit(
    app: App, clock: FixedClock
) -> None:
    # HK$3,000.00 per number per 30 days: 3 x 788 + 448 + 88 + 100 = 3,000.00 exactly.
    placed = [order(app, A, code) for code in ("ONE2-Y1", "ONE2-Y1", "ONE2-Y1", "ONE2-M6")]
    pay(app, placed[0].id)
    placed.append(order(app, A, "ONE2-M1"))
    placed.append(order(app, A, "ONE2-CR100"))
    assert sum(p.price.amount_minor for p in placed) == 300000
    before = _written(app)

    with pytest.raises(OrderLimitExceeded) as refused:
        order(app, A, "ONE2-D1")

    assert "HK$3000.00" in refused.value.message
    assert _written(app) == before
    # Another number has its own allowance.
    assert order(app, B, "ONE2-D1").state is OrderState.AWAITING_PAYMENT

    # A cancelled order no longer counts.
    cancel_order(app.ctx, placed[-1].id, actor="test")
    assert order(app, A, "ONE2-D1").price == hkd("18.00")


def test_the_30_day_window_slides(app: App, clock: FixedClock) -> None:
    for code in ("ONE2-Y1", "ONE2-Y1", "ONE2-Y1", "ONE2-M6", "ONE2-M1", "ONE2-CR100"):
        order(app, A, code)

    clock.advance(timedelta(days=30))
    with pytest.raises(OrderLimitExceeded):
        order(app, A, "ONE2-D1")

    clock.advance(timedelta(seconds=1))
    assert order(app, A, "ONE2-D1").state is OrderState.AWAITING_PAYMENT


# --- 12 months queued ----------------------------------------------------------------------------


def test_more_than_12_months_queued_is_refused_at_place_order(app: App) -> None:
    renew(app, A, "ONE2-Y1")  # 2026-11-22 .. 2027-11-21, running
    renew(app, A, "ONE2-Y1")  # 2027-11-22 .. 2028-11-21: exactly 12 months queued
    assert show_card(app.ctx, A).card.validity_end == date(2028, 11, 21)
    before = _written(app)

    with pytest.raises(QueueLimitExceeded) as refused:
        order(app, A, "ONE2-D1", key="queue-1")

    assert refused.value.params == {
        "new_end": "2028-11-22",
        "limit_end": "2028-11-21",
        "limit_months": 12,
    }
    assert _written(app) == before
    assert isinstance(quote(app.ctx, A, "ONE2-D1").refusal, QueueLimitExceeded)
    # An add-on does not extend validity, so the queue does not limit it.
    assert order(app, A, "ONE2-ADD1G-CN").state is OrderState.AWAITING_PAYMENT


# --- promotions -----------------------------------------------------------------------------------

LAUNCH = _promotion(
    "LAUNCH",
    '    kind: amount_off\n    amount: "10.00"\n    currency: HKD\n'
    "    offers: [ONE2-D7]\n    global_limit: 2\n",
)


def test_once_the_global_limit_is_reached_the_next_buyer_pays_full_price(app: App) -> None:
    _import_with(app, LAUNCH)

    first, second, third = (order(app, card, "ONE2-D7") for card in (A, B, C))

    assert [(o.price, o.promotions) for o in (first, second)] == [
        (hkd("38.00"), ("LAUNCH",)),
        (hkd("38.00"), ("LAUNCH",)),
    ]
    assert (third.price, third.discount, third.promotions) == (hkd("48.00"), hkd("0.00"), ())
    assert _redeemed(app, "LAUNCH") == 2
    payment, _ = pay(app, third.id)
    assert payment.amount == hkd("48.00")

    # Cancelling gives the redemption back to the next buyer.
    cancel_order(app.ctx, first.id, actor="test")
    assert _redeemed(app, "LAUNCH") == 1
    fourth = order(app, D, "ONE2-D7")
    assert (fourth.price, fourth.promotions) == (hkd("38.00"), ("LAUNCH",))
    assert _redeemed(app, "LAUNCH") == 2


def test_an_expired_order_gives_its_redemption_back(app: App, clock: FixedClock) -> None:
    _import_with(app, LAUNCH)
    order(app, A, "ONE2-D7")
    order(app, B, "ONE2-D7")
    clock.advance(timedelta(minutes=31))
    assert expire_unpaid_orders(app.ctx) == 2
    assert _redeemed(app, "LAUNCH") == 0
    assert order(app, C, "ONE2-D7").promotions == ("LAUNCH",)


def test_a_late_payment_on_an_expired_order_counts_its_promotion_again(
    app: App, clock: FixedClock
) -> None:
    """The buyer paid the discounted price, so the redemption is used: it must count
    towards the global limit, or the limit can be passed."""
    _import_with(app, LAUNCH)
    late = order(app, A, "ONE2-D7")
    payment = start_payment(app.ctx, late.id, "sandbox", actor="test")
    clock.advance(timedelta(minutes=31))
    assert expire_unpaid_orders(app.ctx) == 1
    (paid,) = app.sandbox.complete(payment.id)
    handle_callback(app.ctx, "sandbox", paid.headers, paid.body)
    with app.uow(write=False) as uow:
        assert uow.orders.get(late.id).state is OrderState.FULFILLED

    assert _redeemed(app, "LAUNCH") == 1
    assert order(app, B, "ONE2-D7").promotions == ("LAUNCH",)
    assert order(app, C, "ONE2-D7").promotions == ()  # 2 of 2 used: A's and B's


def test_the_per_card_limit_refuses_a_coupon_used_up_on_this_card(app: App) -> None:
    # GBA2026: 20 % off monthly plans, at most 3 times per card.
    for _ in range(3):
        used = order(app, A, "ONE2-M1", coupon="GBA2026")
        assert used.price == hkd("70.40")
    before = _written(app)

    with pytest.raises(PromotionNotApplicable) as refused:
        order(app, A, "ONE2-M1", coupon="gba2026")

    assert refused.value.params == {"promotion": "GBA2026", "reason": "already used on this card"}
    assert _written(app) == before
    assert order(app, B, "ONE2-M1", coupon="GBA2026").price == hkd("70.40")
    # Without the coupon the card can still buy, at list price.
    assert order(app, A, "ONE2-M1").price == hkd("88.00")


def test_cancelling_gives_a_per_card_redemption_back(app: App) -> None:
    placed = [order(app, A, "ONE2-M1", coupon="GBA2026") for _ in range(3)]
    cancel_order(app.ctx, placed[1].id, actor="test")
    assert order(app, A, "ONE2-M1", coupon="GBA2026").price == hkd("70.40")


def test_the_first_renewal_bonus_is_given_once_per_card(app: App) -> None:
    bonus = (Allowance("GBA", BucketKind.DATA_MB, 2048),)
    first_quote = quote(app.ctx, A, "ONE2-M1")
    assert (first_quote.price.promotion_codes, first_quote.price.bonus) == (
        ("WELCOME-DATA",),
        bonus,
    )

    first = order(app, A, "ONE2-M1")
    # A second order before the first is paid is not a second first renewal.
    second = order(app, A, "ONE2-M1")
    assert (first.promotions, first.bonus) == (("WELCOME-DATA",), bonus)
    assert (second.promotions, second.bonus) == ((), ())
    cancel_order(app.ctx, second.id, actor="test")
    pay(app, first.id)

    data = sorted(
        b.initial
        for b in show_card(app.ctx, A).buckets
        if b.kind is BucketKind.DATA_MB and b.order_id == first.id
    )
    assert data == [2048, 20480]
    again = quote(app.ctx, A, "ONE2-M1")
    assert (again.price.promotion_codes, again.price.bonus) == ((), ())
    renewed = renew(app, A, "ONE2-M1")
    assert (renewed.promotions, renewed.bonus, renewed.price) == ((), (), hkd("88.00"))


def test_a_first_renewal_with_a_coupon_gets_both_promotions(app: App) -> None:
    placed = order(app, A, "ONE2-M1", coupon="GBA2026")
    assert placed.promotions == ("GBA2026", "WELCOME-DATA")
    assert (placed.list_price, placed.discount, placed.price) == (
        hkd("88.00"),
        hkd("17.60"),
        hkd("70.40"),
    )
    assert placed.bonus == (Allowance("GBA", BucketKind.DATA_MB, 2048),)


def test_cancelling_an_unpaid_first_renewal_gives_the_bonus_back(app: App) -> None:
    first = order(app, A, "ONE2-M1")
    cancel_order(app.ctx, first.id, actor="test")
    assert order(app, A, "ONE2-M1").promotions == ("WELCOME-DATA",)
