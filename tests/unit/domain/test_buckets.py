from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simrenew.domain.buckets import Bucket, Consumption, consume, left_by_zone
from simrenew.domain.catalog import BucketKind, ZoneMap
from tests.unit.domain.builders import ZONES, hk, make_bucket

BASE = hk(2026, 3, 1, 0)
AT = hk(2026, 3, 10)


def _take(
    buckets: list[Bucket],
    amount: int,
    *,
    zone: str = "HK",
    kind: BucketKind = BucketKind.DATA_MB,
) -> Consumption:
    return consume(buckets, zone=zone, kind=kind, amount=amount, at=AT, zones=ZONES)


# --- examples --------------------------------------------------------------------------------


def test_earliest_expiry_is_used_first() -> None:
    later = make_bucket("later", valid_from=BASE, valid_until=BASE + timedelta(days=30))
    sooner = make_bucket("sooner", valid_from=BASE, valid_until=BASE + timedelta(days=20))

    result = _take([later, sooner], 300)

    assert result.taken == (("sooner", 300),)
    assert result.overage == 0
    assert [b.used for b in result.buckets] == [0, 300]


def test_usage_spills_into_the_next_bucket_then_overage() -> None:
    first = make_bucket("a", initial=100, used=40, valid_until=BASE + timedelta(days=15))
    second = make_bucket("b", initial=200, valid_until=BASE + timedelta(days=25))

    result = _take([second, first], 500)

    assert result.taken == (("a", 60), ("b", 200))
    assert result.overage == 240
    assert {b.id: b.left for b in result.buckets} == {"a": 0, "b": 0}


def test_a_zone_set_bucket_serves_its_member_zones_only() -> None:
    gba = make_bucket("gba", zone="GBA", initial=100)
    hkmo = make_bucket("hkmo", zone="HKMO", initial=100, valid_until=BASE + timedelta(days=20))

    in_cn = _take([gba, hkmo], 50, zone="CN")
    in_mo = _take([gba, hkmo], 50, zone="MO")

    assert in_cn.taken == (("gba", 50),)
    assert in_mo.taken == (("hkmo", 50),)


def test_a_bucket_of_another_zone_or_kind_is_not_touched() -> None:
    cn = make_bucket("cn", zone="CN")
    voice = make_bucket("voice", kind=BucketKind.VOICE_MIN)

    result = _take([cn, voice], 10)

    assert result.taken == ()
    assert result.overage == 10
    assert result.buckets == (cn, voice)


def test_validity_window_is_inclusive_at_both_ends() -> None:
    starts_now = make_bucket("from", valid_from=AT, valid_until=AT + timedelta(days=1))
    ends_now = make_bucket("until", valid_from=BASE, valid_until=AT)
    expired = make_bucket("gone", valid_from=BASE, valid_until=AT - timedelta(seconds=1))
    future = make_bucket("future", valid_from=AT + timedelta(seconds=1))

    result = _take([starts_now, ends_now, expired, future], 3000)

    assert result.taken == (("until", 1000), ("from", 1000))
    assert result.overage == 1000


def test_zero_usage_takes_nothing() -> None:
    bucket = make_bucket()
    result = _take([bucket], 0)
    assert result.taken == ()
    assert result.overage == 0
    assert result.buckets == (bucket,)


def test_negative_usage_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        _take([make_bucket()], -1)


@pytest.mark.parametrize(("initial", "used"), [(100, 101), (100, -1), (-1, 0)])
def test_a_bucket_cannot_be_built_out_of_range(initial: int, used: int) -> None:
    with pytest.raises(ValueError):
        make_bucket(initial=initial, used=used)


def test_left_by_zone_sums_the_buckets_valid_now() -> None:
    buckets = [
        make_bucket("a", zone="HK", initial=1000, used=250),
        make_bucket("b", zone="HK", initial=500, used=0),
        make_bucket("c", zone="GBA", initial=300, used=300),
        make_bucket("d", zone="HK", kind=BucketKind.SMS, initial=50, used=5),
        make_bucket("expired", zone="HK", valid_until=AT - timedelta(days=1)),
    ]

    assert left_by_zone(buckets, AT) == {
        ("HK", BucketKind.DATA_MB): (250, 1250),
        ("GBA", BucketKind.DATA_MB): (300, 0),
        ("HK", BucketKind.SMS): (5, 45),
    }


def test_zone_map_expands_base_zones_and_sets() -> None:
    assert ZONES.expand("HK") == frozenset({"HK"})
    assert ZONES.expand("GBA") == frozenset({"HK", "CN", "MO"})
    assert ZONES.knows("HKMO")
    assert not ZONES.knows("US")
    assert not ZoneMap().knows("GBA")


# --- property --------------------------------------------------------------------------------

ZONE_NAMES = ["HK", "CN", "MO", "GBA", "HKMO"]


@st.composite
def bucket_lists(draw: st.DrawFn) -> list[Bucket]:
    count = draw(st.integers(0, 8))
    buckets = []
    for index in range(count):
        initial = draw(st.sampled_from([0, 1, 500]) | st.integers(0, 1000))
        # Few distinct instants, so that equal expiries and the window's edges are common.
        valid_from = AT + timedelta(hours=draw(st.sampled_from([-72, -24, 0, 1])))
        length_hours = draw(st.sampled_from([0, 24, 48, 72, 96]))
        buckets.append(
            Bucket(
                id=f"b{index}",
                card_id="card_1",
                zone=draw(st.sampled_from(ZONE_NAMES)),
                kind=draw(st.sampled_from(list(BucketKind))),
                initial=initial,
                used=draw(st.sampled_from([0, initial]) | st.integers(0, initial)),
                valid_from=valid_from,
                valid_until=valid_from + timedelta(hours=length_hours),
            )
        )
    return buckets


def _usable(bucket: Bucket, zone: str, kind: BucketKind) -> bool:
    return (
        bucket.kind is kind
        and bucket.valid_from <= AT <= bucket.valid_until
        and bucket.left > 0
        and zone in ZONES.expand(bucket.zone)
    )


@given(
    buckets=bucket_lists(),
    zone=st.sampled_from(["HK", "CN", "MO"]),
    kind=st.sampled_from(list(BucketKind)),
    amount=st.integers(0, 3000),
)
@settings(max_examples=200, deadline=None)
def test_consumption_never_overdraws_and_goes_earliest_expiry_first(
    buckets: list[Bucket], zone: str, kind: BucketKind, amount: int
) -> None:
    result = consume(buckets, zone=zone, kind=kind, amount=amount, at=AT, zones=ZONES)
    after = {b.id: b for b in result.buckets}
    before = {b.id: b for b in buckets}
    taken = dict(result.taken)

    # Every bucket comes back, in the same order, none negative or over-used.
    assert [b.id for b in result.buckets] == [b.id for b in buckets]
    for bucket in result.buckets:
        assert 0 <= bucket.used <= bucket.initial
        assert bucket.left >= 0

    # Exactly the usage is accounted for: taken plus overage, nothing more.
    assert len(taken) == len(result.taken)  # no bucket taken from twice
    assert sum(taken.values()) + result.overage == amount
    assert result.overage >= 0

    # Only usable buckets are touched, and each by exactly what ``taken`` says.
    for bucket_id, old in before.items():
        delta = after[bucket_id].used - old.used
        assert delta == taken.get(bucket_id, 0)
        if bucket_id in taken:
            assert _usable(old, zone, kind)
            assert taken[bucket_id] > 0
        else:
            assert after[bucket_id] == old

    usable = [b for b in buckets if _usable(b, zone, kind)]
    # Overage only once every usable bucket is empty.
    if result.overage:
        assert all(after[b.id].left == 0 for b in usable)
    else:
        assert sum(taken.values()) == amount

    # Earliest expiry first: a bucket is touched only if every usable bucket that
    # expires strictly earlier is now empty.
    for bucket_id in taken:
        for other in usable:
            if other.valid_until < before[bucket_id].valid_until:
                assert after[other.id].left == 0, (bucket_id, other.id)

    # The order taken is by expiry.
    expiries = [before[bucket_id].valid_until for bucket_id, _ in result.taken]
    assert expiries == sorted(expiries)
