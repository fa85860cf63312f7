"""Bank transfers (FPS): the reference a payer types, and the bank statement CSV.

Pure: no files, no database, no clock. ``services/reconciliation.py`` matches what
this module reads against our books; ``providers/fps.py`` hands the reference out.

The reference
-------------
``SR`` + 8 characters + 1 check character, e.g. ``SR4K7M9QX2Y``, from the 32
characters ``23456789ABCDEFGHJKLMNPQRSTUVWXYZ``: no ``0``/``O`` and no ``1``/``I``,
which are misread on screens and mistyped in banking apps. The 8 characters are the
first 40 bits of SHA-256 over the payment id, so the same payment always gets the
same reference (a retried start, the instructions page shown again). The check
character is Luhn mod 32 over those 8 (the Luhn mod N algorithm): it catches every
single mistyped character and every swap of two neighbours but ``2``/``Z``, so that a
typo is not matched to somebody else's payment.

40 bits are not unique by construction: two payments share a reference with a
chance of about n²/2^41 among n payments (under 1 in 200 after 100 000 FPS
payments). Reconciliation therefore never guesses: a reference that names more than
one payment is listed for a person to resolve.

In the remarks, the reference is found whatever the case, with spaces or dashes
anywhere in it, in full-width characters (typed with a Chinese input method), and
with or without the ``SR`` when it is all the payer wrote.

The bank statement CSV
----------------------
The header names the columns, in any order and case; the common Hong Kong bank
export shapes are accepted under several names (``COLUMNS`` lists them all):

- the date (``date``, ``transaction date``, ``value date``, ...): ``YYYY-MM-DD``,
  ``YYYY/MM/DD``, ``DD/MM/YYYY``, ``DD-MM-YYYY`` (day first, as Hong Kong banks
  write it) or ``23 Nov 2026``; a time after the date is ignored;
- the description (``description``, ``remarks``, ``transaction details``,
  ``reference``, ...): every such column present is searched for the reference;
- the money in: a ``credit`` / ``deposit`` column, or a signed ``amount`` column
  (positive is money in). Amounts are decimals in major units (``1,234.50``); a
  ``debit`` / ``withdrawal`` column is allowed and not read;
- the currency (``currency``, ``ccy``): ``HKD``, or ``CNY`` (``RMB``). Without the
  column every line is in the currency the caller gives;
- the bank's line id (``transaction id``, ``bank reference``, ``line id``, ...),
  optional. Without one, a line is identified by a hash of its date, description,
  amount and currency, and its rank among identical lines of the file: the same
  export read twice gives the same ids.

Only money in is returned; lines with nothing in (debits, balances) are counted. A
file with any problem (no header, a missing column, an amount or date that does not
read, a currency we do not sell in, a line id used twice) is refused as a whole with
every problem and its line number: ``StatementInvalid``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from simrenew.domain.errors import ImportInvalid, InvalidMoney, LocatedProblem
from simrenew.domain.money import Money

__all__ = [
    "ALPHABET",
    "COLUMNS",
    "PREFIX",
    "Statement",
    "StatementInvalid",
    "StatementLine",
    "check_character",
    "find_references",
    "is_valid_reference",
    "parse_amount",
    "parse_bank_statement",
    "reference_for",
]

PREFIX = "SR"
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
BODY_LENGTH = 8
REFERENCE_LENGTH = len(PREFIX) + BODY_LENGTH + 1
MAX_PROBLEMS = 50
MAX_LINE_ID = 100  # "bank:" + id must fit payment_events.event_id (128)

_BASE = len(ALPHABET)
_INDEX = {character: i for i, character in enumerate(ALPHABET)}
# What a payer may put inside a reference: spaces (also the ideographic one) and
# dashes of every kind. Anything else ends it.
_SEPARATORS = frozenset(" \t\u3000-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d_")
_BREAK = "|"


class StatementInvalid(ImportInvalid):
    """The bank statement has problems; nothing was applied."""

    code = "statement_invalid"
    template = "{count} problem(s) found in the bank statement; nothing was applied."


# --- the reference -------------------------------------------------------------------


def check_character(body: str) -> str:
    """The Luhn mod 32 check character of ``body`` (characters of ``ALPHABET``)."""
    factor = 2
    total = 0
    for character in reversed(body):
        addend = factor * _INDEX[character]
        factor = 1 if factor == 2 else 2
        total += addend // _BASE + addend % _BASE
    return ALPHABET[(_BASE - total % _BASE) % _BASE]


def reference_for(payment_id: str) -> str:
    """The reference of ``payment_id``: the same id always gives the same one."""
    digest = hashlib.sha256(b"simrenew-fps-reference:" + payment_id.encode()).digest()
    bits = int.from_bytes(digest[:5], "big")  # 40 bits: 8 characters of 5 bits
    body = "".join(ALPHABET[(bits >> shift) & 31] for shift in range(35, -1, -5))
    return PREFIX + body + check_character(body)


def is_valid_reference(text: str) -> bool:
    """Whether ``text`` is a reference in canonical form with a correct check character."""
    if len(text) != REFERENCE_LENGTH or not text.startswith(PREFIX):
        return False
    rest = text[len(PREFIX) :]
    if any(character not in _INDEX for character in rest):
        return False
    return check_character(rest[:BODY_LENGTH]) == rest[BODY_LENGTH]


def _compact(text: str) -> str:
    """Upper case ASCII letters and digits with separators dropped; any other
    character becomes a break that a reference cannot span."""
    folded = unicodedata.normalize("NFKC", text).upper()
    out: list[str] = []
    for character in folded:
        if character in _SEPARATORS:
            continue
        out.append(character if character.isascii() and character.isalnum() else _BREAK)
    return "".join(out)


def find_references(remarks: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The references in ``remarks``, canonical (``SR`` + 9): those whose check
    character is right, and those that look like a reference but are not (a typo),
    each in order of appearance."""
    compact = _compact(remarks)
    candidates: list[str] = []
    start = compact.find(PREFIX)
    while start != -1:
        rest = compact[start + len(PREFIX) : start + len(PREFIX) + BODY_LENGTH + 1]
        if len(rest) == BODY_LENGTH + 1 and _BREAK not in rest:
            candidates.append(PREFIX + rest)
        start = compact.find(PREFIX, start + 1)
    if not candidates:
        # A payer who typed only the 9 characters after "SR", and nothing else.
        alone = compact.strip(_BREAK)
        if len(alone) == BODY_LENGTH + 1 and _BREAK not in alone:
            candidates.append(PREFIX + alone)
    valid: list[str] = []
    typos: list[str] = []
    for candidate in dict.fromkeys(candidates):
        (valid if is_valid_reference(candidate) else typos).append(candidate)
    return tuple(valid), tuple(typos)


# --- the statement -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementLine:
    """Money in, as the bank booked it. ``line`` is the physical line of the file
    (the header is line 1); ``line_id`` the bank's id or our stable hash."""

    line: int
    line_id: str
    booked_on: date
    description: str
    amount: Money


@dataclass(frozen=True, slots=True)
class Statement:
    lines: tuple[StatementLine, ...]  # money in, in file order
    other_lines: int  # debits, balances and other lines with no money in


# Field → the header names accepted for it, in order of preference (normalised: lower
# case, anything but letters and digits as one space).
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "date": (
        "date",
        "transaction date",
        "txn date",
        "trans date",
        "posting date",
        "booking date",
        "value date",
    ),
    "description": (
        "description",
        "transaction details",
        "details",
        "remarks",
        "remark",
        "narrative",
        "particulars",
        "reference",
        "customer reference",
        "payment reference",
        "payer reference",
        "message",
        "memo",
    ),
    "credit": (
        "credit",
        "credit amount",
        "credits",
        "deposit",
        "deposits",
        "deposit amount",
        "amount in",
        "paid in",
        "money in",
    ),
    "debit": (
        "debit",
        "debit amount",
        "debits",
        "withdrawal",
        "withdrawals",
        "withdrawal amount",
        "amount out",
        "paid out",
        "money out",
    ),
    "amount": ("amount", "transaction amount"),
    "currency": ("currency", "ccy", "currency code"),
    "line_id": (
        "line id",
        "transaction id",
        "transaction no",
        "transaction number",
        "txn id",
        "bank reference",
        "bank reference no",
        "bank ref",
        "sequence no",
        "serial no",
        "id",
    ),
}
_CURRENCY_NAMES = {"HKD": "HKD", "CNY": "CNY", "RMB": "CNY"}
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_ISO_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NAMED_MONTH = re.compile(r"^(\d{1,2})[-\s/]*([A-Za-z]{3})[A-Za-z]*[-\s/,]*(\d{4})$")
_TIMED = re.compile(r"(?<=\d)[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
_AMOUNT = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def normalise_header(name: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", name.strip().lower().lstrip("\ufeff")).split())


def parse_statement_date(text: str) -> date:
    """A statement date (day first when ambiguous); raises ``ValueError``."""
    value = text.strip()
    # "2026-11-23 10:15:00", "23/11/2026 10:15" or "2026-11-23T10:15": the time is
    # not needed.
    head = _TIMED.sub("", value)
    try:
        for pattern, order in ((_ISO_DATE, "ymd"), (_DAY_FIRST, "dmy"), (_COMPACT_DATE, "ymd")):
            found = pattern.match(head)
            if found:
                parts = dict(zip(order, (int(group) for group in found.groups()), strict=True))
                return date(parts["y"], parts["m"], parts["d"])
        named = _NAMED_MONTH.match(value)
        if named and named.group(2).lower() in _MONTHS:
            month = _MONTHS[named.group(2).lower()]
            return date(int(named.group(3)), month, int(named.group(1)))
    except ValueError:
        pass  # 31/02: the shape of a date, not a day
    raise ValueError(f"date {text!r} is not a date (write YYYY-MM-DD or DD/MM/YYYY)")


def parse_amount(text: str, currency: str) -> Money:
    """A decimal amount in major units, thousands separators allowed, exactly to the
    minor unit: ``"1,234.50"`` → 123450. Accounting negatives ``(88.00)`` read as -88.
    Raises ``InvalidMoney``."""
    value = text.strip()
    negative = value.startswith("(") and value.endswith(")")
    if negative:
        value = value[1:-1]
    if not _AMOUNT.match(value):
        raise InvalidMoney(value=text, reason="expected a decimal like 1,234.50")
    digits = value.replace(",", "").lstrip("+")
    money = Money.parse(digits, currency)
    return -money if negative else money


def parse_currency(text: str) -> str:
    """``HKD``, ``CNY`` (or ``RMB``); raises ``ValueError`` for anything else."""
    value = text.strip().upper()
    if value not in _CURRENCY_NAMES:
        raise ValueError(f"currency {text!r} is not HKD or CNY")
    return _CURRENCY_NAMES[value]


def _sniff_delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {delimiter: first.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the row ends, cells) for every row that is not blank."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=_sniff_delimiter(text))
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _columns(header: Sequence[str]) -> tuple[dict[str, int], list[int], list[str]]:
    """Field → column index (first preferred name present), the description columns,
    and the problems."""
    names = [normalise_header(cell) for cell in header]
    found: dict[str, int] = {}
    for field, accepted in COLUMNS.items():
        if field == "description":
            continue
        for name in accepted:
            if name in names:
                found[field] = names.index(name)
                break
    descriptions = [i for i, name in enumerate(names) if name in COLUMNS["description"]]
    problems: list[str] = []
    if "date" not in found:
        problems.append(_missing("a date", "date"))
    if not descriptions:
        problems.append(_missing("a description or remarks", "description"))
    if "credit" not in found and "amount" not in found:
        problems.append(_missing("money in", "credit") + f" or {COLUMNS['amount']}")
    return found, descriptions, problems


def _missing(what: str, field: str) -> str:
    return f"no column for {what} (one of: {', '.join(COLUMNS[field])})"


def _cell(cells: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _stable_id(line: StatementLine, occurrence: int) -> str:
    description = " ".join(line.description.split())
    material = "\x1f".join(
        (
            line.booked_on.isoformat(),
            description,
            line.amount.decimal_str(),
            line.amount.currency,
            str(occurrence),
        )
    )
    return "h" + hashlib.sha256(material.encode()).hexdigest()[:40]


def parse_bank_statement(text: str, *, currency: str | None = None) -> Statement:
    """Read a bank statement CSV (see the module's docstring); ``currency`` is the
    account's currency when the file has no currency column. Returns the lines with
    money in; raises ``StatementInvalid`` with every problem, or ``ValueError`` for a
    ``currency`` that is not HKD or CNY."""
    default_currency = parse_currency(currency) if currency else None
    problems: list[LocatedProblem] = []

    def problem(line: int, message: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(LocatedProblem(f"line {line}", message))

    rows = _rows(text)
    first = next(rows, None)
    if first is None:
        raise StatementInvalid([LocatedProblem("line 1", "the file is empty: no header")])
    header_line, header = first
    found, descriptions, header_problems = _columns(header)
    if "currency" not in found and default_currency is None:
        header_problems.append(
            _missing("the currency", "currency") + ", and no currency was given for the account"
        )
    if header_problems:
        raise StatementInvalid([LocatedProblem(f"line {header_line}", p) for p in header_problems])

    lines: list[StatementLine] = []
    other = 0
    ids: dict[str, int] = {}
    occurrences: dict[tuple[str, str, str, str], int] = {}
    for number, cells in rows:
        extra = [cell for cell in cells[len(header) :] if cell.strip()]
        if extra:
            problem(number, f"{len(cells)} cells, but the header names {len(header)}")
            continue
        credit = _credit_cell(cells, found)
        if credit is None:
            other += 1
            continue
        line_currency = default_currency
        if "currency" in found and _cell(cells, found["currency"]):
            try:
                line_currency = parse_currency(_cell(cells, found["currency"]))
            except ValueError as exc:
                problem(number, str(exc))
                continue
        if line_currency is None:
            problem(number, "no currency on this line, and none was given for the account")
            continue
        try:
            amount = parse_amount(credit[1], line_currency)
        except InvalidMoney as exc:
            problem(number, f"{credit[0]} {credit[1]!r} is not an amount: {exc.params['reason']}")
            continue
        try:
            booked_on = parse_statement_date(_cell(cells, found["date"]))
        except ValueError as exc:
            problem(number, str(exc))
            continue
        if credit[0] == "credit" and amount.amount_minor < 0:
            problem(number, f"credit {credit[1]!r} is negative: a credit column holds money in")
            continue
        if amount.amount_minor <= 0:
            other += 1  # a signed amount column: money out
            continue
        description = " / ".join(
            value for value in (_cell(cells, i) for i in descriptions) if value
        )
        given_id = _cell(cells, found.get("line_id"))
        entry = StatementLine(number, given_id, booked_on, description, amount)
        if not given_id:
            key = (
                booked_on.isoformat(),
                " ".join(description.split()),
                amount.decimal_str(),
                line_currency,
            )
            occurrences[key] = occurrences.get(key, 0) + 1
            entry = StatementLine(
                number, _stable_id(entry, occurrences[key]), booked_on, description, amount
            )
        elif len(given_id) > MAX_LINE_ID:
            entry = StatementLine(
                number,
                "h" + hashlib.sha256(given_id.encode()).hexdigest()[:40],
                booked_on,
                description,
                amount,
            )
        if entry.line_id in ids:
            problem(number, f"line id {given_id!r} is also on line {ids[entry.line_id]}")
            continue
        ids[entry.line_id] = number
        lines.append(entry)
    if problems:
        raise StatementInvalid(problems)
    return Statement(tuple(lines), other)


def _credit_cell(cells: Sequence[str], found: Mapping[str, int]) -> tuple[str, str] | None:
    """(the column's role, the text) of the money-in cell, or None when the line has
    none (a debit, a balance line)."""
    if "credit" in found:
        value = _cell(cells, found["credit"])
        return ("credit", value) if value else None
    value = _cell(cells, found["amount"])
    return ("amount", value) if value else None
