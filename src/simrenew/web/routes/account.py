"""Subscriber login and the logged-in account: my cards, binding, settings.

Thin: each route calls one service; errors are domain errors rendered as problems.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Request, Response, status

from simrenew.domain.accounts import NotificationPreferences
from simrenew.domain.auth import TooManyRequests
from simrenew.services import auth, payment_methods
from simrenew.services.auto_renew import last_try
from simrenew.web.auth_deps import (
    SessionTokenDep,
    SubscriberDep,
    clear_session_cookie,
    set_session_cookie,
)
from simrenew.web.deps import CtxDep, LanguageDep
from simrenew.web.problem_docs import problem_responses
from simrenew.web.problems import Problem
from simrenew.web.schemas_account import (
    AntiPhishingWordIn,
    AntiPhishingWordOut,
    AutoRenewIn,
    AutoRenewOut,
    BindCardConfirmIn,
    BindCardIn,
    CardDetailOut,
    CardOut,
    CodeRequestIn,
    CodeSentOut,
    PaymentMethodOut,
    PreferencesIn,
    PreferencesOut,
    SessionIn,
    SessionOut,
)

router = APIRouter(prefix="/api/v1")

_T = TypeVar("_T")

_UNAUTHENTICATED = (401, "not_authenticated")
_THROTTLED = ((429, "rate_limited"), (429, "resend_too_soon"), (429, "login_locked"))
_BAD_NUMBER = ((422, "invalid_number"), (422, "country_not_allowed"))
# A body that is not JSON at all is refused before validation.
_BAD_BODY = ((400, "http_error"), (422, "validation_error"))


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttled(call: Callable[[], _T]) -> _T:
    """Run ``call``; a 429 domain error becomes a problem with a Retry-After header."""
    try:
        return call()
    except TooManyRequests as exc:
        problem = Problem(429, exc.code, exc.message, title="Too many requests", **exc.params)
        problem.headers["Retry-After"] = str(exc.retry_after)
        raise problem from None


# --- login ----------------------------------------------------------------------------


@router.post(
    "/auth/code",
    operation_id="request_login_code",
    summary="Send a one-time login code by SMS",
    description="Answers 202 with the same body for every number, with or without an "
    "account: the account is made by the first successful login.",
    tags=["login"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CodeSentOut,
    responses=problem_responses(*_BAD_NUMBER, *_BAD_BODY, *_THROTTLED),
)
def request_login_code(
    body: CodeRequestIn, request: Request, ctx: CtxDep, language: LanguageDep
) -> CodeSentOut:
    sent = _throttled(
        lambda: auth.request_login_code(ctx, body.phone, _client_ip(request), language=language)
    )
    return CodeSentOut.of(sent)


@router.post(
    "/auth/session",
    operation_id="create_session",
    summary="Exchange a login code for a session",
    description="Returns a bearer token for apps and sets the `__Host-simrenew_session` "
    "cookie (Secure, HttpOnly, SameSite=Lax) for the web. Sessions end after 15 idle "
    "minutes and 8 hours in all.",
    tags=["login"],
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    responses=problem_responses(
        (400, "login_code_invalid"), *_BAD_NUMBER, *_BAD_BODY, (429, "login_locked")
    ),
)
def create_session(
    body: SessionIn, response: Response, ctx: CtxDep, language: LanguageDep
) -> SessionOut:
    logged_in = _throttled(
        lambda: auth.verify_login_code(ctx, body.phone, body.code, language=language)
    )
    set_session_cookie(response, logged_in)
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(token=logged_in.token, expires_at=logged_in.session.expires_at)


@router.delete(
    "/auth/session",
    operation_id="delete_session",
    summary="Log out",
    tags=["login"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(_UNAUTHENTICATED),
)
def delete_session(token: SessionTokenDep, _: SubscriberDep, ctx: CtxDep) -> Response:
    auth.logout(ctx, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response)
    return response


# --- my cards -------------------------------------------------------------------------


@router.get(
    "/me/cards",
    operation_id="list_my_cards",
    summary="My cards",
    tags=["account"],
    response_model=list[CardOut],
    responses=problem_responses(_UNAUTHENTICATED),
)
def list_my_cards(subscriber: SubscriberDep, ctx: CtxDep) -> list[CardOut]:
    return [CardOut.of(card) for card in auth.list_cards(ctx, subscriber)]


@router.get(
    "/me/cards/{card_id}",
    operation_id="get_my_card",
    summary="One of my cards: state, validity, balance, allowances left, periods",
    tags=["account"],
    response_model=CardDetailOut,
    responses=problem_responses(_UNAUTHENTICATED, (404, "card_not_found")),
)
def get_my_card(card_id: str, subscriber: SubscriberDep, ctx: CtxDep) -> CardDetailOut:
    return CardDetailOut.of_view(auth.card_detail(ctx, subscriber, card_id))


@router.post(
    "/me/cards/bind",
    operation_id="request_card_binding_code",
    summary="Send a code to another card's own number to bind it",
    tags=["account"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CodeSentOut,
    responses=problem_responses(_UNAUTHENTICATED, (404, "card_not_found"), *_BAD_BODY, *_THROTTLED),
)
def request_card_binding_code(
    body: BindCardIn, request: Request, subscriber: SubscriberDep, ctx: CtxDep
) -> CodeSentOut:
    sent = _throttled(lambda: auth.bind_card(ctx, subscriber, body.number, _client_ip(request)))
    return CodeSentOut.of(sent)


@router.post(
    "/me/cards/bind/confirm",
    operation_id="confirm_card_binding",
    summary="Bind the card with the code sent to its number",
    tags=["account"],
    response_model=CardOut,
    responses=problem_responses(
        _UNAUTHENTICATED,
        (400, "login_code_invalid"),
        (404, "card_not_found"),
        *_BAD_BODY,
        (429, "login_locked"),
    ),
)
def confirm_card_binding(
    body: BindCardConfirmIn, subscriber: SubscriberDep, ctx: CtxDep
) -> CardOut:
    card = _throttled(lambda: auth.confirm_bind_card(ctx, subscriber, body.number, body.code))
    return CardOut.of(card)


# --- settings -------------------------------------------------------------------------


@router.get(
    "/me/preferences",
    operation_id="get_my_preferences",
    summary="Language, e-mail and notification choices",
    tags=["account"],
    response_model=PreferencesOut,
    responses=problem_responses(_UNAUTHENTICATED),
)
def get_my_preferences(subscriber: SubscriberDep, ctx: CtxDep) -> PreferencesOut:
    return PreferencesOut.of(auth.get_preferences(ctx, subscriber))


@router.put(
    "/me/preferences",
    operation_id="set_my_preferences",
    summary="Replace language, e-mail and notification choices",
    description="Security messages (login and binding codes) are always sent.",
    tags=["account"],
    response_model=PreferencesOut,
    responses=problem_responses(_UNAUTHENTICATED, *_BAD_BODY),
)
def set_my_preferences(
    body: PreferencesIn, subscriber: SubscriberDep, ctx: CtxDep
) -> PreferencesOut:
    saved = auth.set_preferences(
        ctx,
        subscriber,
        language=body.language,
        email=body.email,
        notifications=NotificationPreferences(
            sms=body.channels.sms,
            email=body.channels.email,
            in_app=body.channels.in_app,
            reminders=body.reminders,
            marketing=body.marketing,
        ),
    )
    return PreferencesOut.of(saved)


@router.get(
    "/me/auto-renew/{card_id}",
    operation_id="get_auto_renew",
    summary="Auto-renew setting of one of my cards",
    tags=["account"],
    response_model=AutoRenewOut,
    responses=problem_responses(_UNAUTHENTICATED, (404, "card_not_found")),
)
def get_auto_renew(card_id: str, subscriber: SubscriberDep, ctx: CtxDep) -> AutoRenewOut:
    setting = auth.get_auto_renew(ctx, subscriber, card_id)
    return AutoRenewOut.of(setting, last_try(ctx, card_id))


@router.put(
    "/me/auto-renew/{card_id}",
    operation_id="set_auto_renew",
    summary="Store the auto-renew setting of one of my cards",
    description="Turning it on needs an offer and one of my saved payment methods.",
    tags=["account"],
    response_model=AutoRenewOut,
    responses=problem_responses(
        _UNAUTHENTICATED,
        (404, "card_not_found"),
        (404, "offer_not_found"),
        (404, "payment_method_not_found"),
        (409, "offer_not_available"),
        (409, "payment_method_unusable"),
        (422, "invalid_input"),
        *_BAD_BODY,
    ),
)
def set_auto_renew(
    card_id: str, body: AutoRenewIn, subscriber: SubscriberDep, ctx: CtxDep
) -> AutoRenewOut:
    setting = auth.set_auto_renew(
        ctx,
        subscriber,
        card_id,
        enabled=body.enabled,
        offer_code=body.offer_code,
        payment_token_id=body.payment_token_id,
    )
    return AutoRenewOut.of(setting, last_try(ctx, card_id))


@router.get(
    "/me/payment-methods",
    operation_id="list_my_payment_methods",
    summary="My saved payment methods (provider tokens; never a card number)",
    tags=["account"],
    response_model=list[PaymentMethodOut],
    responses=problem_responses(_UNAUTHENTICATED),
)
def list_my_payment_methods(subscriber: SubscriberDep, ctx: CtxDep) -> list[PaymentMethodOut]:
    today = ctx.clock.now().astimezone(ctx.clock.tz).date()
    return [PaymentMethodOut.of(m, today) for m in payment_methods.list_methods(ctx, subscriber)]


@router.delete(
    "/me/payment-methods/{method_id}",
    operation_id="delete_my_payment_method",
    summary="Delete a saved payment method; auto-renew that charged it pauses",
    tags=["account"],
    status_code=204,
    responses=problem_responses(_UNAUTHENTICATED, (404, "payment_method_not_found")),
)
def delete_my_payment_method(method_id: str, subscriber: SubscriberDep, ctx: CtxDep) -> Response:
    payment_methods.delete_method(ctx, subscriber, method_id)
    return Response(status_code=204)


@router.put(
    "/me/anti-phishing-word",
    operation_id="set_anti_phishing_word",
    summary="Set or clear the word every message to me carries",
    tags=["account"],
    response_model=AntiPhishingWordOut,
    responses=problem_responses(_UNAUTHENTICATED, (422, "anti_phishing_word_invalid"), *_BAD_BODY),
)
def set_anti_phishing_word(
    body: AntiPhishingWordIn, subscriber: SubscriberDep, ctx: CtxDep
) -> AntiPhishingWordOut:
    return AntiPhishingWordOut(word=auth.set_anti_phishing_word(ctx, subscriber, body.word))
