"""Usage from the network feed: taken from the buckets valid for the zone, earliest
expiry first; a record fed twice counts once; what no bucket covers is overage."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.domain.buckets import Bucket
from simrenew.domain.catalog import BucketKind
from simrenew.domain.errors import CardNotFound
from simrenew.domain.orders import Order
from simrenew.services.usage import UsageApplied, record_usage
from tests.support import HKT, START, renew

ONE2 = "+85251234567"
HKDATA = "+85251234569"
DATA, VOICE, SMS = BucketKind.DATA_MB, BucketKind.VOICE_MIN, BucketKind.SMS


def _use(
    app: App,
    record_id: str,
    zone: str,
    amount: int,
    *,
    card: str = ONE2,
    kind: BucketKind = DATA,
    at: datetime = START,
) -> UsageApplied:
    return record_usage(
        app.ctx, record_id=record_id, card_key=card, zone=zone, kind=kind, amount=amount, at=at
    )


def _buckets(app: App, order: Order, kind: BucketKind = DATA) -> list[Bucket]:
    with app.uow(write=False) as uow:
        return [
            b for b in uow.cards.buckets(order.card_id) if b.order_id == order.id and b.kind is kind
        ]


def _used(app: App, order: Order, kind: BucketKind = DATA) -> int:
    return sum(b.used for b in _buckets(app, order, kind))


def test_the_bucket_expiring_first_is_used_first_even_if_bought_last(app: App) -> None:
    # Monthly plan (GBA data until 2026-12-21, with the first-renewal bonus), then a
    # Mainland add-on bought later that expires sooner (2026-11-28).
    plan = renew(app, ONE2, "ONE2-M1")
    addon = renew(app, ONE2, "ONE2-ADD1G-CN")
    assert [b.valid_until for b in _buckets(app, addon)] == [
        datetime(2026, 11, 28, 23, 59, 59, tzinfo=HKT)
    ]
    assert {b.valid_until for b in _buckets(app, plan)} == {
        datetime(2026, 12, 21, 23, 59, 59, tzinfo=HKT)
    }

    assert _use(app, "r-1", "CN", 1500) == UsageApplied(duplicate=False, overage=0)

    assert _used(app, addon) == 1024
    assert _used(app, plan) == 476
    # Hong Kong usage cannot touch the Mainland-only add-on, which is empty anyway.
    assert _use(app, "r-2", "HK", 24) == UsageApplied(False, 0)
    assert (_used(app, addon), _used(app, plan)) == (1024, 500)


def test_an_earlier_plan_bucket_is_emptied_before_a_later_add_on(app: App) -> None:
    plan = renew(app, HKDATA, "HKDATA-D7")  # HK 10,240 MB until 2026-11-28
    addon = renew(app, HKDATA, "HKDATA-ADD10G")  # HK 10,240 MB until 2026-12-21

    assert _use(app, "h-1", "HK", 12000, card=HKDATA) == UsageApplied(False, 0)

    assert (_used(app, plan), _used(app, addon)) == (10240, 1760)


def test_a_record_fed_twice_counts_once(app: App) -> None:
    plan = renew(app, ONE2, "ONE2-D7")

    assert _use(app, "dup-1", "HK", 300) == UsageApplied(False, 0)
    assert _use(app, "dup-1", "HK", 300) == UsageApplied(duplicate=True, overage=0)
    # Same id, other content: still the same record, still ignored.
    assert _use(app, "dup-1", "CN", 999) == UsageApplied(duplicate=True, overage=0)

    assert _used(app, plan) == 300
    with app.engine.connect() as connection:
        rows = connection.execute(select(tables.usage_records)).all()
    assert [(r.record_id, r.zone, r.amount, r.overage) for r in rows] == [("dup-1", "HK", 300, 0)]


def test_usage_beyond_the_buckets_is_overage_and_no_bucket_goes_negative(app: App) -> None:
    plan = renew(app, ONE2, "ONE2-D1")  # GBA 1,024 MB

    assert _use(app, "o-1", "HK", 1500) == UsageApplied(False, 476)
    assert _use(app, "o-2", "CN", 100) == UsageApplied(False, 100)
    assert _use(app, "o-3", "MO", 0) == UsageApplied(False, 0)

    (bucket,) = _buckets(app, plan)
    assert (bucket.used, bucket.left) == (1024, 0)
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(tables.usage_records.c.record_id, tables.usage_records.c.overage).order_by(
                tables.usage_records.c.record_id
            )
        ).all()
    assert [tuple(r) for r in rows] == [("o-1", 476), ("o-2", 100), ("o-3", 0)]


def test_a_card_with_no_buckets_has_all_usage_as_overage(app: App) -> None:
    assert _use(app, "n-1", "HK", 10) == UsageApplied(False, 10)


@pytest.mark.parametrize("zone", ["HK", "CN", "MO"])
def test_a_gba_bucket_covers_hong_kong_the_mainland_and_macau(app: App, zone: str) -> None:
    plan = renew(app, ONE2, "ONE2-D1")  # GBA 1,024 MB

    assert _use(app, f"z-{zone}", zone, 1000) == UsageApplied(False, 0)

    assert _used(app, plan) == 1000


def test_a_single_zone_bucket_covers_only_its_zone(app: App) -> None:
    plan = renew(app, ONE2, "ONE2-D1")  # GBA 1,024 MB until 2026-11-22
    addon = renew(app, ONE2, "ONE2-ADD1G-CN")  # CN 1,024 MB until 2026-11-28

    assert _use(app, "m-1", "MO", 1500) == UsageApplied(False, 476)  # GBA only; not CN
    assert (_used(app, plan), _used(app, addon)) == (1024, 0)
    assert _use(app, "c-1", "CN", 500) == UsageApplied(False, 0)
    assert _used(app, addon) == 500
    assert _use(app, "h-1", "HK", 10) == UsageApplied(False, 10)


def test_each_kind_uses_only_its_own_buckets(app: App) -> None:
    plan = renew(app, ONE2, "ONE2-D7")  # data GBA, voice HK 100 and CN 100, no SMS

    assert _use(app, "v-1", "HK", 120, kind=VOICE) == UsageApplied(False, 20)
    assert _use(app, "s-1", "HK", 3, kind=SMS) == UsageApplied(False, 3)

    assert _used(app, plan, DATA) == 0
    voice = {b.zone: b.used for b in _buckets(app, plan, VOICE)}
    assert voice == {"HK": 100, "CN": 0}


def test_a_bucket_counts_only_while_it_is_valid(app: App) -> None:
    plan = renew(app, ONE2, "ONE2-D1")  # until 2026-11-22 23:59:59 Hong Kong time
    queued = renew(app, ONE2, "ONE2-D7")  # from 2026-11-23 00:00 Hong Kong time

    last_second = datetime(2026, 11, 22, 23, 59, 59, tzinfo=HKT)
    assert _use(app, "t-1", "HK", 24, at=last_second) == UsageApplied(False, 0)
    # Usage now cannot take the queued period's data ahead of time.
    assert _use(app, "t-2", "HK", 2000) == UsageApplied(False, 1000)
    assert (_used(app, plan), _used(app, queued)) == (1024, 0)

    next_day = datetime(2026, 11, 23, 0, 0, 0, tzinfo=HKT)
    assert _use(app, "t-3", "HK", 100, at=next_day) == UsageApplied(False, 0)
    assert _used(app, queued) == 100


def test_usage_for_an_unknown_number_is_refused(app: App) -> None:
    with pytest.raises(CardNotFound):
        _use(app, "x-1", "HK", 1, card="+85298765432")
    with app.engine.connect() as connection:
        assert connection.execute(select(tables.usage_records)).all() == []
