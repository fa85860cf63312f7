"""Kiosk mode: a self-service machine in a shop or an airport. No login; anyone walks
up, types a number on the on-screen pad, picks a plan and pays by scanning a QR code
with their phone or by card on the machine.

What the kiosk shows of a card is as thin as quick top-up (a masked number and the
offers that fit, never its balance, validity or state). The number lives only in the
forms of the current visit: never in a cookie or a URL, so starting over (or the
inactivity reset) forgets it. Orders are recorded with the kiosk channel.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response
from markupsafe import Markup

from simrenew.bootstrap import App
from simrenew.domain.cards import normalize_number
from simrenew.domain.errors import CardNotFound, DomainError, InvalidNumber
from simrenew.domain.orders import Channel
from simrenew.domain.payments import Payment, PaymentState
from simrenew.services.order_status import OrderStatus, order_status
from simrenew.services.ordering import PlaceOrder, checkout
from simrenew.services.payments import start_payment
from simrenew.services.quick_topup import quick_offers
from simrenew.services.quoting import quote
from simrenew.web.i18n import NAMES
from simrenew.web.languages import SUPPORTED
from simrenew.web.messages import translate
from simrenew.web.pages.home import payment_choices
from simrenew.web.pages.order_result import REFRESH_SECONDS, outcome
from simrenew.web.pages.page import CsrfDep, Page, new_form_key
from simrenew.web.problems import Problem
from simrenew.web.quick_limits import QuickLimits

router = APIRouter(include_in_schema=False)

# Checkout URLs of the payments this process opened, by payment id (see _checkout_url).
_CHECKOUTS: OrderedDict[str, str] = OrderedDict()
_CHECKOUTS_LOCK = threading.Lock()

HOME = "/kiosk"
ACTOR = "kiosk:web"  # one actor for every kiosk until kiosks have their own ids
MAX_DIGITS = 16  # "00852" + 8 digits, "0086" + 11 digits
IDLE_SECONDS = 120  # the no-JavaScript reset; kiosk.js resets after 60 s
WAIT_LIMIT = timedelta(minutes=5)  # the QR screen's reloading stops after this
MAX_REMEMBERED_CHECKOUTS = 1000
KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "back")

Digits = Annotated[str, Form(max_length=32)]
OfferCode = Annotated[str, Form(max_length=64)]
FormKey = Annotated[str, Form(max_length=64)]
Coupon = Annotated[str, Form(max_length=64)]
PayWith = Annotated[str, Form(max_length=32)]
Method = Annotated[Literal["qr", "card"], Form()]
OrderId = Annotated[str, Path(max_length=64)]


class KioskPage(Page):
    """A page of the kiosk: nobody is signed in on a shared machine (a session cookie
    left in its browser is ignored), and switching language on a page reached by a
    form goes back to the kiosk's start, not to the site's home."""

    @property
    def languages(self) -> list[tuple[str, str, str]]:
        path = self.request.url.path if self.request.method == "GET" else HOME
        return [(tag, NAMES[tag], path + "?" + urlencode({"lang": tag})) for tag in SUPPORTED]

    def problem_text(self, problem: Problem) -> str:
        return translate(
            problem.code, self.language, problem.params, title=problem.title, detail=problem.detail
        )[1]


def kiosk_page(request: Request) -> KioskPage:
    app: App = request.app.state.simrenew
    return KioskPage(request, app, None)


KioskPageDep = Annotated[KioskPage, Depends(kiosk_page)]


def _limits(page: Page) -> QuickLimits:
    limits: QuickLimits = page.request.app.state.quick_limits
    return limits


def _client_ip(page: Page) -> str:
    client = page.request.client
    return client.host if client else "unknown"


def typed(digits: str) -> str:
    """What the field holds, kept to what a number is made of (a hardware keyboard
    can type anything): digits, and a leading + for an international number."""
    text = digits.strip()
    plus = "+" if text.startswith("+") else ""
    return (plus + "".join(c for c in text if c.isascii() and c.isdigit()))[:MAX_DIGITS]


def press(digits: str, key: str) -> str:
    """The number after pressing ``key`` on the pad."""
    if key == "clear":
        return ""
    if key == "back":
        return digits[:-1]
    if len(key) == 1 and key.isascii() and key.isdigit() and len(digits) < MAX_DIGITS:
        return digits + key
    return digits


def _e164(number: str) -> str:
    # As quick top-up: text that is no mobile number names no card.
    try:
        return normalize_number(number)
    except InvalidNumber:
        raise CardNotFound(key=number) from None


def qr_svg(url: str, label: str) -> Markup:
    """``url`` as a QR code, inline SVG without style attributes (the CSP forbids
    them); it scales to the ``.qr svg`` box through its viewBox."""
    code = segno.make(url, error="m")
    svg = code.svg_inline(
        scale=1, border=4, dark="#000", light="#fff", omitsize=True, svgclass="qr-code"
    )
    named = Markup('<svg role="img" aria-label="{}" ').format(label)
    return Markup(svg.replace("<svg ", str(named), 1))


def _entry(
    page: KioskPage, digits: str, *, error: str | None = None, status: int = 200
) -> Response:
    return page.render(
        "kiosk_entry.html", status=status, digits=digits, keys=KEYS, error=error, idle=IDLE_SECONDS
    )


@router.get("/kiosk")
def kiosk_start(page: KioskPageDep) -> Response:
    return _entry(page, "")


@router.post("/kiosk/keypad", dependencies=[CsrfDep])
def kiosk_keypad(page: KioskPageDep, digits: Digits = "", key: Digits = "next") -> Response:
    """One press on the pad without JavaScript: the number so far comes back with the
    key applied; "next" (also Enter in the field) looks the number up."""
    number = typed(digits)
    if key != "next":
        return _entry(page, press(number, key))
    if not number:
        return _entry(page, "", error=page.gettext("Type the mobile number first."), status=422)
    try:
        _limits(page).check("lookup", ip=_client_ip(page), number=number)
        found = quick_offers(page.app.ctx, number)
    except DomainError as exc:
        return _entry(page, number, error=page.error_text(exc), status=exc.status)
    except Problem as problem:
        return _entry(page, number, error=page.problem_text(problem), status=problem.status)
    return page.render(
        "kiosk_offers.html", number=number, found=found, form_key=new_form_key(), idle=IDLE_SECONDS
    )


@router.post("/kiosk/confirm", dependencies=[CsrfDep])
def kiosk_confirm(
    page: KioskPageDep,
    number: Digits,
    offer_code: OfferCode,
    form_key: FormKey,
    coupon: Coupon = "",
) -> Response:
    """The masked number, the plan and the price, then the two ways to pay. No
    validity is shown: it would tell whoever stands at the kiosk about the card."""
    coupon = coupon.strip()
    try:
        found = quick_offers(page.app.ctx, number)
        chosen = quote(page.app.ctx, number, offer_code, coupon=coupon or None)
    except DomainError as exc:
        if coupon:
            # A wrong coupon is no reason to start over: the plan without it.
            return _confirm_without_coupon(page, number, offer_code, form_key, exc)
        return _entry(page, typed(number), error=page.error_text(exc), status=exc.status)
    return page.render(
        "kiosk_confirm.html",
        number=number,
        found=found,
        chosen=chosen,
        coupon=coupon,
        providers=payment_choices(page),
        form_key=form_key,
        error=None,
        idle=IDLE_SECONDS,
    )


def _confirm_without_coupon(
    page: KioskPage, number: str, offer_code: str, form_key: str, refused: DomainError
) -> Response:
    try:
        found = quick_offers(page.app.ctx, number)
        chosen = quote(page.app.ctx, number, offer_code, coupon=None)
    except DomainError as exc:
        return _entry(page, typed(number), error=page.error_text(exc), status=exc.status)
    return page.render(
        "kiosk_confirm.html",
        status=refused.status,
        number=number,
        found=found,
        chosen=chosen,
        coupon="",
        providers=payment_choices(page),
        form_key=form_key,
        error=page.error_text(refused),
        idle=IDLE_SECONDS,
    )


@router.post("/kiosk/pay", dependencies=[CsrfDep])
def kiosk_pay(
    page: KioskPageDep,
    number: Digits,
    offer_code: OfferCode,
    form_key: FormKey,
    method: Method,
    pay_with: PayWith = "sandbox",
    coupon: Coupon = "",
) -> Response:
    """Order through the kiosk channel and open its payment: the QR screen, or the
    provider's card page, which comes back to the kiosk's done screen. The form's key
    makes a second press order once."""
    ctx = page.app.ctx
    try:
        _limits(page).check("order", ip=_client_ip(page), number=number)
        ctx.provider(pay_with)
        command = PlaceOrder(
            _e164(number),
            offer_code,
            Channel.KIOSK,
            actor=ACTOR,
            coupon=coupon.strip() or None,
            idempotency_key=form_key,
        )
        placed = checkout(ctx, command, pay_with=pay_with, return_url=_return_url(page, method))
    except DomainError as exc:
        return _entry(page, typed(number), error=page.error_text(exc), status=exc.status)
    except Problem as problem:
        return _entry(page, typed(number), error=page.problem_text(problem), status=problem.status)
    _remember(placed.payment)
    return page.redirect(_next_step(placed.order.id, placed.payment, method))


def _return_url(page: Page, method: str) -> str:
    """Where the provider sends the payer back (``{order_id}``: see request_checkout).
    A card paid here comes back to the kiosk; a phone that scanned the code gets the
    site's own result page, while the kiosk follows the order by itself."""
    base = page.settings.public_url.rstrip("/")
    if method == "card":
        return base + "/kiosk/orders/{order_id}/done"
    return base + "/orders/{order_id}/result"


def _next_step(order_id: str, payment: Payment | None, method: str) -> str:
    if payment is not None and payment.checkout_url and method == "card":
        return payment.checkout_url
    if payment is not None and method == "qr":
        return f"/kiosk/orders/{order_id}"
    return f"/kiosk/orders/{order_id}/done"


def _remember(payment: Payment | None) -> None:
    if payment is None or not payment.checkout_url:
        return
    with _CHECKOUTS_LOCK:
        _CHECKOUTS[payment.id] = payment.checkout_url
        _CHECKOUTS.move_to_end(payment.id)
        while len(_CHECKOUTS) > MAX_REMEMBERED_CHECKOUTS:
            _CHECKOUTS.popitem(last=False)


def _checkout_url(page: KioskPage, status: OrderStatus) -> str | None:
    """The provider's checkout of the pending payment, for the QR code. The payment
    row does not keep it, so this process remembers the ones it opened; another
    process (or this one after a restart) asks again: for a pending payment,
    start_payment hands back the same payment and the provider the same session."""
    payment = status.payment
    if payment is None or payment.state is not PaymentState.PENDING:
        return None
    if payment.checkout_url:
        return payment.checkout_url
    with _CHECKOUTS_LOCK:
        known = _CHECKOUTS.get(payment.id)
    if known:
        return known
    try:
        again = start_payment(
            page.app.ctx,
            status.order.id,
            payment.provider,
            actor=ACTOR,
            return_url=_return_url(page, "qr"),
        )
    except DomainError:
        return None
    _remember(again)
    return again.checkout_url


def _status(page: KioskPage, order_id: str) -> OrderStatus | Response:
    try:
        return order_status(page.app.ctx, order_id)
    except DomainError as exc:
        return page.render(
            "kiosk_error.html", status=exc.status, detail=page.error_text(exc), idle=IDLE_SECONDS
        )


@router.get("/kiosk/orders/{order_id}")
def kiosk_waiting(order_id: OrderId, page: KioskPageDep) -> Response:
    """The QR screen: the code for the payer's phone and the amount; it reloads every
    two seconds and moves on to the done screen once the payment is decided."""
    status = _status(page, order_id)
    if isinstance(status, Response):
        return status
    state = outcome(status)
    if state != "waiting":
        return page.redirect(f"/kiosk/orders/{order_id}/done")
    payment = status.payment
    started = payment.created_at if payment is not None else status.order.updated_at
    if page.app.ctx.clock.now() - started > WAIT_LIMIT:
        # Nobody is paying any more (or pays on the phone, which shows the result):
        # stop reloading, so that the kiosk goes back to the start by itself.
        return page.render(
            "kiosk_waiting.html", order_status=status, qr=None, refresh=None, idle=IDLE_SECONDS
        )
    checkout_url = _checkout_url(page, status)
    label = page.gettext("QR code to pay with your phone")
    qr = qr_svg(checkout_url, label) if checkout_url else None
    return page.render(
        "kiosk_waiting.html", order_status=status, qr=qr, refresh=REFRESH_SECONDS, idle=None
    )


@router.get("/kiosk/orders/{order_id}/done")
def kiosk_done(order_id: OrderId, page: KioskPageDep) -> Response:
    """The outcome: the receipt to print, or what to do after a decline."""
    status = _status(page, order_id)
    if isinstance(status, Response):
        return status
    return _done(page, status)


def _done(page: KioskPage, status: OrderStatus, error: str | None = None) -> Response:
    state = outcome(status)
    waiting = state in ("waiting", "unknown")
    return page.render(
        "kiosk_done.html",
        order_status=status,
        outcome=state,
        providers=payment_choices(page),
        refresh=REFRESH_SECONDS if waiting else None,
        idle=None if waiting else IDLE_SECONDS,
        error=error,
    )


@router.post("/kiosk/orders/{order_id}/pay", dependencies=[CsrfDep])
def kiosk_pay_again(
    order_id: OrderId, page: KioskPageDep, method: Method, pay_with: PayWith = "sandbox"
) -> Response:
    """Pay again after a decline, by phone or by card."""
    try:
        payment = start_payment(
            page.app.ctx, order_id, pay_with, actor=ACTOR, return_url=_return_url(page, method)
        )
    except DomainError as exc:
        status = _status(page, order_id)
        if isinstance(status, Response):
            return status
        return _done(page, status, error=page.error_text(exc))
    _remember(payment)
    return page.redirect(_next_step(order_id, payment, method))
