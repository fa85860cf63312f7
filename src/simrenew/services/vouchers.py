"""Prepaid vouchers: generating a batch, voiding and showing a voucher, and paying an
order with a voucher PIN.

A PIN exists in clear only twice: in the ``GeneratedBatch`` returned once to the
operator's tool (which writes it to the print file) and in the request that redeems
it. Only its keyed hash is stored (``domain.vouchers.hash_pin``).

Redeeming is a payment method: the payment (provider ``voucher``) is recorded as a
``succeeded`` event ``voucher:<serial>`` through the payments service's own path
(``services.cash.settle_taken_payment``), so the order is paid and fulfilled in the
same transaction that marks the voucher used. A value voucher pays an order costing
up to its face value in its currency; the difference is not kept as credit (a
voucher is spent whole, like a stored-value card bought for one top-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from simrenew.domain.cards import normalize_number
from simrenew.domain.errors import InvalidInput, InvalidMoney, InvalidNumber, OrderNotFound
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.payments import Payment
from simrenew.domain.timeutil import end_of_day, local_date
from simrenew.domain.vouchers import (
    MAX_BATCH,
    Voucher,
    VoucherBatch,
    VoucherLocked,
    VoucherPinInvalid,
    VoucherPolicy,
    VoucherRateLimited,
    VoucherState,
    after_failure,
    check_not_locked,
    check_redeemable,
    generate_pin,
    hash_pin,
    make_serial,
    normalize_pin,
    parse_serial,
)
from simrenew.ports import AuditRecord, UnitOfWork
from simrenew.services.cash import TakenPayment, settle_taken_payment
from simrenew.services.context import Context

VOUCHER = "voucher"
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class IssuedVoucher:
    serial: str
    pin: str  # in clear: for the print file only, never stored or logged


@dataclass(frozen=True, slots=True)
class GeneratedBatch:
    batch: VoucherBatch
    vouchers: tuple[IssuedVoucher, ...]


def voucher_policy(ctx: Context) -> VoucherPolicy:
    """The voucher policy wired into the context (``Context.vouchers``, from the
    ``voucher_pepper`` setting). Raises ``RuntimeError`` when there is none: without a
    pepper no PIN can be made or checked."""
    policy = ctx.vouchers
    if policy is None:
        raise RuntimeError("vouchers are not configured: Context.vouchers is not set")
    return policy


def generate_vouchers(
    ctx: Context,
    *,
    count: int,
    expires_on: date,
    actor: str,
    value: Money | None = None,
    offer_code: str | None = None,
) -> GeneratedBatch:
    """Make a batch of ``count`` vouchers worth ``value``, or for ``offer_code``,
    usable until the end of ``expires_on`` (local time). Returns the PINs in clear,
    once. Raises ``InvalidInput`` (count, expiry, value or offer missing or both given)
    and ``OfferNotFound``."""
    policy = voucher_policy(ctx)
    if not 1 <= count <= MAX_BATCH:
        raise InvalidInput(f"A batch has 1 to {MAX_BATCH} vouchers, not {count}.")
    if (value is None) == (offer_code is None):
        raise InvalidInput("A batch has either a face value or an offer.")
    if value is not None and value.amount_minor <= 0:
        raise InvalidMoney(value=value.decimal_str(), reason="a voucher is worth more than 0")
    now = ctx.clock.now()
    expires_at = end_of_day(expires_on, ctx.clock.tz)
    if expires_at <= now:
        raise InvalidInput(f"The expiry date {expires_on.isoformat()} has passed.")
    with ctx.uow() as uow:
        if offer_code is not None:
            offer = uow.catalog.offer(offer_code)
            currency = offer.price.currency
            offer_code = offer.code
        else:
            assert value is not None
            currency = value.currency
        batch = VoucherBatch(
            id=new_id("vbt"),
            prefix=uow.vouchers.next_batch_prefix(),
            currency=currency,
            count=count,
            created_by=actor,
            created_at=now,
            expires_at=expires_at,
            value=value,
            offer_code=offer_code,
        )
        pins = _unique_pins(uow, policy, count)
        issued = tuple(
            IssuedVoucher(make_serial(batch.prefix, n), pin) for n, pin in enumerate(pins, 1)
        )
        uow.vouchers.add_batch(batch)
        uow.vouchers.add_vouchers(
            batch.id, [(v.serial, hash_pin(policy.pepper, v.pin)) for v in issued], at=now
        )
        uow.audit.record(
            AuditRecord(
                "voucher_batch",
                batch.id,
                None,
                VoucherState.ISSUED.value,
                f"{count} voucher(s) of {batch.describe()} with prefix {batch.prefix}, "
                f"expiring {expires_on.isoformat()}",
                actor,
                now,
            )
        )
        uow.commit()
    return GeneratedBatch(batch, issued)


def _unique_pins(uow: UnitOfWork, policy: VoucherPolicy, count: int) -> list[str]:
    """``count`` fresh PINs whose hashes clash with no voucher stored or in the batch.
    With 10^16 PINs a clash is rare but, across millions of vouchers, not impossible;
    the unique hash column would otherwise fail the whole batch."""
    pins: dict[str, str] = {}  # hash -> PIN
    while len(pins) < count:
        fresh = {}
        for _ in range(count - len(pins)):
            pin = generate_pin()
            fresh[hash_pin(policy.pepper, pin)] = pin
        taken = uow.vouchers.existing_pin_hashes(fresh)
        pins.update((h, p) for h, p in fresh.items() if h not in taken and h not in pins)
    return list(pins.values())


def show_voucher(ctx: Context, serial: str) -> Voucher:
    """The voucher's state and what it pays (never its PIN). Raises
    ``VoucherSerialInvalid`` and ``VoucherNotFound``."""
    with ctx.uow(write=False) as uow:
        return uow.vouchers.get(parse_serial(serial))


def void_voucher(ctx: Context, serial: str, *, actor: str) -> Voucher:
    """Cancel an unused voucher (lost or stolen stock); voiding it again changes
    nothing. Raises ``VoucherSerialInvalid``, ``VoucherNotFound`` and
    ``IllegalTransition`` for a voucher already used."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        voucher = uow.vouchers.get(parse_serial(serial), lock=True)
        if voucher.state is VoucherState.VOID:
            return voucher
        voided = voucher.void(now)
        uow.vouchers.update(voided, voucher)
        uow.audit.record(
            AuditRecord(
                "voucher",
                voucher.serial,
                voucher.state.value,
                voided.state.value,
                "voided",
                actor,
                now,
            )
        )
        uow.commit()
    return voided


def redeem_voucher(ctx: Context, order_id: str, pin: str, *, number: str, ip: str) -> Payment:
    """Pay ``order_id`` with the voucher whose PIN is ``pin``; returns the payment,
    ``succeeded``, with the order paid and fulfilled in the same transaction.

    ``number`` is the mobile number the order is for (as typed) and ``ip`` the
    client's address: tries are rate-limited per number and per IP, and 5 wrong PINs
    for a number within an hour lock it for an hour, right PIN or not.

    Raises ``VoucherRateLimited``, ``VoucherLocked`` (both ``TooManyRequests``, with
    ``retry_after``), ``VoucherPinMalformed``, ``VoucherPinInvalid`` (the try is
    counted), ``OrderNotFound`` (also when ``number`` is not the order's),
    ``OrderNotPayable``, and what ``check_redeemable`` raises: ``VoucherUsed``,
    ``VoucherVoid``, ``VoucherExpired``, ``VoucherOfferMismatch``,
    ``VoucherCurrencyMismatch``, ``VoucherValueTooSmall``.
    """
    policy = voucher_policy(ctx)
    ctx.provider(VOUCHER)
    key = _number_key(number)
    _throttle(ctx, policy, key, ip)
    pin_hash = hash_pin(policy.pepper, normalize_pin(pin))
    now = ctx.clock.now()
    with ctx.uow() as uow:
        # Locks in one order for every redemption: the order, the number's guard, then
        # the voucher. Two tries of one PIN for two orders meet at the voucher's lock,
        # and the second finds it used.
        order = uow.orders.get(order_id, lock=True)
        card = uow.cards.get(order.card_id)
        if key not in (card.primary_number, card.second_number):
            raise OrderNotFound(key=order_id)
        # Counted per card, by its primary number: both numbers of a card share one.
        guard = uow.vouchers.guard(card.primary_number, at=now)
        check_not_locked(guard, now)
        voucher = uow.vouchers.find_by_pin_hash(pin_hash, lock=True)
        if voucher is None:
            counted = after_failure(guard, now, policy)
            uow.vouchers.save_guard(counted, at=now)
            uow.commit()
            if counted.locked_until is not None:
                raise VoucherLocked(retry_after=policy.lock_for // _SECOND)
            raise VoucherPinInvalid()
        check_redeemable(
            voucher,
            price=order.price,
            offer_code=order.offer_code,
            now=now,
            expired_on=local_date(voucher.expires_at, ctx.clock.tz),
        )
        payment = settle_taken_payment(
            uow,
            ctx,
            order,
            TakenPayment(
                provider=VOUCHER,
                event_id=f"voucher:{voucher.serial}",
                provider_ref=voucher.serial,
                payload={
                    "serial": voucher.serial,
                    "order": order.id,
                    "pays": voucher.describe(),
                    "price": order.price.decimal_str(),
                },
                actor=f"voucher:{voucher.serial}",
            ),
        )
        redeemed = voucher.redeem(order.id, payment.id, now)
        uow.vouchers.update(redeemed, voucher)
        uow.audit.record(
            AuditRecord(
                "voucher",
                voucher.serial,
                voucher.state.value,
                redeemed.state.value,
                f"paid order {order.id} ({order.price}) with {voucher.describe()}",
                f"voucher:{voucher.serial}",
                now,
            )
        )
        uow.commit()
    return payment


def _number_key(number: str) -> str:
    # "+852 5123 4567" and "51234567" are one number; anything else is kept as typed
    # (cut short: it is a limiter key) and matches no card.
    try:
        return normalize_number(number)
    except InvalidNumber:
        return number.strip()[:32]


def _throttle(ctx: Context, policy: VoucherPolicy, number: str, ip: str) -> None:
    """Count one try per number and per IP in the shared limiter, before any
    transaction (the limiter may be a network service)."""
    if ctx.auth is None:
        raise RuntimeError("no rate limiter: Context.auth is None")
    for scope, key, limit in (
        ("voucher:number", number, policy.tries_per_number),
        ("voucher:ip", ip, policy.tries_per_ip),
    ):
        throttle = ctx.auth.limiter.hit(scope, key, limit=limit, window=policy.limit_window)
        if not throttle.allowed:
            raise VoucherRateLimited(retry_after=max(throttle.retry_after, 1))
