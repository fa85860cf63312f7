"""Allowance buckets and the consumption rule.

A usage of ``amount`` in a zone is taken from the buckets of the right kind that are
valid for that zone at that moment, earliest expiry first; no bucket ever goes
below zero, and whatever no bucket covers is returned as overage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from simrenew.domain.catalog import BucketKind, ZoneMap


@dataclass(frozen=True, slots=True)
class Bucket:
    id: str
    card_id: str
    zone: str  # a base zone or a zone set
    kind: BucketKind
    initial: int
    used: int
    valid_from: datetime
    valid_until: datetime
    order_id: str | None = None

    def __post_init__(self) -> None:
        if self.initial < 0 or not 0 <= self.used <= self.initial:
            raise ValueError(f"bucket {self.id}: used {self.used} outside 0..{self.initial}")

    @property
    def left(self) -> int:
        return self.initial - self.used

    def usable(self, zone: str, kind: BucketKind, at: datetime, zones: ZoneMap) -> bool:
        return (
            self.kind == kind
            and self.valid_from <= at <= self.valid_until
            and self.left > 0
            and zone in zones.expand(self.zone)
        )


@dataclass(frozen=True, slots=True)
class Consumption:
    taken: tuple[tuple[str, int], ...]  # (bucket id, amount) in the order taken
    overage: int
    buckets: tuple[Bucket, ...]  # every bucket passed in, with use applied


def consume(
    buckets: Iterable[Bucket],
    *,
    zone: str,
    kind: BucketKind,
    amount: int,
    at: datetime,
    zones: ZoneMap,
) -> Consumption:
    if amount < 0:
        raise ValueError("usage cannot be negative")
    all_buckets = list(buckets)
    order = sorted(
        (i for i, b in enumerate(all_buckets) if b.usable(zone, kind, at, zones)),
        key=lambda i: (all_buckets[i].valid_until, all_buckets[i].valid_from, all_buckets[i].id),
    )
    remaining = amount
    taken: list[tuple[str, int]] = []
    for index in order:
        if remaining == 0:
            break
        bucket = all_buckets[index]
        take = min(bucket.left, remaining)
        all_buckets[index] = replace(bucket, used=bucket.used + take)
        taken.append((bucket.id, take))
        remaining -= take
    return Consumption(tuple(taken), remaining, tuple(all_buckets))


def left_by_zone(
    buckets: Iterable[Bucket], at: datetime
) -> dict[tuple[str, BucketKind], tuple[int, int]]:
    """(zone, kind) → (used, left) over the buckets valid at ``at``."""
    totals: dict[tuple[str, BucketKind], tuple[int, int]] = {}
    for bucket in buckets:
        if bucket.valid_from <= at <= bucket.valid_until:
            used, left = totals.get((bucket.zone, bucket.kind), (0, 0))
            totals[(bucket.zone, bucket.kind)] = (used + bucket.used, left + bucket.left)
    return totals
