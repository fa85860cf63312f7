"""Refunds through the services and the outbox relay, on SQLite and PostgreSQL: the
automatic ones (the card cannot take the plan, a duplicate payment), a full refund
by staff, a provider's refusal and the retry, the manual ones (FPS, cash, voucher)
and their payout, what the subscriber is told, and the migration that gave the
refunds made before it their rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, inspect, select, update

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.db.migrate import downgrade, upgrade
from simrenew.db.reconciliation_queries import SqlReconciliationBooks
from simrenew.domain.errors import IllegalTransition
from simrenew.domain.money import Money
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.outbox import OutboxKind, OutboxMessage
from simrenew.domain.payments import Payment, PaymentEvent, PaymentState
from simrenew.domain.refunds import (
    MANUAL_REFUND_REQUIRED,
    OrderNotRefundable,
    PayoutReferenceInvalid,
    Refund,
    RefundReasonMissing,
    RefundState,
)
from simrenew.domain.staff import NotPermitted, StaffLoginFailed, StaffRole, StaffUser
from simrenew.ports import PaymentRequest, ProviderError, ProviderResult, RefundResult
from simrenew.providers.fps import FpsProvider, Payee
from simrenew.services.bank_statement import parse_bank_statement
from simrenew.services.cards import show_card
from simrenew.services.cash import open_shift, record_cash_payment
from simrenew.services.payments import new_payment, recheck_payment, start_payment
from simrenew.services.reconciliation import reconcile_bank
from simrenew.services.refunds import request_refund
from simrenew.services.staff import add_staff, authenticate_staff, deactivate_staff
from simrenew.services.staff_refunds import (
    list_refunds,
    record_payout,
    refund_order_by_staff,
    retry_refund,
)
from simrenew.services.vouchers import redeem_voucher
from tests.integration.db.test_migrations import AT, base_rows, schema_differences
from tests.integration.services.test_vouchers import IP, one_pin, wired
from tests.support import FixedClock, order, pay, renew

ZH_HANT_CARD = "+85251234567"  # ONE2 (HKD), zh-Hant, e-mail chan.taiman@example.com.hk
ZH_HANS_CARD = "+85251234568"  # ONE2 (HKD), zh-Hans
EN_CARD = "+85291234567"  # ONE2 (HKD), English, e-mail alex.wong@example.com
PASSWORD = "refund-password-1"
PAYEE = Payee(fps_id="1234567", name="SIMRENEW LIMITED", bank_account="HSBC 004-123-456789-838")


@dataclass
class ScriptedProvider:
    """A card provider whose status check says every payment succeeded, and which
    answers refunds from ``answers`` in turn (then accepts), raising ``ProviderError``
    for the first ``unreachable`` calls. Every refund call is counted."""

    name: str = "scripted"
    answers: list[RefundResult] = field(default_factory=list)
    unreachable: int = 0
    calls: list[tuple[str, int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        return ProviderResult(
            PaymentState.PENDING, checkout_url=f"https://pay.example/{request.payment_id}"
        )

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        return ProviderResult(PaymentState.SUCCEEDED, provider_ref=f"ch_{payment_id}")

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        with self._lock:
            self.calls.append((payment_id, amount_minor, currency))
            if self.unreachable:
                self.unreachable -= 1
                raise ProviderError("scripted: no answer")
            if self.answers:
                return self.answers.pop(0)
        return RefundResult(True, provider_ref=f"re_{payment_id}")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        raise NotImplementedError("the scripted provider sends no callbacks")


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider()


@pytest.fixture
def shop(app: App, scripted: ScriptedProvider) -> App:
    return offering_everything(app, scripted)


def offering_everything(app: App, scripted: ScriptedProvider) -> App:
    """``app`` offering cash, vouchers, FPS and the scripted provider besides the
    sandbox, with the outbox relay seeing the same providers."""
    base = wired(app)
    fps = FpsProvider(PAYEE, instructions_base_url=app.settings.public_url)
    ctx = replace(base.ctx, providers={**base.ctx.providers, "fps": fps, scripted.name: scripted})
    return replace(base, ctx=ctx, relay=replace(base.relay, ctx=ctx))


def staff(shop: App, username: str = "carol", role: StaffRole = StaffRole.CS) -> StaffUser:
    add_staff(shop.ctx, username, PASSWORD, role, actor="test:operator")
    return authenticate_staff(shop.ctx, username, PASSWORD)


def refunds_of(shop: App, order_id: str) -> list[Refund]:
    with shop.uow(write=False) as uow:
        return uow.refunds.list_for_order(order_id)


def stored_refund(shop: App, refund_id: str) -> Refund:
    with shop.uow(write=False) as uow:
        return uow.refunds.get(refund_id)


def order_state(shop: App, order_id: str) -> OrderState:
    with shop.uow(write=False) as uow:
        return uow.orders.get(order_id).state


def refund_messages(shop: App) -> list[OutboxMessage]:
    with shop.uow(write=False) as uow:
        return [m for m in uow.outbox.list(limit=500) if m.kind is OutboxKind.REFUND]


def sms_kinds(shop: App, order_id: str) -> list[str]:
    with shop.uow(write=False) as uow:
        return sorted(
            m.payload["kind"]
            for m in uow.outbox.list(limit=500)
            if m.kind is OutboxKind.SMS and order_id in m.payload["text"]
        )


def texts_to(shop: App, recipient: str, order_id: str) -> list[str]:
    return [m.body for m in shop.inbox.list(recipient=recipient) if order_id in m.body]


def paid_by_scripted(shop: App, card: str, offer: str = "ONE2-M1") -> tuple[Order, Payment]:
    """An order paid with the scripted provider (its re-check says the money is in)."""
    placed = order(shop, card, offer)
    started = start_payment(shop.ctx, placed.id, "scripted", actor="test")
    paid = recheck_payment(shop.ctx, started.id)
    assert paid.state is PaymentState.SUCCEEDED
    with shop.uow(write=False) as uow:
        return uow.orders.get(placed.id), paid


# --- automatic refunds ----------------------------------------------------------------------


def test_a_payment_the_card_cannot_take_is_refunded_and_the_subscriber_told_twice(
    shop: App, scripted: ScriptedProvider
) -> None:
    renew(shop, EN_CARD, "ONE2-Y1")  # running until 2027-11-21
    first, second = order(shop, EN_CARD, "ONE2-Y1"), order(shop, EN_CARD, "ONE2-Y1")
    pay(shop, first.id)  # 2028-11-21: nothing more can be queued
    started = start_payment(shop.ctx, second.id, "scripted", actor="test")
    late = recheck_payment(shop.ctx, started.id)

    assert late.state is PaymentState.SUCCEEDED
    assert order_state(shop, second.id) is OrderState.REFUNDING
    (refund,) = refunds_of(shop, second.id)
    assert (refund.payment_id, refund.state, refund.reason, refund.requested_by) == (
        late.id,
        RefundState.REQUESTED,
        "queue_limit_exceeded",
        "system:fulfilment",
    )
    assert refund.amount == late.amount
    assert scripted.calls == []  # nobody asked inside the transaction

    shop.relay.drain()

    done = stored_refund(shop, refund.id)
    assert (done.state, done.provider_ref, done.completed_at) == (
        RefundState.SUCCEEDED,
        f"re_{late.id}",
        shop.ctx.clock.now(),
    )
    assert scripted.calls == [(late.id, late.amount.amount_minor, "HKD")]
    assert order_state(shop, second.id) is OrderState.REFUNDED
    assert sms_kinds(shop, second.id) == ["refund_completed", "refund_issued"]
    issued, made = sorted(texts_to(shop, EN_CARD, second.id), key=lambda b: "has been made" in b)
    assert "more than 12 months would be queued" in issued
    assert "has been made" in made and late.amount.display() in made
    assert show_card(shop.ctx, EN_CARD).card.validity_end == date(2028, 11, 21)


def test_a_duplicate_payment_is_refunded_and_the_order_stays_fulfilled(
    shop: App, scripted: ScriptedProvider
) -> None:
    placed = order(shop, ZH_HANS_CARD, "ONE2-D7")
    now = shop.ctx.clock.now()
    with shop.uow() as uow:
        # Two checkout pages, both paid: the services would hand back the same one.
        payments = [new_payment(placed, "scripted", now=now) for _ in range(2)]
        for payment in payments:
            uow.payments.add(payment, actor="test")
        uow.commit()
    first, duplicate = (recheck_payment(shop.ctx, p.id) for p in payments)

    assert order_state(shop, placed.id) is OrderState.FULFILLED
    (refund,) = refunds_of(shop, placed.id)
    assert (refund.payment_id, refund.reason, refund.requested_by) == (
        duplicate.id,
        "duplicate_payment",
        "system:payments",
    )
    shop.relay.drain()

    assert stored_refund(shop, refund.id).state is RefundState.SUCCEEDED
    assert [c[0] for c in scripted.calls] == [duplicate.id]
    assert order_state(shop, placed.id) is OrderState.FULFILLED
    # Told in their language that the money paid twice is back.
    (made,) = [b for b in texts_to(shop, ZH_HANS_CARD, placed.id) if "退款已完成" in b]
    assert "款项或需数个工作日到账" in made and "HK$48.00" in made
    assert first.state is PaymentState.SUCCEEDED


# --- staff --------------------------------------------------------------------------------


def test_staff_refund_a_fulfilled_order_in_full_and_the_plan_stays(shop: App) -> None:
    carol = staff(shop)
    placed = renew(shop, ZH_HANT_CARD, "ONE2-M1")
    validity = show_card(shop.ctx, ZH_HANT_CARD).card.validity_end
    shop.relay.drain()

    result = refund_order_by_staff(shop.ctx, carol, placed.id, reason="customer complaint")

    assert (result.order.state, result.repeated) == (OrderState.REFUNDING, False)
    (refund,) = result.refunds
    assert (refund.requested_by, refund.reason, refund.note) == (
        "staff:carol",
        "staff_refund",
        "customer complaint",
    )
    shop.relay.drain()

    assert stored_refund(shop, refund.id).state is RefundState.SUCCEEDED
    assert order_state(shop, placed.id) is OrderState.REFUNDED
    assert shop.sandbox.charge(refund.payment_id)["status"] == "refunded"  # type: ignore[index]
    card = show_card(shop.ctx, ZH_HANT_CARD).card
    assert card.validity_end == validity  # what was given stays
    texts = texts_to(shop, ZH_HANT_CARD, placed.id)
    assert any("客戶服務已批准退還" in b and "HK$88.00" in b for b in texts)
    assert any("退款已完成，款項或需數個工作天入賬" in b for b in texts)
    emails = shop.inbox.list(recipient="chan.taiman@example.com.hk")
    subjects = {m.subject for m in emails if placed.id in m.body} - {
        f"{shop.ctx.brand} 續期確認 {placed.id}"
    }
    brand = shop.ctx.brand
    assert subjects == {f"{brand} 退款通知 {placed.id}", f"{brand} 退款已完成 {placed.id}"}
    with shop.uow(write=False) as uow:
        trail = [
            (a["from_state"], a["to_state"], a["actor"])
            for a in uow.audit.list_for("refund", refund.id)
        ]
        order_trail = uow.audit.list_for("order", placed.id)
    assert trail == [
        (None, "requested", "staff:carol"),
        ("requested", "succeeded", "system:refunds"),
    ]
    assert ("fulfilled", "refunding", "staff:carol") in [
        (a["from_state"], a["to_state"], a["actor"]) for a in order_trail
    ]
    assert "customer complaint" in next(
        a["reason"] for a in order_trail if a["to_state"] == "refunding"
    )


def test_refunding_twice_makes_one_refund_and_one_provider_call(
    shop: App, scripted: ScriptedProvider
) -> None:
    carol = staff(shop)
    placed, payment = paid_by_scripted(shop, EN_CARD)

    first = refund_order_by_staff(shop.ctx, carol, placed.id, reason="asked twice")
    again = refund_order_by_staff(shop.ctx, carol, placed.id, reason="asked twice")
    with shop.uow() as uow:
        # The services' own path, too: the payment's refund comes back, nothing is added.
        same = request_refund(
            uow,
            uow.payments.get(payment.id),
            reason="staff_refund",
            requested_by="staff:carol",
            now=shop.ctx.clock.now(),
        )
        uow.commit()

    assert (again.repeated, again.refunds) == (True, first.refunds)
    assert same.id == first.refunds[0].id
    assert len(refund_messages(shop)) == 1
    shop.relay.drain()
    # A repeated delivery of the message (at least once) asks nobody again.
    with shop.engine.begin() as connection:
        connection.execute(
            update(t.outbox).where(t.outbox.c.kind == "refund").values(state="pending")
        )
    shop.relay.drain()
    after = refund_order_by_staff(shop.ctx, carol, placed.id, reason="asked again")

    assert len(scripted.calls) == 1
    assert after.repeated and after.order.state is OrderState.REFUNDED
    assert sms_kinds(shop, placed.id) == [
        "refund_approved",
        "refund_completed",
        "renewal_confirmed",
    ]


def test_two_staff_refunding_at_once_make_one_refund(shop: App, scripted: ScriptedProvider) -> None:
    carol, dave = staff(shop), staff(shop, "dave", StaffRole.ADMIN)
    placed, _ = paid_by_scripted(shop, EN_CARD)
    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def refund(user: StaffUser) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(refund_order_by_staff(shop.ctx, user, placed.id, reason="race").repeated)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=refund, args=(u,)) for u in (carol, dave)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(results) == [False, True]
    assert len(refunds_of(shop, placed.id)) == 1
    shop.relay.drain()
    assert len(scripted.calls) == 1


@pytest.mark.parametrize("role", [StaffRole.AGENT, StaffRole.KIOSK])
def test_only_admin_and_customer_service_may_refund(shop: App, role: StaffRole) -> None:
    user = staff(shop, "eve", role)
    placed = renew(shop, EN_CARD, "ONE2-D7")
    with pytest.raises(NotPermitted) as refused:
        refund_order_by_staff(shop.ctx, user, placed.id, reason="not mine to give")
    assert refused.value.code == "not_permitted"
    with pytest.raises(NotPermitted):
        record_payout(shop.ctx, user, "rfd_x", reference="X-1")
    with pytest.raises(NotPermitted):
        retry_refund(shop.ctx, user, "rfd_x")
    assert refunds_of(shop, placed.id) == []
    assert order_state(shop, placed.id) is OrderState.FULFILLED


def test_a_user_deactivated_after_login_is_refused(shop: App) -> None:
    carol = staff(shop)
    placed = renew(shop, EN_CARD, "ONE2-D7")
    deactivate_staff(shop.ctx, "carol", actor="test:operator")
    with pytest.raises(StaffLoginFailed):
        refund_order_by_staff(shop.ctx, carol, placed.id, reason="too late")
    assert refunds_of(shop, placed.id) == []


def test_what_cannot_be_refunded(shop: App) -> None:
    carol = staff(shop)
    unpaid = order(shop, EN_CARD, "ONE2-D7")
    with pytest.raises(OrderNotRefundable) as refused:
        refund_order_by_staff(shop.ctx, carol, unpaid.id, reason="nothing was paid")
    assert refused.value.code == "order_not_refundable"
    assert "awaiting_payment" in refused.value.message
    placed = renew(shop, EN_CARD, "ONE2-D7")
    with pytest.raises(RefundReasonMissing):
        refund_order_by_staff(shop.ctx, carol, placed.id, reason="   ")
    assert order_state(shop, placed.id) is OrderState.FULFILLED


# --- refused, retried ---------------------------------------------------------------------


def test_a_refusal_is_failed_for_staff_not_retried_and_a_retry_asks_again(
    shop: App, scripted: ScriptedProvider, clock: FixedClock
) -> None:
    carol = staff(shop)
    placed, payment = paid_by_scripted(shop, EN_CARD)
    scripted.answers.append(RefundResult(False, failure_code="charge_disputed"))
    (refund,) = refund_order_by_staff(shop.ctx, carol, placed.id, reason="complaint").refunds

    stats = shop.relay.drain()
    clock.advance(timedelta(days=2))
    shop.relay.drain()

    failed = stored_refund(shop, refund.id)
    assert (failed.state, failed.failure_code) == (RefundState.FAILED, "charge_disputed")
    assert stats.dead == 0 and stats.retried == 0
    assert [m.state.value for m in refund_messages(shop)] == ["delivered"]
    assert len(scripted.calls) == 1  # no endless retry: a refusal is an answer
    assert order_state(shop, placed.id) is OrderState.REFUNDING
    assert [r.id for r in list_refunds(shop.ctx, state=RefundState.FAILED)] == [refund.id]
    assert sms_kinds(shop, placed.id) == ["refund_approved", "renewal_confirmed"]

    retried = retry_refund(shop.ctx, carol, refund.id)
    assert (retried.state, retried.attempts, retried.failure_code) == (
        RefundState.REQUESTED,
        2,
        None,
    )
    with pytest.raises(IllegalTransition):
        retry_refund(shop.ctx, carol, refund.id)  # asked already
    shop.relay.drain()

    assert stored_refund(shop, refund.id).state is RefundState.SUCCEEDED
    assert [c[0] for c in scripted.calls] == [payment.id, payment.id]
    assert order_state(shop, placed.id) is OrderState.REFUNDED
    assert list_refunds(shop.ctx, state=RefundState.FAILED) == []
    with shop.uow(write=False) as uow:
        moves = [(a["from_state"], a["to_state"]) for a in uow.audit.list_for("refund", refund.id)]
    assert moves == [
        (None, "requested"),
        ("requested", "failed"),
        ("failed", "requested"),
        ("requested", "succeeded"),
    ]


def test_an_unreachable_provider_is_retried_and_the_refund_stays_requested(
    shop: App, scripted: ScriptedProvider, clock: FixedClock
) -> None:
    carol = staff(shop)
    placed, _ = paid_by_scripted(shop, EN_CARD)
    scripted.unreachable = 1
    (refund,) = refund_order_by_staff(shop.ctx, carol, placed.id, reason="complaint").refunds

    assert shop.relay.drain().retried == 1
    assert stored_refund(shop, refund.id).state is RefundState.REQUESTED
    clock.advance(timedelta(hours=1))
    shop.relay.drain()

    assert stored_refund(shop, refund.id).state is RefundState.SUCCEEDED
    assert len(scripted.calls) == 2


# --- by hand: FPS, cash, voucher ------------------------------------------------------------


def paid_in_house(shop: App, provider: str) -> Order:
    """An order for HK$88 paid by FPS (the bank statement shows the transfer), in
    cash at a counter, or with a voucher PIN."""
    placed = order(shop, ZH_HANT_CARD, "ONE2-M1")
    if provider == "fps":
        payment = start_payment(shop.ctx, placed.id, "fps", actor="test")
        statement = parse_bank_statement(
            f"date,remarks,credit,currency\n22/11/2026,{payment.provider_ref},88.00,HKD\n"
        )
        reconcile_bank(shop.ctx, SqlReconciliationBooks(shop.engine), statement)
    elif provider == "cash":
        agent = staff(shop, "alice", StaffRole.AGENT)
        open_shift(shop.ctx, agent)
        record_cash_payment(shop.ctx, agent, placed.id, tendered=Money.parse("100", "HKD"))
    else:
        _, pin = one_pin(shop)
        redeem_voucher(shop.ctx, placed.id, pin, number=ZH_HANT_CARD, ip=IP)
    assert order_state(shop, placed.id) is OrderState.FULFILLED
    return placed


@pytest.mark.parametrize("provider", ["fps", "cash", "voucher"])
def test_a_provider_that_cannot_refund_makes_it_manual_until_staff_pay_it_out(
    shop: App, provider: str
) -> None:
    carol = staff(shop)
    placed = paid_in_house(shop, provider)
    (refund,) = refund_order_by_staff(shop.ctx, carol, placed.id, reason="moving away").refunds
    assert refund.provider == provider

    stats = shop.relay.drain()

    manual = stored_refund(shop, refund.id)
    assert (manual.state, manual.failure_code) == (RefundState.MANUAL, MANUAL_REFUND_REQUIRED)
    assert stats.dead == 0
    assert [m.state.value for m in refund_messages(shop)] == ["delivered"]
    assert order_state(shop, placed.id) is OrderState.REFUNDING
    assert [r.id for r in list_refunds(shop.ctx, state=RefundState.MANUAL)] == [refund.id]
    with pytest.raises(PayoutReferenceInvalid):
        record_payout(shop.ctx, carol, refund.id, reference=" ")

    paid = record_payout(shop.ctx, carol, refund.id, reference="FPS-20261122-0001")
    shop.relay.drain()

    assert (paid.state, paid.payout_reference, paid.paid_out_by) == (
        RefundState.SUCCEEDED,
        "FPS-20261122-0001",
        "staff:carol",
    )
    assert stored_refund(shop, refund.id) == paid
    assert order_state(shop, placed.id) is OrderState.REFUNDED
    texts = texts_to(shop, ZH_HANT_CARD, placed.id)
    assert sum("退款已完成" in b for b in texts) == 1
    with pytest.raises(IllegalTransition):
        record_payout(shop.ctx, carol, refund.id, reference="FPS-20261122-0002")


def test_no_payout_by_hand_while_the_provider_is_asked(shop: App) -> None:
    carol = staff(shop)
    placed, _ = paid_by_scripted(shop, EN_CARD)
    (refund,) = refund_order_by_staff(shop.ctx, carol, placed.id, reason="complaint").refunds
    with pytest.raises(IllegalTransition):
        record_payout(shop.ctx, carol, refund.id, reference="FPS-1")
    assert stored_refund(shop, refund.id).state is RefundState.REQUESTED


# --- the migration ---------------------------------------------------------------------------


@pytest.fixture
def restored(engine: Engine) -> Iterator[Engine]:
    """The database, brought back to head whatever the test did to it."""
    try:
        yield engine
    finally:
        upgrade(engine)


def _old_rows(engine: Engine) -> None:
    """Refunds as the outbox relay kept them before 0007: an outbox message per
    refunded payment, an audit line when a provider confirmed one."""
    base_rows(engine)  # card_1, ord_1 (paid)
    order_row = {
        "card_id": "card_1",
        "offer_code": "ONE2-M1",
        "offer_version": 1,
        "channel": "web",
        "actor": "test",
        "currency": "HKD",
        "list_price_minor": 8800,
        "discount_minor": 0,
        "price_minor": 8800,
        "promotions": [],
        "bonus": [],
        "created_at": AT,
        "expires_at": AT,
        "updated_at": AT,
    }
    states = {
        "ord_2": "refunding",
        "ord_3": "refunding",
        "ord_4": "refunded",
        "ord_5": "fulfilled",
        "ord_6": "refunding",
        "ord_7": "fulfilled",
    }
    payment_row = {"amount_minor": 8800, "currency": "HKD", "created_at": AT, "updated_at": AT}
    payments = {
        "pay_a": ("ord_1", "sandbox"),
        "pay_b": ("ord_2", "fps"),
        "pay_c": ("ord_3", "stripe"),
        "pay_d": ("ord_4", "sandbox"),
        "pay_e": ("ord_5", "sandbox"),
        "pay_f": ("ord_6", "sandbox"),
        "pay_g": ("ord_7", "sandbox"),
    }

    def message(n: int, payment: str, reason: str, state: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": f"msg_{n}",
            "kind": "refund",
            "payload": {"payment_id": payment, "order_id": payments[payment][0], "reason": reason},
            "state": state,
            "attempts": 1,
            "created_at": AT,
            "available_at": AT,
            "dedupe_key": f"refund:{payment}",
            # Every row names every column: an executemany takes the first row's keys.
            "last_error": None,
            "delivered_at": None,
            **extra,
        }

    later = AT + timedelta(minutes=1)
    with engine.begin() as connection:
        connection.execute(update(t.orders).values(state="refunding"))  # ord_1
        connection.execute(
            insert(t.orders), [{**order_row, "id": k, "state": v} for k, v in states.items()]
        )
        connection.execute(
            insert(t.payments),
            [
                {**payment_row, "id": k, "order_id": o, "provider": p, "state": "succeeded"}
                for k, (o, p) in payments.items()
            ],
        )
        connection.execute(
            insert(t.outbox),
            [
                message(1, "pay_a", "card_not_renewable", "pending"),
                message(
                    2,
                    "pay_b",
                    "order_cancelled",
                    "dead",
                    last_error="RuntimeError: refund refused by fps: manual_refund_required",
                ),
                message(
                    3,
                    "pay_c",
                    "queue_limit_exceeded",
                    "dead",
                    last_error="RuntimeError: refund refused by stripe: charge_disputed",
                ),
                message(4, "pay_d", "order_cancelled", "delivered", delivered_at=later),
                message(5, "pay_e", "duplicate_payment", "delivered", delivered_at=later),
            ],
        )
        connection.execute(
            insert(t.audit_log),
            {
                "id": "aud_1",
                "entity": "payment",
                "entity_id": "pay_d",
                "from_state": "succeeded",
                "to_state": "refunded",
                "reason": "refunded (order_cancelled) ref re_123",
                "actor": "system:refunds",
                "at": later,
            },
        )


def test_migration_0007_gives_the_refunds_made_before_it_their_rows(restored: Engine) -> None:
    engine = restored
    downgrade(engine, "0006")
    assert "refunds" not in inspect(engine).get_table_names()
    _old_rows(engine)

    upgrade(engine)

    assert schema_differences(engine) == []
    with engine.connect() as connection:
        rows = {
            r.payment_id: (
                r.order_id,
                r.state,
                r.reason,
                r.requested_by,
                r.provider,
                r.failure_code,
                r.provider_ref,
                r.completed_at is not None,
            )
            for r in connection.execute(select(t.refunds))
        }
    assert rows == {
        "pay_a": ("ord_1", "requested", "card_not_renewable", "system:fulfilment", "sandbox",
                  None, None, False),
        "pay_b": ("ord_2", "manual", "order_cancelled", "system:fulfilment", "fps",
                  "manual_refund_required", None, False),
        "pay_c": ("ord_3", "failed", "queue_limit_exceeded", "system:fulfilment", "stripe",
                  "charge_disputed", None, False),
        "pay_d": ("ord_4", "succeeded", "order_cancelled", "system:fulfilment", "sandbox",
                  None, "re_123", True),
        "pay_e": ("ord_5", "succeeded", "duplicate_payment", "system:payments", "sandbox",
                  None, None, True),
        "pay_f": ("ord_6", "failed", "unknown", "system:fulfilment", "sandbox",
                  "not_requested", None, False),
    }  # fmt: skip
    # Down again keeps everything else.
    downgrade(engine, "0006")
    assert "refunds" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(t.payments)) == 7


def test_a_refund_under_way_at_the_upgrade_is_finished_by_the_relay(
    restored: Engine, app: App
) -> None:
    """The message left pending by the old relay finds the row the migration made."""
    engine = restored
    placed = order(app, EN_CARD, "ONE2-D7")
    payment, _ = pay(app, placed.id)
    downgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            update(t.orders).where(t.orders.c.id == placed.id).values(state="refunding")
        )
        connection.execute(
            insert(t.outbox),
            {
                "id": "msg_old",
                "kind": "refund",
                "payload": {"payment_id": payment.id, "order_id": placed.id, "reason": "x"},
                "state": "pending",
                "attempts": 0,
                "created_at": AT,
                "available_at": AT,
                "dedupe_key": f"refund:{payment.id}",
            },
        )
    upgrade(engine)

    app.relay.drain()

    assert order_state(app, placed.id) is OrderState.REFUNDED
    assert app.sandbox.charge(payment.id)["status"] == "refunded"  # type: ignore[index]
    (refund,) = refunds_of(app, placed.id)
    assert refund.state is RefundState.SUCCEEDED
