"""The money ledger: immutable entries; the balance is their sum and never below zero."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from simrenew.domain.errors import CurrencyMismatch, InsufficientBalance
from simrenew.domain.money import Money


class EntryKind(enum.StrEnum):
    TOP_UP = "top_up"  # a credit offer paid for
    PROMOTION = "promotion"  # bonus value
    CHARGE = "charge"  # spent on usage or on an offer paid from balance
    ADJUSTMENT = "adjustment"  # staff correction, with approval
    REFUND = "refund"  # value taken back when its payment is refunded


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement of stored value. Never updated; a correction is a new entry."""

    id: str
    card_id: str
    kind: EntryKind
    amount: Money  # positive adds value, negative takes it
    balance_after: Money
    reason: str
    order_id: str | None
    at: datetime


def post(
    balance: Money,
    *,
    entry_id: str,
    card_id: str,
    kind: EntryKind,
    amount: Money,
    reason: str,
    order_id: str | None,
    at: datetime,
) -> LedgerEntry:
    """The entry moving ``balance`` by ``amount``; raises if it would go below zero."""
    if amount.currency != balance.currency:
        raise CurrencyMismatch(left=balance.currency, right=amount.currency)
    after = balance + amount
    if after.amount_minor < 0:
        raise InsufficientBalance(balance=balance.display(), amount=(-amount).display())
    return LedgerEntry(entry_id, card_id, kind, amount, after, reason, order_id, at)


def balance_of(entries: Iterable[LedgerEntry], currency: str) -> Money:
    total = Money.zero(currency)
    for entry in entries:
        total = total + entry.amount
    return total
