"""My orders: the history of all my cards, its CSV export, and the PDF receipt of
each fulfilled order. Someone else's order is "not found", like no order at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from simrenew.documents.orders_csv import OrderRow, orders_csv
from simrenew.documents.receipt_pdf import (
    FONT_PACKAGE,
    ReceiptDocument,
    ReceiptFontMissing,
    render_receipt,
)
from simrenew.domain.accounts import Subscriber
from simrenew.domain.orders import OrderState
from simrenew.services.order_history import OrderLine, ReceiptData, list_my_orders, my_receipt
from simrenew.web.pages.page import Page, SignedInPageDep

router = APIRouter(include_in_schema=False)

OrderId = Annotated[str, Path(min_length=1, max_length=64)]
Before = Annotated[str | None, Query(min_length=1, max_length=64)]

PAGE_SIZE = 20
EXPORT_BATCH = 200
EXPORT_MAX = 10_000
# The font receipts are drawn with; None finds an installed CJK font (receipt_pdf).
RECEIPT_FONT: FilePath | None = None
_FILE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _me(page: Page) -> Subscriber:
    assert page.subscriber is not None  # SignedInPageDep made sure
    return page.subscriber


def state_label(page: Page, state: OrderState) -> str:
    """An order state as the buyer reads it (the same words as ``order_state`` in
    _macros.html)."""
    _ = page.gettext
    labels = {
        OrderState.AWAITING_PAYMENT: _("Awaiting payment"),
        OrderState.PAID: _("Paid, activating"),
        OrderState.FULFILLED: _("Done"),
        OrderState.CANCELLED: _("Cancelled"),
        OrderState.EXPIRED: _("Expired unpaid"),
        OrderState.REFUNDING: _("Refund in progress"),
        OrderState.REFUNDED: _("Refunded"),
    }
    return labels.get(state, state.value)


@router.get("/orders")
def order_history(page: SignedInPageDep, before: Before = None) -> Response:
    """Newest first, ``PAGE_SIZE`` a page; ``before`` is the last order of the page
    before (a cursor that new orders do not shift)."""
    lines = list_my_orders(page.app.ctx, _me(page), limit=PAGE_SIZE + 1, before=before)
    more = len(lines) > PAGE_SIZE
    lines = lines[:PAGE_SIZE]
    return page.render(
        "orders.html",
        lines=lines,
        older=lines[-1].id if more else None,
        first_page=before is None,
    )


def _all_my_orders(page: Page) -> Iterator[OrderLine]:
    before = None
    sent = 0
    while sent < EXPORT_MAX:
        batch = list_my_orders(page.app.ctx, _me(page), limit=EXPORT_BATCH, before=before)
        yield from batch
        sent += len(batch)
        if len(batch) < EXPORT_BATCH:
            return
        before = batch[-1].id


@router.get("/orders.csv")
def order_history_csv(page: SignedInPageDep) -> Response:
    """The whole history as CSV, headers in the visitor's language."""
    rows = (
        OrderRow(
            order_id=line.id,
            created_at=line.created_at,
            number_masked=line.number_masked,
            offer_name=line.offer_name.get(page.language),
            state=state_label(page, line.state),
            price=line.price,
            receipt_number=line.receipt_number,
        )
        for line in _all_my_orders(page)
    )
    text = orders_csv(rows, gettext=page.gettext, fmt=page.fmt)
    today = page.app.ctx.clock.now().astimezone(page.fmt.tz).date()
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            **_FILE_HEADERS,
            "Content-Disposition": f'attachment; filename="orders-{today:%Y%m%d}.csv"',
        },
    )


def receipt_document(page: Page, data: ReceiptData) -> ReceiptDocument:
    """The receipt in the visitor's language, issued by this operator."""
    return ReceiptDocument(
        receipt_number=data.receipt_number,
        order_id=data.order_id,
        issued_at=data.issued_at,
        operator_name=page.settings.brand,
        official_domain=page.settings.official_domain,
        number_masked=data.number_masked,
        offer_name=data.offer_name.get(page.language),
        list_price=data.list_price,
        discount=data.discount,
        price=data.price,
        promotions=data.promotions,
        payment_method=data.payment_method or page.gettext("Nothing to pay (promotion)"),
        paid_at=data.paid_at,
        validity_end=data.validity_end,
        language=page.language,
    )


@router.get("/orders/{order_id}/receipt.pdf")
def receipt_pdf(order_id: OrderId, page: SignedInPageDep) -> Response:
    """The receipt of one of my fulfilled orders; "not found" for any other order."""
    data = my_receipt(page.app.ctx, _me(page), order_id)
    try:
        pdf = render_receipt(
            receipt_document(page, data),
            gettext=page.gettext,
            fmt=page.fmt,
            font_path=RECEIPT_FONT,
        )
    except ReceiptFontMissing:
        _ = page.gettext
        return page.render(
            "error.html",
            status=503,
            code="receipt_font_missing",
            title=_("Receipts cannot be made right now"),
            detail=_(
                "This server has no Chinese font to print receipts with. The operator "
                "can install one with the Debian package %(package)s. Your order is not "
                "affected."
            )
            % {"package": FONT_PACKAGE},
        )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            **_FILE_HEADERS,
            "Content-Disposition": f'inline; filename="{data.receipt_number}.pdf"',
        },
    )
