"""Voucher PINs, serials, what a voucher may pay, and the per-number lock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simrenew.domain.errors import IllegalTransition
from simrenew.domain.money import Money
from simrenew.domain.vouchers import (
    PIN_DIGITS,
    Voucher,
    VoucherBatch,
    VoucherCurrencyMismatch,
    VoucherExpired,
    VoucherGuard,
    VoucherLocked,
    VoucherOfferMismatch,
    VoucherPinMalformed,
    VoucherPolicy,
    VoucherSerialInvalid,
    VoucherState,
    VoucherUsed,
    VoucherValueTooSmall,
    VoucherVoid,
    after_failure,
    check_not_locked,
    check_redeemable,
    format_pin,
    format_serial,
    generate_pin,
    hash_pin,
    make_serial,
    normalize_pin,
    parse_serial,
)

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
POLICY = VoucherPolicy(pepper=b"test-pepper")
HKD = "HKD"


def voucher(**changes: object) -> Voucher:
    base = Voucher(
        serial=make_serial(1, 1),
        batch_id="vbt_1",
        state=VoucherState.ISSUED,
        currency=HKD,
        expires_at=NOW + timedelta(days=30),
        created_at=NOW,
        updated_at=NOW,
        value=Money.parse("100", HKD),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def redeemable(v: Voucher, price: str = "88", offer: str = "ONE2-M1", currency: str = HKD) -> None:
    check_redeemable(
        v,
        price=Money.parse(price, currency),
        offer_code=offer,
        now=NOW,
        expired_on=date(2026, 12, 22),
    )


# --- PINs ---------------------------------------------------------------------------------


def test_pins_are_sixteen_random_digits() -> None:
    pins = {generate_pin() for _ in range(200)}
    assert len(pins) == 200
    assert all(len(p) == PIN_DIGITS and p.isdigit() for p in pins)
    # Leading zeros are kept: every digit position carries entropy.
    assert any(p.startswith("0") for p in (generate_pin() for _ in range(500)))


def test_a_pin_is_printed_in_groups_of_four_and_read_back_however_typed() -> None:
    assert format_pin("1234567890123456") == "1234-5678-9012-3456"
    for typed in ("1234-5678-9012-3456", "1234 5678 9012 3456", " 1234567890123456 "):
        assert normalize_pin(typed) == "1234567890123456"


@pytest.mark.parametrize(
    "typed",
    [
        "123456789012345",
        "12345678901234567",
        "1234-5678-9012-345x",
        "１２３４５６７８９０１２３４５６",
        "",
    ],
)
def test_a_malformed_pin_is_refused_before_any_lookup(typed: str) -> None:
    with pytest.raises(VoucherPinMalformed):
        normalize_pin(typed)


def test_the_stored_hash_is_keyed_and_reveals_nothing() -> None:
    pin = "1234567890123456"
    stored = hash_pin(b"pepper-a", pin)
    assert stored == hash_pin(b"pepper-a", pin)  # found again by the same PIN
    assert stored != hash_pin(b"pepper-b", pin)  # useless without the pepper
    assert stored != hash_pin(b"pepper-a", "1234567890123457")
    assert len(stored) == 64 and pin not in stored


# --- serials ------------------------------------------------------------------------------


def test_serials_carry_batch_prefix_sequence_and_check_digit() -> None:
    serial = make_serial(12, 345)
    assert serial.startswith("000012000345") and len(serial) == 13
    assert format_serial(serial) == f"000012-000345-{serial[-1]}"
    assert parse_serial(format_serial(serial)) == serial
    assert parse_serial(serial) == serial


@given(
    prefix=st.integers(1, 999_999),
    sequence=st.integers(1, 999_999),
    position=st.integers(0, 12),
    delta=st.integers(1, 9),
)
def test_any_single_mistyped_digit_is_caught(
    prefix: int, sequence: int, position: int, delta: int
) -> None:
    serial = make_serial(prefix, sequence)
    wrong = str((int(serial[position]) + delta) % 10)
    typo = serial[:position] + wrong + serial[position + 1 :]
    with pytest.raises(VoucherSerialInvalid):
        parse_serial(typo)


@pytest.mark.parametrize("text", ["12345", "00001200034512", "000012-000345-x"])
def test_a_serial_of_the_wrong_shape_is_refused(text: str) -> None:
    with pytest.raises(VoucherSerialInvalid):
        parse_serial(text)


def test_make_serial_refuses_numbers_out_of_range() -> None:
    for prefix, sequence in ((0, 1), (1_000_000, 1), (1, 0), (1, 1_000_000)):
        with pytest.raises(ValueError):
            make_serial(prefix, sequence)


# --- batches and states -------------------------------------------------------------------


def test_a_batch_pays_a_value_or_an_offer() -> None:
    fields = {
        "id": "vbt_1",
        "prefix": 1,
        "currency": HKD,
        "count": 10,
        "created_by": "test",
        "created_at": NOW,
        "expires_at": NOW,
    }
    assert VoucherBatch(**fields, value=Money.parse("100", HKD)).describe() == "HK$100.00"  # type: ignore[arg-type]
    assert VoucherBatch(**fields, offer_code="ONE2-M1").describe() == "offer ONE2-M1"  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        VoucherBatch(**fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        VoucherBatch(**fields, value=Money.parse("1", HKD), offer_code="ONE2-M1")  # type: ignore[arg-type]


def test_issued_goes_to_redeemed_or_void_and_no_further() -> None:
    issued = voucher()
    redeemed = issued.redeem("ord_1", "pay_1", NOW)
    assert (redeemed.state, redeemed.redeemed_order_id, redeemed.payment_id) == (
        VoucherState.REDEEMED,
        "ord_1",
        "pay_1",
    )
    voided = issued.void(NOW)
    assert voided.state is VoucherState.VOID and voided.voided_at == NOW
    for final in (redeemed, voided):
        with pytest.raises(IllegalTransition):
            final.redeem("ord_2", "pay_2", NOW)
        with pytest.raises(IllegalTransition):
            final.void(NOW)


# --- what a voucher pays ------------------------------------------------------------------


def test_a_value_voucher_pays_up_to_its_face_value_in_its_currency() -> None:
    redeemable(voucher(), price="88")
    redeemable(voucher(), price="100")
    with pytest.raises(VoucherValueTooSmall) as caught:
        redeemable(voucher(), price="100.01")
    assert "HK$100.00" in caught.value.message and "HK$100.01" in caught.value.message
    with pytest.raises(VoucherCurrencyMismatch):
        redeemable(voucher(), price="50", currency="CNY")


def test_an_offer_voucher_pays_only_its_offer_at_any_price() -> None:
    offer_voucher = voucher(value=None, offer_code="ONE2-M1")
    redeemable(offer_voucher, price="880", offer="ONE2-M1")
    with pytest.raises(VoucherOfferMismatch):
        redeemable(offer_voucher, price="18", offer="ONE2-D1")


def test_used_void_and_expired_vouchers_pay_nothing() -> None:
    with pytest.raises(VoucherUsed):
        redeemable(voucher().redeem("ord_1", "pay_1", NOW))
    with pytest.raises(VoucherVoid):
        redeemable(voucher().void(NOW))
    redeemable(voucher(expires_at=NOW))  # its last second still counts
    with pytest.raises(VoucherExpired) as caught:
        redeemable(voucher(expires_at=NOW - timedelta(seconds=1)))
    assert "2026-12-22" in caught.value.message


# --- the per-number lock ------------------------------------------------------------------


def fail(guard: VoucherGuard, times: int, at: datetime = NOW) -> VoucherGuard:
    for _ in range(times):
        check_not_locked(guard, at)
        guard = after_failure(guard, at, POLICY)
    return guard


def test_five_wrong_pins_in_an_hour_lock_the_number_for_an_hour() -> None:
    guard = fail(VoucherGuard("+85251234567"), 4)
    assert guard.failures == 4 and guard.locked_until is None
    guard = fail(guard, 1)
    assert guard.locked_until == NOW + timedelta(hours=1)
    with pytest.raises(VoucherLocked) as caught:
        check_not_locked(guard, NOW + timedelta(minutes=59, seconds=59, microseconds=1))
    assert caught.value.retry_after == 1
    assert caught.value.status == 429
    with pytest.raises(VoucherLocked) as caught:
        check_not_locked(guard, NOW)
    assert caught.value.retry_after == 3600
    check_not_locked(guard, NOW + timedelta(hours=1))


def test_wrong_pins_spread_over_more_than_an_hour_do_not_lock() -> None:
    guard = VoucherGuard("+85251234567")
    at = NOW
    for _ in range(12):
        guard = fail(guard, 1, at)
        at += timedelta(minutes=16)  # 4 per hour at most
    assert guard.locked_until is None


def test_after_a_lock_the_count_starts_again() -> None:
    guard = fail(VoucherGuard("+85251234567"), 5)
    later = NOW + timedelta(hours=1)
    guard = fail(guard, 4, later)
    assert guard.locked_until == NOW + timedelta(hours=1)  # the old lock, already over
    check_not_locked(guard, later)
    guard = fail(guard, 1, later)
    assert guard.locked_until == later + timedelta(hours=1)
