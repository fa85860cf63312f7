"""Domain objects ↔ JSON bodies stored in the catalogue tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
)
from simrenew.domain.money import Money
from simrenew.domain.promotions import Promotion, PromotionKind


def texts_to_json(texts: Texts) -> dict[str, str]:
    return texts.as_dict()


def texts_from_json(data: dict[str, str]) -> Texts:
    return Texts(data["zh-Hant"], data["zh-Hans"], data["en"])


def allowance_to_json(allowance: Allowance) -> dict[str, Any]:
    return {"zone": allowance.zone, "kind": allowance.kind.value, "amount": allowance.amount}


def allowance_from_json(data: dict[str, Any]) -> Allowance:
    return Allowance(data["zone"], BucketKind(data["kind"]), int(data["amount"]))


def offer_body(offer: Offer) -> dict[str, Any]:
    return {
        "name": texts_to_json(offer.name),
        "description": texts_to_json(offer.description),
        "period": None
        if offer.period is None
        else {"count": offer.period.count, "unit": offer.period.unit},
        "allowances": [allowance_to_json(a) for a in offer.allowances],
        "rollover": offer.rollover,
        "until_plan_end": offer.until_plan_end,
        "active": offer.active,
        "sort_order": offer.sort_order,
    }


def offer_from_row(row: Any) -> Offer:
    """An offer version from a row of ``offer_versions`` (or one with its columns)."""
    body: dict[str, Any] = row.body
    period = body.get("period")
    return Offer(
        code=row.code,
        version=row.version,
        product_line=row.product_line,
        kind=OfferKind(row.kind),
        name=texts_from_json(body["name"]),
        description=texts_from_json(body["description"]),
        price=Money(row.price_minor, row.currency),
        period=None if period is None else Period(int(period["count"]), period["unit"]),
        allowances=tuple(allowance_from_json(a) for a in body["allowances"]),
        rollover=bool(body["rollover"]),
        until_plan_end=bool(body["until_plan_end"]),
        active=bool(body["active"]),
        sort_order=int(body.get("sort_order", 0)),
    )


def product_line_values(line: ProductLine) -> dict[str, Any]:
    return {
        "code": line.code,
        "currency": line.currency,
        "grace_days": line.grace_days,
        "cooling_off_days": line.cooling_off_days,
        "order_min_minor": line.limits.minimum.amount_minor,
        "order_max_minor": line.limits.maximum.amount_minor,
        "per_30_days_minor": line.limits.per_30_days.amount_minor,
        "names": texts_to_json(line.name),
        "validity_bands": [
            {"min_minor": b.minimum.amount_minor, "days": b.days} for b in line.validity_bands
        ],
    }


def product_line_from_row(row: Any) -> ProductLine:
    currency = row.currency
    return ProductLine(
        code=row.code,
        name=texts_from_json(row.names),
        currency=currency,
        grace_days=row.grace_days,
        cooling_off_days=row.cooling_off_days,
        limits=OrderLimits(
            Money(row.order_min_minor, currency),
            Money(row.order_max_minor, currency),
            Money(row.per_30_days_minor, currency),
        ),
        validity_bands=tuple(
            ValidityBand(Money(int(b["min_minor"]), currency), int(b["days"]))
            for b in row.validity_bands
        ),
    )


def promotion_body(promotion: Promotion) -> dict[str, Any]:
    return {
        "name": texts_to_json(promotion.name),
        "kind": promotion.kind.value,
        "starts_at": promotion.starts_at.isoformat(),
        "ends_at": promotion.ends_at.isoformat(),
        "percent": promotion.percent,
        "amount_off": None
        if promotion.amount_off is None
        else {
            "amount_minor": promotion.amount_off.amount_minor,
            "currency": promotion.amount_off.currency,
        },
        "bonus": None if promotion.bonus is None else allowance_to_json(promotion.bonus),
        "coupon": promotion.coupon,
        "first_renewal_only": promotion.first_renewal_only,
        "offers": sorted(promotion.offers),
        "product_lines": sorted(promotion.product_lines),
        "per_card_limit": promotion.per_card_limit,
        "stackable": promotion.stackable,
    }


def promotion_from_row(code: str, body: dict[str, Any], global_limit: int | None) -> Promotion:
    amount = body.get("amount_off")
    bonus = body.get("bonus")
    return Promotion(
        code=code,
        name=texts_from_json(body["name"]),
        kind=PromotionKind(body["kind"]),
        starts_at=datetime.fromisoformat(body["starts_at"]),
        ends_at=datetime.fromisoformat(body["ends_at"]),
        percent=int(body.get("percent") or 0),
        amount_off=None
        if amount is None
        else Money(int(amount["amount_minor"]), amount["currency"]),
        bonus=None if bonus is None else allowance_from_json(bonus),
        coupon=body.get("coupon"),
        first_renewal_only=bool(body.get("first_renewal_only")),
        offers=frozenset(body.get("offers") or ()),
        product_lines=frozenset(body.get("product_lines") or ()),
        per_card_limit=body.get("per_card_limit"),
        global_limit=global_limit,
        stackable=bool(body.get("stackable")),
    )
