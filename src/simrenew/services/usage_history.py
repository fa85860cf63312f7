"""A card's history for its owner: data used per day, in the operator's time zone, and
the names of the offers its periods and orders were bought with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from simrenew.domain.accounts import Subscriber
from simrenew.domain.catalog import BucketKind, Texts
from simrenew.domain.errors import OfferNotFound
from simrenew.domain.timeutil import ONE_DAY, local_date, start_of_day
from simrenew.services.auth import own_card
from simrenew.services.context import Context

OfferKey = tuple[str, int | None]  # (offer code, version); None: the current version


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """Data used on one local day (all zones together)."""

    day: date
    megabytes: int


def daily_data_usage(
    ctx: Context, subscriber: Subscriber, card_id: str, *, days: int = 30
) -> list[DailyUsage]:
    """Data used on each of the last ``days`` days up to today, oldest first; every day
    is present, with 0 when nothing was used. Days run from midnight to midnight in the
    operator's time zone (Hong Kong). Raises ``CardNotFound`` for a card that is not
    the subscriber's, ``ValueError`` when ``days`` is below 1."""
    if days < 1:
        raise ValueError("days must be at least 1")
    tz = ctx.clock.tz
    today = local_date(ctx.clock.now(), tz)
    first = today - timedelta(days=days - 1)
    dates = [first + timedelta(days=index) for index in range(days)]
    edges = [start_of_day(day, tz) for day in (*dates, today + ONE_DAY)]
    with ctx.uow(write=False) as uow:
        own_card(uow, subscriber, card_id)
        totals = uow.cards.usage_totals(card_id, BucketKind.DATA_MB, edges)
    return [DailyUsage(day, total) for day, total in zip(dates, totals, strict=True)]


def offer_names(ctx: Context, offers: Iterable[OfferKey]) -> dict[OfferKey, Texts]:
    """The names of offers, by ``(code, version)``; a version of None asks for the
    current one. An offer the catalogue no longer knows is left out (the caller shows
    its code)."""
    names: dict[OfferKey, Texts] = {}
    with ctx.uow(write=False) as uow:
        for key in set(offers):
            code, version = key
            try:
                names[key] = uow.catalog.offer(code, version).name
            except OfferNotFound:
                continue
    return names
