"""Reading an operator's YAML file into domain values, collecting every problem with its line.

The operator's files (the catalogue, for one) are hand-written, so a parser should say
everything that is wrong in one pass rather than stop at the first slip. ``YamlReader``
walks the node tree of ``yaml.compose`` (not ``yaml.safe_load``, which forgets where a
value came from) and turns scalars and mappings into checked domain values: a mapping's
known keys, text, codes, bounded integers, booleans, enum choices, currencies, money,
instants, translated texts and zones. Each reader returns ``None`` (or a default) on a
bad value and records a ``LocatedProblem("line N", "path: message")`` in ``problems``;
a subclass adds the rules of one file format on top of these primitives.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from simrenew.domain.catalog import BASE_ZONES, LANGUAGES, Texts, ZoneMap
from simrenew.domain.errors import InvalidMoney, LocatedProblem
from simrenew.domain.money import MINOR_DIGITS, Money

__all__ = ["CODE", "Fields", "Item", "YamlReader", "describe", "suggest"]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP = f"{_TAG}timestamp"

# What ``YamlReader.code`` accepts: capital letters, digits, "-" and "_".
CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
# The database columns: INTEGER for counts and days, BIGINT for minor units.
_MAX_INT, _MAX_MINOR = 2**31 - 1, 2**63 - 1

_E = TypeVar("_E", bound=enum.Enum)


@dataclass(frozen=True, slots=True)
class Item:
    """A node and its path in the file, e.g. ``product_lines[0].offers[3].price``."""

    node: Node
    path: str

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


@dataclass(frozen=True, slots=True)
class Fields:
    """The known keys of a mapping and their values; unknown keys are already reported."""

    item: Item
    values: dict[str, Item]

    def get(self, key: str) -> Item | None:
        return self.values.get(key)


def describe(node: Node) -> str:
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


def suggest(key: str, allowed: Iterable[str]) -> str:
    options = sorted(allowed)
    close = difflib.get_close_matches(key, options, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(options)}"


class YamlReader:
    """Walks the node tree, collecting problems instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[tuple[int, LocatedProblem]] = []
        self._constructor = SafeConstructor()

    def problem(self, item: Item, message: str) -> None:
        where = f"{item.path}: " if item.path else ""
        self.problems.append((item.line, LocatedProblem(f"line {item.line}", where + message)))

    # --- shapes ------------------------------------------------------------------------

    def entries(self, item: Item) -> list[tuple[str, Item, Item]]:
        """(key, key item, value item) of a mapping; duplicate keys are problems."""
        if not isinstance(item.node, MappingNode):
            self.problem(item, f"expected a mapping (key: value), got {describe(item.node)}")
            return []
        seen: dict[str, int] = {}
        result = []
        for key_node, value_node in item.node.value:
            key = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
            key_item = Item(key_node, item.child(key or "?"))
            if not key:
                self.problem(key_item, "keys must be plain text")
                continue
            if key in seen:
                # PyYAML would silently keep the last value; an operator meant one of them.
                self.problem(key_item, f"{key!r} appears twice (first on line {seen[key]})")
                continue
            seen[key] = key_item.line
            result.append((key, key_item, Item(value_node, item.child(key))))
        return result

    def fields(
        self, item: Item | None, required: Iterable[str], optional: Iterable[str] = ()
    ) -> Fields | None:
        if item is None:
            return None
        required = tuple(required)
        allowed = {*required, *optional}
        if not isinstance(item.node, MappingNode):
            self.problem(item, f"expected a mapping (key: value), got {describe(item.node)}")
            return None
        values: dict[str, Item] = {}
        suggested: set[str] = set()
        for key, key_item, value_item in self.entries(item):
            if key in allowed:
                values[key] = value_item
            else:
                self.problem(key_item, f"unknown key {key!r}{suggest(key, allowed)}")
                suggested.update(difflib.get_close_matches(key, sorted(allowed), n=1))
        for key in required:
            # "did you mean 'price'?" already says it; "'price' is required" would be noise.
            if key not in values and key not in suggested:
                self.problem(item, f"{key!r} is required")
        return Fields(item, values)

    def kind_keys(
        self,
        fields: Fields,
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

    def sequence(self, item: Item | None) -> list[Item]:
        if item is None:
            return []
        if not isinstance(item.node, SequenceNode):
            self.problem(item, f"expected a list, got {describe(item.node)}")
            return []
        return [Item(node, f"{item.path}[{i}]") for i, node in enumerate(item.node.value)]

    # --- scalars -----------------------------------------------------------------------

    @staticmethod
    def raw_text(item: Item | None) -> str | None:
        """The text of a scalar without judging it, to remember a code even if invalid."""
        if item is None or not isinstance(item.node, ScalarNode) or item.node.tag != _STR:
            return None
        return str(item.node.value).strip() or None

    def text(self, item: Item | None) -> str | None:
        if item is None:
            return None
        if not isinstance(item.node, ScalarNode) or item.node.tag != _STR:
            self.problem(item, f"expected text, got {describe(item.node)}")
            return None
        value = str(item.node.value).strip()
        if not value:
            self.problem(item, "must not be empty")
            return None
        return value

    def code(self, item: Item | None, max_length: int) -> str | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        if not CODE.match(value) or len(value) > max_length:
            self.problem(
                item,
                f"{value!r} is not a valid code: use capital letters, digits, '-' and '_', "
                f"at most {max_length} characters",
            )
            return None
        return value

    def integer(self, item: Item | None, minimum: int, maximum: int | None = None) -> int | None:
        if item is None:
            return None
        if not isinstance(item.node, ScalarNode) or item.node.tag != _INT:
            self.problem(item, f"expected a whole number, got {describe(item.node)}")
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

    def boolean(self, item: Item | None, default: bool) -> bool:
        if item is None:
            return default
        if not isinstance(item.node, ScalarNode) or item.node.tag != _BOOL:
            self.problem(item, f"expected true or false, got {describe(item.node)}")
            return default
        return self._constructor.construct_yaml_bool(item.node)

    def choice(self, item: Item | None, kind: type[_E]) -> _E | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        for member in kind:
            if member.value == value:
                return member
        names = [str(member.value) for member in kind]
        self.problem(item, f"unknown kind {value!r}{suggest(value, names)}")
        return None

    def currency(self, item: Item | None) -> str | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        if value not in MINOR_DIGITS:
            self.problem(item, f"unknown currency {value!r}: use {' or '.join(MINOR_DIGITS)}")
            return None
        return value

    def money(self, item: Item | None, currency: str, *, positive: bool = True) -> Money | None:
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
            self.problem(item, f'expected an amount like "88.00", got {describe(node)}')
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

    def instant(self, item: Item | None) -> datetime | None:
        if item is None:
            return None
        node = item.node
        # Unquoted ISO timestamps resolve to YAML timestamps; the raw text is what counts.
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _TIMESTAMP):
            self.problem(item, f"expected a date and time, got {describe(node)}")
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

    def texts(self, item: Item | None) -> Texts | None:
        fields = self.fields(item, LANGUAGES)
        if fields is None:
            return None
        values = [self.text(fields.get(language)) for language in LANGUAGES]
        if None in values:
            return None
        zh_hant, zh_hans, en = (str(v) for v in values)
        return Texts(zh_hant, zh_hans, en)

    def zone(self, item: Item | None, zones: ZoneMap) -> str | None:
        value = self.text(item)
        if item is None or value is None:
            return None
        if not zones.knows(value):
            known = sorted(BASE_ZONES) + sorted(zones.sets)
            self.problem(item, f"unknown zone {value!r}: use one of {', '.join(known)}")
            return None
        return value
