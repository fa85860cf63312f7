"""Home and quick top-up: a number in, the offers that fit it, pay. No login.

What the payer sees of the card stays as thin as the API's quick top-up: a masked
number and the offers, never a balance, validity or state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from simrenew.domain.errors import DomainError
from simrenew.domain.payments import Payment
from simrenew.services.quick_topup import quick_checkout, quick_offers
from simrenew.services.quoting import quote
from simrenew.services.vouchers import VOUCHER, redeem_voucher
from simrenew.web.pages.page import CsrfDep, Page, PageDep, new_form_key
from simrenew.web.quick_limits import QuickLimits
from simrenew.web.routes.webhooks import NOT_ONLINE

router = APIRouter(include_in_schema=False)

Number = Annotated[str, Form(max_length=32)]
OfferCode = Annotated[str, Form(max_length=64)]
Coupon = Annotated[str, Form(max_length=64)]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limits(request: Request) -> QuickLimits:
    limits: QuickLimits = request.app.state.quick_limits
    return limits


def payment_choices(page: Page) -> list[str]:
    """The providers a buyer can choose on a page, the sandbox first (vouchers have
    their own PIN form; cash is for staff at a counter)."""
    offered = sorted(set(page.app.ctx.providers) - NOT_ONLINE)
    return sorted(offered, key=lambda name: name != "sandbox")


def _start_over(page: Page, number: str, exc: DomainError) -> Response:
    """Back to the number form, saying why."""
    return page.render("home.html", status=exc.status, number=number, error=page.error_text(exc))


@router.get("/")
def home(page: PageDep) -> Response:
    return page.render("home.html", number="", error=None)


@router.post("/quick", dependencies=[CsrfDep])
def quick_lookup(page: PageDep, number: Number) -> Response:
    """Step two of quick top-up: the offers that fit the number."""
    try:
        _limits(page.request).check("lookup", ip=_client_ip(page.request), number=number)
        found = quick_offers(page.app.ctx, number)
    except DomainError as exc:
        return _start_over(page, number, exc)
    return page.render(
        "quick_offers.html",
        number=number,
        found=found,
        providers=payment_choices(page),
        form_key=new_form_key(),
        error=None,
    )


@router.post("/quick/confirm", dependencies=[CsrfDep])
def quick_confirm(
    page: PageDep,
    number: Number,
    offer_code: OfferCode,
    form_key: Annotated[str, Form(max_length=64)],
    coupon: Coupon = "",
) -> Response:
    """Step three: the price with the coupon, before paying; no validity is shown,
    because that would tell the payer about someone else's card."""
    return _confirm_page(page, number, offer_code, coupon.strip(), form_key)


def _confirm_page(
    page: Page,
    number: str,
    offer_code: str,
    coupon: str,
    form_key: str,
    *,
    voucher_error: str | None = None,
    status: int = 200,
) -> Response:
    try:
        found = quick_offers(page.app.ctx, number)
        chosen = quote(page.app.ctx, number, offer_code, coupon=coupon or None)
    except DomainError as exc:
        return _start_over(page, number, exc)
    return page.render(
        "quick_confirm.html",
        status=status,
        voucher_error=voucher_error,
        number=number,
        found=found,
        chosen=chosen,
        coupon=coupon,
        providers=payment_choices(page),
        form_key=form_key,
    )


@router.post("/quick/pay", dependencies=[CsrfDep])
def quick_pay(
    page: PageDep,
    number: Number,
    offer_code: OfferCode,
    form_key: Annotated[str, Form(max_length=64)],
    pay_with: Annotated[str, Form(max_length=32)] = "sandbox",
    coupon: Coupon = "",
) -> Response:
    """Order and go to the provider's page; the form's key makes a double submit order
    once and come back to the same checkout."""
    ctx = page.app.ctx
    try:
        _limits(page.request).check("order", ip=_client_ip(page.request), number=number)
        ctx.provider(pay_with)
        placed = quick_checkout(
            ctx,
            number,
            offer_code,
            coupon=coupon.strip() or None,
            pay_with=pay_with,
            idempotency_key=form_key,
            return_url=result_url(page),
        )
    except DomainError as exc:
        return _start_over(page, number, exc)
    return page.redirect(next_step(page, placed.order.id, placed.payment))


@router.post("/quick/voucher", dependencies=[CsrfDep])
def quick_voucher(
    page: PageDep,
    number: Number,
    offer_code: OfferCode,
    form_key: Annotated[str, Form(max_length=64)],
    pin: Annotated[str, Form(max_length=32)],
    coupon: Coupon = "",
) -> Response:
    """Pay with a prepaid voucher's PIN instead of a provider's page: the order is
    placed (same form key as Pay, so never twice) and paid by the voucher at once."""
    ctx = page.app.ctx
    try:
        _limits(page.request).check("order", ip=_client_ip(page.request), number=number)
        placed = quick_checkout(
            ctx,
            number,
            offer_code,
            coupon=coupon.strip() or None,
            pay_with=VOUCHER,
            idempotency_key=form_key,
        )
        redeem_voucher(ctx, placed.order.id, pin, number=number, ip=_client_ip(page.request))
    except DomainError as exc:
        return _confirm_page(
            page,
            number,
            offer_code,
            coupon.strip(),
            form_key,
            voucher_error=page.error_text(exc),
            status=exc.status,
        )
    return page.redirect(f"/orders/{placed.order.id}/result")


def result_url(page: Page) -> str:
    """Where the provider sends the buyer back (``{order_id}``: see request_checkout)."""
    return page.settings.public_url.rstrip("/") + "/orders/{order_id}/result"


def next_step(page: Page, order_id: str, payment: Payment | None) -> str:
    """The provider's page, or straight to the result when nothing is left to pay."""
    if payment is not None and payment.checkout_url:
        return payment.checkout_url
    return f"/orders/{order_id}/result"
