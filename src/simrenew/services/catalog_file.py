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

import difflib
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from simrenew.domain.catalog import (
    BASE_ZONES,
    LANGUAGES,
    Allowance,
    BucketKind,
    Catalog,
    Offer,
    OfferKind,
    OrderLimits,
    Period,
    ProductLine,
    Texts,
    ValidityBand,
    ZoneMap,
)
from simrenew.domain.errors import CatalogInvalid, InvalidMoney, LocatedProblem
from simrenew.domain.money import MINOR_DIGITS, Money
from simrenew.domain.promotions import Promotion, PromotionKind

__all__ = ["parse_catalog"]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP = f"{_TAG}timestamp"

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
_COUPON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")
# Lengths of the matching database columns.
_LINE_CODE_MAX, _OFFER_CODE_MAX, _PROMOTION_CODE_MAX, _ZONE_SET_MAX = 32, 48, 48, 16
# No more than 12 months may be queued, so a longer period could never be bought.
_MAX_MONTHS, _MAX_DAYS = 12, 366
# The database columns: INTEGER for counts and days, BIGINT for minor units.
_MAX_INT, _MAX_MINOR = 2**31 - 1, 2**63 - 1

_E = TypeVar("_E", bound=enum.Enum)

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
    reader = _Reader()
    catalog = reader.catalog(_Item(root, ""))
    if reader.problems:
        reader.problems.sort(key=lambda entry: entry[0])
        raise CatalogInvalid([problem for _, problem in reader.problems])
    return catalog


@dataclass(frozen=True, slots=True)
class _Item:
    """A node and its path in the file, e.g. ``product_lines[0].offers[3].price``."""

    node: Node
    path: str

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


@dataclass(frozen=True, slots=True)
class _Fields:
    item: _Item
    values: dict[str, _Item]

    def get(self, key: str) -> _Item | None:
        return self.values.get(key)


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


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {
        _INT: f"the number {node.value}",
        _FLOAT: f"the decimal number {node.value}",
        _BOOL: f"the boolean {node.value} (quote it if you meant text)",
        _NULL: "nothing",
        _TIMESTAMP: f"the date {node.value}",
    }.get(node.tag, repr(node.value))


def _suggest(key: str, allowed: Iterable[str]) -> str:
    options = sorted(allowed)
    close = difflib.get_close_matches(key, options, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(options)}"


class _Reader:
    """Walks the node tree, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[tuple[int, LocatedProblem]] = []
        self._constructor = SafeConstructor()
        self._declared = _Declared()
        self._coupons: dict[str, int] = {}

    def problem(self, item: _Item, message: str) -> None:
        where = f"{item.path}: " if item.path else ""
        self.problems.append((item.line, LocatedProblem(f"line {item.line}", where + message)))

    # --- shapes ------------------------------------------------------------------------

    def entries(self, item: _Item) -> list[tuple[str, _Item, _Item]]:
        """(key, key item, value item) of a mapping; duplicate keys are problems."""
        if not isinstance(item.node, MappingNode):
            self.problem(item, f"expected a mapping (key: value), got {_describe(item.node)}")
            return []
        seen: dict[str, int] = {}
        result = []
        for key_node, value_node in item.node.value:
            key = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
            key_item = _Item(key_node, item.child(key or "?"))
            if not key:
                self.problem(key_item, "keys must be plain text")
                continue
            if key in seen:
                # PyYAML would silently keep the last value; an operator meant one of them.
                self.problem(key_item, f"{key!r} appears twice (first on line {seen[key]})")
                continue
            seen[key] = key_item.line
            result.append((key, key_item, _Item(value_node, item.child(key))))
        return result

    def fields(
        self, item: _Item | None, required: Iterable[str], optional: Iterable[str] = ()
    ) -> _Fields | None:
        if item is None:
            return None
        required = tuple(required)
        allowed = {*required, *optional}
        if not isinstance(item.node, MappingNode):
            self.problem(item, f"expected a mapping (key: value), got {_describe(item.node)}")
            return None
        values: dict[str, _Item] = {}
        suggested: set[str] = set()
        for key, key_item, value_item in self.entries(item):
            if key in allowed:
                values[key] = value_item
            else:
                self.problem(key_item, f"unknown key {key!r}{_suggest(key, allowed)}")
                suggested.update(difflib.get_close_matches(key, sorted(allowed), n=1))
        for key in required:
            # "did you mean 'price'?" already says it; "'price' is required" would be noise.
            if key not in values and key not in suggested:
                self.problem(item, f"{key!r} is required")
        return _Fields(item, values)

    def kind_keys(
        self,
        fields: _Fields,
        kind: _E,
        table: dict[_E, tuple[frozenset[str], frozenset[str]]],
        what: str,
    ) -> None:
        required, allowed = table[kind]
        specific: set[str] = set()
        for kind_required, kind_allowed in table.values():
            specific |= kind_required | kind_allowed
        for key in sorted(specific & fields.values.keys() - required - allowed):
            self.problem(fields.values[key], f"not allowed for a {kind.value} {what}")
        for key in sorted(required - fields.values.keys()):
            self.problem(fields.item, f"a {kind.value} {what} needs {key!r}")

    def sequence(self, item: _Item | None) -> list[_Item]:
        if item is None:
            return []
        if not isinstance(item.node, SequenceNode):
            self.problem(item, f"expected a list, got {_describe(item.node)}")
            return []
        return [_Item(node, f"{item.path}[{i}]") for i, node in enumerate(item.node.value)]

    # --- scalars -----------------------------------------------------------------------

    @staticmethod
    def raw_text(item: _Item | None) -> str | None:
        """The text of a scalar without judging it, to remember a code even if invalid."""
        if item is None or not isinstance(item.node, ScalarNode) or item.node.tag != _STR:
            return None
        return str(item.node.value).strip() or None

    def text(self, item: _Item | None) -> str | None:
        if item is None:
            return None
        if not isinstance(item.node, ScalarNode) or item.node.tag != _STR:
            self.problem(item, f"expected text, got {_describe(item.node)}")
            return None
        value = str(item.node.value).strip()
        if not value:
            self.problem(item, "must not be empty")
            return None
        return value

    def code(self, item: _Item | None, max_length: int) -> str | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        if not _CODE.match(value) or len(value) > max_length:
            self.problem(
                item,
                f"{value!r} is not a valid code: use capital letters, digits, '-' and '_', "
                f"at most {max_length} characters",
            )
            return None
        return value

    def integer(self, item: _Item | None, minimum: int, maximum: int | None = None) -> int | None:
        if item is None:
            return None
        if not isinstance(item.node, ScalarNode) or item.node.tag != _INT:
            self.problem(item, f"expected a whole number, got {_describe(item.node)}")
            return None
        value = self._constructor.construct_yaml_int(item.node)
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"{minimum} to {maximum}"
            self.problem(item, f"{value} is out of range: must be {bounds}")
            return None
        if value > _MAX_INT:
            self.problem(item, f"{value} is too large")
            return None
        return value

    def boolean(self, item: _Item | None, default: bool) -> bool:
        if item is None:
            return default
        if not isinstance(item.node, ScalarNode) or item.node.tag != _BOOL:
            self.problem(item, f"expected true or false, got {_describe(item.node)}")
            return default
        return self._constructor.construct_yaml_bool(item.node)

    def choice(self, item: _Item | None, kind: type[_E]) -> _E | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        for member in kind:
            if member.value == value:
                return member
        names = [str(member.value) for member in kind]
        self.problem(item, f"unknown kind {value!r}{_suggest(value, names)}")
        return None

    def currency(self, item: _Item | None) -> str | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        if value not in MINOR_DIGITS:
            self.problem(item, f"unknown currency {value!r}: use {' or '.join(MINOR_DIGITS)}")
            return None
        return value

    def money(self, item: _Item | None, currency: str, *, positive: bool = True) -> Money | None:
        if item is None:
            return None
        node = item.node
        if isinstance(node, ScalarNode) and node.tag == _FLOAT:
            self.problem(
                item,
                f"{node.value} is a YAML float, which can lose cents; "
                f'quote the amount: "{node.value}"',
            )
            return None
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _INT):
            self.problem(item, f'expected an amount like "88.00", got {_describe(node)}')
            return None
        raw: str | int = (
            self._constructor.construct_yaml_int(node) if node.tag == _INT else str(node.value)
        )
        try:
            amount = Money.parse(raw, currency)
        except InvalidMoney as exc:
            self.problem(item, exc.message)
            return None
        if amount.amount_minor < 0 or (positive and amount.is_zero()):
            self.problem(item, f"{amount} must be {'more than' if positive else 'at least'} 0")
            return None
        if amount.amount_minor > _MAX_MINOR:
            self.problem(item, f"{amount} is too large")
            return None
        return amount

    def instant(self, item: _Item | None) -> datetime | None:
        if item is None:
            return None
        node = item.node
        # Unquoted ISO timestamps resolve to YAML timestamps; the raw text is what counts.
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _TIMESTAMP):
            self.problem(item, f"expected a date and time, got {_describe(node)}")
            return None
        try:
            value = datetime.fromisoformat(str(node.value).strip())
        except ValueError:
            self.problem(item, f"{node.value!r} is not like 2026-01-01T00:00:00+08:00")
            return None
        if value.utcoffset() is None:
            self.problem(item, f"{node.value!r} needs a UTC offset, e.g. +08:00 for Hong Kong")
            return None
        return value.astimezone(UTC)

    def texts(self, item: _Item | None) -> Texts | None:
        fields = self.fields(item, LANGUAGES)
        if fields is None:
            return None
        values = [self.text(fields.get(language)) for language in LANGUAGES]
        if None in values:
            return None
        zh_hant, zh_hans, en = (str(v) for v in values)
        return Texts(zh_hant, zh_hans, en)

    def zone(self, item: _Item | None, zones: ZoneMap) -> str | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        if not zones.knows(value):
            known = sorted(BASE_ZONES) + sorted(zones.sets)
            self.problem(item, f"unknown zone {value!r}: use one of {', '.join(known)}")
            return None
        return value

    # --- the catalogue -----------------------------------------------------------------

    def catalog(self, root: _Item) -> Catalog:
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

    def zone_sets(self, item: _Item | None) -> ZoneMap:
        sets: dict[str, frozenset[str]] = {}
        for name, key_item, value_item in self.entries(item) if item is not None else []:
            if not _CODE.match(name) or len(name) > _ZONE_SET_MAX or name in BASE_ZONES:
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

    def product_line(self, item: _Item, zones: ZoneMap) -> tuple[ProductLine | None, list[Offer]]:
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

    def order_limits(self, item: _Item | None, currency: str) -> OrderLimits | None:
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

    def validity_bands(self, item: _Item | None, currency: str) -> tuple[ValidityBand, ...]:
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

    def offer(self, item: _Item, index: int, line: _Line, zones: ZoneMap) -> Offer | None:
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

    def check_price(self, item: _Item, price: Money, kind: OfferKind | None, line: _Line) -> None:
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

    def period(self, item: _Item | None) -> Period | None:
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

    def allowances(self, item: _Item | None, zones: ZoneMap) -> tuple[Allowance, ...]:
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

    def promotion(self, item: _Item, zones: ZoneMap) -> Promotion | None:
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
        self, fields: _Fields, kind: PromotionKind, zones: ZoneMap
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

    def coupon(self, item: _Item | None) -> str | None:
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

    def references(self, item: _Item | None, known: Iterable[str], what: str) -> list[str]:
        codes: list[str] = []
        known = set(known)
        for ref_item in self.sequence(item):
            code = self.text(ref_item)
            if code is None:
                continue
            if code not in known:
                self.problem(ref_item, f"unknown {what} {code!r}{_suggest(code, known)}")
            elif code in codes:
                self.problem(ref_item, f"{code} is listed twice")
            else:
                codes.append(code)
        return codes

    def check_reach(
        self, fields: _Fields, offers: list[str], lines: list[str], amount_off: Money | None
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
