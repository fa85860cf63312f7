"""Staff passwords, roles and the counter's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher

from simrenew.domain.errors import CurrencyMismatch, IllegalTransition
from simrenew.domain.money import Money
from simrenew.domain.staff import (
    PERMISSIONS,
    Action,
    CashShift,
    InvalidUsername,
    NotPermitted,
    ShiftState,
    StaffLoginFailed,
    StaffRole,
    StaffUser,
    TenderedTooLittle,
    WeakPassword,
    can,
    check_password_strength,
    hash_password,
    make_change,
    normalize_username,
    password_needs_rehash,
    require,
    verify_password,
)

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


# --- passwords ----------------------------------------------------------------------------


def test_passwords_are_kept_as_salted_argon2id_hashes() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$")
    assert first != second  # a salt each
    assert PASSWORD not in first
    assert verify_password(first, PASSWORD)
    assert verify_password(second, PASSWORD)
    assert not verify_password(first, PASSWORD + " ")
    assert not verify_password(first, "")


def test_a_damaged_hash_verifies_nothing() -> None:
    assert not verify_password("not-a-hash", PASSWORD)
    assert not verify_password(hash_password(PASSWORD)[:-4], PASSWORD)


def test_a_hash_made_with_other_parameters_needs_a_new_one() -> None:
    assert not password_needs_rehash(hash_password(PASSWORD))
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert verify_password(old, PASSWORD)
    assert password_needs_rehash(old)
    assert password_needs_rehash("not-a-hash")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 10"),
        ("x" * 257, "at most 256"),
        ("my name is alice!", "must not contain the username"),
    ],
)
def test_weak_passwords_are_refused(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        check_password_strength(password, "alice")
    assert reason in caught.value.message


def test_usernames_are_lower_case_and_plain() -> None:
    assert normalize_username("  Alice.Chan ") == "alice.chan"
    for bad in ("al", "1alice", "alice chan", "alice@shop", "a" * 33, "ａｌｉｃｅ"):
        with pytest.raises(InvalidUsername):
            normalize_username(bad)


# --- roles --------------------------------------------------------------------------------


def test_least_privilege_table() -> None:
    assert PERMISSIONS[StaffRole.ADMIN] == frozenset(Action)
    assert PERMISSIONS[StaffRole.AGENT] == {Action.RECORD_CASH, Action.LOOK_UP_CARD}
    assert PERMISSIONS[StaffRole.CS] == {Action.REFUND, Action.RESEND_RECEIPT, Action.LOOK_UP_CARD}
    assert PERMISSIONS[StaffRole.KIOSK] == {Action.KIOSK_CHECKOUT}
    assert set(PERMISSIONS) == set(StaffRole)


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (StaffRole.AGENT, Action.RECORD_CASH, True),
        (StaffRole.AGENT, Action.REFUND, False),
        (StaffRole.AGENT, Action.MANAGE_VOUCHERS, False),
        (StaffRole.CS, Action.REFUND, True),
        (StaffRole.CS, Action.RECORD_CASH, False),
        (StaffRole.KIOSK, Action.LOOK_UP_CARD, False),
        (StaffRole.KIOSK, Action.KIOSK_CHECKOUT, True),
        (StaffRole.ADMIN, Action.MANAGE_STAFF, True),
    ],
)
def test_can(role: StaffRole, action: Action, allowed: bool) -> None:
    assert can(role, action) is allowed


def test_require_refuses_other_roles_and_deactivated_users() -> None:
    agent = StaffUser("stf_1", "alice", StaffRole.AGENT, True, NOW)
    require(agent, Action.RECORD_CASH)
    with pytest.raises(NotPermitted) as caught:
        require(agent, Action.REFUND)
    assert caught.value.status == 403
    assert caught.value.message == "Role agent may not refund orders."
    gone = StaffUser("stf_1", "alice", StaffRole.AGENT, False, NOW)
    with pytest.raises(StaffLoginFailed):
        require(gone, Action.RECORD_CASH)
    assert agent.actor == "staff:alice"


# --- the counter --------------------------------------------------------------------------


def test_change_is_what_was_handed_over_less_the_price() -> None:
    price = Money.parse("88", "HKD")
    assert make_change(price, Money.parse("100", "HKD")) == Money.parse("12", "HKD")
    assert make_change(price, price).is_zero()
    with pytest.raises(TenderedTooLittle):
        make_change(price, Money.parse("87.90", "HKD"))
    with pytest.raises(CurrencyMismatch):
        make_change(price, Money.parse("100", "CNY"))


def test_a_shift_closes_once() -> None:
    shift = CashShift("shf_1", "stf_1", NOW)
    assert shift.state is ShiftState.OPEN
    closed = shift.close(NOW)
    assert closed.state is ShiftState.CLOSED and closed.closed_at == NOW
    with pytest.raises(IllegalTransition):
        closed.close(NOW)
