"""Plain builders for domain objects: sensible defaults, override what a test is about."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from simrenew.domain.buckets import Bucket
from simrenew.domain.cards import Card, CardState, luhn_check_digit
from simrenew.domain.catalog import (
    Allowance,
    BucketKind,
    Offer,
    OfferKind,
    OrderLimits,
    Period,
    ProductLine,
    Texts,
    ValidityBand,
    ZoneMap,
)
from simrenew.domain.money import Money
from simrenew.domain.orders import Channel, Order, OrderState
from simrenew.domain.payments import Payment, PaymentState
from simrenew.domain.promotions import PriceQuote, Promotion, PromotionKind
from simrenew.domain.renewals import ValidityPeriod

HK = ZoneInfo("Asia/Hong_Kong")
ZONES = ZoneMap({"GBA": frozenset({"HK", "CN", "MO"}), "HKMO": frozenset({"HK", "MO"})})
LINE = "ONE2"
THIRTY_DAYS = Period(30, "days")


def hk(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A Hong Kong wall-clock time, as the UTC instant the domain works with."""
    return datetime(year, month, day, hour, minute, tzinfo=HK).astimezone(UTC)


def texts(text: str) -> Texts:
    return Texts(zh_hant=text, zh_hans=text, en=text)


def hkd(text: str) -> Money:
    return Money.parse(text, "HKD")


def cny(text: str) -> Money:
    return Money.parse(text, "CNY")


def make_iccid(serial: int = 1) -> str:
    payload = f"898520126{serial:09d}"
    return payload + luhn_check_digit(payload)


def make_line(
    code: str = LINE,
    *,
    currency: str = "HKD",
    grace_days: int = 30,
    bands: tuple[tuple[str, int], ...] = (("50", 180), ("100", 365)),
) -> ProductLine:
    return ProductLine(
        code=code,
        name=texts(code),
        currency=currency,
        grace_days=grace_days,
        cooling_off_days=90,
        limits=OrderLimits(
            minimum=Money.parse("50", currency),
            maximum=Money.parse("1000", currency),
            per_30_days=Money.parse("3000", currency),
        ),
        validity_bands=tuple(
            ValidityBand(Money.parse(minimum, currency), days) for minimum, days in bands
        ),
    )


def make_offer(
    code: str = "M30",
    *,
    kind: OfferKind = OfferKind.PLAN,
    price: str = "88",
    currency: str = "HKD",
    period: Period | None = THIRTY_DAYS,
    allowances: tuple[Allowance, ...] = (Allowance("GBA", BucketKind.DATA_MB, 10_240),),
    product_line: str = LINE,
    rollover: bool = False,
    until_plan_end: bool = False,
    version: int = 1,
) -> Offer:
    return Offer(
        code=code,
        version=version,
        product_line=product_line,
        kind=kind,
        name=texts(code),
        description=texts(f"{code} description"),
        price=Money.parse(price, currency),
        period=period,
        allowances=allowances,
        rollover=rollover,
        until_plan_end=until_plan_end,
    )


def make_quote(offer: Offer, *, bonus: tuple[Allowance, ...] = ()) -> PriceQuote:
    """The quote an order keeps when no promotion applied (plus an optional bonus)."""
    return PriceQuote(
        offer=offer,
        list_price=offer.price,
        discount=Money.zero(offer.price.currency),
        price=offer.price,
        promotions=(),
        bonus=bonus,
    )


def make_card(
    *,
    state: CardState = CardState.ACTIVE,
    validity_end: date | None = None,
    product_line: str = LINE,
    card_id: str = "card_1",
    serial: int = 1,
) -> Card:
    return Card(
        id=card_id,
        iccid=make_iccid(serial),
        primary_number="+85251234567",
        product_line=product_line,
        state=state,
        validity_end=validity_end,
    )


def make_period(start: date, end: date, *, card_id: str = "card_1") -> ValidityPeriod:
    return ValidityPeriod(card_id, start, end, order_id=None, offer_code="M30")


def make_promotion(
    code: str = "P",
    *,
    kind: PromotionKind = PromotionKind.PERCENT_OFF,
    percent: int = 0,
    amount_off: Money | None = None,
    bonus: Allowance | None = None,
    coupon: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    first_renewal_only: bool = False,
    offers: frozenset[str] = frozenset(),
    product_lines: frozenset[str] = frozenset(),
    per_card_limit: int | None = None,
    global_limit: int | None = None,
    stackable: bool = False,
) -> Promotion:
    return Promotion(
        code=code,
        name=texts(code),
        kind=kind,
        starts_at=starts_at or hk(2026, 1, 1, 0),
        ends_at=ends_at or hk(2027, 1, 1, 0),
        percent=percent,
        amount_off=amount_off,
        bonus=bonus,
        coupon=coupon,
        first_renewal_only=first_renewal_only,
        offers=offers,
        product_lines=product_lines,
        per_card_limit=per_card_limit,
        global_limit=global_limit,
        stackable=stackable,
    )


def make_bucket(
    bucket_id: str = "b1",
    *,
    zone: str = "HK",
    kind: BucketKind = BucketKind.DATA_MB,
    initial: int = 1000,
    used: int = 0,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> Bucket:
    start = valid_from or hk(2026, 3, 1, 0)
    return Bucket(
        id=bucket_id,
        card_id="card_1",
        zone=zone,
        kind=kind,
        initial=initial,
        used=used,
        valid_from=start,
        valid_until=valid_until or start + timedelta(days=30),
    )


def make_order(state: OrderState = OrderState.AWAITING_PAYMENT) -> Order:
    created = hk(2026, 3, 1)
    return Order(
        id="ord_1",
        card_id="card_1",
        offer_code="M30",
        offer_version=1,
        channel=Channel.WEB,
        actor="subscriber:+85251234567",
        state=state,
        list_price=hkd("88"),
        discount=hkd("0"),
        price=hkd("88"),
        promotions=(),
        created_at=created,
        expires_at=created + timedelta(minutes=30),
        updated_at=created,
    )


def make_payment(state: PaymentState = PaymentState.PENDING) -> Payment:
    created = hk(2026, 3, 1)
    return Payment(
        id="pay_1",
        order_id="ord_1",
        provider="sandbox",
        state=state,
        amount=hkd("88"),
        created_at=created,
        updated_at=created,
    )
