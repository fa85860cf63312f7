"""My cards: what is left on each card, one card in detail with its usage chart, the
reminder calendar file, and what happens when a card expires.

Every card page goes through ``services.auth`` with the signed-in subscriber: a card
id that is not theirs is "not found", never someone else's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

import phonenumbers
from babel.dates import format_skeleton
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from simrenew.documents.calendar import reminder_calendar
from simrenew.domain.accounts import Subscriber
from simrenew.domain.cards import CardState, mask_number
from simrenew.domain.catalog import BucketKind
from simrenew.domain.orders import Order
from simrenew.domain.renewals import ValidityPeriod
from simrenew.services import auth
from simrenew.services.cards import CardView
from simrenew.services.usage_history import DailyUsage, OfferKey, daily_data_usage, offer_names
from simrenew.web.pages.page import Page, PageDep, SignedInPageDep

router = APIRouter(include_in_schema=False)

CardId = Annotated[str, Path(max_length=64)]
CHART_DAYS = 30
RECENT_ORDERS = 10

# Zones first by reach, then the base zones; unknown zone sets follow by name.
_ZONE_ORDER = {"GBA": 0, "HK": 1, "CN": 2, "MO": 3}
_KIND_ORDER = {BucketKind.DATA_MB: 0, BucketKind.VOICE_MIN: 1, BucketKind.SMS: 2}
RENEWABLE = frozenset({CardState.IN_STOCK, CardState.ACTIVE, CardState.GRACE})


# --- what the templates show ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Allowance:
    """What is left of one kind in one zone, over every bucket usable now."""

    zone: str
    kind: BucketKind
    left: int
    total: int


@dataclass(frozen=True, slots=True)
class CardPanel:
    """One card as the pages show it."""

    view: CardView
    plan_name: str | None
    allowances: list[Allowance]

    @property
    def card_id(self) -> str:
        return self.view.card.id

    @property
    def state(self) -> str:
        return self.view.card.state.value

    @property
    def renewable(self) -> bool:
        return self.view.card.state in RENEWABLE

    @property
    def number(self) -> str:
        return display_number(self.view.card.primary_number)

    @property
    def second_number(self) -> str | None:
        second = self.view.card.second_number
        return display_number(second) if second else None

    @property
    def grace_end(self) -> date | None:
        """The last day on which a card in grace can still be renewed."""
        card = self.view.card
        if card.state is not CardState.GRACE or card.validity_end is None:
            return None
        return card.validity_end + timedelta(days=self.view.line.grace_days)

    @property
    def data(self) -> list[Allowance]:
        return [a for a in self.allowances if a.kind is BucketKind.DATA_MB]

    @property
    def other(self) -> list[Allowance]:
        return [a for a in self.allowances if a.kind is not BucketKind.DATA_MB]


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    day: date
    megabytes: int


@dataclass(frozen=True, slots=True)
class Tick:
    at: int  # y for the value axis, x (centre) for the day axis
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Data used per day as integer SVG coordinates (viewBox ``0 0 WIDTH HEIGHT``)."""

    bars: list[Bar]
    values: list[Tick]
    days: list[Tick]
    total: int
    top: int  # the megabytes at the top of the value axis

    # Narrow units, so that the 11-unit labels stay readable when a phone shrinks it.
    WIDTH = 400
    HEIGHT = 156
    LEFT = 50  # room for the value labels
    TOP = 10
    PLOT_HEIGHT = 120
    BAR_WIDTH = 8
    SLOT = 11  # bar and gap

    @property
    def baseline(self) -> int:
        return self.TOP + self.PLOT_HEIGHT

    @property
    def right(self) -> int:
        return self.LEFT + self.SLOT * len(self.bars)


def display_number(e164: str) -> str:
    """``+852 5123 4567``: the owner's own number, spaced as people write it."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def allowances_now(view: CardView) -> list[Allowance]:
    """Buckets usable now, summed per zone and kind; queued periods' buckets wait."""
    grouped: dict[tuple[str, BucketKind], tuple[int, int]] = {}
    for bucket in view.buckets:
        if bucket.valid_from > view.as_of:
            continue
        left, total = grouped.get((bucket.zone, bucket.kind), (0, 0))
        grouped[(bucket.zone, bucket.kind)] = (left + bucket.left, total + bucket.initial)
    allowances = [
        Allowance(zone, kind, left, total) for (zone, kind), (left, total) in grouped.items()
    ]
    return sorted(
        allowances,
        key=lambda a: (_KIND_ORDER[a.kind], _ZONE_ORDER.get(a.zone, len(_ZONE_ORDER)), a.zone),
    )


def _period_key(view: CardView, period: ValidityPeriod) -> OfferKey:
    """The offer of a period at the version its order was sold at, when the order is
    among the card's recent ones; else the offer's current version."""
    sold = next((o for o in view.orders if o.id == period.order_id), None)
    return (period.offer_code, sold.offer_version if sold else None)


def _order_key(order: Order) -> OfferKey:
    return (order.offer_code, order.offer_version)


class OfferNames:
    """Offer names in the page's language, read once per page."""

    def __init__(self, page: Page, keys: list[OfferKey]) -> None:
        self._names = offer_names(page.app.ctx, keys)
        self._language = page.language

    def __call__(self, key: OfferKey) -> str:
        found = self._names.get(key) or self._names.get((key[0], None))
        return found.get(self._language) if found else key[0]


def card_panels(views: list[CardView], names: OfferNames) -> list[CardPanel]:
    panels = []
    for view in views:
        period = view.current_period
        plan = names(_period_key(view, period)) if period else None
        panels.append(CardPanel(view, plan, allowances_now(view)))
    return panels


def _subscriber(page: Page) -> Subscriber:
    assert page.subscriber is not None  # SignedInPageDep saw to it
    return page.subscriber


# --- the usage chart ------------------------------------------------------------------


def nice_top(largest: int) -> int:
    """The value axis's top: 10, 20, 50, … MB below a gigabyte, then 1, 2, 5, 10, … GB
    (in MB of 1024), so that the labels read as round amounts."""
    for step in (10, 20, 50, 100, 200, 500):
        if largest <= step:
            return step
    scale = 1024
    while True:
        for step in (1, 2, 5):
            if largest <= step * scale:
                return step * scale
        scale *= 10


def usage_chart(page: Page, usage: list[DailyUsage]) -> Chart:
    largest = max((u.megabytes for u in usage), default=0)
    top = nice_top(largest)
    bars = []
    for index, used in enumerate(usage):
        height = (used.megabytes * Chart.PLOT_HEIGHT + top // 2) // top
        if used.megabytes and not height:
            height = 1  # a little use still shows
        x = Chart.LEFT + index * Chart.SLOT + (Chart.SLOT - Chart.BAR_WIDTH) // 2
        bars.append(
            Bar(
                x,
                Chart.TOP + Chart.PLOT_HEIGHT - height,
                Chart.BAR_WIDTH,
                height,
                used.day,
                used.megabytes,
            )
        )
    values = [
        Tick(
            Chart.TOP + Chart.PLOT_HEIGHT - part * Chart.PLOT_HEIGHT // 2,
            page.fmt.data(part * top // 2),
        )
        for part in (0, 1, 2)
    ]
    # Today and every seventh day before it: the same weekday, never two labels crowded.
    marks = sorted(range(len(usage) - 1, -1, -7))
    days = [
        Tick(
            bars[index].x + Chart.BAR_WIDTH // 2,
            format_skeleton("Md", usage[index].day, locale=page.fmt.locale),
        )
        for index in marks
    ]
    return Chart(bars, values, days, sum(u.megabytes for u in usage), top)


# --- routes ---------------------------------------------------------------------------


@router.get("/cards")
def my_cards(
    page: SignedInPageDep, added: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    """Every card of the account with what is left on it; ``added`` names a card just
    bound (see settings), for the success notice."""
    ctx, subscriber = page.app.ctx, _subscriber(page)
    # One read per card: a family holds a few cards, and each read is one transaction.
    views = [
        auth.card_detail(ctx, subscriber, card.id) for card in auth.list_cards(ctx, subscriber)
    ]
    keys = [_period_key(v, v.current_period) for v in views if v.current_period]
    panels = card_panels(views, OfferNames(page, keys))
    added_number = next((p.number for p in panels if p.card_id == added), None)
    return page.render("cards.html", panels=panels, added=added_number)


@router.get("/cards/{card_id}")
def card_page(card_id: CardId, page: SignedInPageDep) -> Response:
    """One card: what is left, the last 30 days of data use, the periods running and
    queued, and its recent orders."""
    ctx, subscriber = page.app.ctx, _subscriber(page)
    view = auth.card_detail(ctx, subscriber, card_id)
    usage = daily_data_usage(ctx, subscriber, card_id, days=CHART_DAYS)
    orders = view.orders[:RECENT_ORDERS]
    keys = [_period_key(view, p) for p in view.periods] + [_order_key(o) for o in orders]
    names = OfferNames(page, keys)
    (panel,) = card_panels([view], names)
    today = view.as_of.date()
    periods = [
        (period, period.contains(today), names(_period_key(view, period)))
        for period in view.periods
    ]
    return page.render(
        "card_detail.html",
        panel=panel,
        chart=usage_chart(page, usage),
        usage=usage,
        periods=periods,
        orders=[(order, names(_order_key(order))) for order in orders],
        reminder=view.card.state is CardState.ACTIVE and view.card.validity_end is not None,
    )


@router.get("/cards/{card_id}/reminder.ics")
def reminder(card_id: CardId, page: SignedInPageDep) -> Response:
    """ "Add a reminder to my calendar": one event on the last valid day."""
    ctx, subscriber = page.app.ctx, _subscriber(page)
    card = auth.card_detail(ctx, subscriber, card_id).card
    if card.state is not CardState.ACTIVE or card.validity_end is None:
        _ = page.gettext
        return page.render(
            "error.html",
            status=404,
            code="no_validity_end",
            title=_("No date to remind you of"),
            detail=_(
                "This card has no coming validity end, so there is nothing to put in your calendar."
            ),
        )
    body = reminder_calendar(
        uid=f"{card.id}.{card.validity_end.isoformat()}@{ctx.official_domain}",
        number_masked=mask_number(card.primary_number),
        validity_end=card.validity_end,
        official_domain=ctx.official_domain,
        gettext=page.gettext,
        fmt=page.fmt,
        now=ctx.clock.now(),
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="simrenew-reminder.ics"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/help/expired")
def expired_help(page: PageDep) -> Response:
    """Active, grace, terminated in plain words; anyone may read it."""
    return page.render("expired.html")
