"""What a paid offer does to a card: the renewal rules.

- A plan (or validity, or credit) bought while a period is running is queued at
  the end of the current validity; at most 12 months may be queued beyond the
  period running today.
- Bought in ``grace`` (or on a card never used), it starts today and (re)activates
  the card.
- A ``terminated`` card cannot be renewed: ``CardNotRenewable``.
- An add-on needs a running period; it never extends validity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from simrenew.domain.cards import RENEWABLE_STATES, Card, CardState
from simrenew.domain.catalog import Allowance, OfferKind, Period, ProductLine
from simrenew.domain.errors import CardNotRenewable, OfferNotAvailable, QueueLimitExceeded
from simrenew.domain.promotions import PriceQuote
from simrenew.domain.timeutil import add_months, end_of_day, start_of_day

MAX_QUEUED_MONTHS = 12


@dataclass(frozen=True, slots=True)
class ValidityPeriod:
    """Days ``start``..``end`` (inclusive, local dates) bought by one order."""

    card_id: str
    start: date
    end: date
    order_id: str | None
    offer_code: str

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class NewBucket:
    allowance: Allowance
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class RenewalPlan:
    """Everything fulfilling one order changes, computed without side effects."""

    new_state: CardState
    validity_end: date | None
    period: ValidityPeriod | None
    buckets: tuple[NewBucket, ...]
    credit_minor: int
    rollover_until: datetime | None  # extend the previous period's data to here

    @property
    def activates(self) -> bool:
        return self.new_state is CardState.ACTIVE


def is_running(card: Card, today: date) -> bool:
    return (
        card.state is CardState.ACTIVE
        and card.validity_end is not None
        and card.validity_end >= today
    )


def grace_is_over(card: Card, line: ProductLine, today: date) -> bool:
    """True once the last day of grace (validity end + grace days) has passed."""
    if card.state not in (CardState.ACTIVE, CardState.GRACE) or card.validity_end is None:
        return False
    return today > card.validity_end + timedelta(days=line.grace_days)


def period_end(start: date, period: Period) -> date:
    if period.unit == "days":
        return start + timedelta(days=period.count - 1)
    return add_months(start, period.count) - timedelta(days=1)


def queue_limit(card: Card, periods: Sequence[ValidityPeriod], today: date) -> date:
    """The latest validity end allowed: 12 months after the period running today."""
    if not is_running(card, today):
        return add_months(today, MAX_QUEUED_MONTHS)
    current_end = max((p.end for p in periods if p.contains(today)), default=today)
    # Counted from the first queued day, the way plan periods are, so that exactly
    # twelve months fit even across a 29 February.
    return add_months(current_end + timedelta(days=1), MAX_QUEUED_MONTHS) - timedelta(days=1)


def plan_renewal(
    card: Card,
    quote: PriceQuote,
    line: ProductLine,
    *,
    periods: Sequence[ValidityPeriod],
    now: datetime,
    tz: tzinfo,
    order_id: str | None,
) -> RenewalPlan:
    """What fulfilling ``quote`` for ``card`` at ``now`` does. Pure; raises on refusal."""
    today = now.astimezone(tz).date()
    if card.state not in RENEWABLE_STATES or grace_is_over(card, line, today):
        # A card past its grace is refused even before the sweep has marked it.
        raise CardNotRenewable(card=card.iccid, state=CardState.TERMINATED.value)
    offer = quote.offer
    if offer.product_line != card.product_line:
        raise OfferNotAvailable(offer=offer.code)
    running = is_running(card, today)
    bonus = quote.bonus

    if offer.kind is OfferKind.ADDON:
        if not running or card.validity_end is None or offer.period is None:
            raise OfferNotAvailable(offer=offer.code)
        until = end_of_day(period_end(today, offer.period), tz)
        if offer.until_plan_end:
            until = min(until, end_of_day(card.validity_end, tz))
        addon_buckets = tuple(NewBucket(a, now, until) for a in (*offer.allowances, *bonus))
        return RenewalPlan(card.state, card.validity_end, None, addon_buckets, 0, None)

    start = card.validity_end + timedelta(days=1) if running and card.validity_end else today
    if offer.kind is OfferKind.CREDIT:
        days = line.credit_validity_days(offer.price)
        end = start + timedelta(days=days - 1) if days else None
    else:
        if offer.period is None:
            raise OfferNotAvailable(offer=offer.code)
        end = period_end(start, offer.period)

    if end is None:
        # Credit below every band: value only, validity unchanged.
        new_end = card.validity_end
        period = None
    else:
        limit = queue_limit(card, periods, today)
        if end > limit:
            raise QueueLimitExceeded(
                new_end=end.isoformat(),
                limit_end=limit.isoformat(),
                limit_months=MAX_QUEUED_MONTHS,
            )
        new_end = end if card.validity_end is None or not running else max(end, card.validity_end)
        period = ValidityPeriod(card.id, start, end, order_id, offer.code)

    buckets: tuple[NewBucket, ...] = ()
    rollover_until = None
    if period is not None and offer.kind is OfferKind.PLAN:
        valid_from = max(now, start_of_day(period.start, tz))
        valid_until = end_of_day(period.end, tz)
        buckets = tuple(NewBucket(a, valid_from, valid_until) for a in (*offer.allowances, *bonus))
        if offer.rollover and running:
            rollover_until = valid_until
    elif bonus and period is not None:
        buckets = tuple(NewBucket(a, now, end_of_day(period.end, tz)) for a in bonus)

    new_state = CardState.ACTIVE if period is not None else card.state
    if card.state is CardState.GRACE and period is None:
        new_state = CardState.GRACE
    # Stored value is the face value of the credit offer: a promotion on a top-up
    # lowers what is paid, not what is credited.
    credit = offer.price.amount_minor if offer.kind is OfferKind.CREDIT else 0
    return RenewalPlan(new_state, new_end, period, buckets, credit, rollover_until)
