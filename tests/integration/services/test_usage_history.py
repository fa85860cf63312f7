"""Data used per day for a card's owner: Hong Kong days, every day present, only data,
only the owner's card; and the offer names the card pages show."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from simrenew.bootstrap import App
from simrenew.domain.accounts import Subscriber
from simrenew.domain.catalog import BucketKind
from simrenew.domain.errors import CardNotFound
from simrenew.services import auth
from simrenew.services.usage import record_usage
from simrenew.services.usage_history import DailyUsage, daily_data_usage, offer_names
from tests.integration.services.test_auth import IP, latest_code
from tests.support import HKT, renew

ONE2 = "+85251234567"
OTHER = "+85261234567"
TODAY = date(2026, 11, 22)  # tests.support.START, in Hong Kong


def owner(app: App, number: str) -> Subscriber:
    auth.request_login_code(app.ctx, number, IP)
    return auth.verify_login_code(app.ctx, number, latest_code(app, number)).subscriber


def use(
    app: App,
    record_id: str,
    at: datetime,
    amount: int,
    *,
    zone: str = "HK",
    kind: BucketKind = BucketKind.DATA_MB,
    card: str = ONE2,
) -> None:
    record_usage(
        app.ctx, record_id=record_id, card_key=card, zone=zone, kind=kind, amount=amount, at=at
    )


def hk(*args: int) -> datetime:
    return datetime(*args, tzinfo=HKT)  # type: ignore[misc]


def test_every_day_is_there_oldest_first_with_zeros(app: App) -> None:
    order = renew(app, ONE2, "ONE2-M1")
    usage = daily_data_usage(app.ctx, owner(app, ONE2), order.card_id)
    assert len(usage) == 30
    assert usage[0] == DailyUsage(TODAY - timedelta(days=29), 0)
    assert usage[-1] == DailyUsage(TODAY, 0)
    assert [u.day for u in usage] == [TODAY - timedelta(days=29 - i) for i in range(30)]


def test_days_are_hong_kong_days_summed_over_zones_data_only(app: App) -> None:
    order = renew(app, ONE2, "ONE2-M1")
    # The last second of 21 November and the first of 22 November, Hong Kong time
    # (16:00 UTC on the 21st): one day apart although the same UTC date.
    use(app, "late", hk(2026, 11, 21, 23, 59, 59), 100)
    use(app, "midnight", hk(2026, 11, 22, 0, 0, 0), 40)
    use(app, "mainland", hk(2026, 11, 22, 9, 0), 2, zone="CN")
    use(app, "calls", hk(2026, 11, 22, 9, 30), 7, kind=BucketKind.VOICE_MIN)
    # The window's edges: 24 October 00:00 is in, the second before it is out.
    use(app, "first", hk(2026, 10, 24, 0, 0, 0), 5)
    use(app, "before", hk(2026, 10, 23, 23, 59, 59), 999)
    # Another card's use is not this card's.
    renew(app, OTHER, "ONE2-M1")
    use(app, "other", hk(2026, 11, 22, 8, 0), 300, card=OTHER)

    usage = {u.day: u.megabytes for u in daily_data_usage(app.ctx, owner(app, ONE2), order.card_id)}
    assert usage[date(2026, 11, 21)] == 100
    assert usage[date(2026, 11, 22)] == 42
    assert usage[date(2026, 10, 24)] == 5
    assert date(2026, 10, 23) not in usage
    assert sum(usage.values()) == 147


def test_one_day_is_today(app: App) -> None:
    order = renew(app, ONE2, "ONE2-M1")
    use(app, "today", hk(2026, 11, 22, 0, 0, 0), 12)
    use(app, "yesterday", hk(2026, 11, 21, 12, 0), 30)
    subscriber = owner(app, ONE2)
    assert daily_data_usage(app.ctx, subscriber, order.card_id, days=1) == [DailyUsage(TODAY, 12)]
    with pytest.raises(ValueError):
        daily_data_usage(app.ctx, subscriber, order.card_id, days=0)


def test_someone_elses_card_is_not_found(app: App) -> None:
    order = renew(app, ONE2, "ONE2-M1")
    use(app, "mine", hk(2026, 11, 22, 9, 0), 10)
    stranger = owner(app, OTHER)
    with pytest.raises(CardNotFound):
        daily_data_usage(app.ctx, stranger, order.card_id)


def test_offer_names_by_version_and_current_unknown_ones_left_out(app: App) -> None:
    names = offer_names(
        app.ctx, [("ONE2-M1", None), ("ONE2-M1", 1), ("NOPE", None), ("ONE2-M1", 99)]
    )
    assert names[("ONE2-M1", None)].en == "Monthly Plan"
    assert names[("ONE2-M1", 1)].zh_hant == "月費計劃"
    assert set(names) == {("ONE2-M1", None), ("ONE2-M1", 1)}
