"""Usage from the network feed, taken from the card's buckets (earliest expiry first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from simrenew.domain.buckets import consume
from simrenew.domain.catalog import BucketKind
from simrenew.services.context import Context
from simrenew.services.lookup import find_card
from simrenew.services.scheduled_jobs import schedule_data_reminders


@dataclass(frozen=True, slots=True)
class UsageApplied:
    duplicate: bool
    overage: int


def record_usage(
    ctx: Context,
    *,
    record_id: str,
    card_key: str,
    zone: str,
    kind: BucketKind,
    amount: int,
    at: datetime,
) -> UsageApplied:
    """Apply one usage record once: a record id seen before changes nothing.
    What no bucket covers is kept as overage for rating elsewhere."""
    with ctx.uow() as uow:
        found = find_card(uow, card_key)
        card = uow.cards.get(found.id, lock=True)
        buckets = uow.cards.buckets(card.id, valid_at=at)
        result = consume(
            buckets, zone=zone, kind=kind, amount=amount, at=at, zones=uow.catalog.zones()
        )
        if not uow.cards.record_usage(record_id, card.id, zone, kind, amount, result.overage, at):
            return UsageApplied(True, 0)
        after = {b.id: b.used for b in result.buckets}
        uow.cards.set_bucket_use([(bucket_id, after[bucket_id]) for bucket_id, _ in result.taken])
        if kind is BucketKind.DATA_MB and result.taken:
            schedule_data_reminders(uow, ctx, card, result.buckets, now=ctx.clock.now())
        uow.commit()
        return UsageApplied(False, result.overage)
