"""Product lines, offers and zones: what may be sold to which card, at what price."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simrenew.domain.money import Money

if TYPE_CHECKING:
    from simrenew.domain.promotions import Promotion

BASE_ZONES = frozenset({"HK", "CN", "MO"})
LANGUAGES = ("zh-Hant", "zh-Hans", "en")


class OfferKind(enum.StrEnum):
    PLAN = "plan"  # a base period with allowances; extends validity by the period
    ADDON = "addon"  # a data pack; does not extend validity
    CREDIT = "credit"  # stored value; extends validity by the product line's band table
    VALIDITY = "validity"  # number keeping: extends validity only


class BucketKind(enum.StrEnum):
    DATA_MB = "data_mb"
    VOICE_MIN = "voice_min"
    SMS = "sms"


@dataclass(frozen=True, slots=True)
class Texts:
    """A text in zh-Hant, zh-Hans and en; zh-Hant is the operator's default."""

    zh_hant: str
    zh_hans: str
    en: str

    def get(self, language: str) -> str:
        return {"zh-Hant": self.zh_hant, "zh-Hans": self.zh_hans, "en": self.en}.get(
            language, self.zh_hant
        )

    def as_dict(self) -> dict[str, str]:
        return {"zh-Hant": self.zh_hant, "zh-Hans": self.zh_hans, "en": self.en}


@dataclass(frozen=True, slots=True)
class ZoneMap:
    """Base zones plus named sets (``GBA`` = HK+CN+MO)."""

    sets: dict[str, frozenset[str]] = field(default_factory=dict)

    def expand(self, zone: str) -> frozenset[str]:
        if zone in BASE_ZONES:
            return frozenset({zone})
        return self.sets[zone]

    def knows(self, zone: str) -> bool:
        return zone in BASE_ZONES or zone in self.sets


@dataclass(frozen=True, slots=True)
class Allowance:
    """``amount`` of ``kind`` usable in ``zone`` (a base zone or a zone set)."""

    zone: str
    kind: BucketKind
    amount: int


@dataclass(frozen=True, slots=True)
class ValidityBand:
    """A credit top-up of at least ``minimum`` extends validity by ``days``."""

    minimum: Money
    days: int


@dataclass(frozen=True, slots=True)
class OrderLimits:
    minimum: Money
    maximum: Money
    per_30_days: Money


@dataclass(frozen=True, slots=True)
class ProductLine:
    code: str
    name: Texts
    currency: str
    grace_days: int
    cooling_off_days: int
    limits: OrderLimits
    validity_bands: tuple[ValidityBand, ...] = ()

    def credit_validity_days(self, amount: Money) -> int:
        """Days of validity a credit top-up of ``amount`` buys: the highest band reached."""
        days = 0
        for band in self.validity_bands:
            if amount.amount_minor >= band.minimum.amount_minor:
                days = max(days, band.days)
        return days


@dataclass(frozen=True, slots=True)
class Period:
    """A length of ``count`` days or calendar months."""

    count: int
    unit: str  # "days" | "months"

    def __post_init__(self) -> None:
        if self.unit not in ("days", "months") or self.count <= 0:
            raise ValueError(f"bad period {self.count} {self.unit}")

    def describe(self) -> str:
        return f"{self.count} {self.unit if self.count != 1 else self.unit[:-1]}"


@dataclass(frozen=True, slots=True)
class Offer:
    """One version of an offer. Orders keep ``(code, version)``; edits make a new version.

    - ``plan``: ``period`` with ``allowances``; ``rollover`` keeps unused data of the
      previous period.
    - ``addon``: ``allowances`` valid for ``period`` from purchase, cut at the plan's
      end when ``until_plan_end``.
    - ``credit``: ``price`` becomes stored value; validity from the band table.
    - ``validity``: ``period`` of validity, nothing else.
    """

    code: str
    version: int
    product_line: str
    kind: OfferKind
    name: Texts
    description: Texts
    price: Money
    period: Period | None = None
    allowances: tuple[Allowance, ...] = ()
    rollover: bool = False
    until_plan_end: bool = False
    active: bool = True
    sort_order: int = 0

    def content_key(self) -> tuple[object, ...]:
        """Everything a buyer is sold; a change here makes a new version."""
        return (
            self.product_line,
            self.kind,
            self.name,
            self.description,
            self.price,
            self.period,
            self.allowances,
            self.rollover,
            self.until_plan_end,
            self.active,
            self.sort_order,
        )


@dataclass(frozen=True, slots=True)
class Catalog:
    """A validated catalogue, as imported from YAML."""

    zones: ZoneMap
    product_lines: dict[str, ProductLine]
    offers: dict[str, Offer]
    promotions: tuple[Promotion, ...] = ()
