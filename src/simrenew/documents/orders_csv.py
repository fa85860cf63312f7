"""A subscriber's order history as CSV, for a spreadsheet or a bookkeeping tool.

Machine-readable where it matters: amounts are plain decimals with the currency in its
own column, times are ISO 8601 in Hong Kong time. The header is in the reader's
language, and the text starts with a byte order mark so that Excel reads the file as
UTF-8 and shows the Chinese.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from simrenew.domain.money import Money
from simrenew.web.i18n import Formatter

BOM = "\ufeff"

# A cell starting with one of these is a formula to Excel, LibreOffice and Google
# Sheets (CSV injection); a leading apostrophe makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One order as the history shows it; texts already in the reader's language."""

    order_id: str
    created_at: datetime
    number_masked: str
    offer_name: str
    state: str  # the order state's label, translated
    price: Money
    receipt_number: str | None


def neutralise(cell: str) -> str:
    """``cell`` made safe from being read as a spreadsheet formula."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def orders_csv(rows: Iterable[OrderRow], *, gettext: Callable[[str], str], fmt: Formatter) -> str:
    """The rows as CSV text (CRLF line ends, BOM first); encode it as UTF-8."""
    _ = gettext
    header = (
        _("Order no."),
        _("Date (Hong Kong time)"),
        _("Mobile number"),
        _("Offer"),
        _("Status"),
        _("Amount"),
        _("Currency"),
        _("Receipt no."),
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(neutralise(cell) for cell in header)
    for row in rows:
        # The amount is ours and a plain decimal: left as it is, a negative stays a number.
        writer.writerow(
            (
                neutralise(row.order_id),
                row.created_at.astimezone(fmt.tz).isoformat(timespec="seconds"),
                neutralise(row.number_masked),
                neutralise(row.offer_name),
                neutralise(row.state),
                row.price.decimal_str(),
                row.price.currency,
                neutralise(row.receipt_number or ""),
            )
        )
    return BOM + buffer.getvalue()
