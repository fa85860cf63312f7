"""Voucher PINs through the services, on SQLite and PostgreSQL: a batch keeps only
hashes, a PIN pays and fulfils an order once, wrong PINs lock the number, and two
redemptions of one PIN at the same moment make one payment."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.domain.errors import (
    IllegalTransition,
    InvalidInput,
    OfferNotFound,
    OrderNotFound,
    SignatureInvalid,
)
from simrenew.domain.money import Money
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import PaymentState
from simrenew.domain.vouchers import (
    VoucherCurrencyMismatch,
    VoucherExpired,
    VoucherLocked,
    VoucherNotFound,
    VoucherOfferMismatch,
    VoucherPinInvalid,
    VoucherPinMalformed,
    VoucherPolicy,
    VoucherRateLimited,
    VoucherState,
    VoucherUsed,
    VoucherValueTooSmall,
    VoucherVoid,
    format_pin,
    format_serial,
    hash_pin,
    make_serial,
)
from simrenew.providers.cash import CashProvider
from simrenew.providers.voucher import VoucherProvider
from simrenew.services.context import Context
from simrenew.services.payments import OrderNotPayable, recheck_payment, start_payment
from simrenew.services.vouchers import (
    GeneratedBatch,
    generate_vouchers,
    redeem_voucher,
    show_voucher,
    void_voucher,
)
from tests.support import FixedClock, order

CARD = "+85251234567"  # ONE2 (HKD), in stock; second number +8613812345678
OTHER_CARD = "+85261234567"  # ONE2 (HKD), in stock
CNY_CARD = "+8613612345678"  # GBATRAVEL (CNY), in stock
IP = "203.0.113.7"
POLICY = VoucherPolicy(pepper=b"test-voucher-pepper")
EXPIRES = date(2027, 12, 31)


@dataclass(frozen=True)
class _VoucherContext(Context):
    # Until ``Context`` has the field itself (wired from ``voucher_pepper``).
    vouchers: VoucherPolicy | None = None


def wired(app: App, policy: VoucherPolicy = POLICY) -> App:
    """``app`` with the voucher policy and the ``voucher`` and ``cash`` methods, as
    bootstrap wires them."""
    current = {f.name: getattr(app.ctx, f.name) for f in fields(app.ctx)}
    providers = {
        **app.ctx.providers,
        "voucher": VoucherProvider(app.engine),
        "cash": CashProvider(app.engine),
    }
    ctx = _VoucherContext(**{**current, "providers": providers, "vouchers": policy})
    return replace(app, ctx=ctx)


@pytest.fixture
def shop(app: App) -> App:
    return wired(app)


def batch(
    shop: App, count: int = 1, *, value: str | None = "100", **kwargs: object
) -> GeneratedBatch:
    if "offer_code" in kwargs:
        value = None
    return generate_vouchers(
        shop.ctx,
        count=count,
        expires_on=kwargs.pop("expires_on", EXPIRES),  # type: ignore[arg-type]
        actor="test:operator",
        value=Money.parse(value, str(kwargs.pop("currency", "HKD"))) if value else None,
        offer_code=kwargs.pop("offer_code", None),  # type: ignore[arg-type]
    )


def one_pin(shop: App, **kwargs: object) -> tuple[str, str]:
    """A fresh voucher's (serial, PIN)."""
    issued = batch(shop, **kwargs).vouchers[0]
    return issued.serial, issued.pin


def everything_stored(engine: Engine) -> str:
    """Every value in every table, as one text to search."""
    parts: list[str] = []
    with engine.connect() as connection:
        for table in t.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


def count(shop: App, table: t.Table) -> int:
    with shop.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def voucher_row(shop: App, serial: str) -> dict[str, object]:
    with shop.engine.connect() as connection:
        row = connection.execute(select(t.vouchers).where(t.vouchers.c.serial == serial)).one()
    return dict(row._mapping)


# --- generating ---------------------------------------------------------------------------


def test_a_batch_keeps_only_pin_hashes(shop: App) -> None:
    generated = batch(shop, 25)
    pins = [v.pin for v in generated.vouchers]
    assert len(set(pins)) == 25
    assert [v.serial[:6] for v in generated.vouchers] == ["000001"] * 25
    assert [int(v.serial[6:12]) for v in generated.vouchers] == list(range(1, 26))
    with shop.engine.connect() as connection:
        stored = set(connection.scalars(select(t.vouchers.c.pin_hash)))
    assert stored == {hash_pin(POLICY.pepper, pin) for pin in pins}

    text = everything_stored(shop.engine)
    for pin in pins:
        assert pin not in text and format_pin(pin) not in text

    # The next batch gets the next prefix.
    assert batch(shop).vouchers[0].serial.startswith("000002")
    with shop.uow(write=False) as uow:
        audit = uow.audit.list_for("voucher_batch", generated.batch.id)
    assert audit[0]["actor"] == "test:operator"
    assert "25 voucher(s) of HK$100.00" in audit[0]["reason"]


def test_an_offer_batch_takes_the_offers_currency(shop: App) -> None:
    generated = batch(shop, 2, offer_code="GBATRAVEL-M1")
    assert generated.batch.currency == "CNY" and generated.batch.value is None
    voucher = show_voucher(shop.ctx, generated.vouchers[0].serial)
    assert (voucher.offer_code, voucher.state) == ("GBATRAVEL-M1", VoucherState.ISSUED)


def test_bad_batches_are_refused(shop: App, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput):
        batch(shop, 0)
    with pytest.raises(InvalidInput):
        batch(shop, expires_on=clock.now().date() - timedelta(days=1))
    with pytest.raises(InvalidInput):
        generate_vouchers(shop.ctx, count=1, expires_on=EXPIRES, actor="test")
    with pytest.raises(OfferNotFound):
        batch(shop, offer_code="NO-SUCH-OFFER")
    assert count(shop, t.voucher_batches) == 0


def test_without_a_pepper_nothing_is_made_or_checked(app: App) -> None:
    unwired = replace(app.ctx, vouchers=None)
    with pytest.raises(RuntimeError, match="not configured"):
        generate_vouchers(unwired, count=1, expires_on=EXPIRES, actor="t", offer_code="ONE2-M1")


# --- redeeming ----------------------------------------------------------------------------


def test_a_pin_pays_and_fulfils_the_order(shop: App) -> None:
    serial, pin = one_pin(shop)  # HK$100
    placed = order(shop, CARD, "ONE2-M1")  # HK$88
    payment = redeem_voucher(shop.ctx, placed.id, format_pin(pin), number="5123 4567", ip=IP)

    assert (payment.provider, payment.state, payment.provider_ref) == (
        "voucher",
        PaymentState.SUCCEEDED,
        serial,
    )
    assert payment.amount == Money.parse("88", "HKD")
    with shop.uow(write=False) as uow:
        assert uow.orders.get(placed.id).state is OrderState.FULFILLED
        card = uow.cards.get(placed.card_id)
        # The HK$12 left on the voucher is not kept as credit.
        assert card.balance_minor == 0
        assert uow.payments.events_for(payment.id)[0]["event_id"] == f"voucher:{serial}"
        audit = uow.audit.list_for("voucher", serial)
    assert [(a["from_state"], a["to_state"]) for a in audit] == [("issued", "redeemed")]
    row = voucher_row(shop, serial)
    assert (row["state"], row["redeemed_order_id"], row["payment_id"]) == (
        "redeemed",
        placed.id,
        payment.id,
    )
    assert pin not in everything_stored(shop.engine)


def test_the_second_number_of_the_card_works_too(shop: App) -> None:
    _, pin = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    payment = redeem_voucher(shop.ctx, placed.id, pin, number="+8613812345678", ip=IP)
    assert payment.state is PaymentState.SUCCEEDED


def test_a_pending_voucher_payment_from_checkout_is_the_one_paid(shop: App) -> None:
    _, pin = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    pending = start_payment(shop.ctx, placed.id, "voucher", actor="test")
    assert pending.state is PaymentState.PENDING and pending.checkout_url is None
    paid = redeem_voucher(shop.ctx, placed.id, pin, number=CARD, ip=IP)
    assert paid.id == pending.id and paid.state is PaymentState.SUCCEEDED
    assert count(shop, t.payments) == 1


def test_an_offer_voucher_pays_exactly_its_offer(shop: App) -> None:
    _, pin = one_pin(shop, offer_code="ONE2-M3")
    wrong = order(shop, CARD, "ONE2-M1")
    with pytest.raises(VoucherOfferMismatch):
        redeem_voucher(shop.ctx, wrong.id, pin, number=CARD, ip=IP)
    right = order(shop, OTHER_CARD, "ONE2-M3")  # HK$238: an offer voucher covers any price
    assert redeem_voucher(shop.ctx, right.id, pin, number=OTHER_CARD, ip=IP).state is (
        PaymentState.SUCCEEDED
    )


def test_used_void_expired_wrong_currency_and_too_small_are_refused(
    shop: App, clock: FixedClock
) -> None:
    _, used = one_pin(shop)
    first = order(shop, OTHER_CARD, "ONE2-D1")
    redeem_voucher(shop.ctx, first.id, used, number=OTHER_CARD, ip=IP)
    void_serial, void_pin = one_pin(shop)
    void_voucher(shop.ctx, void_serial, actor="test:operator")
    _, small = one_pin(shop, value="50")
    _, expiring = one_pin(shop, expires_on=clock.now().date() + timedelta(days=1))
    _, hkd = one_pin(shop)

    placed = order(shop, CARD, "ONE2-M1")  # HK$88
    cny = order(shop, CNY_CARD, "GBATRAVEL-D1")  # ¥15
    cases = [
        (placed.id, CARD, used, VoucherUsed, "already used"),
        (placed.id, CARD, void_pin, VoucherVoid, "cancelled"),
        (placed.id, CARD, small, VoucherValueTooSmall, "worth HK$50.00; the order costs HK$88.00"),
        (cny.id, CNY_CARD, hkd, VoucherCurrencyMismatch, "in HKD; the order is in CNY"),
    ]
    for order_id, number, pin, error, text in cases:
        with pytest.raises(error) as caught:
            redeem_voucher(shop.ctx, order_id, pin, number=number, ip=IP)
        assert text in caught.value.message
    clock.advance(timedelta(days=2))
    with pytest.raises(VoucherExpired):
        redeem_voucher(shop.ctx, placed.id, expiring, number=CARD, ip=IP)

    # None of these was a wrong PIN: the number is not locked, the order still payable.
    assert redeem_voucher(shop.ctx, placed.id, hkd, number=CARD, ip=IP).state is (
        PaymentState.SUCCEEDED
    )
    assert count(shop, t.payments) == 2


def test_five_wrong_pins_lock_the_number_for_the_hour_even_for_the_right_pin(
    shop: App, clock: FixedClock
) -> None:
    _, pin = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    wrong = "0000000000000000" if pin != "0000000000000000" else "1111111111111111"
    for _ in range(4):
        with pytest.raises(VoucherPinInvalid):
            redeem_voucher(shop.ctx, placed.id, wrong, number=CARD, ip=IP)
    with pytest.raises(VoucherLocked) as caught:
        redeem_voucher(shop.ctx, placed.id, wrong, number=CARD, ip=IP)
    assert caught.value.retry_after == 3600

    clock.advance(timedelta(minutes=30))
    with pytest.raises(VoucherLocked) as caught:
        redeem_voucher(shop.ctx, placed.id, pin, number=CARD, ip=IP)
    assert caught.value.retry_after == 1800 and caught.value.status == 429
    # The card's other number is the same card: locked too.
    with pytest.raises(VoucherLocked):
        redeem_voucher(shop.ctx, placed.id, pin, number="+8613812345678", ip=IP)
    assert voucher_row(shop, one_serial(shop))["state"] == "issued"

    clock.advance(timedelta(minutes=30, seconds=1))
    assert redeem_voucher(shop.ctx, placed.id, pin, number=CARD, ip=IP).state is (
        PaymentState.SUCCEEDED
    )


def one_serial(shop: App) -> str:
    with shop.engine.connect() as connection:
        return str(connection.scalar(select(t.vouchers.c.serial)))


def test_a_malformed_pin_is_not_counted(shop: App) -> None:
    _, pin = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    for _ in range(6):
        with pytest.raises(VoucherPinMalformed):
            redeem_voucher(shop.ctx, placed.id, "1234", number=CARD, ip=IP)
    assert redeem_voucher(shop.ctx, placed.id, pin, number=CARD, ip=IP).state is (
        PaymentState.SUCCEEDED
    )


def test_tries_are_rate_limited_per_ip_and_per_number(app: App) -> None:
    shop = wired(app, replace(POLICY, tries_per_ip=3, tries_per_number=100))
    placed = order(shop, CARD, "ONE2-M1")
    other = order(shop, OTHER_CARD, "ONE2-M1")
    for order_id, number in ((placed.id, CARD), (other.id, OTHER_CARD), (placed.id, CARD)):
        with pytest.raises(VoucherPinInvalid):
            redeem_voucher(shop.ctx, order_id, "1" * 16, number=number, ip=IP)
    with pytest.raises(VoucherRateLimited) as caught:
        redeem_voucher(shop.ctx, other.id, "1" * 16, number=OTHER_CARD, ip=IP)
    assert caught.value.retry_after >= 1

    limited = wired(app, replace(POLICY, tries_per_number=1, tries_per_ip=100))
    with pytest.raises(VoucherPinInvalid):
        redeem_voucher(limited.ctx, other.id, "1" * 16, number=OTHER_CARD, ip="198.51.100.1")
    with pytest.raises(VoucherRateLimited):
        redeem_voucher(limited.ctx, other.id, "1" * 16, number="6123 4567", ip="198.51.100.2")


def test_a_number_that_is_not_the_orders_finds_no_order(shop: App) -> None:
    _, pin = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    for number in (OTHER_CARD, "not a number"):
        with pytest.raises(OrderNotFound):
            redeem_voucher(shop.ctx, placed.id, pin, number=number, ip=IP)
    assert voucher_row(shop, one_serial(shop))["state"] == "issued"


def test_an_order_already_paid_is_not_paid_again(shop: App) -> None:
    _, first = one_pin(shop)
    _, second = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    redeem_voucher(shop.ctx, placed.id, first, number=CARD, ip=IP)
    with pytest.raises(OrderNotPayable):
        redeem_voucher(shop.ctx, placed.id, second, number=CARD, ip=IP)
    with shop.engine.connect() as connection:
        states = dict(connection.execute(select(t.vouchers.c.serial, t.vouchers.c.state)).all())
    assert sorted(states.values()) == ["issued", "redeemed"]


def test_two_redemptions_of_one_pin_at_once_make_one_payment(shop: App) -> None:
    _, pin = one_pin(shop)
    cards = [CARD, OTHER_CARD, "+85291234567", "+85251234568"]
    orders = [order(shop, card, "ONE2-D1") for card in cards]
    barrier = threading.Barrier(len(orders))
    won: list[str] = []
    lost: list[BaseException] = []
    errors: list[BaseException] = []

    def redeem(order_id: str, number: str) -> None:
        try:
            barrier.wait(timeout=30)
            redeem_voucher(shop.ctx, order_id, pin, number=number, ip=IP)
            won.append(order_id)
        except VoucherUsed as exc:
            lost.append(exc)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=redeem, args=(o.id, card))
        for o, card in zip(orders, cards, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(won) == 1 and len(lost) == len(orders) - 1
    with shop.engine.connect() as connection:
        succeeded = connection.scalar(
            select(func.count()).select_from(t.payments).where(t.payments.c.state == "succeeded")
        )
        fulfilled = connection.scalar(select(func.count()).select_from(t.fulfilments))
    assert (succeeded, fulfilled) == (1, 1)
    assert voucher_row(shop, one_serial(shop))["redeemed_order_id"] == won[0]


def test_the_database_lets_a_voucher_pay_one_order_and_an_order_be_paid_by_one(shop: App) -> None:
    serial, pin = one_pin(shop)
    other_serial, _ = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    payment = redeem_voucher(shop.ctx, placed.id, pin, number=CARD, ip=IP)
    at = shop.ctx.clock.now()
    with pytest.raises(IntegrityError), shop.engine.begin() as connection:
        # A second voucher naming the same order.
        connection.execute(
            t.vouchers.update()
            .where(t.vouchers.c.serial == other_serial)
            .values(
                state="redeemed", redeemed_order_id=placed.id, payment_id=payment.id, redeemed_at=at
            )
        )
    with pytest.raises(IntegrityError), shop.engine.begin() as connection:
        # "redeemed" without its order.
        connection.execute(
            t.vouchers.update()
            .where(t.vouchers.c.serial == other_serial)
            .values(state="redeemed", redeemed_at=at)
        )
    with pytest.raises(IntegrityError), shop.engine.begin() as connection:
        connection.execute(
            insert(t.payment_events),
            {
                "id": "pev_x",
                "provider": "voucher",
                "event_id": f"voucher:{serial}",
                "payment_id": "pay_x",
                "state": "succeeded",
                "payload": "{}",
                "received_at": at,
            },
        )


# --- voiding, showing and the provider's view ------------------------------------------------


def test_void_and_show(shop: App) -> None:
    serial, pin = one_pin(shop)
    shown = show_voucher(shop.ctx, serial)
    assert shown.state is VoucherState.ISSUED and shown.value == Money.parse("100", "HKD")
    voided = void_voucher(shop.ctx, serial, actor="test:operator")
    assert voided.state is VoucherState.VOID
    assert void_voucher(shop.ctx, serial, actor="test:operator").state is VoucherState.VOID
    with shop.uow(write=False) as uow:
        assert len(uow.audit.list_for("voucher", serial)) == 1

    used_serial, used_pin = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    redeem_voucher(shop.ctx, placed.id, used_pin, number=CARD, ip=IP)
    with pytest.raises(IllegalTransition):
        void_voucher(shop.ctx, used_serial, actor="test:operator")
    with pytest.raises(VoucherNotFound):
        show_voucher(shop.ctx, format_serial(make_serial(99, 1)))
    assert pin not in everything_stored(shop.engine)


def test_the_voucher_provider_reports_what_is_stored(shop: App) -> None:
    provider = VoucherProvider(shop.engine)
    _, pin = one_pin(shop)
    placed = order(shop, CARD, "ONE2-M1")
    paid = redeem_voucher(shop.ctx, placed.id, pin, number=CARD, ip=IP)
    result = provider.fetch_status(paid.id, None)
    assert (result.state, result.provider_ref) == (PaymentState.SUCCEEDED, paid.provider_ref)
    assert provider.refund(paid.id, paid.provider_ref, 8800, "HKD").failure_code == (
        "manual_refund_required"
    )
    with pytest.raises(SignatureInvalid):
        provider.parse_callback({}, b"{}", shop.ctx.clock.now())

    # A voucher payment abandoned on the PIN page: the janitor's re-check cancels it.
    abandoned = order(shop, OTHER_CARD, "ONE2-M1")
    pending = start_payment(shop.ctx, abandoned.id, "voucher", actor="test")
    assert recheck_payment(shop.ctx, pending.id).state is PaymentState.CANCELLED
    with shop.uow(write=False) as uow:
        assert uow.orders.get(abandoned.id).state is OrderState.AWAITING_PAYMENT
