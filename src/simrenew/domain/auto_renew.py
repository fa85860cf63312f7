"""When auto-renew tries, and what each try may lead to.

A card's validity ends at the first second of the day after ``validity_end`` in Hong
Kong time. Auto-renew tries 24 h, 12 h and 2 h before that moment, and once more one
day into grace; each failure is told to the subscriber, and after the last one
auto-renew pauses (SPEC "Auto-renew"). Every try of a period belongs to that period:
a try whose period is no longer the card's (renewed by hand meanwhile) does nothing.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta, tzinfo

from simrenew.domain.timeutil import start_of_day


class AutoRenewTry(enum.IntEnum):
    """The tries of one period, in order; the value is the try's number."""

    DAY_BEFORE = 1  # 24 h before validity ends
    HALF_DAY_BEFORE = 2  # 12 h before
    HOURS_BEFORE = 3  # 2 h before
    IN_GRACE = 4  # 1 day into grace: the last

    @property
    def offset(self) -> timedelta:
        """When this try is due, from the moment validity ends."""
        return _OFFSETS[self]

    @property
    def is_last(self) -> bool:
        return self is AutoRenewTry.IN_GRACE

    def next(self) -> AutoRenewTry | None:
        return None if self.is_last else AutoRenewTry(self.value + 1)


_OFFSETS = {
    AutoRenewTry.DAY_BEFORE: -timedelta(hours=24),
    AutoRenewTry.HALF_DAY_BEFORE: -timedelta(hours=12),
    AutoRenewTry.HOURS_BEFORE: -timedelta(hours=2),
    AutoRenewTry.IN_GRACE: timedelta(days=1),
}


def validity_ends_at(validity_end: date, tz: tzinfo) -> datetime:
    """The instant (UTC) a card valid through ``validity_end`` stops being valid."""
    return start_of_day(validity_end + timedelta(days=1), tz)


def try_due_at(validity_end: date, attempt: AutoRenewTry, tz: tzinfo) -> datetime:
    return validity_ends_at(validity_end, tz) + attempt.offset


def order_key(card_id: str, validity_end: date, attempt: AutoRenewTry) -> str:
    """The idempotency key of a try's order: a try run twice orders once."""
    return f"{order_key_prefix(card_id, validity_end)}{attempt.value}"


def order_key_prefix(card_id: str, validity_end: date) -> str:
    """What every try's order key of one period starts with."""
    return f"auto-renew:{card_id}:{validity_end.isoformat()}:"


class AutoRenewOutcome(enum.StrEnum):
    RENEWED = "renewed"  # this try paid; fulfilment put the plan on the card
    ALREADY_RENEWED = "already_renewed"  # an earlier try of the period paid
    NOT_DUE = "not_due"  # off, or the period is no longer the card's: nothing done
    IN_DOUBT = "in_doubt"  # a charge of the period is still undecided: not charged again
    FAILED = "failed"  # declined or refused; the subscriber is told of the next try
    PAUSED = "paused"  # the last try failed: auto-renew is off until turned on again
