"""Subscriber login by one-time SMS code, sessions, card binding and account settings.

Asking for a code gives every number the same answer by the same path: unknown
numbers get a code too, and the account is made by the first successful login
(SPEC: "A subscriber account is a verified phone number").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from simrenew.domain.accounts import (
    AutoRenewSetting,
    NotificationPreferences,
    Subscriber,
    validate_anti_phishing_word,
    validate_language,
)
from simrenew.domain.auth import (
    CodePurpose,
    LoginCode,
    LoginCodeInvalid,
    LoginLocked,
    NotAuthenticated,
    RateLimited,
    Session,
    SessionState,
    check_can_send,
    check_not_locked,
    issue_code,
    normalize_login_number,
    number_prefix,
    open_session,
    session_id,
    try_code,
)
from simrenew.domain.auth_messages import AuthMessageKind, render_code_sms
from simrenew.domain.cards import Card, CardState, mask_number
from simrenew.domain.errors import (
    CardNotFound,
    InvalidInput,
    OfferNotAvailable,
)
from simrenew.domain.ids import new_id
from simrenew.domain.outbox import OutboxKind
from simrenew.ports import AuthConfig, UnitOfWork
from simrenew.services.cards import CardView, card_view
from simrenew.services.context import Context
from simrenew.services.lookup import find_card, normalize_card_key
from simrenew.services.payment_methods import usable_method
from simrenew.services.scheduled_jobs import schedule_period

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class CodeSent:
    """The one answer to every code request, whoever the number belongs to."""

    expires_in: int  # seconds
    resend_after: int  # seconds


@dataclass(frozen=True, slots=True)
class LoggedIn:
    token: str  # returned once; only its hash is stored
    session: Session
    subscriber: Subscriber


@dataclass(frozen=True, slots=True)
class AccountPreferences:
    language: str
    email: str | None
    notifications: NotificationPreferences


def _auth(ctx: Context) -> AuthConfig:
    if ctx.auth is None:
        raise RuntimeError("login is not configured: Context.auth is None")
    return ctx.auth


def _code_sent(auth: AuthConfig) -> CodeSent:
    policy = auth.policy
    return CodeSent(
        expires_in=policy.code_ttl // _SECOND,
        resend_after=policy.resend_after // _SECOND,
    )


def _throttle(auth: AuthConfig, phone: str, ip: str) -> None:
    """Count one SMS against every send limit; raise ``RateLimited`` at the first full one.

    Runs before the transaction: the limiter may be a network service, and no
    database lock is held across a network call.
    """
    keys = {"number": phone, "prefix": number_prefix(phone), "ip": ip}
    for limit in auth.policy.send_limits:
        throttle = auth.limiter.hit(
            f"code:{limit.scope}", keys[limit.scope], limit=limit.limit, window=limit.window
        )
        if not throttle.allowed:
            raise RateLimited(retry_after=max(throttle.retry_after, 1))


def _issue(
    uow: UnitOfWork,
    auth: AuthConfig,
    phone: str,
    purpose: CodePurpose,
    now: datetime,
    subject: str = "",
) -> tuple[LoginCode, str]:
    """Check lock and cooldown, then store a new code (replacing the live one)."""
    policy = auth.policy
    locked = uow.accounts.locked_since(
        phone, purpose, after=now - policy.lock_for, max_attempts=policy.max_attempts
    )
    latest = uow.accounts.latest_code(phone, purpose, lock=True)
    check_can_send(latest, locked, now, policy)
    carried = latest.attempts if latest is not None and latest.usable(now, policy) else 0
    code, raw = issue_code(
        code_id=new_id("lgc"),
        phone=phone,
        purpose=purpose,
        policy=policy,
        now=now,
        subject=subject,
        carried_attempts=carried,
    )
    uow.accounts.add_code(code, supersede_at=now)
    return code, raw


def _check(
    uow: UnitOfWork,
    auth: AuthConfig,
    phone: str,
    purpose: CodePurpose,
    given: str,
    now: datetime,
    subject: str = "",
) -> bool:
    """Try ``given``; True if it matched (the code is now used). On a miss the try is
    recorded and False returned: the caller commits it, then raises ``_miss``."""
    policy = auth.policy
    locked = uow.accounts.locked_since(
        phone, purpose, after=now - policy.lock_for, max_attempts=policy.max_attempts
    )
    check_not_locked(locked, now, policy)
    stored = uow.accounts.latest_code(phone, purpose, lock=True)
    outcome = try_code(stored, given, now=now, policy=policy, subject=subject)
    if outcome is None or not uow.accounts.save_code_check(outcome.code):
        raise LoginCodeInvalid()
    if outcome.matched:
        return True
    if outcome.locked:
        raise _Locked(LoginLocked(retry_after=policy.lock_for // _SECOND))
    return False


class _Locked(Exception):
    """Carries the lockout out of ``_check`` so that the caller commits the killed code
    before raising it."""

    def __init__(self, error: LoginLocked) -> None:
        self.error = error


def request_login_code(ctx: Context, phone: str, ip: str, *, language: str = "zh-Hant") -> CodeSent:
    """Send a login code by SMS (through the outbox) to ``phone``, known or not.

    ``language`` is used when neither an account nor a card knows the number's.
    Raises ``InvalidNumber``, ``CountryNotAllowed``, ``RateLimited``,
    ``ResendTooSoon`` or ``LoginLocked``, the same for known and unknown numbers.
    """
    auth = _auth(ctx)
    number = normalize_login_number(phone, auth.policy.allowed_country_codes)
    _throttle(auth, number, ip)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        # Both lookups always run, so that known and unknown numbers take one path.
        subscriber = uow.accounts.subscriber_by_phone(number)
        card = uow.cards.find(number)
        code, raw = _issue(uow, auth, number, CodePurpose.LOGIN, now)
        if subscriber is not None:
            language = subscriber.language
        elif card is not None:
            language = card.language
        text = render_code_sms(
            AuthMessageKind.LOGIN_CODE,
            language,
            brand=ctx.brand,
            domain=ctx.official_domain,
            code=raw,
            minutes=auth.policy.code_ttl // timedelta(minutes=1),
            anti_phishing_word=subscriber.anti_phishing_word if subscriber else None,
        )
        uow.outbox.add(
            OutboxKind.SMS,
            {"to": number, "text": text, "kind": AuthMessageKind.LOGIN_CODE.value},
            at=now,
            dedupe_key=f"sms:login_code:{code.id}",
        )
        uow.commit()
    return _code_sent(auth)


def verify_login_code(
    ctx: Context, phone: str, code: str, *, language: str = "zh-Hant"
) -> LoggedIn:
    """Exchange a login code for a new session; makes the account on first login and
    binds the live card of that number (the code proved its possession).

    Raises ``LoginCodeInvalid`` (wrong, expired, used, none), ``LoginLocked`` (this
    try was the last allowed, or the number is locked), ``InvalidNumber``.
    """
    auth = _auth(ctx)
    number = normalize_login_number(phone, auth.policy.allowed_country_codes)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        try:
            matched = _check(uow, auth, number, CodePurpose.LOGIN, code, now)
        except _Locked as locked:
            uow.commit()
            raise locked.error from None
        if not matched:
            uow.commit()
            raise LoginCodeInvalid()
        card = uow.cards.find(number)
        if uow.accounts.subscriber_by_phone(number) is None:
            uow.accounts.add_subscriber(
                Subscriber(
                    id=new_id("sub"),
                    phone=number,
                    language=card.language if card else validate_language(language),
                    created_at=now,
                    email=card.email if card else None,
                )
            )
        subscriber = uow.accounts.subscriber_by_phone(number)
        assert subscriber is not None  # made just above, or by a concurrent first login
        if card is not None and card.state is not CardState.TERMINATED:
            uow.accounts.bind_card(subscriber.id, card.id, now)
        session, token = open_session(subscriber.id, now, auth.policy)
        uow.accounts.add_session(session)
        uow.commit()
    return LoggedIn(token, session, subscriber)


TOUCH_EVERY = timedelta(minutes=1)


def authenticate(ctx: Context, token: str) -> Subscriber:
    """The subscriber of a live session, whose idle clock restarts now.
    Raises ``NotAuthenticated`` for an unknown, revoked, idle or too old session."""
    auth = _auth(ctx)
    now = ctx.clock.now()
    with ctx.uow(write=False) as uow:
        session = uow.accounts.get_session(session_id(token))
        if session is None or session.state(now, auth.policy) is not SessionState.ACTIVE:
            raise NotAuthenticated()
        subscriber = uow.accounts.get_subscriber(session.subscriber_id)
        if subscriber is None:
            raise NotAuthenticated()
    if now - session.last_seen_at >= TOUCH_EVERY:
        # The idle clock is kept to the minute: a write per request would make every
        # read a write, and 15 minutes of idleness do not need finer than that.
        with ctx.uow() as uow:
            uow.accounts.touch_session(session.id, now)
            uow.commit()
    return subscriber


def logout(ctx: Context, token: str) -> None:
    """End the session of ``token``; ending an ended or unknown one is a no-op."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.accounts.revoke_session(session_id(token), now)
        uow.commit()


# --- cards of an account --------------------------------------------------------------


def _bindable(uow: UnitOfWork, card_number: str) -> tuple[Card, str]:
    """The card and the number its binding code goes to: the number typed if it is
    one of the card's, else its primary number."""
    card = find_card(uow, card_number)
    if card.state is CardState.TERMINATED:
        raise CardNotFound(key=card_number)
    key = normalize_card_key(card_number)
    return card, key if key in card.numbers else card.primary_number


def bind_card(ctx: Context, subscriber: Subscriber, card_number: str, ip: str) -> CodeSent:
    """Send a binding code to the card's own number. Raises ``CardNotFound``,
    ``RateLimited``, ``ResendTooSoon``, ``LoginLocked``."""
    auth = _auth(ctx)
    with ctx.uow(write=False) as uow:
        _, target = _bindable(uow, card_number)
    _throttle(auth, target, ip)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        card, target = _bindable(uow, card_number)
        code, raw = _issue(uow, auth, target, CodePurpose.BIND_CARD, now, subject=subscriber.id)
        text = render_code_sms(
            AuthMessageKind.BIND_CARD_CODE,
            card.language,
            brand=ctx.brand,
            domain=ctx.official_domain,
            code=raw,
            minutes=auth.policy.code_ttl // timedelta(minutes=1),
            account=mask_number(subscriber.phone),
        )
        uow.outbox.add(
            OutboxKind.SMS,
            {"to": target, "text": text, "kind": AuthMessageKind.BIND_CARD_CODE.value},
            at=now,
            dedupe_key=f"sms:bind_card_code:{code.id}",
        )
        uow.commit()
    return _code_sent(auth)


def confirm_bind_card(ctx: Context, subscriber: Subscriber, card_number: str, code: str) -> Card:
    """Bind the card if ``code`` is the one sent to its number for this account.
    Raises ``CardNotFound``, ``LoginCodeInvalid``, ``LoginLocked``."""
    auth = _auth(ctx)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        card, target = _bindable(uow, card_number)
        try:
            matched = _check(
                uow, auth, target, CodePurpose.BIND_CARD, code, now, subject=subscriber.id
            )
        except _Locked as locked:
            uow.commit()
            raise locked.error from None
        if not matched:
            uow.commit()
            raise LoginCodeInvalid()
        uow.accounts.bind_card(subscriber.id, card.id, now)
        uow.commit()
    return card


def list_cards(ctx: Context, subscriber: Subscriber) -> list[Card]:
    """The subscriber's cards, in the order they were bound."""
    with ctx.uow(write=False) as uow:
        return [uow.cards.get(bound.card_id) for bound in uow.accounts.bound_cards(subscriber.id)]


def own_card(uow: UnitOfWork, subscriber: Subscriber, card_id: str) -> Card:
    """The subscriber's card ``card_id``; ``CardNotFound`` if it is not theirs."""
    # Someone else's card and no card at all get the same answer: "forbidden" would
    # confirm that the id exists.
    if not uow.accounts.is_bound(subscriber.id, card_id):
        raise CardNotFound(key=card_id)
    return uow.cards.get(card_id)


def card_detail(ctx: Context, subscriber: Subscriber, card_id: str) -> CardView:
    """What is left on one of the subscriber's cards. Raises ``CardNotFound`` for a
    card that is not theirs."""
    with ctx.uow(write=False) as uow:
        return card_view(uow, ctx, own_card(uow, subscriber, card_id))


# --- settings -------------------------------------------------------------------------


def get_preferences(ctx: Context, subscriber: Subscriber) -> AccountPreferences:
    with ctx.uow(write=False) as uow:
        current = uow.accounts.get_subscriber(subscriber.id) or subscriber
        return AccountPreferences(
            current.language, current.email, uow.accounts.preferences(subscriber.id)
        )


def set_preferences(
    ctx: Context,
    subscriber: Subscriber,
    *,
    language: str,
    email: str | None,
    notifications: NotificationPreferences,
) -> AccountPreferences:
    """Replace language, e-mail and notification choices. Raises ``InvalidInput``."""
    validate_language(language)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        current = uow.accounts.get_subscriber(subscriber.id) or subscriber
        uow.accounts.update_subscriber(replace(current, language=language, email=email))
        uow.accounts.save_preferences(subscriber.id, notifications, now)
        uow.commit()
    return AccountPreferences(language, email, notifications)


def set_anti_phishing_word(ctx: Context, subscriber: Subscriber, word: str | None) -> str | None:
    """Set (or with None, clear) the word our messages carry. Raises
    ``AntiPhishingWordInvalid``."""
    stored = None if word is None else validate_anti_phishing_word(word)
    with ctx.uow() as uow:
        current = uow.accounts.get_subscriber(subscriber.id) or subscriber
        uow.accounts.update_subscriber(replace(current, anti_phishing_word=stored))
        uow.commit()
    return stored


def get_auto_renew(ctx: Context, subscriber: Subscriber, card_id: str) -> AutoRenewSetting:
    """The card's auto-renew setting (disabled if never set). Raises ``CardNotFound``."""
    with ctx.uow(write=False) as uow:
        own_card(uow, subscriber, card_id)
        setting = uow.accounts.auto_renew(card_id)
    if setting is None:
        return AutoRenewSetting(
            card_id=card_id,
            enabled=False,
            offer_code=None,
            payment_token_id=None,
            updated_by=subscriber.id,
            updated_at=ctx.clock.now(),
        )
    return setting


def set_auto_renew(
    ctx: Context,
    subscriber: Subscriber,
    card_id: str,
    *,
    enabled: bool,
    offer_code: str | None,
    payment_token_id: str | None,
) -> AutoRenewSetting:
    """Store the card's auto-renew choice: an offer and one of the subscriber's saved
    payment methods (``payment_token_id`` is its id), both required to turn it on.
    Raises ``CardNotFound``, ``OfferNotFound``, ``OfferNotAvailable``,
    ``InvalidInput``, ``PaymentMethodNotFound`` (not theirs, or none) and
    ``PaymentMethodUnusable`` (deleted, expired, provider gone)."""
    if enabled and not offer_code:
        raise InvalidInput("Auto-renew needs an offer to renew with.")
    if enabled and payment_token_id is None:
        raise InvalidInput("Auto-renew needs a saved payment method to charge.")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        card = own_card(uow, subscriber, card_id)
        if payment_token_id is not None:
            usable_method(uow, ctx, subscriber.id, payment_token_id)
        if offer_code is not None:
            offer = uow.catalog.offer(offer_code)
            sold = {o.code for o in uow.catalog.offers_for(card.product_line)}
            if offer.code not in sold:
                raise OfferNotAvailable(offer=offer_code)
        setting = AutoRenewSetting(
            card_id=card_id,
            enabled=enabled,
            offer_code=offer_code,
            payment_token_id=payment_token_id,
            updated_by=subscriber.id,
            updated_at=now,
        )
        uow.accounts.save_auto_renew(setting)
        if enabled:
            # The period's tries still to come are recorded with the choice.
            schedule_period(uow, ctx, card, now=now)
        uow.commit()
    return setting
