"""Login codes and sessions: the rules of SPEC "Security", as pure functions.

A code is 6 digits from ``secrets``; only its HMAC-SHA256 under a server secret is
stored, bound to the number, the purpose and (for card binding) the account that
asked, so a code can never be replayed for anything else. A code lives 5 minutes,
is used once, and 5 wrong tries kill it and lock the number for 15 minutes. A new
code may be sent 60 s after the last one. Sessions are random 256-bit tokens kept
only as their SHA-256; they end after 15 idle minutes and 8 hours in all.

    DomainError
    ├── InvalidInput
    │   └── CountryNotAllowed   the number's country is not on the allow-list (422)
    ├── LoginCodeInvalid        wrong, expired, used or never sent: one answer (400)
    ├── NotAuthenticated        no session, or an ended one (401)
    └── TooManyRequests (429)
        ├── LoginLocked         5 wrong tries: the number is locked for a while
        ├── ResendTooSoon       a code was sent less than 60 s ago
        └── RateLimited         a per-number, per-IP or per-prefix send limit was hit
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import phonenumbers

from simrenew.domain.cards import MOBILE_TYPES, parse_typed_number
from simrenew.domain.errors import DomainError, InvalidInput, InvalidNumber

CODE_DIGITS = 6


class CodePurpose(enum.StrEnum):
    LOGIN = "login"
    BIND_CARD = "bind_card"


# --- errors ----------------------------------------------------------------------------


class CountryNotAllowed(InvalidInput):
    code = "country_not_allowed"
    template = "Codes are not sent to numbers in country +{country_code}."


class LoginCodeInvalid(DomainError):
    # One error for wrong, expired, used and never-sent codes: telling them apart
    # would help a guesser and reveal nothing useful to the owner.
    code = "login_code_invalid"
    status = 400
    template = "The code is wrong or no longer valid; request a new one."


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401
    template = "Log in first: no valid session was presented."


class TooManyRequests(DomainError):
    code = "too_many_requests"
    status = 429
    template = "Too many requests; retry in {retry_after} seconds."

    @property
    def retry_after(self) -> int:
        return int(self.params.get("retry_after", 60))


class LoginLocked(TooManyRequests):
    code = "login_locked"
    template = "Too many wrong codes: this number is locked; retry in {retry_after} seconds."


class ResendTooSoon(TooManyRequests):
    code = "resend_too_soon"
    template = "A code was sent moments ago; a new one can be sent in {retry_after} seconds."


class RateLimited(TooManyRequests):
    code = "rate_limited"
    template = "Too many codes requested; retry in {retry_after} seconds."


# --- policy ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendLimit:
    """At most ``limit`` codes per ``window`` for one key of ``scope``."""

    scope: str  # "number", "ip" or "prefix"
    limit: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """The operator's knobs; the defaults are SPEC "Security"."""

    secret: bytes = field(repr=False, default=b"dev-only-login-secret-change-me")
    code_ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    lock_for: timedelta = timedelta(minutes=15)
    resend_after: timedelta = timedelta(seconds=60)
    allowed_country_codes: frozenset[str] = frozenset({"852", "86", "853"})
    send_limits: tuple[SendLimit, ...] = (
        SendLimit("number", 5, timedelta(hours=1)),
        SendLimit("ip", 20, timedelta(hours=1)),
        # SMS pumping walks number ranges: cap a whole block of numbers too.
        SendLimit("prefix", 30, timedelta(hours=1)),
    )
    session_idle: timedelta = timedelta(minutes=15)
    session_absolute: timedelta = timedelta(hours=8)


# --- numbers -----------------------------------------------------------------------------


def normalize_login_number(text: str, allowed_country_codes: frozenset[str]) -> str:
    """A mobile number in E.164 that codes may be sent to.

    Same forms as ``cards.normalize_number`` (8 digits: Hong Kong, 11 from 1:
    Mainland, ``00`` prefix). Raises ``CountryNotAllowed`` for a valid number of
    another country (SMS pumping targets premium ranges abroad) and
    ``InvalidNumber`` for anything that is not a mobile number.
    """
    parsed = parse_typed_number(text)
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(number=text)
    country = str(parsed.country_code)
    if country not in allowed_country_codes:
        raise CountryNotAllowed(country_code=country)
    if phonenumbers.number_type(parsed) not in MOBILE_TYPES:
        raise InvalidNumber(number=text)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def number_prefix(e164: str) -> str:
    """The block a number belongs to for the per-prefix cap: its first 6 digits."""
    return e164.lstrip("+")[:6]


# --- codes -----------------------------------------------------------------------------


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(secret: bytes, purpose: CodePurpose, phone: str, code: str, subject: str = "") -> str:
    """The stored form of a code. ``subject`` binds a card-binding code to the account
    that asked for it."""
    message = f"{purpose.value}\x1f{phone}\x1f{subject}\x1f{code}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class LoginCode:
    id: str
    phone: str
    purpose: CodePurpose
    code_hash: str
    expires_at: datetime
    created_at: datetime
    attempts: int = 0
    consumed_at: datetime | None = None

    def killed(self, policy: AuthPolicy) -> bool:
        return self.attempts >= policy.max_attempts

    def usable(self, now: datetime, policy: AuthPolicy) -> bool:
        return self.consumed_at is None and now < self.expires_at and not self.killed(policy)


def issue_code(
    *,
    code_id: str,
    phone: str,
    purpose: CodePurpose,
    policy: AuthPolicy,
    now: datetime,
    subject: str = "",
    carried_attempts: int = 0,
) -> tuple[LoginCode, str]:
    """A new code and its stored form. ``carried_attempts``: wrong tries on the live
    code this one replaces, so that asking for a new code does not buy new guesses."""
    code = generate_code()
    stored = LoginCode(
        id=code_id,
        phone=phone,
        purpose=purpose,
        code_hash=hash_code(policy.secret, purpose, phone, code, subject),
        expires_at=now + policy.code_ttl,
        created_at=now,
        attempts=carried_attempts,
    )
    return stored, code


def check_can_send(
    latest: LoginCode | None, locked_since: datetime | None, now: datetime, policy: AuthPolicy
) -> None:
    """Raise ``LoginLocked`` or ``ResendTooSoon`` if no code may be sent now."""
    check_not_locked(locked_since, now, policy)
    if latest is not None:
        ready = latest.created_at + policy.resend_after
        if now < ready:
            raise ResendTooSoon(retry_after=_seconds_until(ready, now))


def check_not_locked(locked_since: datetime | None, now: datetime, policy: AuthPolicy) -> None:
    if locked_since is not None:
        until = locked_since + policy.lock_for
        if now < until:
            raise LoginLocked(retry_after=_seconds_until(until, now))


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """The outcome of one try: the code as it must be saved, and whether it matched."""

    code: LoginCode
    matched: bool

    @property
    def locked(self) -> bool:
        return not self.matched and self.code.consumed_at is not None


def try_code(
    stored: LoginCode | None,
    given: str,
    *,
    now: datetime,
    policy: AuthPolicy,
    subject: str = "",
) -> CodeCheck | None:
    """Check ``given`` against the live code. None: there is no usable code (nothing
    to record). A wrong try counts; the last allowed wrong try kills the code
    (``consumed_at`` set: it is also when the lock starts)."""
    if stored is None or not stored.usable(now, policy):
        return None
    expected = stored.code_hash
    actual = hash_code(policy.secret, stored.purpose, stored.phone, given.strip(), subject)
    if hmac.compare_digest(expected, actual):
        return CodeCheck(replace(stored, consumed_at=now), matched=True)
    attempts = stored.attempts + 1
    killed_at = now if attempts >= policy.max_attempts else None
    return CodeCheck(replace(stored, attempts=attempts, consumed_at=killed_at), matched=False)


def _seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds to wait, rounded up, at least 1 (a Retry-After value)."""
    return max(-((now - moment) // timedelta(seconds=1)), 1)


# --- sessions --------------------------------------------------------------------------


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def session_id(token: str) -> str:
    """What is stored for a token: a database leak yields no usable session. A plain
    hash suffices: the token carries 256 random bits, nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionState(enum.StrEnum):
    """``active`` → ``revoked`` (logout) or ``expired`` (idle or absolute limit); the
    end states are final (``SESSION_TRANSITIONS``)."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


SESSION_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.ACTIVE: frozenset({SessionState.REVOKED, SessionState.EXPIRED}),
    SessionState.REVOKED: frozenset(),
    SessionState.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    subscriber_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # the absolute end
    revoked_at: datetime | None = None

    def state(self, now: datetime, policy: AuthPolicy) -> SessionState:
        if self.revoked_at is not None:
            return SessionState.REVOKED
        if now >= self.expires_at or now - self.last_seen_at >= policy.session_idle:
            return SessionState.EXPIRED
        return SessionState.ACTIVE


def open_session(subscriber_id: str, now: datetime, policy: AuthPolicy) -> tuple[Session, str]:
    """A new session and its token; the token is returned once and never stored."""
    token = new_session_token()
    session = Session(
        id=session_id(token),
        subscriber_id=subscriber_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.session_absolute,
    )
    return session, token
