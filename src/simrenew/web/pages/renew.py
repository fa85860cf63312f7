"""Renewing one of my cards: choose an offer (step 1), confirm the price and the
validity it gives (step 2), pay on the provider's page (step 3), and follow the order
to the end on ``/orders/{id}/result`` (step 4, see order_result.py).

Unlike quick top-up, the owner sees their card: its state, its validity now and what
it will be after the renewal. A card that is not theirs is "not found", as in the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Path
from fastapi.responses import Response

from simrenew.domain.accounts import Subscriber
from simrenew.domain.cards import Card, CardState, mask_number
from simrenew.domain.catalog import OfferKind
from simrenew.domain.errors import (
    CardNotFound,
    CardNotRenewable,
    DomainError,
    OfferNotAvailable,
)
from simrenew.domain.orders import Channel
from simrenew.domain.payment_methods import PaymentMethod
from simrenew.services.my_orders import (
    my_card,
    my_checkout,
    my_checkout_with_saved_method,
    my_offers,
    my_quote,
)
from simrenew.services.payment_methods import list_methods, providers_that_save
from simrenew.services.quoting import Quote
from simrenew.services.vouchers import VOUCHER, redeem_voucher
from simrenew.web.pages.home import next_step, payment_choices, result_url
from simrenew.web.pages.page import CsrfDep, Page, SignedInPageDep, new_form_key

router = APIRouter(include_in_schema=False)

CardId = Annotated[str, Path(min_length=1, max_length=48)]
OfferCode = Annotated[str, Form(max_length=64)]
Coupon = Annotated[str, Form(max_length=64)]
FormKey = Annotated[str, Form(min_length=8, max_length=64)]
PayWith = Annotated[str, Form(max_length=32)]
Checkbox = Annotated[str | None, Form(max_length=8)]

# The order the offers are listed in: what most people come for first.
KINDS = (OfferKind.PLAN, OfferKind.ADDON, OfferKind.CREDIT, OfferKind.VALIDITY)


def _me(page: Page) -> Subscriber:
    assert page.subscriber is not None  # SignedInPageDep made sure
    return page.subscriber


def cannot_renew(card: Card, quotes: Sequence[Quote]) -> bool:
    """Terminated, or past its grace before the nightly sweep marked it so."""
    return card.state is CardState.TERMINATED or any(
        isinstance(q.refusal, CardNotRenewable) for q in quotes
    )


def new_validity(card: Card, quote: Quote) -> date | None:
    """The validity end the card will have, when buying ``quote`` moves it."""
    plan = quote.plan
    if plan is None or quote.offer.kind is OfferKind.ADDON or plan.validity_end is None:
        return None
    if plan.validity_end == card.validity_end and card.state is CardState.ACTIVE:
        return None
    return plan.validity_end


def after_renewal(page: Page, card: Card, quote: Quote) -> str:
    """What buying ``quote`` does to the card's validity, in one sentence."""
    _ = page.gettext
    plan = quote.plan
    if plan is None:
        return ""
    if quote.offer.kind is OfferKind.ADDON:
        ends = [bucket.valid_until for bucket in plan.buckets]
        if not ends:
            return _("The card's validity does not change.")
        until = page.fmt.date(max(ends).astimezone(page.fmt.tz).date())
        return _("Add-on data valid until %(date)s; the card's validity does not change.") % {
            "date": until
        }
    after = new_validity(card, quote)
    if after is None:
        return _("The card's validity does not change.")
    return _("Valid until %(date)s after renewal") % {"date": page.fmt.date(after)}


def refusal_text(page: Page, quote: Quote) -> str:
    """Why an offer cannot be bought now, in the page's language."""
    if quote.refusal is None:
        return ""
    if quote.offer.kind is OfferKind.ADDON and isinstance(quote.refusal, OfferNotAvailable):
        # The rules refuse an add-on to a card without a running plan.
        return page.gettext("An add-on needs a running plan: renew the card with a plan first.")
    return page.error_text(quote.refusal)


def _offers_page(
    page: Page,
    card: Card,
    quotes: Sequence[Quote],
    *,
    status: int = 200,
    error: str | None = None,
    coupon: str = "",
    chosen: str = "",
) -> Response:
    groups = [(kind.value, [q for q in quotes if q.offer.kind is kind]) for kind in KINDS]
    codes = [q.offer.code for q in quotes if q.available]
    return page.render(
        "renew_offers.html",
        status=status,
        card=card,
        number_masked=mask_number(card.primary_number),
        groups=[(kind, found) for kind, found in groups if found],
        closed=cannot_renew(card, quotes),
        selected=chosen if chosen in codes else (codes[0] if codes else ""),
        coupon=coupon,
        error=error,
        after_renewal=after_renewal,
        refusal_text=refusal_text,
    )


def _offers_again(
    page: Page, card_id: str, exc: DomainError, *, coupon: str, chosen: str
) -> Response:
    """Back to step one with what went wrong, the buyer's choice kept."""
    card, quotes = my_offers(page.app.ctx, _me(page), card_id)
    return _offers_page(
        page,
        card,
        quotes,
        status=exc.status,
        error=page.error_text(exc),
        coupon=coupon,
        chosen=chosen,
    )


@router.get("/cards/{card_id}/renew")
def renew_offers(card_id: CardId, page: SignedInPageDep) -> Response:
    """Step one: every offer for the card, priced, with the validity each gives."""
    card, quotes = my_offers(page.app.ctx, _me(page), card_id)
    return _offers_page(page, card, quotes)


@router.post("/cards/{card_id}/renew/confirm", dependencies=[CsrfDep])
def renew_confirm(
    card_id: CardId, page: SignedInPageDep, offer_code: OfferCode = "", coupon: Coupon = ""
) -> Response:
    """Step two: the price with the coupon and the new validity, before paying. The
    form gets a fresh idempotency key, so that pressing Pay twice orders once."""
    coupon = coupon.strip()
    ctx = page.app.ctx
    try:
        chosen = my_quote(page.app.ctx, _me(page), card_id, offer_code, coupon or None)
        if chosen.refusal is not None:
            raise chosen.refusal
    except CardNotFound:
        raise
    except DomainError as exc:
        return _offers_again(page, card_id, exc, coupon=coupon, chosen=offer_code)
    choices = payment_choices(page)
    savers = set(providers_that_save(ctx))
    return page.render(
        "renew_confirm.html",
        card=chosen.card,
        number_masked=mask_number(chosen.card.primary_number),
        quote=chosen,
        new_validity=new_validity(chosen.card, chosen),
        after=after_renewal(page, chosen.card, chosen),
        coupon=coupon,
        form_key=new_form_key(),
        providers=choices,
        savers=[name for name in choices if name in savers],
        saved_methods=_chargeable_methods(page, savers),
    )


def _chargeable_methods(page: Page, savers: set[str]) -> list[PaymentMethod]:
    """The subscriber's saved methods that can be charged today (not expired, their
    provider, one of ``savers``, still offered)."""
    ctx = page.app.ctx
    today = ctx.clock.now().astimezone(ctx.clock.tz).date()
    return [
        m for m in list_methods(ctx, _me(page)) if m.provider in savers and not m.expired_on(today)
    ]


@router.post("/cards/{card_id}/renew/pay", dependencies=[CsrfDep])
def renew_pay(
    card_id: CardId,
    page: SignedInPageDep,
    offer_code: OfferCode,
    form_key: FormKey,
    pay_with: PayWith = "sandbox",
    coupon: Coupon = "",
    save_method: Checkbox = None,
) -> Response:
    """Step three: order and go to the provider's page. The same form sent twice
    finds the first order (same key) and its checkout again. With "remember", the
    provider keeps the method for the subscriber once the payment succeeds."""
    ctx = page.app.ctx
    coupon = coupon.strip()
    try:
        ctx.provider(pay_with)
        placed = my_checkout(
            ctx,
            _me(page),
            card_id,
            offer_code,
            coupon=coupon or None,
            pay_with=pay_with,
            channel=Channel.WEB,
            idempotency_key=form_key,
            return_url=result_url(page),
            save_method=save_method is not None,
        )
    except CardNotFound:
        raise
    except DomainError as exc:
        return _offers_again(page, card_id, exc, coupon=coupon, chosen=offer_code)
    return page.redirect(next_step(page, placed.order.id, placed.payment))


@router.post("/cards/{card_id}/renew/saved", dependencies=[CsrfDep])
def renew_with_saved_method(
    card_id: CardId,
    page: SignedInPageDep,
    offer_code: OfferCode,
    form_key: FormKey,
    method_id: Annotated[str, Form(max_length=48)],
    coupon: Coupon = "",
) -> Response:
    """Step three with a saved method: order and charge it at once; the result page
    says how it went (a decline offers to try another way)."""
    ctx = page.app.ctx
    coupon = coupon.strip()
    try:
        placed = my_checkout_with_saved_method(
            ctx,
            _me(page),
            card_id,
            offer_code,
            method_id,
            coupon=coupon or None,
            channel=Channel.WEB,
            idempotency_key=form_key,
        )
    except CardNotFound:
        raise
    except DomainError as exc:
        return _offers_again(page, card_id, exc, coupon=coupon, chosen=offer_code)
    return page.redirect(f"/orders/{placed.order.id}/result")


@router.post("/cards/{card_id}/renew/voucher", dependencies=[CsrfDep])
def renew_with_voucher(
    card_id: CardId,
    page: SignedInPageDep,
    offer_code: OfferCode,
    form_key: FormKey,
    pin: Annotated[str, Form(max_length=32)],
    coupon: Coupon = "",
) -> Response:
    """Step three with a prepaid voucher: order (the confirm form's key, so once) and
    pay with the PIN at once; a refused PIN goes back to the offers with the reason."""
    ctx = page.app.ctx
    coupon = coupon.strip()
    client = page.request.client
    try:
        placed = my_checkout(
            ctx,
            _me(page),
            card_id,
            offer_code,
            coupon=coupon or None,
            pay_with=VOUCHER,
            channel=Channel.WEB,
            idempotency_key=form_key,
        )
        card = my_card(ctx, _me(page), card_id)
        redeem_voucher(
            ctx,
            placed.order.id,
            pin,
            number=card.primary_number,
            ip=client.host if client else "unknown",
        )
    except CardNotFound:
        raise
    except DomainError as exc:
        return _offers_again(page, card_id, exc, coupon=coupon, chosen=offer_code)
    return page.redirect(f"/orders/{placed.order.id}/result")
