"""Login codes, sessions and card binding through the services, on both databases."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from simrenew.bootstrap import App
from simrenew.domain.auth import (
    AuthPolicy,
    CountryNotAllowed,
    LoginCodeInvalid,
    LoginLocked,
    NotAuthenticated,
    RateLimited,
    ResendTooSoon,
    SendLimit,
)
from simrenew.domain.errors import CardNotFound
from simrenew.ports import AuthConfig
from simrenew.ratelimit import LimitsRateLimiter
from simrenew.services import auth
from tests.support import FixedClock, remember_card

KNOWN = "+85251234567"  # a demo card's primary number
OTHER_CARD = "+85261234567"
UNKNOWN = "+85298765432"  # no card, no account
IP = "203.0.113.7"


def latest_code(app: App, number: str) -> str:
    app.relay.drain()
    messages = app.inbox.list(recipient=number)
    assert messages, f"no SMS to {number}"
    found = re.search(r"#(\d{6})$", messages[0].body)
    assert found, messages[0].body
    return found.group(1)


def login(app: App, number: str) -> str:
    auth.request_login_code(app.ctx, number, IP)
    return auth.verify_login_code(app.ctx, number, latest_code(app, number)).token


def test_a_code_logs_in_makes_the_account_and_binds_the_numbers_card(app: App) -> None:
    sent = auth.request_login_code(app.ctx, KNOWN, IP)
    assert (sent.expires_in, sent.resend_after) == (300, 60)
    logged_in = auth.verify_login_code(app.ctx, KNOWN, latest_code(app, KNOWN))
    subscriber = auth.authenticate(app.ctx, logged_in.token)
    assert subscriber.phone == KNOWN
    assert subscriber.language == "zh-Hant"  # the card's language
    assert [c.primary_number for c in auth.list_cards(app.ctx, subscriber)] == [KNOWN]
    with app.uow(write=False) as uow:
        # Only hashes are stored.
        assert uow.accounts.get_session(logged_in.token) is None
        code = uow.accounts.latest_code(KNOWN, auth.CodePurpose.LOGIN)
        assert code is not None and code.consumed_at is not None
        assert len(code.code_hash) == 64


def test_an_unknown_number_gets_a_code_and_an_account_on_first_login(app: App) -> None:
    with app.uow(write=False) as uow:
        assert uow.accounts.subscriber_by_phone(UNKNOWN) is None
    auth.request_login_code(app.ctx, UNKNOWN, IP, language="en")
    with app.uow(write=False) as uow:
        assert uow.accounts.subscriber_by_phone(UNKNOWN) is None  # nothing made yet
    code = latest_code(app, UNKNOWN)
    token = auth.verify_login_code(app.ctx, UNKNOWN, code, language="en").token
    subscriber = auth.authenticate(app.ctx, token)
    assert subscriber.language == "en"
    assert auth.list_cards(app.ctx, subscriber) == []


def test_a_code_is_single_use(app: App) -> None:
    auth.request_login_code(app.ctx, KNOWN, IP)
    code = latest_code(app, KNOWN)
    auth.verify_login_code(app.ctx, KNOWN, code)
    with pytest.raises(LoginCodeInvalid):
        auth.verify_login_code(app.ctx, KNOWN, code)


def test_a_code_expires_after_5_minutes(app: App, clock: FixedClock) -> None:
    auth.request_login_code(app.ctx, KNOWN, IP)
    code = latest_code(app, KNOWN)
    clock.advance(timedelta(minutes=5))
    with pytest.raises(LoginCodeInvalid):
        auth.verify_login_code(app.ctx, KNOWN, code)


def test_five_wrong_tries_kill_the_code_and_lock_the_number_15_minutes(
    app: App, clock: FixedClock
) -> None:
    auth.request_login_code(app.ctx, KNOWN, IP)
    code = latest_code(app, KNOWN)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        with pytest.raises(LoginCodeInvalid):
            auth.verify_login_code(app.ctx, KNOWN, wrong)
    with pytest.raises(LoginLocked) as locked:
        auth.verify_login_code(app.ctx, KNOWN, wrong)
    assert locked.value.retry_after == 15 * 60
    with pytest.raises(LoginLocked):  # the right code no longer helps
        auth.verify_login_code(app.ctx, KNOWN, code)
    clock.advance(timedelta(minutes=14))
    with pytest.raises(LoginLocked):  # nor does a new one
        auth.request_login_code(app.ctx, KNOWN, IP)
    clock.advance(timedelta(minutes=1))
    assert login(app, KNOWN)


def test_a_new_code_does_not_buy_new_guesses(app: App, clock: FixedClock) -> None:
    auth.request_login_code(app.ctx, KNOWN, IP)
    for _ in range(4):
        with pytest.raises(LoginCodeInvalid):
            auth.verify_login_code(app.ctx, KNOWN, "000000x")
    clock.advance(timedelta(seconds=61))
    auth.request_login_code(app.ctx, KNOWN, IP)
    with pytest.raises(LoginLocked):
        auth.verify_login_code(app.ctx, KNOWN, "000000x")


def test_resend_cooldown_is_60_seconds(app: App, clock: FixedClock) -> None:
    auth.request_login_code(app.ctx, KNOWN, IP)
    clock.advance(timedelta(seconds=59))
    with pytest.raises(ResendTooSoon) as early:
        auth.request_login_code(app.ctx, KNOWN, IP)
    assert early.value.retry_after == 1
    clock.advance(timedelta(seconds=1))
    auth.request_login_code(app.ctx, KNOWN, IP)
    # Only the newest code works.
    code = latest_code(app, KNOWN)
    assert auth.verify_login_code(app.ctx, KNOWN, code).token


def test_per_prefix_cap(app: App) -> None:
    ctx = replace(
        app.ctx,
        auth=AuthConfig(
            limiter=LimitsRateLimiter(),
            policy=AuthPolicy(send_limits=(SendLimit("prefix", 3, timedelta(hours=1)),)),
        ),
    )
    for n in range(3):
        auth.request_login_code(ctx, f"+8525123450{n}", f"198.51.100.{n}")
    with pytest.raises(RateLimited) as capped:
        auth.request_login_code(ctx, "+85251234509", "198.51.100.9")
    assert 3590 <= capped.value.retry_after <= 3601
    auth.request_login_code(ctx, "+85261234509", "198.51.100.9")  # another block


def test_per_number_and_per_ip_caps(app: App, clock: FixedClock) -> None:
    ctx = replace(
        app.ctx,
        auth=AuthConfig(
            limiter=LimitsRateLimiter(),
            policy=AuthPolicy(
                send_limits=(
                    SendLimit("number", 2, timedelta(hours=1)),
                    SendLimit("ip", 3, timedelta(hours=1)),
                )
            ),
        ),
    )
    auth.request_login_code(ctx, KNOWN, IP)
    clock.advance(timedelta(seconds=61))
    auth.request_login_code(ctx, KNOWN, IP)
    clock.advance(timedelta(seconds=61))
    with pytest.raises(RateLimited):
        auth.request_login_code(ctx, KNOWN, "198.51.100.1")
    auth.request_login_code(ctx, UNKNOWN, IP)
    with pytest.raises(RateLimited):
        auth.request_login_code(ctx, OTHER_CARD, IP)


def test_only_allowed_countries_get_codes(app: App) -> None:
    with pytest.raises(CountryNotAllowed):
        auth.request_login_code(app.ctx, "+14155552671", IP)
    auth.request_login_code(app.ctx, "+85366123456", IP)  # Macau is allowed
    assert latest_code(app, "+85366123456")


def test_session_idle_timeout_slides(app: App, clock: FixedClock) -> None:
    token = login(app, KNOWN)
    for _ in range(3):
        clock.advance(timedelta(minutes=14, seconds=59))
        auth.authenticate(app.ctx, token)
    clock.advance(timedelta(minutes=15))
    with pytest.raises(NotAuthenticated):
        auth.authenticate(app.ctx, token)


def test_session_absolute_expiry_is_8_hours(app: App, clock: FixedClock) -> None:
    token = login(app, KNOWN)
    for _ in range(8 * 6 - 1):
        clock.advance(timedelta(minutes=10))
        auth.authenticate(app.ctx, token)
    clock.advance(timedelta(minutes=10))
    with pytest.raises(NotAuthenticated):
        auth.authenticate(app.ctx, token)


def test_logout_ends_the_session(app: App) -> None:
    token = login(app, KNOWN)
    auth.logout(app.ctx, token)
    with pytest.raises(NotAuthenticated):
        auth.authenticate(app.ctx, token)


def test_binding_needs_the_code_sent_to_that_cards_own_number(app: App) -> None:
    subscriber = auth.authenticate(app.ctx, login(app, KNOWN))
    mine_code = None
    auth.bind_card(app.ctx, subscriber, OTHER_CARD, IP)
    app.relay.drain()
    sms = app.inbox.list(recipient=OTHER_CARD)[0].body
    assert "+852****4567" in sms  # the card's owner sees which account asks
    # A code sent to my own number does not bind someone else's card.
    auth.request_login_code(app.ctx, UNKNOWN, IP)
    mine_code = latest_code(app, UNKNOWN)
    with pytest.raises(LoginCodeInvalid):
        auth.confirm_bind_card(app.ctx, subscriber, OTHER_CARD, mine_code)
    card = auth.confirm_bind_card(app.ctx, subscriber, OTHER_CARD, latest_code(app, OTHER_CARD))
    assert card.primary_number == OTHER_CARD
    assert [c.primary_number for c in auth.list_cards(app.ctx, subscriber)] == [KNOWN, OTHER_CARD]
    assert auth.card_detail(app.ctx, subscriber, card.id).card.id == card.id


def test_a_binding_code_is_for_the_account_that_asked(app: App, clock: FixedClock) -> None:
    first = auth.authenticate(app.ctx, login(app, KNOWN))
    second = auth.authenticate(app.ctx, login(app, UNKNOWN))
    auth.bind_card(app.ctx, first, OTHER_CARD, IP)
    with pytest.raises(LoginCodeInvalid):
        auth.confirm_bind_card(app.ctx, second, OTHER_CARD, latest_code(app, OTHER_CARD))


def test_someone_elses_card_is_not_found(app: App) -> None:
    owner = auth.authenticate(app.ctx, login(app, OTHER_CARD))
    intruder = auth.authenticate(app.ctx, login(app, KNOWN))
    theirs = auth.list_cards(app.ctx, owner)[0]
    with pytest.raises(CardNotFound):
        auth.card_detail(app.ctx, intruder, theirs.id)
    with pytest.raises(CardNotFound):
        auth.get_auto_renew(app.ctx, intruder, theirs.id)


def test_settings_are_kept(app: App, clock: FixedClock) -> None:
    subscriber = auth.authenticate(app.ctx, login(app, KNOWN))
    card = auth.list_cards(app.ctx, subscriber)[0]
    assert auth.get_auto_renew(app.ctx, subscriber, card.id).enabled is False
    method = remember_card(app, subscriber.id, KNOWN, "ONE2-M1")
    saved = auth.set_auto_renew(
        app.ctx, subscriber, card.id, enabled=True, offer_code="ONE2-M1", payment_token_id=method.id
    )
    assert auth.get_auto_renew(app.ctx, subscriber, card.id) == saved
    assert auth.set_anti_phishing_word(app.ctx, subscriber, " 龍貓 ") == "龍貓"
    clock.advance(timedelta(seconds=60))
    auth.request_login_code(app.ctx, KNOWN, IP, language="en")
    app.relay.drain()
    assert app.inbox.list(recipient=KNOWN)[0].body.startswith("[龍貓] ")
