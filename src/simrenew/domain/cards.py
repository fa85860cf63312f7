"""Cards: identifiers, numbers and the lifecycle ``in_stock → active → grace → terminated``."""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import phonenumbers

from simrenew.domain.errors import IllegalTransition, InvalidEid, InvalidIccid, InvalidNumber


class CardState(enum.StrEnum):
    """Where a card is in its life.

    ``in_stock``   never used; the first renewal activates it.
    ``active``     in service until 23:59:59 Hong Kong time of its validity end.
    ``grace``      validity passed: outgoing service stopped, renewal reactivates at once.
    ``terminated`` grace passed: the numbers go to a cooling-off pool; renewal is refused.

    ``CardState.check(current, target)`` raises ``IllegalTransition`` for any move
    that ``CARD_TRANSITIONS`` does not list.
    """

    IN_STOCK = "in_stock"
    ACTIVE = "active"
    GRACE = "grace"
    TERMINATED = "terminated"

    @staticmethod
    def check(current: CardState, target: CardState) -> None:
        if target not in CARD_TRANSITIONS[current]:
            raise IllegalTransition(entity="card", current=current.value, target=target.value)


CARD_TRANSITIONS: dict[CardState, frozenset[CardState]] = {
    CardState.IN_STOCK: frozenset({CardState.ACTIVE, CardState.TERMINATED}),
    CardState.ACTIVE: frozenset({CardState.GRACE, CardState.TERMINATED}),
    CardState.GRACE: frozenset({CardState.ACTIVE, CardState.TERMINATED}),
    CardState.TERMINATED: frozenset(),
}

RENEWABLE_STATES = frozenset({CardState.IN_STOCK, CardState.ACTIVE, CardState.GRACE})


class FormFactor(enum.StrEnum):
    PHYSICAL = "physical"
    ESIM = "esim"


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn check."""
    for digit in "0123456789":
        if luhn_valid(payload + digit):
            return digit
    raise AssertionError("unreachable: one of ten digits always fits")


def validate_iccid(text: str) -> str:
    iccid = text.strip().replace(" ", "")
    if not iccid.isascii() or not iccid.isdigit():
        raise InvalidIccid(iccid=text, reason="only digits are allowed")
    if len(iccid) not in (19, 20):
        raise InvalidIccid(iccid=text, reason="it must be 19 or 20 digits")
    if not iccid.startswith("89"):
        raise InvalidIccid(iccid=text, reason="it must start with 89 (telecom)")
    if not luhn_valid(iccid):
        raise InvalidIccid(iccid=text, reason="the Luhn check digit is wrong")
    return iccid


def eid_valid(eid: str) -> bool:
    # GSMA SGP.29: the last two digits are ISO 7064 MOD 97-10 check digits, so that
    # the whole 32-digit number mod 97 is 1 (the IBAN scheme).
    return len(eid) == 32 and eid.isascii() and eid.isdigit() and int(eid) % 97 == 1


def eid_with_check_digits(first_30: str) -> str:
    check = 98 - (int(first_30 + "00") % 97)
    return f"{first_30}{check:02d}"


def validate_eid(text: str) -> str:
    eid = text.strip()
    if not eid_valid(eid):
        raise InvalidEid(eid=text)
    return eid


_ALLOWED_REGIONS = {"HK", "CN"}
MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def parse_typed_number(text: str) -> phonenumbers.PhoneNumber:
    """A number as people type it here: international (``+`` or ``00``), or local
    without a prefix — 8 digits are Hong Kong, 11 starting with 1 are Mainland.
    Raises ``InvalidNumber`` if it cannot be read; it is not checked further."""
    raw = "".join(ch for ch in text.strip() if ch not in " -()")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if not raw.startswith("+"):
        if len(raw) == 8:
            raw = "+852" + raw
        elif len(raw) == 11 and raw.startswith("1"):
            raw = "+86" + raw
        else:
            raise InvalidNumber(number=text)
    try:
        return phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(number=text) from exc


@functools.lru_cache(maxsize=65536)
def normalize_number(text: str) -> str:
    """A Hong Kong or Mainland mobile number in E.164.

    Accepts ``+852 9123 4567``, ``91234567`` (8 digits: Hong Kong), ``13800138000``
    (11 digits starting with 1: Mainland) and the ``00`` international prefix.
    Cached: parsing with phonenumbers costs more than a database round trip.
    """
    parsed = parse_typed_number(text)
    region = phonenumbers.region_code_for_number(parsed)
    if (
        region not in _ALLOWED_REGIONS
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.number_type(parsed) not in MOBILE_TYPES
    ):
        raise InvalidNumber(number=text)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_number(e164: str) -> str:
    """``+852****4567``: enough for the owner to recognise, useless to anyone else."""
    return f"{e164[:-8] if len(e164) > 8 else ''}****{e164[-4:]}"


@dataclass(frozen=True, slots=True)
class CardTransition:
    """A recorded lifecycle move; every one has a reason and an actor."""

    card_id: str
    from_state: CardState
    to_state: CardState
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    iccid: str
    primary_number: str
    product_line: str
    form_factor: FormFactor = FormFactor.PHYSICAL
    state: CardState = CardState.IN_STOCK
    validity_end: date | None = None
    state_since: datetime | None = None
    second_number: str | None = None
    eid: str | None = None
    imsi: str | None = None
    balance_minor: int = 0
    language: str = "zh-Hant"
    email: str | None = None
    renewal_count: int = 0
    transitions: tuple[CardTransition, ...] = field(default=(), compare=False)

    @property
    def numbers(self) -> tuple[str, ...]:
        return (self.primary_number,) + ((self.second_number,) if self.second_number else ())

    def move_to(self, target: CardState, *, reason: str, actor: str, at: datetime) -> Card:
        """The card in ``target`` with the transition recorded; raises ``IllegalTransition``."""
        CardState.check(self.state, target)
        transition = CardTransition(self.id, self.state, target, reason, actor, at)
        return replace(
            self, state=target, state_since=at, transitions=(*self.transitions, transition)
        )
