"""The catalogue file: YAML text in, a validated ``Catalog`` out, or every problem at once.

``parse_catalog(text)`` is pure: the caller reads the file and stores the result. It
raises ``CatalogInvalid`` carrying one ``LocatedProblem("line N", "path: message")`` per
problem, sorted by line, so that an operator can fix a whole file in one pass.

Format (every key below is known; any other key is an error, so typos cannot pass)::

    zone_sets:                     # optional: named sets of the base zones HK, CN, MO
      GBA: [HK, CN, MO]
    product_lines:                 # required, at least one
      - code: ONE2                 # A-Z, 0-9, "-", "_"; at most 32 characters
        name: {zh-Hant: 一卡兩號, zh-Hans: 一卡两号, en: One Card Two Numbers}
        currency: HKD              # HKD | CNY; every amount of the line is in it
        grace_days: 30             # >= 0
        cooling_off_days: 90       # >= 0
        order_limits: {min: "10.00", max: "1000.00", per_30_days: "3000.00"}
        validity_bands:            # optional; required when the line sells credit
          - {min: "50.00", days: 180}
          - {min: "100.00", days: 365}
        offers:                    # required (may be empty); offer codes unique file-wide
          - code: ONE2-M1          # at most 48 characters
            kind: plan             # plan | addon | credit | validity
            name: {zh-Hant: ..., zh-Hans: ..., en: ...}
            description: {zh-Hant: ..., zh-Hans: ..., en: ...}
            price: "88.00"         # quoted decimal, or an integer of major units
            period: {months: 1}    # or {days: 7}; plan, addon, validity; not credit
            allowances:            # plan and addon, at least one
              - {zone: GBA, data_mb: 10240}    # exactly one of data_mb, voice_min, sms
              - {zone: HK, voice_min: 500}
            rollover: false        # plan only (default false)
            until_plan_end: true   # addon only (default false)
            active: true           # default true
    promotions:                    # optional
      - code: GBA2026
        name: {zh-Hant: ..., zh-Hans: ..., en: ...}
        kind: percent_off          # percent_off | amount_off | bonus_data
        percent: 20                # percent_off only: 1..100
        # amount: "10.00"          # amount_off only, with
        # currency: HKD            #   its currency
        # bonus: {zone: GBA, data_mb: 1024}   # bonus_data only
        starts_at: "2026-01-01T00:00:00+08:00"   # ISO 8601 with a UTC offset
        ends_at: "2028-01-01T00:00:00+08:00"     # exclusive; after starts_at
        coupon: GBA2026            # optional; matched case-insensitively; unique
        first_renewal_only: false  # default false
        offers: [ONE2-M1]          # optional; empty or absent: every offer
        product_lines: [ONE2]      # optional; empty or absent: every line
        per_card_limit: 1          # optional, >= 1
        global_limit: 1000         # optional, >= 1
        stackable: false           # default false

Amounts are never floats: ``price: 88.5`` unquoted is refused with a request to quote
it. Periods are capped at 12 months / 366 days because no more than 12 months may ever
be queued on a card. An offer's price must lie within its line's order limits, since
one order buys one offer and an offer outside them could never be sold. Offers come
out with ``version=1`` and ``sort_order`` = position in their list; the repository
assigns the real version numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml
from yaml.nodes import SequenceNode

from simrenew.domain.catalog import (
    BASE_ZONES,
    Allowance,
    BucketKind,
    Catalog,
    Offer,
    OfferKind,
    OrderLimits,
    Period,
    ProductLine,
    ValidityBand,
    ZoneMap,
)
from simrenew.domain.errors import CatalogInvalid, LocatedProblem
from simrenew.domain.money import Money
from simrenew.domain.promotions import Promotion, PromotionKind
from simrenew.services.yaml_reader import CODE, Fields, Item, YamlReader, suggest

__all__ = ["parse_catalog"]

_COUPON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")
# Lengths of the matching database columns.
_LINE_CODE_MAX, _OFFER_CODE_MAX, _PROMOTION_CODE_MAX, _ZONE_SET_MAX = 32, 48, 48, 16
# No more than 12 months may be queued, so a longer period could never be bought.
_MAX_MONTHS, _MAX_DAYS = 12, 366

# Keys that only some kinds take: kind -> (required, allowed).
_OFFER_KIND_KEYS: dict[OfferKind, tuple[frozenset[str], frozenset[str]]] = {
    OfferKind.PLAN: (frozenset({"period", "allowances"}), frozenset({"rollover"})),
    OfferKind.ADDON: (frozenset({"period", "allowances"}), frozenset({"until_plan_end"})),
    OfferKind.CREDIT: (frozenset(), frozenset()),
    OfferKind.VALIDITY: (frozenset({"period"}), frozenset()),
}
_PROMOTION_KIND_KEYS: dict[PromotionKind, tuple[frozenset[str], frozenset[str]]] = {
    PromotionKind.PERCENT_OFF: (frozenset({"percent"}), frozenset()),
    PromotionKind.AMOUNT_OFF: (frozenset({"amount", "currency"}), frozenset()),
    PromotionKind.BONUS_DATA: (frozenset({"bonus"}), frozenset()),
}


def parse_catalog(text: str) -> Catalog:
    """Validate a catalogue YAML text and build the ``Catalog`` it describes.

    Raises ``CatalogInvalid`` with every problem found (YAML syntax errors included),
    each located by line; nothing is returned unless the whole file is valid.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = exc.problem or exc.context or "unreadable"
        raise CatalogInvalid([LocatedProblem(f"line {line}", f"YAML syntax: {reason}")]) from exc
    except yaml.YAMLError as exc:
        raise CatalogInvalid([LocatedProblem("line 1", f"YAML syntax: {exc}")]) from exc
    if root is None:
        raise CatalogInvalid([LocatedProblem("line 1", "the catalogue file is empty")])
    reader = _CatalogReader()
    catalog = reader.catalog(Item(root, ""))
    if reader.problems:
        reader.problems.sort(key=lambda entry: entry[0])
        raise CatalogInvalid([problem for _, problem in reader.problems])
    return catalog


@dataclass(frozen=True, slots=True)
class _Line:
    """What an offer needs to know about the line it is sold on."""

    code: str | None
    currency: str
    currency_known: bool
    limits: OrderLimits | None
    bands: tuple[ValidityBand, ...]


@dataclass(slots=True)
class _Declared:
    """Codes seen so far, kept even when the rest of their entry is broken so that a
    reference to them is not reported as a second, misleading problem."""

    lines: dict[str, str | None] = field(default_factory=dict)  # code -> currency
    offers: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    promotions: set[str] = field(default_factory=set)


class _CatalogReader(YamlReader):
    """The catalogue's rules on top of the generic readers."""

    def __init__(self) -> None:
        super().__init__()
        self._declared = _Declared()
        self._coupons: dict[str, int] = {}

    # --- the catalogue -----------------------------------------------------------------

    def catalog(self, root: Item) -> Catalog:
        top = self.fields(root, ["product_lines"], ["zone_sets", "promotions"])
        if top is None:
            return Catalog(ZoneMap(), {}, {})
        zones = self.zone_sets(top.get("zone_sets"))
        lines: dict[str, ProductLine] = {}
        offers: dict[str, Offer] = {}
        line_items = self.sequence(top.get("product_lines"))
        if top.get("product_lines") is not None and not line_items:
            self.problem(top.values["product_lines"], "at least one product line is required")
        for line_item in line_items:
            line, line_offers = self.product_line(line_item, zones)
            if line is not None:
                lines[line.code] = line
            offers.update((offer.code, offer) for offer in line_offers)
        promotions = [
            promotion
            for item in self.sequence(top.get("promotions"))
            if (promotion := self.promotion(item, zones)) is not None
        ]
        return Catalog(zones, lines, offers, tuple(promotions))

    def zone_sets(self, item: Item | None) -> ZoneMap:
        sets: dict[str, frozenset[str]] = {}
        for name, key_item, value_item in self.entries(item) if item is not None else []:
            if not CODE.match(name) or len(name) > _ZONE_SET_MAX or name in BASE_ZONES:
                self.problem(
                    key_item,
                    f"{name!r} is not a valid zone set name: capital letters, digits, '-', '_', "
                    f"at most {_ZONE_SET_MAX} characters, and not HK, CN or MO themselves",
                )
                continue
            members: set[str] = set()
            zone_items = self.sequence(value_item)
            if not zone_items and isinstance(value_item.node, SequenceNode):
                self.problem(value_item, "a zone set needs at least one zone")
            for zone_item in zone_items:
                zone = self.zone(zone_item, ZoneMap())
                if zone in members:
                    self.problem(zone_item, f"{zone} is listed twice")
                elif zone is not None:
                    members.add(zone)
            if members:
                sets[name] = frozenset(members)
        return ZoneMap(sets)

    def product_line(self, item: Item, zones: ZoneMap) -> tuple[ProductLine | None, list[Offer]]:
        fields = self.fields(
            item,
            [
                "code",
                "name",
                "currency",
                "grace_days",
                "cooling_off_days",
                "order_limits",
                "offers",
            ],
            ["validity_bands"],
        )
        if fields is None:
            return None, []
        code = self.code(fields.get("code"), _LINE_CODE_MAX)
        currency = self.currency(fields.get("currency"))
        raw_code = self.raw_text(fields.get("code"))
        if raw_code is not None and raw_code in self._declared.lines:
            self.problem(fields.values["code"], f"product line {raw_code} is defined twice")
            code = None
        elif raw_code is not None:
            self._declared.lines[raw_code] = currency
        # With a bad currency, amounts are still checked for shape against a stand-in.
        money_currency = currency or "HKD"
        name = self.texts(fields.get("name"))
        grace_days = self.integer(fields.get("grace_days"), 0)
        cooling_off_days = self.integer(fields.get("cooling_off_days"), 0)
        limits = self.order_limits(fields.get("order_limits"), money_currency)
        bands = self.validity_bands(fields.get("validity_bands"), money_currency)
        context = _Line(code, money_currency, currency is not None, limits, bands)
        offers = [
            offer
            for index, offer_item in enumerate(self.sequence(fields.get("offers")))
            if (offer := self.offer(offer_item, index, context, zones)) is not None
        ]
        if (
            code is None
            or name is None
            or currency is None
            or grace_days is None
            or cooling_off_days is None
            or limits is None
        ):
            return None, offers
        line = ProductLine(code, name, currency, grace_days, cooling_off_days, limits, bands)
        return line, offers

    def order_limits(self, item: Item | None, currency: str) -> OrderLimits | None:
        fields = self.fields(item, ["min", "max", "per_30_days"])
        if fields is None:
            return None
        minimum = self.money(fields.get("min"), currency, positive=False)
        maximum = self.money(fields.get("max"), currency)
        per_30_days = self.money(fields.get("per_30_days"), currency)
        if minimum is None or maximum is None or per_30_days is None:
            return None
        if not minimum <= maximum <= per_30_days:
            self.problem(
                fields.item,
                f"need min <= max <= per_30_days, got {minimum} / {maximum} / {per_30_days}",
            )
            return None
        return OrderLimits(minimum, maximum, per_30_days)

    def validity_bands(self, item: Item | None, currency: str) -> tuple[ValidityBand, ...]:
        bands: list[ValidityBand] = []
        for band_item in self.sequence(item):
            fields = self.fields(band_item, ["min", "days"])
            if fields is None:
                continue
            minimum = self.money(fields.get("min"), currency)
            days = self.integer(fields.get("days"), 1, _MAX_DAYS)
            if minimum is None or days is None:
                continue
            # A bigger top-up buying no more validity is a typo, not a policy.
            if bands and not (minimum > bands[-1].minimum and days > bands[-1].days):
                self.problem(
                    band_item, "bands must rise: each min and days above the previous band's"
                )
                continue
            bands.append(ValidityBand(minimum, days))
        return tuple(bands)

    def offer(self, item: Item, index: int, line: _Line, zones: ZoneMap) -> Offer | None:
        fields = self.fields(
            item,
            ["code", "kind", "name", "description", "price"],
            ["period", "allowances", "rollover", "until_plan_end", "active"],
        )
        if fields is None:
            return None
        code = self.code(fields.get("code"), _OFFER_CODE_MAX)
        raw_code = self.raw_text(fields.get("code"))
        if raw_code is not None and raw_code in self._declared.offers:
            self.problem(fields.values["code"], f"offer {raw_code} is defined twice")
            code = None
        elif raw_code is not None:
            self._declared.offers[raw_code] = (
                line.code,
                line.currency if line.currency_known else None,
            )
        kind = self.choice(fields.get("kind"), OfferKind)
        if kind is not None:
            self.kind_keys(fields, kind, _OFFER_KIND_KEYS, "offer")
        name = self.texts(fields.get("name"))
        description = self.texts(fields.get("description"))
        price = self.money(fields.get("price"), line.currency)
        period = self.period(fields.get("period"))
        allowances = self.allowances(fields.get("allowances"), zones)
        if price is not None:
            self.check_price(fields.values["price"], price, kind, line)
        if (
            code is None
            or kind is None
            or name is None
            or description is None
            or price is None
            or line.code is None
            or (fields.get("period") is not None and period is None)
        ):
            return None
        return Offer(
            code=code,
            version=1,
            product_line=line.code,
            kind=kind,
            name=name,
            description=description,
            price=price,
            period=period,
            allowances=allowances,
            rollover=self.boolean(fields.get("rollover"), False),
            until_plan_end=self.boolean(fields.get("until_plan_end"), False),
            active=self.boolean(fields.get("active"), True),
            sort_order=index,
        )

    def check_price(self, item: Item, price: Money, kind: OfferKind | None, line: _Line) -> None:
        if line.limits is not None and not line.limits.minimum <= price <= line.limits.maximum:
            self.problem(
                item,
                f"{price} is outside the line's order limits "
                f"({line.limits.minimum} to {line.limits.maximum}), so it could never be sold",
            )
        if kind is OfferKind.CREDIT:
            if not line.bands:
                self.problem(item, "credit needs validity_bands on its product line")
            elif price < line.bands[0].minimum:
                self.problem(
                    item,
                    f"{price} reaches no validity band (the lowest is {line.bands[0].minimum}), "
                    "so this credit would not extend validity",
                )

    def period(self, item: Item | None) -> Period | None:
        fields = self.fields(item, [], ["days", "months"])
        if fields is None:
            return None
        if len(fields.values) != 1:
            self.problem(fields.item, "give exactly one of days or months")
            return None
        ((unit, count_item),) = fields.values.items()
        maximum = _MAX_MONTHS if unit == "months" else _MAX_DAYS
        count = self.integer(count_item, 1, maximum)
        return None if count is None else Period(count, unit)

    def allowances(self, item: Item | None, zones: ZoneMap) -> tuple[Allowance, ...]:
        result: list[Allowance] = []
        seen: dict[tuple[str, BucketKind], int] = {}
        items = self.sequence(item)
        if item is not None and isinstance(item.node, SequenceNode) and not items:
            self.problem(item, "at least one allowance is required")
        kinds = [kind.value for kind in BucketKind]
        for allowance_item in items:
            fields = self.fields(allowance_item, ["zone"], kinds)
            if fields is None:
                continue
            zone = self.zone(fields.get("zone"), zones)
            given = [kind for kind in BucketKind if kind.value in fields.values]
            if len(given) != 1:
                self.problem(allowance_item, f"give exactly one of {', '.join(kinds)}")
                continue
            amount = self.integer(fields.get(given[0].value), 1)
            if zone is None or amount is None:
                continue
            key = (zone, given[0])
            if key in seen:
                self.problem(
                    allowance_item,
                    f"{given[0].value} in {zone} is already given on line {seen[key]}",
                )
                continue
            seen[key] = allowance_item.line
            result.append(Allowance(zone, given[0], amount))
        return tuple(result)

    # --- promotions --------------------------------------------------------------------

    def promotion(self, item: Item, zones: ZoneMap) -> Promotion | None:
        fields = self.fields(
            item,
            ["code", "name", "kind", "starts_at", "ends_at"],
            [
                "percent",
                "amount",
                "currency",
                "bonus",
                "coupon",
                "first_renewal_only",
                "offers",
                "product_lines",
                "per_card_limit",
                "global_limit",
                "stackable",
            ],
        )
        if fields is None:
            return None
        code = self.code(fields.get("code"), _PROMOTION_CODE_MAX)
        raw_code = self.raw_text(fields.get("code"))
        if raw_code is not None and raw_code in self._declared.promotions:
            self.problem(fields.values["code"], f"promotion {raw_code} is defined twice")
            code = None
        elif raw_code is not None:
            self._declared.promotions.add(raw_code)
        name = self.texts(fields.get("name"))
        kind = self.choice(fields.get("kind"), PromotionKind)
        percent, amount_off, bonus = 0, None, None
        if kind is not None:
            self.kind_keys(fields, kind, _PROMOTION_KIND_KEYS, "promotion")
            percent, amount_off, bonus = self.benefit(fields, kind, zones)
        starts_at = self.instant(fields.get("starts_at"))
        ends_at = self.instant(fields.get("ends_at"))
        if starts_at is not None and ends_at is not None and ends_at <= starts_at:
            self.problem(fields.values["ends_at"], "must be after starts_at")
        coupon = self.coupon(fields.get("coupon"))
        offers = self.references(fields.get("offers"), self._declared.offers.keys(), "offer")
        lines = self.references(
            fields.get("product_lines"), self._declared.lines.keys(), "product line"
        )
        self.check_reach(fields, offers, lines, amount_off)
        first_renewal_only = self.boolean(fields.get("first_renewal_only"), False)
        per_card_limit = self.integer(fields.get("per_card_limit"), 1)
        global_limit = self.integer(fields.get("global_limit"), 1)
        stackable = self.boolean(fields.get("stackable"), False)
        if code is None or name is None or kind is None or starts_at is None or ends_at is None:
            return None
        return Promotion(
            code=code,
            name=name,
            kind=kind,
            starts_at=starts_at,
            ends_at=ends_at,
            percent=percent,
            amount_off=amount_off,
            bonus=bonus,
            coupon=coupon,
            first_renewal_only=first_renewal_only,
            offers=frozenset(offers),
            product_lines=frozenset(lines),
            per_card_limit=per_card_limit,
            global_limit=global_limit,
            stackable=stackable,
        )

    def benefit(
        self, fields: Fields, kind: PromotionKind, zones: ZoneMap
    ) -> tuple[int, Money | None, Allowance | None]:
        """(percent, amount off, bonus) of a promotion; only its kind's key is read."""
        if kind is PromotionKind.PERCENT_OFF:
            return self.integer(fields.get("percent"), 1, 100) or 0, None, None
        if kind is PromotionKind.AMOUNT_OFF:
            currency = self.currency(fields.get("currency"))
            amount = self.money(fields.get("amount"), currency or "HKD")
            return 0, amount if currency is not None else None, None
        bonus = self.fields(fields.get("bonus"), ["zone", "data_mb"])
        if bonus is None:
            return 0, None, None
        zone = self.zone(bonus.get("zone"), zones)
        data_mb = self.integer(bonus.get("data_mb"), 1)
        if zone is None or data_mb is None:
            return 0, None, None
        return 0, None, Allowance(zone, BucketKind.DATA_MB, data_mb)

    def coupon(self, item: Item | None) -> str | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        if not _COUPON.match(value):
            self.problem(
                item, f"{value!r} is not a valid coupon: 3 to 32 letters, digits, '-', '_'"
            )
            return None
        # Buyers type coupons in any case, so two that differ only in case would clash.
        if value.upper() in self._coupons:
            self.problem(
                item, f"coupon {value} is already used on line {self._coupons[value.upper()]}"
            )
            return None
        self._coupons[value.upper()] = item.line
        return value

    def references(self, item: Item | None, known: Iterable[str], what: str) -> list[str]:
        codes: list[str] = []
        known = set(known)
        for ref_item in self.sequence(item):
            code = self.text(ref_item)
            if code is None:
                continue
            if code not in known:
                self.problem(ref_item, f"unknown {what} {code!r}{suggest(code, known)}")
            elif code in codes:
                self.problem(ref_item, f"{code} is listed twice")
            else:
                codes.append(code)
        return codes

    def check_reach(
        self, fields: Fields, offers: list[str], lines: list[str], amount_off: Money | None
    ) -> None:
        """A promotion that can never apply is a mistake, not a configuration."""
        for code in offers:
            line, currency = self._declared.offers[code]
            if lines and line is not None and line not in lines:
                self.problem(
                    fields.values["offers"], f"offer {code} is on {line}, not in product_lines"
                )
            if amount_off is not None and currency not in (None, amount_off.currency):
                self.problem(
                    fields.values["offers"],
                    f"offer {code} is priced in {currency}, not {amount_off.currency}",
                )
        if amount_off is None or offers:
            return
        for code in lines:
            currency = self._declared.lines[code]
            if currency not in (None, amount_off.currency):
                self.problem(
                    fields.values["product_lines"],
                    f"{code} sells in {currency}, not {amount_off.currency}",
                )
        if not lines and amount_off.currency not in self._declared.lines.values():
            self.problem(
                fields.values["currency"], f"no product line sells in {amount_off.currency}"
            )
