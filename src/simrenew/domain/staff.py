"""Staff users, what each role may do, and the cash counter they work at.

Passwords are kept as Argon2id hashes (``argon2-cffi``'s defaults, RFC 9106's
low-memory profile); a hash made with older parameters is replaced at the next
successful login. Roles follow least privilege (SPEC "Security"): ``PERMISSIONS``
is the whole table, and ``can`` the only question asked of it.

A cash shift is one staff user's session at a till: cash may be taken only while the
user has an open shift, a user has at most one open shift, and closing it gives the
count and sum per currency of the cash taken in it.

    DomainError
    ├── InvalidInput
    │   ├── InvalidUsername, WeakPassword
    │   └── TenderedTooLittle        less cash than the price
    ├── StaffLoginFailed (401)       unknown user, wrong password or deactivated: one answer
    ├── StaffLoginLimited (429)      too many tries for one username
    ├── NotPermitted (403)           the role may not do this
    ├── NotFound
    │   ├── StaffUserNotFound
    │   └── ShiftNotFound
    └── Conflict
        ├── StaffUserExists
        ├── ShiftAlreadyOpen
        └── NoOpenShift              cash needs an open shift
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from simrenew.domain.auth import TooManyRequests
from simrenew.domain.errors import Conflict, DomainError, IllegalTransition, InvalidInput, NotFound
from simrenew.domain.money import Money

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256  # Argon2 takes any length; a bound keeps a request cheap
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{2,31}$")

# --- errors ----------------------------------------------------------------------------


class InvalidUsername(InvalidInput):
    code = "invalid_username"
    template = (
        "{username!r} is not a valid username: 3 to 32 characters, lower-case letters, "
        "digits, '.', '_' or '-', starting with a letter."
    )


class WeakPassword(InvalidInput):
    code = "weak_password"
    template = "{reason}"


class StaffLoginFailed(DomainError):
    # Unknown user, wrong password and deactivated user get one answer: a different
    # one would tell a guesser which usernames exist.
    code = "staff_login_failed"
    status = 401
    template = "Wrong username or password."


class StaffLoginLimited(TooManyRequests):
    code = "staff_login_limited"
    template = "Too many login attempts for this user; retry in {retry_after} seconds."


class NotPermitted(DomainError):
    code = "not_permitted"
    status = 403
    template = "Role {role} may not {action}."


class StaffUserNotFound(NotFound):
    code = "staff_user_not_found"
    template = "No staff user {key!r}."


class StaffUserExists(Conflict):
    code = "staff_user_exists"
    template = "Staff user {username!r} already exists."


class ShiftNotFound(NotFound):
    code = "shift_not_found"
    template = "No cash shift {key!r}."


class ShiftAlreadyOpen(Conflict):
    code = "shift_already_open"
    template = "{username} already has an open shift ({shift}); close it first."


class NoOpenShift(Conflict):
    code = "no_open_shift"
    template = "{username} has no open shift; open one before taking cash."


class TenderedTooLittle(InvalidInput):
    code = "tendered_too_little"
    template = "{tendered} tendered is less than the price of {price}."


# --- roles -------------------------------------------------------------------------------


class StaffRole(enum.StrEnum):
    ADMIN = "admin"  # the operator: everything
    CS = "cs"  # customer service
    AGENT = "agent"  # shop or airport-counter agent
    KIOSK = "kiosk"  # a self-service kiosk's own login


class Action(enum.StrEnum):
    """Everything a staff user can be allowed to do. The value reads in a sentence:
    "role agent may not <value>"."""

    LOOK_UP_CARD = "look up cards"
    RECORD_CASH = "take cash at a counter"
    REFUND = "refund orders"
    RESEND_RECEIPT = "resend receipts"
    KIOSK_CHECKOUT = "sell at a kiosk"
    MANAGE_VOUCHERS = "manage vouchers"
    MANAGE_STAFF = "manage staff users"
    MANAGE_CATALOG = "manage the catalogue"


# Least privilege: each role gets what its job needs and nothing else. Customer
# service finds subscribers (a card lookup) to refund them or resend a receipt; an
# agent looks a card up and takes cash for it; a kiosk only sells at itself.
PERMISSIONS: dict[StaffRole, frozenset[Action]] = {
    StaffRole.ADMIN: frozenset(Action),
    StaffRole.CS: frozenset({Action.LOOK_UP_CARD, Action.REFUND, Action.RESEND_RECEIPT}),
    StaffRole.AGENT: frozenset({Action.LOOK_UP_CARD, Action.RECORD_CASH}),
    StaffRole.KIOSK: frozenset({Action.KIOSK_CHECKOUT}),
}


def can(role: StaffRole, action: Action) -> bool:
    return action in PERMISSIONS[role]


# --- users -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffUser:
    """A staff login. The password hash is not part of it: only the repository and
    ``authenticate_staff`` ever see it."""

    id: str
    username: str
    role: StaffRole
    active: bool
    created_at: datetime

    @property
    def actor(self) -> str:
        """How the audit log names this user."""
        return f"staff:{self.username}"


def require(staff: StaffUser, action: Action) -> None:
    """Raise ``NotPermitted`` unless ``staff``'s role allows ``action``, and
    ``StaffLoginFailed`` if the user was deactivated meanwhile."""
    if not staff.active:
        raise StaffLoginFailed()
    if not can(staff.role, action):
        raise NotPermitted(role=staff.role.value, action=action.value)


def normalize_username(text: str) -> str:
    username = text.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidUsername(username=text)
    return username


def check_password_strength(password: str, username: str) -> None:
    """Raise ``WeakPassword`` for a password too short, too long or containing the
    username (length is what matters most: NIST SP 800-63B)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(reason=f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(reason=f"A password has at most {MAX_PASSWORD_LENGTH} characters.")
    if username in password.lower():
        raise WeakPassword(reason="A password must not contain the username.")


# One hasher: its parameters are argon2-cffi's defaults (Argon2id, t=3, m=64 MiB, p=4).
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash in PHC string form (``$argon2id$v=19$m=...``), salt included."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; False also for a damaged hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# --- the counter: shifts and cash ----------------------------------------------------------


class ShiftState(enum.StrEnum):
    """A till session: ``open`` → ``closed`` (final). Stored as ``closed_at``."""

    OPEN = "open"
    CLOSED = "closed"

    @staticmethod
    def check(current: ShiftState, target: ShiftState) -> None:
        if target not in SHIFT_TRANSITIONS[current]:
            raise IllegalTransition(entity="shift", current=current.value, target=target.value)


SHIFT_TRANSITIONS: dict[ShiftState, frozenset[ShiftState]] = {
    ShiftState.OPEN: frozenset({ShiftState.CLOSED}),
    ShiftState.CLOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class CashShift:
    id: str
    staff_id: str
    opened_at: datetime
    closed_at: datetime | None = None

    @property
    def state(self) -> ShiftState:
        return ShiftState.OPEN if self.closed_at is None else ShiftState.CLOSED

    def close(self, at: datetime) -> CashShift:
        ShiftState.check(self.state, ShiftState.CLOSED)
        return replace(self, closed_at=at)


@dataclass(frozen=True, slots=True)
class CashReceipt:
    """Cash taken at a counter for one order: what it cost, what was handed over, the
    change given back, by whom and in which shift."""

    id: str
    order_id: str
    payment_id: str
    shift_id: str
    staff_id: str
    amount: Money
    tendered: Money
    change: Money
    taken_at: datetime


def make_change(price: Money, tendered: Money) -> Money:
    """The change for ``tendered`` against ``price``; raises ``CurrencyMismatch`` for
    another currency and ``TenderedTooLittle`` for less than the price."""
    change = tendered - price
    if change.amount_minor < 0:
        raise TenderedTooLittle(tendered=tendered.display(), price=price.display())
    return change


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    count: int
    total: Money


@dataclass(frozen=True, slots=True)
class ShiftTotal:
    """What a shift took: per currency, how many payments and their sum (the price of
    the orders, which is what the drawer holds once the change is given back)."""

    shift: CashShift
    username: str
    totals: tuple[CurrencyTotal, ...]

    @property
    def count(self) -> int:
        return sum(line.count for line in self.totals)
