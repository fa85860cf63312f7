from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simrenew.domain.errors import CurrencyMismatch, InvalidMoney
from simrenew.domain.money import Money

# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("88", 8800),
        ("88.5", 8850),
        ("88.50", 8850),
        ("0.01", 1),
        ("0", 0),
        ("1000.00", 100_000),
        (" 88.00 ", 8800),
        ("-1.5", -150),
    ],
)
def test_parse_is_exact(text: str, minor: int) -> None:
    assert Money.parse(text, "HKD") == Money(minor, "HKD")


def test_parse_of_an_int_is_major_units() -> None:
    assert Money.parse(88, "CNY") == Money(8800, "CNY")


@pytest.mark.parametrize("text", ["88.555", "0.001", "abc", "", "88,50", "1e3", "88.", ".5", "+5"])
def test_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(InvalidMoney) as caught:
        Money.parse(text, "HKD")
    assert caught.value.code == "invalid_money"


@pytest.mark.parametrize("value", [88.5, 88.0, True, False, None, [88]])
def test_parse_rejects_non_text_values(value: Any) -> None:
    with pytest.raises(InvalidMoney):
        Money.parse(value, "HKD")


@pytest.mark.parametrize("currency", ["USD", "hkd", "", "RMB"])
def test_parse_rejects_unknown_currency(currency: str) -> None:
    with pytest.raises(InvalidMoney) as caught:
        Money.parse("88", currency)
    assert "HKD or CNY" in caught.value.message


@pytest.mark.parametrize("amount", [1.5, 100.0, True, "100"])
def test_money_itself_only_takes_integer_minor_units(amount: Any) -> None:
    with pytest.raises(InvalidMoney):
        Money(amount, "HKD")


def test_money_rejects_unknown_currency() -> None:
    with pytest.raises(InvalidMoney):
        Money(100, "USD")


# --- arithmetic ------------------------------------------------------------------------------


def test_add_and_subtract_in_one_currency() -> None:
    assert Money(8800, "HKD") + Money(1250, "HKD") == Money(10_050, "HKD")
    assert Money(8800, "HKD") - Money(1250, "HKD") == Money(7550, "HKD")
    assert -Money(150, "CNY") == Money(-150, "CNY")


@pytest.mark.parametrize("operation", [operator.add, operator.sub])
def test_arithmetic_across_currencies_raises(operation: Callable[[Money, Money], Money]) -> None:
    left, right = Money(100, "HKD"), Money(100, "CNY")
    with pytest.raises(CurrencyMismatch) as caught:
        operation(left, right)
    assert caught.value.code == "currency_mismatch"
    assert caught.value.params == {"left": "HKD", "right": "CNY"}


@pytest.mark.parametrize(
    ("minor", "percent", "expected"),
    [
        (8800, 15, 1320),
        (101, 50, 51),  # 50.5 rounds half up
        (99, 50, 50),  # 49.5 rounds half up
        (150, 1, 2),  # 1.5 rounds half up
        (149, 1, 1),  # 1.49 rounds down
        (8800, 0, 0),
        (8800, 100, 8800),
        (1, 49, 0),  # 0.49
    ],
)
def test_percent_rounds_half_up(minor: int, percent: int, expected: int) -> None:
    assert Money(minor, "HKD").percent(percent) == Money(expected, "HKD")


@given(minor=st.integers(0, 10**9), percent=st.integers(0, 100))
@settings(max_examples=200, deadline=None)
def test_percent_is_the_nearest_minor_unit(minor: int, percent: int) -> None:
    result = Money(minor, "HKD").percent(percent).amount_minor
    exact_times_100 = minor * percent
    # |result - exact| <= 0.5, and exactly 0.5 only when rounding up.
    assert -50 < result * 100 - exact_times_100 <= 50


def test_zero_and_ordering() -> None:
    assert Money.zero("CNY") == Money(0, "CNY")
    assert Money.zero("CNY").is_zero()
    assert not Money(1, "CNY").is_zero()
    assert Money(100, "HKD") < Money(200, "HKD")


# --- display ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(8800, "HKD"), "HK$88.00"),
        (Money(3000, "CNY"), "¥30.00"),
        (Money(1, "HKD"), "HK$0.01"),
        (Money(0, "CNY"), "¥0.00"),
        (Money(100_050, "HKD"), "HK$1000.50"),
        (Money(-150, "HKD"), "-HK$1.50"),
    ],
)
def test_display(money: Money, shown: str) -> None:
    assert money.display() == shown
    assert str(money) == shown


def test_decimal_str() -> None:
    assert Money(8850, "HKD").decimal_str() == "88.50"
    assert Money(-5, "CNY").decimal_str() == "-0.05"


@given(minor=st.integers(-(10**12), 10**12), currency=st.sampled_from(["HKD", "CNY"]))
@settings(max_examples=200, deadline=None)
def test_decimal_str_parses_back_to_the_same_money(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.decimal_str(), currency) == money
