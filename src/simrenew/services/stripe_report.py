"""The Stripe itemized balance report, as CSV: read and checked, nothing applied.

Pure: no files, no database. ``services/reconciliation.py`` matches the lines
against our books.

The file is the itemized "Balance change from activity" report
(``balance_change_from_activity.itemized.3``, Dashboard → Reports → Balance →
Balance change from activity → Download → Itemized) or the payout reconciliation
itemized report, which share these columns
(https://docs.stripe.com/reports/report-types,
https://docs.stripe.com/reports/balance). Column names are Stripe's, in any order
and case. Read here:

- required: ``balance_transaction_id``, ``created_utc`` (``YYYY-MM-DD HH:MM:SS``,
  UTC), ``currency``, ``gross`` (a decimal in major units, e.g. ``88.00``, negative
  for money out), ``reporting_category`` (``charge``, ``refund``, ``dispute``, ...:
  https://docs.stripe.com/reports/reporting-categories);
- optional: ``fee``, ``net``, ``source_id``, ``charge_id``, ``payment_intent_id``,
  ``description``, ``customer_facing_amount`` and ``customer_facing_currency`` (what
  the buyer was charged, when it differs from the settlement currency), and the
  metadata columns ``payment_metadata[payment_id]`` / ``refund_metadata[payment_id]``
  (our payment id: ``providers/stripe.py`` puts it in the PaymentIntent's and the
  refund's metadata; add the column when running the report).

Other columns are ignored. The report must be run with the default ``.`` decimal
separator. Currencies are ``HKD`` or ``CNY``, the ones we sell in; run the report
for one of them if the account settles in others. A file with any problem is
refused as a whole with every problem and its line: ``StripeReportInvalid``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from simrenew.domain.errors import ImportInvalid, InvalidMoney, LocatedProblem
from simrenew.domain.money import Money
from simrenew.services.bank_statement import parse_amount, parse_currency

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "ReportLine",
    "StripeReportInvalid",
    "parse_stripe_report",
]

REQUIRED_COLUMNS = (
    "balance_transaction_id",
    "created_utc",
    "currency",
    "gross",
    "reporting_category",
)
OPTIONAL_COLUMNS = (
    "fee",
    "net",
    "source_id",
    "charge_id",
    "payment_intent_id",
    "description",
    "customer_facing_amount",
    "customer_facing_currency",
    "payment_metadata[payment_id]",
    "refund_metadata[payment_id]",
)
MAX_PROBLEMS = 50


class StripeReportInvalid(ImportInvalid):
    """The Stripe report has problems; nothing was applied."""

    code = "stripe_report_invalid"
    template = "{count} problem(s) found in the Stripe report; nothing was applied."


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One balance transaction of the report; ``line`` is its physical line."""

    line: int
    balance_transaction_id: str
    created: datetime  # aware, UTC
    category: str  # reporting_category, lower case
    gross: Money
    fee: Money | None = None
    net: Money | None = None
    customer_facing: Money | None = None
    source_id: str | None = None
    charge_id: str | None = None
    payment_intent_id: str | None = None
    payment_id: str | None = None  # ours, from the metadata columns
    description: str = ""

    @property
    def amount(self) -> Money:
        """What the buyer paid (or got back): the customer-facing amount when the
        report has it, else the gross in the settlement currency."""
        return self.customer_facing if self.customer_facing is not None else self.gross


def parse_created(text: str) -> datetime:
    """``2026-11-22 02:00:00`` (UTC, as Stripe writes ``created_utc``), or ISO 8601
    with an offset; raises ``ValueError``."""
    value = text.strip()
    if not value:
        raise ValueError("created_utc is empty")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"created_utc {text!r} is not a date and time (YYYY-MM-DD HH:MM:SS)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _cell(cells: Sequence[str], columns: Mapping[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def parse_stripe_report(text: str) -> tuple[ReportLine, ...]:
    """Every line of the report, checked; raises ``StripeReportInvalid``."""
    problems: list[LocatedProblem] = []

    def problem(line: int, message: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(LocatedProblem(f"line {line}", message))

    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header: list[str] | None = None
    header_line = 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            header, header_line = cells, reader.line_num
            break
    if header is None:
        raise StripeReportInvalid([LocatedProblem("line 1", "the file is empty: no header")])
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        columns.setdefault(name.strip().lower(), index)
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise StripeReportInvalid(
            [
                LocatedProblem(
                    f"line {header_line}",
                    f"missing column(s) {', '.join(missing)}: is this Stripe's itemized "
                    "balance report?",
                )
            ]
        )

    lines: list[ReportLine] = []
    seen: dict[str, int] = {}
    for cells in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            problem(number, f"{len(cells)} cells, but the header names {len(header)}")
            continue

        def cell(name: str, cells: Sequence[str] = cells) -> str:
            return _cell(cells, columns, name)

        transaction = cell("balance_transaction_id")
        if not transaction:
            problem(number, "balance_transaction_id is empty")
            continue
        if transaction in seen:
            problem(number, f"{transaction} is also on line {seen[transaction]}")
            continue
        try:
            created = parse_created(cell("created_utc"))
            currency = parse_currency(cell("currency"))
            gross = parse_amount(cell("gross"), currency)
            fee = parse_amount(cell("fee"), currency) if cell("fee") else None
            net = parse_amount(cell("net"), currency) if cell("net") else None
            customer_facing = None
            if cell("customer_facing_amount") and cell("customer_facing_currency"):
                customer_facing = parse_amount(
                    cell("customer_facing_amount"),
                    parse_currency(cell("customer_facing_currency")),
                )
        except InvalidMoney as exc:
            problem(number, f"{exc.params['value']!r} is not an amount: {exc.params['reason']}")
            continue
        except ValueError as exc:
            problem(number, str(exc))
            continue
        category = cell("reporting_category").lower()
        if not category:
            problem(number, "reporting_category is empty")
            continue
        seen[transaction] = number
        lines.append(
            ReportLine(
                line=number,
                balance_transaction_id=transaction,
                created=created,
                category=category,
                gross=gross,
                fee=fee,
                net=net,
                customer_facing=customer_facing,
                source_id=cell("source_id") or None,
                charge_id=cell("charge_id") or None,
                payment_intent_id=cell("payment_intent_id") or None,
                payment_id=(
                    cell("payment_metadata[payment_id]")
                    or cell("refund_metadata[payment_id]")
                    or None
                ),
                description=cell("description"),
            )
        )
    if problems:
        raise StripeReportInvalid(problems)
    return tuple(lines)
