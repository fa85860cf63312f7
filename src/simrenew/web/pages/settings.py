"""Settings: language, messages, anti-phishing word, auto-renew per card, and adding
another card with a code sent to that card's own number.

Every form posts, saves through ``services.auth``, and redirects back to the settings
page with ``?saved=...`` for the success notice, so that a reload never posts twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response

from simrenew.domain.accounts import AutoRenewSetting, NotificationPreferences, Subscriber
from simrenew.domain.cards import CardState
from simrenew.domain.catalog import OfferKind
from simrenew.domain.errors import DomainError
from simrenew.services import auth, payment_methods
from simrenew.services.auto_renew import LastTry, last_try
from simrenew.services.my_orders import my_offers
from simrenew.services.payment_methods import list_methods
from simrenew.services.quoting import Quote
from simrenew.web.i18n import NAMES
from simrenew.web.languages import SUPPORTED
from simrenew.web.pages.cards import display_number
from simrenew.web.pages.page import CsrfDep, Page, SignedInPageDep

router = APIRouter(include_in_schema=False)

CardId = Annotated[str, Path(max_length=64)]
Checkbox = Annotated[str | None, Form(max_length=8)]
Number = Annotated[str, Form(max_length=32)]
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 254
# Offers auto-renew may buy: what extends validity. An add-on does not.
AUTO_RENEW_KINDS = frozenset({OfferKind.PLAN, OfferKind.VALIDITY, OfferKind.CREDIT})
SAVED = (
    "language",
    "messages",
    "anti_phishing",
    "anti_phishing_cleared",
    "auto_renew",
    "method_deleted",
)


@dataclass(frozen=True, slots=True)
class AutoRenewCard:
    card_id: str
    number: str
    setting: AutoRenewSetting
    offers: list[Quote]
    last_try: LastTry | None = None


def _subscriber(page: Page) -> Subscriber:
    assert page.subscriber is not None  # SignedInPageDep saw to it
    return page.subscriber


def _client_ip(page: Page) -> str:
    client = page.request.client
    return client.host if client else "unknown"


def _saved_notice(page: Page, saved: str | None) -> str | None:
    _ = page.gettext
    notices = {
        "language": _("Your language is saved."),
        "messages": _("Your message choices are saved."),
        "anti_phishing": _("Your anti-phishing word is saved."),
        "anti_phishing_cleared": _("Your anti-phishing word is removed."),
        "auto_renew": _("Your auto-renew choice is saved."),
        "method_deleted": _("The payment method is deleted. It will not be charged again."),
    }
    return notices.get(saved or "")


def _auto_renew_cards(page: Page, subscriber: Subscriber) -> list[AutoRenewCard]:
    ctx = page.app.ctx
    found = []
    for card in auth.list_cards(ctx, subscriber):
        if card.state is CardState.TERMINATED:
            continue
        _, quotes = my_offers(ctx, subscriber, card.id)
        found.append(
            AutoRenewCard(
                card.id,
                display_number(card.primary_number),
                auth.get_auto_renew(ctx, subscriber, card.id),
                [q for q in quotes if q.offer.kind in AUTO_RENEW_KINDS],
                last_try(ctx, card.id),
            )
        )
    return found


def settings_page(
    page: Page,
    *,
    status: int = 200,
    saved: str | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    """The settings page; ``errors`` by form name puts a message at that form, and
    ``typed`` keeps what was typed in it."""
    subscriber = _subscriber(page)
    ctx = page.app.ctx
    return page.render(
        "settings.html",
        status=status,
        saved=_saved_notice(page, saved),
        preferences=auth.get_preferences(ctx, subscriber),
        anti_phishing_word=subscriber.anti_phishing_word,
        auto_renew=_auto_renew_cards(page, subscriber),
        payment_methods=list_methods(ctx, subscriber),
        today=ctx.clock.now().astimezone(ctx.clock.tz).date(),
        languages=[(tag, NAMES[tag]) for tag in SUPPORTED],
        errors=errors or {},
        typed=typed or {},
    )


@router.get("/settings")
def show_settings(
    page: SignedInPageDep, saved: Annotated[str | None, Query(max_length=32)] = None
) -> Response:
    return settings_page(page, saved=saved if saved in SAVED else None)


@router.post("/settings/language", dependencies=[CsrfDep])
def save_language(page: SignedInPageDep, language: Annotated[str, Form(max_length=16)]) -> Response:
    """The account's language (messages we send) and this browser's (pages)."""
    subscriber, ctx = _subscriber(page), page.app.ctx
    if language not in SUPPORTED:
        return settings_page(
            page,
            status=422,
            errors={"language": page.gettext("Choose one of the languages listed.")},
        )
    current = auth.get_preferences(ctx, subscriber)
    auth.set_preferences(
        ctx,
        subscriber,
        language=language,
        email=current.email,
        notifications=current.notifications,
    )
    page.remember_language(language)
    return page.redirect("/settings?saved=language")


@router.post("/settings/messages", dependencies=[CsrfDep])
def save_messages(
    page: SignedInPageDep,
    email: Annotated[str, Form(max_length=EMAIL_MAX + 10)] = "",
    by_sms: Checkbox = None,
    by_email: Checkbox = None,
    reminders: Checkbox = None,
    marketing: Checkbox = None,
) -> Response:
    """E-mail address, channels and opt-ins; security messages are not among them."""
    subscriber, ctx = _subscriber(page), page.app.ctx
    address = email.strip()
    if address and (len(address) > EMAIL_MAX or not EMAIL.match(address)):
        return settings_page(
            page,
            status=422,
            errors={
                "messages": page.gettext(
                    "Enter an e-mail address like name@example.com, or leave it empty."
                )
            },
            typed={"email": address},
        )
    current = auth.get_preferences(ctx, subscriber)
    auth.set_preferences(
        ctx,
        subscriber,
        language=current.language,
        email=address or None,
        notifications=NotificationPreferences(
            sms=by_sms is not None,
            email=by_email is not None,
            in_app=current.notifications.in_app,
            reminders=reminders is not None,
            marketing=marketing is not None,
        ),
    )
    return page.redirect("/settings?saved=messages")


@router.post("/settings/anti-phishing", dependencies=[CsrfDep])
def save_anti_phishing_word(
    page: SignedInPageDep,
    word: Annotated[str, Form(max_length=64)] = "",
    clear: Checkbox = None,
) -> Response:
    subscriber, ctx = _subscriber(page), page.app.ctx
    wanted = None if clear or not word.strip() else word
    try:
        auth.set_anti_phishing_word(ctx, subscriber, wanted)
    except DomainError as exc:
        return settings_page(
            page,
            status=exc.status,
            errors={"anti_phishing": page.error_text(exc)},
            typed={"word": word},
        )
    return page.redirect(
        "/settings?saved=" + ("anti_phishing" if wanted else "anti_phishing_cleared")
    )


@router.post("/settings/cards/{card_id}/auto-renew", dependencies=[CsrfDep])
def save_auto_renew(
    card_id: CardId,
    page: SignedInPageDep,
    enabled: Checkbox = None,
    offer_code: Annotated[str, Form(max_length=48)] = "",
    method_id: Annotated[str, Form(max_length=48)] = "",
) -> Response:
    """Stored with its plan and the saved method it charges (both needed to turn it
    on; the automation that acts on it is described on the page)."""
    subscriber, ctx = _subscriber(page), page.app.ctx
    auth.get_auto_renew(ctx, subscriber, card_id)  # someone else's card: not found first
    missing = None
    if enabled is not None and not offer_code:
        missing = page.gettext("Choose a plan to renew with.")
    elif enabled is not None and not method_id:
        missing = page.gettext("Choose a saved payment method to charge.")
    if missing is not None:
        return settings_page(page, status=422, errors={"auto_renew:" + card_id: missing})
    try:
        auth.set_auto_renew(
            ctx,
            subscriber,
            card_id,
            enabled=enabled is not None,
            offer_code=offer_code or None,
            payment_token_id=method_id or None,
        )
    except DomainError as exc:
        if exc.status == 404 and exc.code == "card_not_found":
            raise  # someone else's card, or none: the not-found page
        return settings_page(
            page, status=exc.status, errors={"auto_renew:" + card_id: page.error_text(exc)}
        )
    return page.redirect("/settings?saved=auto_renew")


@router.post("/settings/payment-methods/{method_id}/delete", dependencies=[CsrfDep])
def delete_payment_method(
    method_id: Annotated[str, Path(max_length=48)], page: SignedInPageDep
) -> Response:
    """Deleted at once (never charged again); auto-renew that charged it pauses."""
    payment_methods.delete_method(page.app.ctx, _subscriber(page), method_id)
    return page.redirect("/settings?saved=method_deleted#payment-methods")


# --- adding another card --------------------------------------------------------------


@router.get("/settings/cards/bind")
def bind_form(page: SignedInPageDep) -> Response:
    return page.render("bind_card.html", step="number", number="", error=None)


@router.post("/settings/cards/bind", dependencies=[CsrfDep])
def send_bind_code(page: SignedInPageDep, number: Number) -> Response:
    """Step one: a code to the card's own number proves the card is in the adder's hands."""
    try:
        auth.bind_card(page.app.ctx, _subscriber(page), number, _client_ip(page))
    except DomainError as exc:
        return page.render(
            "bind_card.html",
            status=exc.status,
            step="number",
            number=number,
            error=page.error_text(exc),
        )
    return page.render("bind_card.html", step="code", number=number, error=None)


@router.post("/settings/cards/bind/confirm", dependencies=[CsrfDep])
def confirm_bind(
    page: SignedInPageDep, number: Number, code: Annotated[str, Form(max_length=12)]
) -> Response:
    """Step two: the code; the card joins the account and "My cards" says so."""
    try:
        card = auth.confirm_bind_card(page.app.ctx, _subscriber(page), number, code.strip())
    except DomainError as exc:
        return page.render(
            "bind_card.html",
            status=exc.status,
            step="code",
            number=number,
            error=page.error_text(exc),
        )
    return page.redirect(f"/cards?added={card.id}")
