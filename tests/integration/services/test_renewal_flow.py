"""The four steps through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from simrenew.bootstrap import App
from simrenew.domain.cards import CardState
from simrenew.domain.errors import CardNotFound, IdempotencyKeyReused
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import EventOutcome, PaymentState
from simrenew.services.cards import show_card
from simrenew.services.quoting import offers_for_card, quote
from tests.support import order, pay, renew

CARD = "+85251234567"  # ONE2, in stock


def test_four_steps_activate_a_card_and_confirm_by_sms(app: App) -> None:
    before = show_card(app.ctx, CARD)
    assert before.card.state is CardState.IN_STOCK

    _, quotes = offers_for_card(app.ctx, CARD)
    monthly = next(q for q in quotes if q.offer.code == "ONE2-M1")
    assert monthly.validity_end_after == date(2026, 12, 21)

    placed = order(app, CARD, "ONE2-M1")
    assert placed.state is OrderState.AWAITING_PAYMENT
    payment, outcomes = pay(app, placed.id)
    assert outcomes == [EventOutcome.APPLIED]

    after = show_card(app.ctx, CARD)
    assert after.card.state is CardState.ACTIVE
    assert after.card.validity_end == date(2026, 12, 21)
    with app.uow(write=False) as uow:
        assert uow.orders.get(placed.id).state is OrderState.FULFILLED
        assert uow.payments.get(payment.id).state is PaymentState.SUCCEEDED

    app.relay.drain()
    sms = app.inbox.list(recipient=CARD)
    assert len(sms) == 1
    assert "2026-12-21" in sms[0].body
    assert placed.id in sms[0].body
    email = app.inbox.list(recipient="chan.taiman@example.com.hk")
    assert len(email) == 1 and email[0].subject
    commands = [c.action for c in app.network.list(iccid=after.card.iccid)]
    assert sorted(commands) == ["activate", "add_allowance"]


def test_renewing_a_running_plan_queues_it_after_the_current_end(app: App) -> None:
    renew(app, CARD, "ONE2-M1")
    renew(app, CARD, "ONE2-D7")
    view = show_card(app.ctx, CARD)
    assert view.card.validity_end == date(2026, 12, 28)
    assert [(p.start, p.end) for p in view.periods] == [
        (date(2026, 11, 22), date(2026, 12, 21)),
        (date(2026, 12, 22), date(2026, 12, 28)),
    ]


def test_coupon_price_is_the_price_charged(app: App) -> None:
    quoted = quote(app.ctx, CARD, "ONE2-M1", coupon="GBA2026")
    placed = order(app, CARD, "ONE2-M1", coupon="GBA2026")
    assert placed.price == quoted.price.price
    assert placed.price.amount_minor < placed.list_price.amount_minor
    payment, _ = pay(app, placed.id)
    assert payment.amount == placed.price


def test_same_idempotency_key_same_order_and_different_request_refused(app: App) -> None:
    first = order(app, CARD, "ONE2-D7", key="k-1")
    again = order(app, "5123 4567", "ONE2-D7", key="k-1")  # same card, typed differently
    assert again.id == first.id
    with pytest.raises(IdempotencyKeyReused):
        order(app, CARD, "ONE2-M1", key="k-1")


def test_unknown_card_is_a_clear_error(app: App) -> None:
    with pytest.raises(CardNotFound):
        show_card(app.ctx, "+85298765432")
