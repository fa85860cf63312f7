"""Time at the edges of a day in the operator's time zone.

Inside, every instant is timezone-aware UTC; a validity end is a local *date* whose
last second (23:59:59 local time) is the moment service ends.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo


def add_months(start: date, months: int) -> date:
    """``start`` plus whole calendar months; a day past the month's end is clamped."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def end_of_day(day: date, tz: tzinfo) -> datetime:
    """The last second of ``day`` in ``tz``, as UTC: when a validity ends."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def start_of_day(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC)


def local_date(instant: datetime, tz: tzinfo) -> date:
    return instant.astimezone(tz).date()


def days_between(first: date, last: date) -> int:
    """Inclusive count of days from ``first`` to ``last``."""
    return (last - first).days + 1


def require_aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("naive datetime: every instant inside simrenew is timezone-aware")
    return instant


ONE_DAY = timedelta(days=1)
