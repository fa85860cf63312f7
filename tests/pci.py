"""A guard for PCI: no payment card number (PAN) may be left in the database, the logs
or the outbox. simrenew never handles card numbers (the providers' hosted pages do),
so any PAN found in what the test suite leaves behind is a leak.

``find_pans`` is the scanner. A PAN is a run of 13 to 19 digits, written whole or in
groups (4-4-4-4 with optional tail, or Amex's 4-6-5 and Diners' 4-6-4, separated by
one space or one dash throughout), that

- stands on its own: not part of an identifier (a letter, a digit or ``_`` next to
  it, as in our hex ids ``pay_019a...``), not a phone number (``+`` before it), not
  the decimals of a number (``0.4242...``), not part of a longer digit group;
- starts with a card brand's IIN and has a length that brand issues (``_BRANDS``);
- passes the Luhn check.

ICCIDs (SIM serials: 19-20 digits from ``89``, Luhn-valid), EIDs (32 digits), IMSIs
and IMEIs (15 digits) are not PANs: ``89`` is no card brand's prefix, and the only
15-digit brand is Amex (34/37), which IMEIs never start with.

``scan_database`` reads every text column of every table; ``LogScan`` keeps every log
message of a run. ``tests/conftest.py`` hooks both in.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    CompoundSelect,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    Text,
    func,
    literal_column,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

# Digits only in ASCII: with Unicode \w a PAN right after Chinese text ("卡號4242...")
# would count as part of a word and be missed.
_CANDIDATE = re.compile(
    r"""
    (?<![\w+])          # not inside an id or a word, not a phone number (+852...)
    (?<!\d\.)           # not the decimals of a number
    (?<!\d[ -])         # not the second half of a longer digit group
    (?:
        \d{13,19}
      | \d{4}(?P<sep>[ -])\d{4}(?:(?P=sep)\d{4}){1,2}(?:(?P=sep)\d{1,3})?  # 4-4-4(-4)(-1..3)
      | \d{4}(?P<amex>[ -])\d{6}(?P=amex)\d{4,5}
    )
    (?!\w)(?!\.\d)(?![ -]\d)
    """,
    re.VERBOSE | re.ASCII,
)

# (brand, IIN ranges as inclusive (low, high) prefixes of equal length, lengths issued).
# Lengths are kept to those the brands issue today, which is also what keeps 15-digit
# IMSIs and IMEIs out (Maestro's and Diners' old 12-15 digit numbers are left out).
_BRANDS: tuple[tuple[str, tuple[tuple[str, str], ...], frozenset[int]], ...] = (
    ("Visa", (("4", "4"),), frozenset({13, 16, 19})),
    ("Mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    ("American Express", (("34", "34"), ("37", "37")), frozenset({15})),
    ("UnionPay", (("62", "62"), ("81", "81")), frozenset(range(16, 20))),
    ("JCB", (("3528", "3589"),), frozenset(range(16, 20))),
    ("Discover", (("6011", "6011"), ("644", "649"), ("65", "65")), frozenset(range(16, 20))),
    (
        "Diners Club",
        (("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")),
        frozenset({14, 16, 17, 18, 19}),
    ),
    ("Maestro", (("50", "50"), ("56", "58"), ("63", "63"), ("67", "67")), frozenset(range(16, 20))),
    ("Mir", (("2200", "2204"),), frozenset(range(16, 20))),
    ("RuPay", (("60", "60"), ("508", "508"), ("82", "82")), frozenset({16})),
    ("Troy", (("9792", "9792"),), frozenset({16})),
)

# 13 digits, a space or a dash allowed between any two: cheap, and no PAN passes it by.
_QUICK = re.compile(r"\d(?:[ -]?\d){12}", re.ASCII)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def brand(digits: str) -> str | None:
    """The card brand whose IIN range and lengths ``digits`` fit, or None."""
    for name, ranges, lengths in _BRANDS:
        if len(digits) in lengths and any(
            low <= digits[: len(low)] <= high for low, high in ranges
        ):
            return name
    return None


def is_iccid(digits: str) -> bool:
    """A SIM card serial (ITU-T E.118): telecom MII 89, 19 or 20 digits."""
    return digits.startswith("89") and len(digits) in (19, 20)


def _pan(candidate: str) -> str | None:
    digits = candidate.replace(" ", "").replace("-", "")
    if (
        13 <= len(digits) <= 19
        and not is_iccid(digits)
        and brand(digits) is not None
        and luhn_valid(digits)
    ):
        return digits
    return None


def find_pans(text: str) -> list[str]:
    """The payment card numbers in ``text``, digits only, in order of appearance."""
    if not _QUICK.search(text):  # most texts have no 13 digits close together at all
        return []
    return [pan for m in _CANDIDATE.finditer(text) if (pan := _pan(m.group())) is not None]


def redact(text: str) -> str:
    """``text`` with every PAN in it masked."""
    return _CANDIDATE.sub(lambda m: mask(pan) if (pan := _pan(m.group())) else m.group(), text)


def mask(pan: str) -> str:
    """First six and last four, as PCI DSS allows a PAN to be shown."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


# --- the database ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    where: str  # "table.column", or the test a log record was made in
    key: str  # the row's primary key, or the log record (masked)
    masked: str

    def __str__(self) -> str:
        return f"{self.masked} in {self.where} ({self.key})"


def _base(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_


def _text_columns(table: Table) -> list[Column[Any]]:
    """Varchar and text, JSON kept as text included."""
    return [c for c in table.columns if isinstance(_base(c.type), String)]


def _byte_columns(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if isinstance(_base(c.type), LargeBinary)]


def _stored(column: Column[Any]) -> ColumnElement[str]:
    """The text as stored: type_coerce keeps JsonText from parsing it."""
    return type_coerce(column, Text())


@functools.cache
def _everything(metadata: MetaData, dialect: str) -> tuple[tuple[Table, ...], CompoundSelect[Any]]:
    """One statement for every row of every table with text columns: the table's index
    and the row's text columns joined by newlines. One round trip per scan whatever
    the number of tables, nothing from an empty one, and one branch per table (not
    per column), which PostgreSQL plans quicker."""
    scanned = tuple(t for t in metadata.sorted_tables if _text_columns(t))
    newline = literal_column("char(10)" if dialect == "sqlite" else "chr(10)", Text())
    branches: list[Select[Any, str]] = []
    for index, table in enumerate(scanned):
        joined: ColumnElement[str] | None = None
        for column in _text_columns(table):
            text = func.coalesce(_stored(column), literal_column("''"), type_=Text())
            joined = text if joined is None else joined + newline + text
        assert joined is not None
        branches.append(select(literal_column(str(index)).label("k"), joined.label("v")))
    return scanned, union_all(*branches)


def _locate(connection: Connection, column: Column[Any], *, binary: bool) -> Iterator[Finding]:
    """Each PAN in ``column``, with its row's primary key."""
    table = column.table
    keys = list(table.primary_key.columns)
    value = column if binary else _stored(column)
    for *key_values, stored in connection.execute(select(*keys, value).where(column.is_not(None))):
        text = bytes(stored).decode("utf-8", errors="replace") if binary else str(stored)
        key = ", ".join(f"{k.name}={v}" for k, v in zip(keys, key_values, strict=True))
        for pan in find_pans(text):
            yield Finding(f"{table.name}.{column.name}", key, mask(pan))


def scan_database(engine: Engine, metadata: MetaData) -> list[Finding]:
    """Every PAN in the text columns (varchar, text, JSON kept as text) and byte
    columns (read as UTF-8) of every table of ``metadata``. The text comes back in one
    statement (see ``_everything``) and is scanned a table at a time; only a table
    with a hit is read again, a column at a time with its rows' primary keys, to say
    where the number is. Byte columns are read one by one (there are few)."""
    findings: list[Finding] = []
    with engine.connect() as connection:
        scanned, everything = _everything(metadata, connection.dialect.name)
        texts: dict[int, list[str]] = defaultdict(list)
        for index, text in connection.execute(everything):
            texts[int(index)].append(text)
        for index, rows in texts.items():
            if find_pans("\n".join(rows)):
                for column in _text_columns(scanned[index]):
                    findings += _locate(connection, column, binary=False)
        for table in metadata.sorted_tables:
            for column in _byte_columns(table):
                findings += _locate(connection, column, binary=True)
    return findings


def report(findings: Sequence[Finding], *, what: str) -> str:
    lines = [f"payment card number(s) found in {what} (PCI: none may be stored or logged):"]
    lines += [f"  {finding}" for finding in findings]
    return "\n".join(lines)


# --- the logs ----------------------------------------------------------------------------


class LogScan(logging.Handler):
    """Keeps every log record of a run, formatted (logger, level, message, traceback),
    with the test that was running, for ``findings`` to scan at the end. ``attach``
    puts it on the root logger at DEBUG (again, if something replaced the root's
    handlers meanwhile)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.records: list[tuple[str, str]] = []  # (test, formatted record)
        self.test = "(no test)"
        self._root_level: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append((self.test, self.format(record)))
        except Exception:  # a broken record must not break the test that logged it
            self.handleError(record)

    def attach(self, test: str | None = None) -> None:
        if test is not None:
            self.test = test
        root = logging.getLogger()
        if self._root_level is None:
            self._root_level = root.level
        if self not in root.handlers:
            root.addHandler(self)
        if root.level != logging.DEBUG:
            root.setLevel(logging.DEBUG)

    def detach(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        if self._root_level is not None:
            root.setLevel(self._root_level)

    def findings(self) -> list[Finding]:
        found = []
        for test, line in self.records:
            for pan in dict.fromkeys(find_pans(line)):  # once per record (a traceback repeats)
                found.append(Finding(f"a log record of {test}", redact(line)[:300], mask(pan)))
        return found
