"""The login-code and session rules, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from simrenew.domain.accounts import AntiPhishingWordInvalid, validate_anti_phishing_word
from simrenew.domain.auth import (
    AuthPolicy,
    CodePurpose,
    CountryNotAllowed,
    LoginLocked,
    ResendTooSoon,
    SessionState,
    check_can_send,
    generate_code,
    hash_code,
    issue_code,
    normalize_login_number,
    number_prefix,
    open_session,
    session_id,
    try_code,
)
from simrenew.domain.auth_messages import AuthMessageKind, render_code_sms
from simrenew.domain.errors import InvalidNumber

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
POLICY = AuthPolicy(secret=b"k")
COUNTRIES = POLICY.allowed_country_codes


def test_codes_are_six_digits() -> None:
    codes = {generate_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 150


def test_the_hash_binds_secret_purpose_number_and_subject() -> None:
    base = hash_code(b"k", CodePurpose.LOGIN, "+85251234567", "123456")
    assert len(base) == 64 and "123456" not in base
    assert base != hash_code(b"other", CodePurpose.LOGIN, "+85251234567", "123456")
    assert base != hash_code(b"k", CodePurpose.BIND_CARD, "+85251234567", "123456")
    assert base != hash_code(b"k", CodePurpose.LOGIN, "+85261234567", "123456")
    assert base != hash_code(b"k", CodePurpose.LOGIN, "+85251234567", "123456", "sub_1")


def test_right_code_matches_once_wrong_ones_count_and_the_fifth_kills() -> None:
    stored, raw = issue_code(
        code_id="c", phone="+85251234567", purpose=CodePurpose.LOGIN, policy=POLICY, now=NOW
    )
    ok = try_code(stored, raw, now=NOW, policy=POLICY)
    assert ok is not None and ok.matched and ok.code.consumed_at == NOW
    assert try_code(ok.code, raw, now=NOW, policy=POLICY) is None  # single use

    current = stored
    wrong = "x"
    for attempt in range(1, 6):
        check = try_code(current, wrong, now=NOW, policy=POLICY)
        assert check is not None and not check.matched
        assert check.code.attempts == attempt
        assert check.locked is (attempt == 5)
        current = check.code
    assert try_code(current, raw, now=NOW, policy=POLICY) is None


def test_a_code_expires_after_five_minutes() -> None:
    stored, raw = issue_code(
        code_id="c", phone="+85251234567", purpose=CodePurpose.LOGIN, policy=POLICY, now=NOW
    )
    assert try_code(stored, raw, now=NOW + timedelta(seconds=299), policy=POLICY) is not None
    assert try_code(stored, raw, now=NOW + timedelta(minutes=5), policy=POLICY) is None


def test_cooldown_and_lock() -> None:
    stored, _ = issue_code(
        code_id="c", phone="+85251234567", purpose=CodePurpose.LOGIN, policy=POLICY, now=NOW
    )
    with pytest.raises(ResendTooSoon) as soon:
        check_can_send(stored, None, NOW + timedelta(seconds=10), POLICY)
    assert soon.value.retry_after == 50
    check_can_send(stored, None, NOW + timedelta(seconds=60), POLICY)
    with pytest.raises(LoginLocked) as locked:
        check_can_send(None, NOW, NOW + timedelta(minutes=14, seconds=30), POLICY)
    assert locked.value.retry_after == 30
    check_can_send(None, NOW, NOW + timedelta(minutes=15), POLICY)


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+852 5123 4567", "+85251234567"),
        ("51234567", "+85251234567"),
        ("13812345678", "+8613812345678"),
        ("00853 6612 3456", "+85366123456"),
    ],
)
def test_numbers_of_allowed_countries(text: str, e164: str) -> None:
    assert normalize_login_number(text, COUNTRIES) == e164


def test_other_countries_and_non_mobiles_are_refused() -> None:
    with pytest.raises(CountryNotAllowed) as abroad:
        normalize_login_number("+44 7911 123456", COUNTRIES)
    assert abroad.value.params["country_code"] == "44"
    with pytest.raises(InvalidNumber):
        normalize_login_number("+852 2123 4567", COUNTRIES)  # a Hong Kong landline
    with pytest.raises(InvalidNumber):
        normalize_login_number("hello", COUNTRIES)


def test_prefix_is_the_first_six_digits() -> None:
    assert number_prefix("+85251234567") == "852512"
    assert number_prefix("+8613812345678") == "861381"


def test_sessions_idle_and_absolute() -> None:
    session, token = open_session("sub_1", NOW, POLICY)
    assert session.id == session_id(token) != token
    assert session.state(NOW + timedelta(minutes=14), POLICY) is SessionState.ACTIVE
    assert session.state(NOW + timedelta(minutes=15), POLICY) is SessionState.EXPIRED
    late = NOW + timedelta(hours=8)
    touched = replace(session, last_seen_at=late - timedelta(minutes=1))
    assert touched.state(late - timedelta(seconds=1), POLICY) is SessionState.ACTIVE
    assert touched.state(late, POLICY) is SessionState.EXPIRED
    revoked = replace(session, revoked_at=NOW)
    assert revoked.state(NOW, POLICY) is SessionState.REVOKED


def test_anti_phishing_word() -> None:
    assert validate_anti_phishing_word(" 龍貓 ") == "龍貓"
    for bad in ("a", "x" * 21, "evil.example.com", "a b", "http://x"):
        with pytest.raises(AntiPhishingWordInvalid):
            validate_anti_phishing_word(bad)


def test_code_sms_carries_the_word_the_domain_and_the_webotp_line() -> None:
    for language in ("zh-Hant", "zh-Hans", "en"):
        text = render_code_sms(
            AuthMessageKind.LOGIN_CODE,
            language,
            brand="simrenew",
            domain="simrenew.example.hk",
            code="123456",
            minutes=5,
            anti_phishing_word="龍貓",
        )
        assert text.startswith("[龍貓] ")
        assert "123456" in text and "simrenew.example.hk" in text
        assert text.endswith("\n\n@simrenew.example.hk #123456")
        assert "http" not in text
