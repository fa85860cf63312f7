from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simrenew.domain.timeutil import (
    ONE_DAY,
    add_months,
    days_between,
    end_of_day,
    local_date,
    require_aware,
    start_of_day,
)
from tests.unit.domain.builders import HK


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 15), 1, date(2026, 2, 15)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 6, 10), 12, date(2027, 6, 10)),
        (date(2026, 6, 10), 25, date(2028, 7, 10)),
        (date(2026, 6, 10), 0, date(2026, 6, 10)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 10), -1, date(2025, 12, 10)),
    ],
)
def test_add_months_clamps_to_the_end_of_a_short_month(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    months=st.integers(0, 36),
)
@settings(max_examples=200, deadline=None)
def test_add_months_lands_in_the_right_month_on_the_right_day(start: date, months: int) -> None:
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    last = calendar.monthrange(result.year, result.month)[1]
    assert result.day == min(start.day, last)


def test_end_of_day_in_hong_kong_is_15_59_59_utc() -> None:
    assert end_of_day(date(2026, 6, 30), HK) == datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC)
    assert end_of_day(date(2026, 6, 30), HK).tzinfo is UTC


def test_start_of_day_in_hong_kong_is_16_00_utc_the_day_before() -> None:
    assert start_of_day(date(2026, 7, 1), HK) == datetime(2026, 6, 30, 16, 0, tzinfo=UTC)


def test_end_of_day_in_another_zone() -> None:
    minus_five = timezone(timedelta(hours=-5))
    assert end_of_day(date(2026, 6, 30), minus_five) == datetime(2026, 7, 1, 4, 59, 59, tzinfo=UTC)


def test_local_date_crosses_midnight_in_hong_kong() -> None:
    assert local_date(datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC), HK) == date(2026, 6, 30)
    assert local_date(datetime(2026, 6, 30, 16, 0, tzinfo=UTC), HK) == date(2026, 7, 1)


def test_days_between_is_inclusive() -> None:
    assert days_between(date(2026, 6, 1), date(2026, 6, 1)) == 1
    assert days_between(date(2026, 6, 1), date(2026, 6, 30)) == 30
    assert days_between(date(2028, 1, 1), date(2028, 12, 31)) == 366


def test_require_aware() -> None:
    aware = datetime(2026, 6, 1, tzinfo=UTC)
    assert require_aware(aware) is aware
    with pytest.raises(ValueError, match="naive"):
        require_aware(datetime(2026, 6, 1))


def test_one_day() -> None:
    assert timedelta(days=1) == ONE_DAY
