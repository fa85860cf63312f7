"""The card stock file: CSV text in, checked rows and every problem out.

``parse_cards_csv`` is pure: it neither reads files nor asks the database whether an
ICCID or a number is already taken; the import use case does that with the rows it
gets back. The file looks like::

    iccid,eid,imsi,primary_number,second_number,product_line,form_factor,language,email
    8985201260001000018,,454001000000001,+85251234567,+8613812345678,ONE2,physical,zh-Hant,
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from simrenew.domain.cards import FormFactor, normalize_number, validate_eid, validate_iccid
from simrenew.domain.catalog import LANGUAGES
from simrenew.domain.errors import CardsImportInvalid, InvalidInput, LocatedProblem

__all__ = ["CardRow", "CardsFileResult", "parse_cards_csv"]

REQUIRED_COLUMNS = ("iccid", "primary_number", "product_line")
OPTIONAL_COLUMNS = ("eid", "imsi", "second_number", "form_factor", "language", "email")

# Deliberately loose: the shape catches slips like a missing "@" or a pasted number;
# only a delivered message proves an address.
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;.]{2,}$")
_EMAIL_MAX = 254
# ITU-T E.212: an IMSI is a 3-digit country code, a 2-3 digit network code and the
# subscriber part, 15 digits at most.
_IMSI = re.compile(r"^[0-9]{6,15}$")
_LANGUAGES = {language.lower(): language for language in LANGUAGES}


@dataclass(frozen=True, slots=True, kw_only=True)
class CardRow:
    """One valid card of the file; ``line`` is its physical line (the header is line 1)."""

    line: int
    iccid: str
    eid: str | None = None
    imsi: str | None = None
    primary_number: str
    second_number: str | None = None
    product_line: str
    form_factor: FormFactor = FormFactor.PHYSICAL
    language: str = "zh-Hant"
    email: str | None = None


@dataclass(frozen=True, slots=True)
class CardsFileResult:
    """The valid rows and the problems, both in file order."""

    rows: tuple[CardRow, ...]
    problems: tuple[LocatedProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_problems(self) -> None:
        """For all-or-nothing imports: raise ``CardsImportInvalid`` if anything is wrong."""
        if self.problems:
            raise CardsImportInvalid(list(self.problems))


def parse_cards_csv(text: str, *, product_lines: Mapping[str, str]) -> CardsFileResult:
    """Check every row of a card stock CSV and return the good rows and all problems.

    - The header names the columns, in any order and any case. ``iccid``,
      ``primary_number`` and ``product_line`` are required; ``eid``, ``imsi``,
      ``second_number``, ``form_factor`` (``physical`` | ``esim``, default ``physical``),
      ``language`` (``zh-Hant`` | ``zh-Hans`` | ``en``, default ``zh-Hant``) and
      ``email`` are optional. An empty cell means "not given".
    - Each row is checked: ICCID (19-20 digits, 89..., Luhn), EID (32 digits, GSMA
      check digits; only on ``esim`` cards), IMSI (digits), numbers (Hong Kong or
      Mainland mobiles, stored in E.164; a second number must be of the other region),
      ``product_line`` (a key of ``product_lines``), language and e-mail shape.
    - Within the file an ICCID, EID, IMSI or number may appear only once, counting a
      number whether it is a primary or a second number. The first row keeps it; later
      rows are reported.
    - Every problem is a ``LocatedProblem("line N", ...)``, N being the physical line
      (the header is line 1, blank lines count). A row with any problem is left out
      of ``rows``.
    - A header problem (missing, unknown or repeated column) leaves ``rows`` empty: a
      misnamed column would otherwise import data into the wrong place or not at all.
      The rows are still checked and reported, unless a required column is missing.
    - A file without any card row is a problem too: an import of nothing is a mistake.

    Never raises for bad content; the caller chooses all-or-nothing
    (``result.raise_if_problems()``) or importing ``result.rows`` only (--skip-bad).
    """
    # Spreadsheets save UTF-8 CSV with a byte-order mark that would stick to "iccid".
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    problems: list[LocatedProblem] = []
    try:
        header = next((cells for cells in reader if any(c.strip() for c in cells)), None)
    except csv.Error as exc:
        return CardsFileResult((), (LocatedProblem("line 1", f"unreadable CSV: {exc}"),))
    if header is None:
        return CardsFileResult((), (LocatedProblem("line 1", "the file is empty"),))
    header_line = reader.line_num
    columns = [name.strip().lower() for name in header]
    header_ok = _check_header(columns, f"line {header_line}", problems)
    if not set(REQUIRED_COLUMNS) <= set(columns):
        # Every row would only repeat that the column is missing.
        return CardsFileResult((), tuple(problems))

    checker = _RowChecker(product_lines)
    rows: list[CardRow] = []
    any_row = False
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(LocatedProblem(f"line {line}", f"unreadable CSV: {exc}"))
            break
        if not any(cell.strip() for cell in cells):
            continue
        any_row = True
        if len(cells) != len(columns):
            problems.append(
                LocatedProblem(
                    f"line {line}", f"{len(cells)} fields, but the header has {len(columns)}"
                )
            )
            continue
        values = {
            column: cell.strip() or None
            for column, cell in zip(columns, cells, strict=True)
            if column in REQUIRED_COLUMNS or column in OPTIONAL_COLUMNS
        }
        row, row_problems = checker.check(line, values)
        problems.extend(LocatedProblem(f"line {line}", message) for message in row_problems)
        if row is not None:
            rows.append(row)
    if not any_row:
        problems.append(LocatedProblem(f"line {header_line}", "the file has no cards"))
    return CardsFileResult(tuple(rows) if header_ok else (), tuple(problems))


def _check_header(columns: list[str], location: str, problems: list[LocatedProblem]) -> bool:
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    messages: list[str] = []
    for position, name in enumerate(columns):
        if name not in known:
            messages.append(
                f"unknown column {name or '(empty)'!r}; "
                f"the columns are: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"
            )
        elif name in columns[:position]:
            messages.append(f"column {name!r} appears twice")
    messages.extend(f"missing column {name!r}" for name in REQUIRED_COLUMNS if name not in columns)
    problems.extend(LocatedProblem(location, message) for message in messages)
    return not messages


def _imsi(text: str) -> str:
    if not _IMSI.match(text):
        raise InvalidInput(f"{text!r} is not an IMSI: 6 to 15 digits")
    return text


def _form_factor(text: str) -> str:
    try:
        return FormFactor(text.lower()).value
    except ValueError:
        raise InvalidInput(f"{text!r} is not physical or esim") from None


def _language(text: str) -> str:
    if text.lower() not in _LANGUAGES:
        raise InvalidInput(f"{text!r} is not one of {', '.join(LANGUAGES)}")
    return _LANGUAGES[text.lower()]


def _email(text: str) -> str:
    if len(text) > _EMAIL_MAX or not _EMAIL.match(text):
        raise InvalidInput(f"{text!r} does not look like an e-mail address")
    return text


_VALIDATORS: dict[str, Callable[[str], str]] = {
    "iccid": validate_iccid,
    "eid": validate_eid,
    "imsi": _imsi,
    "primary_number": normalize_number,
    "second_number": normalize_number,
    "product_line": str,  # existence is checked against the catalogue separately
    "form_factor": _form_factor,
    "language": _language,
    "email": _email,
}


class _RowChecker:
    """Checks rows one by one, remembering identifiers to catch repeats in the file."""

    def __init__(self, product_lines: Mapping[str, str]) -> None:
        self._product_lines = product_lines
        self._seen: dict[tuple[str, str], int] = {}

    def check(
        self, line: int, values: Mapping[str, str | None]
    ) -> tuple[CardRow | None, list[str]]:
        problems: list[str] = []
        clean: dict[str, str | None] = {}
        bad: set[str] = set()
        for column, validate in _VALIDATORS.items():
            raw = values.get(column)
            clean[column] = None
            if raw is None:
                if column in REQUIRED_COLUMNS:
                    problems.append(f"{column} is required")
                continue
            try:
                clean[column] = validate(raw)
            except InvalidInput as exc:
                problems.append(f"{column}: {exc.message}")
                bad.add(column)

        iccid, eid, imsi = clean["iccid"], clean["eid"], clean["imsi"]
        primary, second = clean["primary_number"], clean["second_number"]
        product_line, form_factor = clean["product_line"], clean["form_factor"]
        if product_line is not None and product_line not in self._product_lines:
            known = ", ".join(sorted(self._product_lines)) or "none"
            problems.append(f"unknown product line {product_line!r} (known: {known})")
        # A misspelt form factor is already reported; the EID may well be right.
        if eid is not None and form_factor != FormFactor.ESIM and "form_factor" not in bad:
            problems.append("an EID is only for eSIM cards: set form_factor to esim")
        if primary is not None and second is not None:
            if primary == second:
                problems.append("second_number is the same as primary_number")
            elif primary.startswith("+852") == second.startswith("+852"):
                problems.append("the two numbers must be one +852 and one +86 number")
        for kind, value in (("ICCID", iccid), ("EID", eid), ("IMSI", imsi)):
            self._first_use(kind, value, line, problems)
        self._first_use("number", primary, line, problems)
        if second != primary:
            self._first_use("number", second, line, problems)

        if problems or iccid is None or primary is None or product_line is None:
            return None, problems
        row = CardRow(
            line=line,
            iccid=iccid,
            eid=eid,
            imsi=imsi,
            primary_number=primary,
            second_number=second,
            product_line=product_line,
            form_factor=FormFactor(form_factor or FormFactor.PHYSICAL),
            language=clean["language"] or "zh-Hant",
            email=clean["email"],
        )
        return row, problems

    def _first_use(self, kind: str, value: str | None, line: int, problems: list[str]) -> None:
        if value is None:
            return
        # Keyed by kind so that an IMSI and a number with the same digits do not collide.
        first = self._seen.setdefault((kind, value), line)
        if first != line:
            problems.append(f"{kind} {value} is already on line {first}")
