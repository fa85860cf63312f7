from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simrenew.domain.errors import CurrencyMismatch, InsufficientBalance
from simrenew.domain.ledger import EntryKind, LedgerEntry, balance_of, post
from simrenew.domain.money import Money
from tests.unit.domain.builders import hk, hkd

AT = hk(2026, 3, 1)


def _post(balance: Money, amount: Money, *, entry_id: str = "led_1") -> LedgerEntry:
    kind = EntryKind.TOP_UP if amount.amount_minor >= 0 else EntryKind.CHARGE
    return post(
        balance,
        entry_id=entry_id,
        card_id="card_1",
        kind=kind,
        amount=amount,
        reason="test",
        order_id="ord_1",
        at=AT,
    )


def test_a_top_up_entry_carries_the_new_balance() -> None:
    entry = _post(hkd("20"), hkd("100"))

    assert entry.amount == hkd("100")
    assert entry.balance_after == hkd("120")
    assert (entry.id, entry.card_id, entry.kind) == ("led_1", "card_1", EntryKind.TOP_UP)
    assert (entry.reason, entry.order_id, entry.at) == ("test", "ord_1", AT)


def test_a_charge_may_take_the_balance_to_exactly_zero() -> None:
    entry = _post(hkd("12.50"), -hkd("12.50"))
    assert entry.balance_after == hkd("0")


def test_a_charge_beyond_the_balance_is_refused() -> None:
    with pytest.raises(InsufficientBalance) as caught:
        _post(hkd("12.50"), -hkd("12.51"))
    assert caught.value.code == "insufficient_balance"
    assert caught.value.params == {"balance": "HK$12.50", "amount": "HK$12.51"}


def test_an_entry_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        _post(hkd("10"), Money(100, "CNY"))


def test_entries_are_immutable() -> None:
    entry = _post(hkd("0"), hkd("50"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.amount = hkd("5000")  # type: ignore[misc]


def test_balance_of_sums_the_entries() -> None:
    first = _post(hkd("0"), hkd("100"), entry_id="a")
    second = _post(first.balance_after, -hkd("30.25"), entry_id="b")
    assert balance_of([first, second], "HKD") == hkd("69.75")
    assert balance_of([], "CNY") == Money.zero("CNY")


@given(amounts=st.lists(st.integers(-20_000, 20_000), max_size=40))
@settings(max_examples=200, deadline=None)
def test_the_balance_is_the_sum_of_the_applied_entries_and_never_negative(
    amounts: list[int],
) -> None:
    balance = Money.zero("HKD")
    entries: list[LedgerEntry] = []
    for index, minor in enumerate(amounts):
        amount = Money(minor, "HKD")
        if balance.amount_minor + minor < 0:
            with pytest.raises(InsufficientBalance):
                _post(balance, amount, entry_id=f"led_{index}")
            continue  # refused: nothing applied
        entry = _post(balance, amount, entry_id=f"led_{index}")
        assert entry.balance_after == balance + amount
        entries.append(entry)
        balance = entry.balance_after

    assert sum(e.amount.amount_minor for e in entries) == balance.amount_minor
    assert balance_of(entries, "HKD") == balance
    assert all(e.balance_after.amount_minor >= 0 for e in entries)
    assert len({e.id for e in entries}) == len(entries)
    # Each balance_after is the running sum of the entries up to it.
    running = 0
    for entry in entries:
        running += entry.amount.amount_minor
        assert entry.balance_after.amount_minor == running
