"""Prepaid voucher cards: a serial number printed on the card and a 16-digit PIN under
a scratch panel, as pure rules.

A batch is either a *value* voucher (a face value in one currency: it pays any order
in that currency that costs no more; the change is not kept) or an *offer* voucher
(it pays exactly that offer, whatever its price). A voucher's serial is the batch's
prefix, the voucher's number in the batch and a Luhn check digit
(``PPPPPP-NNNNNN-C``), so that a mistyped serial is caught before any lookup.

The PIN is 16 digits from ``secrets`` (53 bits); only its HMAC-SHA256 under a server
pepper is stored. Redemption is guarded per number: 5 wrong PINs lock the number
for an hour, during which even a right PIN is refused (``after_failure``).

    DomainError
    ├── InvalidInput
    │   ├── VoucherPinMalformed      not 16 digits (no lookup made, no try counted)
    │   └── VoucherSerialInvalid     wrong length or check digit
    ├── NotFound
    │   └── VoucherNotFound          no voucher with that serial
    ├── VoucherPinInvalid (400)      no voucher has this PIN (the try is counted)
    ├── Conflict
    │   ├── VoucherUsed, VoucherVoid, VoucherExpired
    │   ├── VoucherCurrencyMismatch, VoucherValueTooSmall, VoucherOfferMismatch
    └── TooManyRequests (429)
        ├── VoucherLocked            5 wrong PINs: the number is locked for a while
        └── VoucherRateLimited       the per-number or per-IP limit was hit
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from simrenew.domain.auth import TooManyRequests
from simrenew.domain.cards import luhn_check_digit, luhn_valid
from simrenew.domain.errors import Conflict, DomainError, IllegalTransition, InvalidInput, NotFound
from simrenew.domain.money import Money

PIN_DIGITS = 16
PREFIX_DIGITS = 6
SEQUENCE_DIGITS = 6
SERIAL_DIGITS = PREFIX_DIGITS + SEQUENCE_DIGITS + 1
MAX_PREFIX = 10**PREFIX_DIGITS - 1
MAX_BATCH = 100_000  # a print run; also what one transaction comfortably writes

_SEPARATORS = re.compile(r"[\s\-]")

# --- errors ----------------------------------------------------------------------------


class VoucherPinMalformed(InvalidInput):
    code = "voucher_pin_malformed"
    template = "A voucher PIN is 16 digits."


class VoucherSerialInvalid(InvalidInput):
    code = "voucher_serial_invalid"
    template = "{serial!r} is not a voucher serial number: {reason}."


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    template = "No voucher with serial number {key!r}."


class VoucherPinInvalid(DomainError):
    # One answer for every PIN that matches nothing: telling "never existed" from
    # "mistyped" would help a guesser and nobody else.
    code = "voucher_pin_invalid"
    status = 400
    template = "The voucher PIN is wrong."


class VoucherUsed(Conflict):
    code = "voucher_used"
    template = "This voucher was already used."


class VoucherVoid(Conflict):
    code = "voucher_void"
    template = "This voucher has been cancelled and cannot be used."


class VoucherExpired(Conflict):
    code = "voucher_expired"
    template = "This voucher expired on {expired_on}."


class VoucherCurrencyMismatch(Conflict):
    code = "voucher_currency_mismatch"
    template = "This voucher is in {voucher_currency}; the order is in {order_currency}."


class VoucherValueTooSmall(Conflict):
    code = "voucher_value_too_small"
    template = "This voucher is worth {value}; the order costs {price}."


class VoucherOfferMismatch(Conflict):
    code = "voucher_offer_mismatch"
    template = "This voucher pays for {voucher_offer} only, not {order_offer}."


class VoucherLocked(TooManyRequests):
    code = "voucher_locked"
    template = (
        "Too many wrong voucher PINs for this number; vouchers can be used again in "
        "{retry_after} seconds."
    )


class VoucherRateLimited(TooManyRequests):
    code = "voucher_rate_limited"
    template = "Too many voucher attempts; retry in {retry_after} seconds."


# --- policy ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoucherPolicy:
    """The operator's knobs. ``pepper`` is the server secret the PINs are hashed
    under (setting ``voucher_pepper``); changing it makes every unused PIN unusable."""

    pepper: bytes = field(repr=False)
    max_failures: int = 5
    failure_window: timedelta = timedelta(hours=1)
    lock_for: timedelta = timedelta(hours=1)
    # The shared rate limiter, on top of the lock: per number against a botnet probing
    # one number, per IP against one client sweeping many numbers.
    tries_per_number: int = 10
    tries_per_ip: int = 30
    limit_window: timedelta = timedelta(hours=1)


# --- PINs and serials --------------------------------------------------------------------


def generate_pin() -> str:
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def format_pin(pin: str) -> str:
    """``1234-5678-9012-3456``: how a PIN is printed, in groups of four."""
    return "-".join(pin[i : i + 4] for i in range(0, len(pin), 4))


def normalize_pin(text: str) -> str:
    """The 16 digits of a PIN as typed (spaces and dashes allowed); raises
    ``VoucherPinMalformed``."""
    pin = _SEPARATORS.sub("", text)
    if len(pin) != PIN_DIGITS or not pin.isascii() or not pin.isdigit():
        raise VoucherPinMalformed()
    return pin


def hash_pin(pepper: bytes, pin: str) -> str:
    """The stored form of a PIN, and the key it is looked up by.

    A fast keyed hash, not Argon2, on purpose: the PIN is typed without its serial,
    so the voucher must be found by the hash itself, which rules out a per-row salt
    (and so the point of a slow hash). What protects the PINs instead: 16 random
    digits (10^16 candidates), guessing online only through the rate limits and the
    per-number lock, and a pepper that lives in the settings, not in the database, so
    a stolen database alone cannot be searched offline at all.
    """
    return hmac.new(pepper, f"voucher-pin\x1f{pin}".encode(), hashlib.sha256).hexdigest()


def make_serial(prefix: int, sequence: int) -> str:
    if not 1 <= prefix <= MAX_PREFIX:
        raise ValueError(f"batch prefix out of range: {prefix}")
    if not 1 <= sequence < 10**SEQUENCE_DIGITS:
        raise ValueError(f"voucher sequence out of range: {sequence}")
    payload = f"{prefix:0{PREFIX_DIGITS}d}{sequence:0{SEQUENCE_DIGITS}d}"
    return payload + luhn_check_digit(payload)


def format_serial(serial: str) -> str:
    """``000001-000042-7``: how a serial is printed."""
    return f"{serial[:PREFIX_DIGITS]}-{serial[PREFIX_DIGITS:-1]}-{serial[-1]}"


def parse_serial(text: str) -> str:
    """A serial as typed, printed form or bare digits; raises ``VoucherSerialInvalid``."""
    serial = _SEPARATORS.sub("", text)
    if len(serial) != SERIAL_DIGITS or not serial.isascii() or not serial.isdigit():
        raise VoucherSerialInvalid(serial=text, reason=f"it has {SERIAL_DIGITS} digits")
    if not luhn_valid(serial):
        raise VoucherSerialInvalid(serial=text, reason="the check digit does not match")
    return serial


# --- batches and vouchers --------------------------------------------------------------


class VoucherState(enum.StrEnum):
    """A voucher's life: ``issued`` (printed, not used) → ``redeemed`` (it paid an
    order) or ``void`` (cancelled by the operator: lost stock, a misprint). Both end
    states are final (``VOUCHER_TRANSITIONS``); ``VoucherState.check`` raises
    ``IllegalTransition`` for anything else."""

    ISSUED = "issued"
    REDEEMED = "redeemed"
    VOID = "void"

    @staticmethod
    def check(current: VoucherState, target: VoucherState) -> None:
        if target not in VOUCHER_TRANSITIONS[current]:
            raise IllegalTransition(entity="voucher", current=current.value, target=target.value)


VOUCHER_TRANSITIONS: dict[VoucherState, frozenset[VoucherState]] = {
    VoucherState.ISSUED: frozenset({VoucherState.REDEEMED, VoucherState.VOID}),
    VoucherState.REDEEMED: frozenset(),
    VoucherState.VOID: frozenset(),
}


@dataclass(frozen=True, slots=True)
class VoucherBatch:
    """One print run: ``count`` vouchers of one ``value`` or for one ``offer_code``."""

    id: str
    prefix: int
    currency: str
    count: int
    created_by: str
    created_at: datetime
    expires_at: datetime
    value: Money | None = None
    offer_code: str | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.offer_code is None):
            raise ValueError("a batch has a face value or an offer, not both and not neither")

    def describe(self) -> str:
        return self.value.display() if self.value is not None else f"offer {self.offer_code}"


@dataclass(frozen=True, slots=True)
class Voucher:
    """One card of a batch, with what its batch says it pays. The PIN is not here:
    only its hash is stored, and only the repository looks it up."""

    serial: str
    batch_id: str
    state: VoucherState
    currency: str
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    value: Money | None = None
    offer_code: str | None = None
    redeemed_order_id: str | None = None
    payment_id: str | None = None
    redeemed_at: datetime | None = None
    voided_at: datetime | None = None

    def redeem(self, order_id: str, payment_id: str, at: datetime) -> Voucher:
        VoucherState.check(self.state, VoucherState.REDEEMED)
        return replace(
            self,
            state=VoucherState.REDEEMED,
            redeemed_order_id=order_id,
            payment_id=payment_id,
            redeemed_at=at,
            updated_at=at,
        )

    def void(self, at: datetime) -> Voucher:
        VoucherState.check(self.state, VoucherState.VOID)
        return replace(self, state=VoucherState.VOID, voided_at=at, updated_at=at)

    def describe(self) -> str:
        return self.value.display() if self.value is not None else f"offer {self.offer_code}"


def check_redeemable(
    voucher: Voucher, *, price: Money, offer_code: str, now: datetime, expired_on: date
) -> None:
    """Raise the reason ``voucher`` cannot pay an order of ``offer_code`` at ``price``
    now: ``VoucherUsed``, ``VoucherVoid``, ``VoucherExpired``,
    ``VoucherOfferMismatch``, ``VoucherCurrencyMismatch`` or ``VoucherValueTooSmall``.
    ``expired_on`` is the expiry date as the buyer reads it (local time)."""
    if voucher.state is VoucherState.REDEEMED:
        raise VoucherUsed()
    if voucher.state is VoucherState.VOID:
        raise VoucherVoid()
    if now > voucher.expires_at:
        raise VoucherExpired(expired_on=expired_on.isoformat())
    if voucher.offer_code is not None:
        if voucher.offer_code != offer_code:
            raise VoucherOfferMismatch(voucher_offer=voucher.offer_code, order_offer=offer_code)
        return
    value = voucher.value
    if value is None:  # pragma: no cover - a batch has one or the other (constructor)
        raise AssertionError("a voucher without value or offer")
    if value.currency != price.currency:
        raise VoucherCurrencyMismatch(
            voucher_currency=value.currency, order_currency=price.currency
        )
    if value < price:
        raise VoucherValueTooSmall(value=value.display(), price=price.display())


# --- the per-number lock -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoucherGuard:
    """Wrong PINs tried for one number: ``failures`` since ``window_start``, and the
    end of a lock once ``max_failures`` were reached within ``failure_window``."""

    number: str
    failures: int = 0
    window_start: datetime | None = None
    locked_until: datetime | None = None


def check_not_locked(guard: VoucherGuard, now: datetime) -> None:
    """Raise ``VoucherLocked`` while the number is locked, whatever PIN is tried."""
    if guard.locked_until is not None and now < guard.locked_until:
        raise VoucherLocked(retry_after=max(-((now - guard.locked_until) // _SECOND), 1))


def after_failure(guard: VoucherGuard, now: datetime, policy: VoucherPolicy) -> VoucherGuard:
    """The guard after one more wrong PIN. Failures are counted in a window that
    starts at the first one; the ``max_failures``-th within it locks the number for
    ``lock_for`` and starts the count afresh (the next wrong PIN after the lock
    starts a new window)."""
    if guard.window_start is None or now >= guard.window_start + policy.failure_window:
        failures, start = 1, now
    else:
        failures, start = guard.failures + 1, guard.window_start
    if failures >= policy.max_failures:
        return replace(guard, failures=0, window_start=None, locked_until=now + policy.lock_for)
    return replace(guard, failures=failures, window_start=start)


_SECOND = timedelta(seconds=1)
