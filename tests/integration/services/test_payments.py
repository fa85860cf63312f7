"""Paying: failed is kept apart from unknown, an order is fulfilled once whatever the
number of payments, and money that is not owed goes back through the outbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import ColumnElement, Table, func, select

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.demo.seed import demo_text
from simrenew.domain.cards import CardState
from simrenew.domain.errors import ProviderUnavailable
from simrenew.domain.money import Money
from simrenew.domain.orders import OrderState
from simrenew.domain.outbox import OutboxKind, OutboxMessage
from simrenew.domain.payments import EventOutcome, Payment, PaymentEvent, PaymentState
from simrenew.ports import (
    PaymentProvider,
    PaymentRequest,
    ProviderError,
    ProviderResult,
    RefundResult,
)
from simrenew.services.cards import show_card
from simrenew.services.catalog import import_catalog
from simrenew.services.ordering import cancel_order, expire_unpaid_orders
from simrenew.services.payments import (
    OrderNotPayable,
    handle_callback,
    recheck_payment,
    start_payment,
)
from tests.support import FixedClock, order, pay

CARD = "+85251234567"  # ONE2, zh-Hant, with an e-mail address; in stock
EN_CARD = "+85291234567"  # ONE2, English, with an e-mail address; in stock


def _count(app: App, table: Table, *where: ColumnElement[bool]) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def _fulfilments(app: App, order_id: str) -> int:
    return _count(app, tables.fulfilments, tables.fulfilments.c.order_id == order_id)


def _outbox(app: App, kind: OutboxKind) -> list[OutboxMessage]:
    with app.uow(write=False) as uow:
        return [m for m in uow.outbox.list(limit=500) if m.kind is kind]


def _order_state(app: App, order_id: str) -> OrderState:
    with app.uow(write=False) as uow:
        return uow.orders.get(order_id).state


def _payment_state(app: App, payment_id: str) -> PaymentState:
    with app.uow(write=False) as uow:
        return uow.payments.get(payment_id).state


# --- failed ------------------------------------------------------------------------------


def test_a_decline_fails_the_payment_not_the_order_and_a_retry_succeeds(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")

    declined, outcomes = pay(app, placed.id, "decline")

    assert outcomes == [EventOutcome.APPLIED]
    with app.uow(write=False) as uow:
        failed = uow.payments.get(declined.id)
        assert (failed.state, failed.failure_code) == (PaymentState.FAILED, "card_declined")
        assert uow.orders.get(placed.id).state is OrderState.AWAITING_PAYMENT
    sms = _outbox(app, OutboxKind.SMS)
    assert [(m.payload["kind"], m.payload["to"]) for m in sms] == [("payment_failed", CARD)]
    assert placed.id in sms[0].payload["text"]
    assert _fulfilments(app, placed.id) == 0
    assert show_card(app.ctx, CARD).card.state is CardState.IN_STOCK

    retried, outcomes = pay(app, placed.id)

    assert retried.id != declined.id
    assert outcomes == [EventOutcome.APPLIED]
    assert _payment_state(app, retried.id) is PaymentState.SUCCEEDED
    assert _payment_state(app, declined.id) is PaymentState.FAILED
    assert _order_state(app, placed.id) is OrderState.FULFILLED
    assert _fulfilments(app, placed.id) == 1
    assert show_card(app.ctx, CARD).card.validity_end == date(2026, 11, 28)
    app.relay.drain()
    kinds = sorted(m.payload["kind"] for m in _outbox(app, OutboxKind.SMS))
    assert kinds == ["payment_failed", "renewal_confirmed"]
    assert len(app.inbox.list(recipient=CARD)) == 2


# --- unknown -----------------------------------------------------------------------------


def test_an_unknown_payment_is_never_fulfilled_until_a_recheck_finds_it_paid(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")

    payment, outcomes = pay(app, placed.id, "unknown")

    assert outcomes == []  # the provider sends nothing: its answer was lost
    with app.uow(write=False) as uow:
        stored = uow.payments.get(payment.id)
        assert stored.state is PaymentState.UNKNOWN
        assert stored.failure_code is not None and stored.failure_code.startswith("provider_error")
        assert uow.orders.get(placed.id).state is OrderState.AWAITING_PAYMENT
    assert _fulfilments(app, placed.id) == 0
    assert show_card(app.ctx, CARD).card.state is CardState.IN_STOCK
    assert _outbox(app, OutboxKind.SMS) == []  # "unknown" is not "failed": no failure SMS

    checked = recheck_payment(app.ctx, payment.id)

    assert checked.state is PaymentState.SUCCEEDED
    assert _order_state(app, placed.id) is OrderState.FULFILLED
    assert _fulfilments(app, placed.id) == 1
    assert recheck_payment(app.ctx, payment.id).state is PaymentState.SUCCEEDED
    assert _fulfilments(app, placed.id) == 1
    view = show_card(app.ctx, CARD)
    assert (view.card.state, view.card.validity_end) == (CardState.ACTIVE, date(2026, 11, 28))
    app.relay.drain()
    assert [m.payload["kind"] for m in _outbox(app, OutboxKind.SMS)] == ["renewal_confirmed"]


def test_a_recheck_of_a_payment_still_on_the_checkout_page_changes_nothing(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(app.ctx, placed.id, "sandbox", actor="test")

    assert recheck_payment(app.ctx, payment.id).state is PaymentState.PENDING
    assert _order_state(app, placed.id) is OrderState.AWAITING_PAYMENT
    assert _fulfilments(app, placed.id) == 0


@dataclass
class _WrongAmountOnRecheck:
    """The sandbox, except that a status check reports another amount than charged
    (a provider bug, a partial capture, a tampered answer)."""

    inner: PaymentProvider
    amount_minor: int
    name: str = "sandbox"

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        return self.inner.create_payment(request)

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        answer = self.inner.fetch_status(payment_id, provider_ref)
        return replace(answer, amount_minor=self.amount_minor)

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        return self.inner.refund(payment_id, provider_ref, amount_minor, currency)

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        return self.inner.parse_callback(headers, body, now)


def test_a_recheck_reporting_another_amount_fulfils_nothing(app: App) -> None:
    """As with a callback, an amount that differs from the payment moves nothing."""
    placed = order(app, CARD, "ONE2-D7")
    payment, _ = pay(app, placed.id, "unknown")
    wrong = _WrongAmountOnRecheck(app.ctx.provider("sandbox"), amount_minor=100)
    ctx = replace(app.ctx, providers={"sandbox": wrong})

    checked = recheck_payment(ctx, payment.id)

    assert checked.state is PaymentState.UNKNOWN
    assert _order_state(app, placed.id) is OrderState.AWAITING_PAYMENT
    assert _fulfilments(app, placed.id) == 0
    # With the right amount, the same re-check goes through.
    assert recheck_payment(app.ctx, payment.id).state is PaymentState.SUCCEEDED
    assert _fulfilments(app, placed.id) == 1


# --- not payable -------------------------------------------------------------------------


def _fulfilled(app: App, clock: FixedClock, order_id: str) -> None:
    pay(app, order_id)


def _cancelled(app: App, clock: FixedClock, order_id: str) -> None:
    cancel_order(app.ctx, order_id, actor="test")


def _expired(app: App, clock: FixedClock, order_id: str) -> None:
    clock.advance(timedelta(minutes=31))
    assert expire_unpaid_orders(app.ctx) == 1


@pytest.mark.parametrize(
    ("make", "state"),
    [
        (_fulfilled, OrderState.FULFILLED),
        (_cancelled, OrderState.CANCELLED),
        (_expired, OrderState.EXPIRED),
    ],
    ids=["fulfilled", "cancelled", "expired"],
)
def test_an_order_that_is_not_awaiting_payment_cannot_be_paid(
    app: App,
    clock: FixedClock,
    make: Callable[[App, FixedClock, str], None],
    state: OrderState,
) -> None:
    placed = order(app, CARD, "ONE2-D7")
    make(app, clock, placed.id)
    payments_before = _count(app, tables.payments)
    charges_before = _count(app, tables.sandbox_charges)

    with pytest.raises(OrderNotPayable) as refused:
        start_payment(app.ctx, placed.id, "sandbox", actor="test")

    assert refused.value.params == {"order": placed.id, "state": state.value}
    assert _order_state(app, placed.id) is state
    assert _count(app, tables.payments) == payments_before
    assert _count(app, tables.sandbox_charges) == charges_before


def test_an_unconfigured_provider_is_refused_before_anything_is_written(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    with pytest.raises(ProviderUnavailable):
        start_payment(app.ctx, placed.id, "no-such-provider", actor="test")
    assert _count(app, tables.payments) == 0


# --- money not owed ----------------------------------------------------------------------


def test_pressing_pay_twice_gives_one_checkout_not_two_charges(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    first = start_payment(app.ctx, placed.id, "sandbox", actor="test")
    again = start_payment(app.ctx, placed.id, "sandbox", actor="test")
    assert (again.id, again.checkout_url) == (first.id, first.checkout_url)
    assert _count(app, tables.payments) == 1
    (paid,) = app.sandbox.complete(first.id)
    assert app.sandbox.complete(again.id) == []
    assert handle_callback(app.ctx, "sandbox", paid.headers, paid.body) is EventOutcome.APPLIED
    assert _count(app, tables.sandbox_charges) == 1
    assert _fulfilments(app, placed.id) == 1


@dataclass
class _StatusUnreachable:
    """The sandbox, except that its status endpoint cannot be reached."""

    inner: PaymentProvider
    name: str = "sandbox"

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        return self.inner.create_payment(request)

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        raise ProviderError("sandbox: status endpoint unreachable")

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        return self.inner.refund(payment_id, provider_ref, amount_minor, currency)

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        return self.inner.parse_callback(headers, body, now)


def _start_unchecked(app: App, order_id: str) -> Payment:
    """``start_payment`` while the re-check of the earlier payments cannot reach the
    provider: the retry goes ahead (otherwise the re-check would find the order paid)."""
    blind = replace(app.ctx, providers={"sandbox": _StatusUnreachable(app.ctx.provider("sandbox"))})
    return start_payment(blind, order_id, "sandbox", actor="test")


def test_a_second_successful_payment_for_the_same_order_is_refunded(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    # The first attempt timed out after the provider took the money; the buyer,
    # told nothing, paid again, and the re-check before the retry got no answer.
    lost, outcomes = pay(app, placed.id, "unknown")
    assert (outcomes, _payment_state(app, lost.id)) == ([], PaymentState.UNKNOWN)
    retry = _start_unchecked(app, placed.id)
    outcomes = [
        handle_callback(app.ctx, "sandbox", callback.headers, callback.body)
        for callback in app.sandbox.complete(retry.id)
    ]
    assert retry.id != lost.id
    assert outcomes == [EventOutcome.APPLIED]
    assert _order_state(app, placed.id) is OrderState.FULFILLED

    assert recheck_payment(app.ctx, lost.id).state is PaymentState.SUCCEEDED

    assert _payment_state(app, retry.id) is PaymentState.SUCCEEDED
    assert _order_state(app, placed.id) is OrderState.FULFILLED
    assert _fulfilments(app, placed.id) == 1
    refunds = _outbox(app, OutboxKind.REFUND)
    assert [m.payload for m in refunds] == [
        {"payment_id": lost.id, "order_id": placed.id, "reason": "duplicate_payment"}
    ]

    app.relay.drain()

    assert app.sandbox.charge(lost.id)["status"] == "refunded"  # type: ignore[index]
    assert app.sandbox.charge(retry.id)["status"] == "succeeded"  # type: ignore[index]
    assert _order_state(app, placed.id) is OrderState.FULFILLED
    assert [m.state.value for m in _outbox(app, OutboxKind.REFUND)] == ["delivered"]
    view = show_card(app.ctx, CARD)
    assert view.card.validity_end == date(2026, 11, 28)  # one period, not two
    assert view.card.renewal_count == 1


def test_two_callbacks_for_two_successful_payments_refund_the_later_one(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    lost, _ = pay(app, placed.id, "unknown")
    retry = _start_unchecked(app, placed.id)
    (paid,) = app.sandbox.complete(retry.id)
    # The provider's late word on the lost attempt arrives first, then the retry's.
    late = app.ctx.provider("sandbox").fetch_status(lost.id, None)
    assert late.state is PaymentState.SUCCEEDED
    assert recheck_payment(app.ctx, lost.id).state is PaymentState.SUCCEEDED
    assert handle_callback(app.ctx, "sandbox", paid.headers, paid.body) is EventOutcome.APPLIED

    assert _order_state(app, placed.id) is OrderState.FULFILLED
    assert _fulfilments(app, placed.id) == 1
    assert [m.payload["payment_id"] for m in _outbox(app, OutboxKind.REFUND)] == [retry.id]
    app.relay.drain()
    assert app.sandbox.charge(retry.id)["status"] == "refunded"  # type: ignore[index]
    assert app.sandbox.charge(lost.id)["status"] == "succeeded"  # type: ignore[index]


def test_a_payment_that_succeeds_after_cancelling_is_refunded_and_the_buyer_told(
    app: App,
) -> None:
    placed = order(app, EN_CARD, "ONE2-D7")
    payment = start_payment(app.ctx, placed.id, "sandbox", actor="test")
    cancel_order(app.ctx, placed.id, actor="test")
    (paid,) = app.sandbox.complete(payment.id)

    outcome = handle_callback(app.ctx, "sandbox", paid.headers, paid.body)

    assert outcome is EventOutcome.APPLIED
    assert _payment_state(app, payment.id) is PaymentState.SUCCEEDED
    assert _order_state(app, placed.id) is OrderState.REFUNDING
    assert _fulfilments(app, placed.id) == 0
    assert [m.payload for m in _outbox(app, OutboxKind.REFUND)] == [
        {"payment_id": payment.id, "order_id": placed.id, "reason": "order_cancelled"}
    ]

    app.relay.drain()

    assert _order_state(app, placed.id) is OrderState.REFUNDED
    assert app.sandbox.charge(payment.id)["status"] == "refunded"  # type: ignore[index]
    (sms,) = [m for m in app.inbox.list(recipient=EN_CARD) if "will be refunded" in m.body]
    assert placed.id in sms.body
    assert "the order had been cancelled" in sms.body
    assert "HK$48.00" in sms.body
    # Told when the refund is asked for, then when the provider has made it.
    kinds = sorted(m.payload["kind"] for m in _outbox(app, OutboxKind.SMS))
    assert kinds == ["refund_completed", "refund_issued"]
    view = show_card(app.ctx, EN_CARD)
    assert view.card.state is CardState.IN_STOCK
    assert view.card.validity_end is None
    assert app.network.list(iccid=view.card.iccid) == []
    with app.uow(write=False) as uow:
        trail = {(r["from_state"], r["to_state"]) for r in uow.audit.list_for("order", placed.id)}
    assert trail == {
        (None, "awaiting_payment"),
        ("awaiting_payment", "cancelled"),
        ("cancelled", "paid"),
        ("paid", "refunding"),
        ("refunding", "refunded"),
    }


def test_a_late_payment_on_an_expired_order_still_fulfils_it(app: App, clock: FixedClock) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(app.ctx, placed.id, "sandbox", actor="test")
    clock.advance(timedelta(minutes=29))
    assert expire_unpaid_orders(app.ctx) == 0
    clock.advance(timedelta(minutes=2))
    assert expire_unpaid_orders(app.ctx) == 1
    assert _order_state(app, placed.id) is OrderState.EXPIRED

    (paid,) = app.sandbox.complete(payment.id)
    assert handle_callback(app.ctx, "sandbox", paid.headers, paid.body) is EventOutcome.APPLIED

    assert _order_state(app, placed.id) is OrderState.FULFILLED
    assert _fulfilments(app, placed.id) == 1
    assert _outbox(app, OutboxKind.REFUND) == []
    view = show_card(app.ctx, CARD)
    assert (view.card.state, view.card.validity_end) == (CardState.ACTIVE, date(2026, 11, 28))
    with app.uow(write=False) as uow:
        trail = {(r["from_state"], r["to_state"]) for r in uow.audit.list_for("order", placed.id)}
    assert trail == {
        (None, "awaiting_payment"),
        ("awaiting_payment", "expired"),
        ("expired", "paid"),
        ("paid", "fulfilled"),
    }


# --- nothing to pay ----------------------------------------------------------------------

FREE_DAY = """
  - code: FREEDAY
    name: {zh-Hant: 免費日費, zh-Hans: 免费日费, en: Free Day Pass}
    kind: percent_off
    percent: 100
    coupon: FREEDAY
    starts_at: "2026-01-01T00:00:00+08:00"
    ends_at: "2028-01-01T00:00:00+08:00"
    offers: [ONE2-D1]
"""


def test_a_zero_price_order_is_fulfilled_at_once_without_a_payment(app: App) -> None:
    import_catalog(app.ctx, demo_text("catalog.yaml") + FREE_DAY)

    placed = order(app, CARD, "ONE2-D1", coupon="FREEDAY")

    assert placed.price == Money(0, "HKD")
    assert placed.discount == placed.list_price == Money(1800, "HKD")
    assert placed.promotions == ("FREEDAY",)
    assert placed.state is OrderState.FULFILLED
    assert _order_state(app, placed.id) is OrderState.FULFILLED
    assert _fulfilments(app, placed.id) == 1
    assert _count(app, tables.payments) == 0
    view = show_card(app.ctx, CARD)
    assert (view.card.state, view.card.validity_end) == (CardState.ACTIVE, date(2026, 11, 22))
    with pytest.raises(OrderNotPayable):
        start_payment(app.ctx, placed.id, "sandbox", actor="test")
    app.relay.drain()
    (sms,) = app.inbox.list(recipient=CARD)
    assert placed.id in sms.body
    assert "HK$0.00" in sms.body
