"""The janitor's re-check schedule: 5 minutes, 1 hour, then daily for 7 days from a
payment's start, then a person looks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simrenew.domain.payments import (
    RECHECK_SCHEDULE,
    checks_due_by,
    next_recheck,
    recheck_after,
)
from tests.unit.domain.builders import hk

START = hk(2026, 11, 22, 10)

starts = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
checks = st.integers(min_value=0, max_value=len(RECHECK_SCHEDULE) + 5)
# Anywhere from before the start to well after the schedule is over.
elapsed = st.timedeltas(min_value=timedelta(minutes=-10), max_value=timedelta(days=10))


def test_the_schedule_is_5_minutes_1_hour_then_daily_for_7_days() -> None:
    expected = [
        timedelta(minutes=5),
        timedelta(hours=1),
        *(timedelta(days=day) for day in range(1, 8)),
    ]
    assert [recheck_after(START, n) for n in range(9)] == [START + e for e in expected]
    assert len(RECHECK_SCHEDULE) == 9


@pytest.mark.parametrize("checks_done", [9, 10, 100])
def test_after_nine_checks_the_schedule_is_over(checks_done: int) -> None:
    assert recheck_after(START, checks_done) is None


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        recheck_after(START, -1)


@given(started_at=starts, checks_done=checks)
@settings(max_examples=300, deadline=None)
def test_each_check_comes_after_the_one_before_and_the_schedule_ends(
    started_at: datetime, checks_done: int
) -> None:
    current = recheck_after(started_at, checks_done)
    following = recheck_after(started_at, checks_done + 1)
    if current is None:
        assert following is None  # once over, it stays over
        assert checks_done >= 9
    else:
        assert started_at < current <= started_at + timedelta(days=7)
        assert following is None or current < following


@given(started_at=starts, since_start=elapsed)
@settings(max_examples=300, deadline=None)
def test_after_a_check_the_next_one_is_the_first_scheduled_time_after_it(
    started_at: datetime, since_start: timedelta
) -> None:
    now = started_at + since_start
    upcoming = next_recheck(started_at, now)
    due = checks_due_by(started_at, now)
    assert 0 <= due <= 9
    if upcoming is None:
        # Over only once the last check (day 7) is due.
        assert now >= started_at + timedelta(days=7)
        assert due == 9
    else:
        assert upcoming > now
        # No scheduled time is skipped: the one before it (if any) was due already.
        earlier = [recheck_after(started_at, n) for n in range(due)]
        assert all(at is not None and at <= now for at in earlier)


@given(started_at=starts, checks_done=st.integers(min_value=0, max_value=8))
@settings(max_examples=200, deadline=None)
def test_a_janitor_on_time_makes_exactly_the_nine_checks(
    started_at: datetime, checks_done: int
) -> None:
    at = recheck_after(started_at, checks_done)
    assert at is not None
    # Checked exactly when due: the next is the next in the schedule.
    assert next_recheck(started_at, at) == recheck_after(started_at, checks_done + 1)


@given(started_at=starts, a=elapsed, b=elapsed)
@settings(max_examples=300, deadline=None)
def test_checks_due_never_decrease_with_time(
    started_at: datetime, a: timedelta, b: timedelta
) -> None:
    early, late = sorted((a, b))
    assert checks_due_by(started_at, started_at + early) <= checks_due_by(
        started_at, started_at + late
    )


def test_a_late_janitor_does_not_catch_up_with_a_burst_of_checks() -> None:
    # The worker was down for three days: one check now, the next one at day 4.
    now = START + timedelta(days=3, hours=2)
    assert next_recheck(START, now) == START + timedelta(days=4)


def test_extra_checks_in_the_first_minutes_do_not_use_up_the_schedule() -> None:
    for minute in range(1, 5):
        assert next_recheck(START, START + timedelta(minutes=minute)) == START + timedelta(
            minutes=5
        )
