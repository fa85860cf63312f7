"""Staff users: adding, listing and deactivating them, and checking their passwords.

The CLI is the operator's own console (whoever runs it holds the database), so the
operations here that manage users take the acting name rather than a logged-in
user; every one of them is written to the audit log.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from simrenew.domain.errors import InvalidInput
from simrenew.domain.ids import new_id
from simrenew.domain.staff import (
    StaffLoginFailed,
    StaffLoginLimited,
    StaffRole,
    StaffUser,
    StaffUserExists,
    StaffUserNotFound,
    check_password_strength,
    hash_password,
    normalize_username,
    password_needs_rehash,
    verify_password,
)
from simrenew.ports import AuditRecord
from simrenew.services.context import Context

# Guesses per username, counted in the shared limiter when one is configured: each
# guess also costs an Argon2 hash (64 MiB), so the limit protects the server too.
LOGIN_TRIES = 10
LOGIN_WINDOW = timedelta(minutes=15)


@functools.cache
def _decoy_hash() -> str:
    """A hash to check unknown usernames against, so that they take as long as known
    ones (made once, on first use: nothing happens at import time)."""
    return hash_password(new_id("decoy"))


def add_staff(
    ctx: Context, username: str, password: str, role: StaffRole, *, actor: str
) -> StaffUser:
    """Add an active staff user with an Argon2id hash of ``password``. Raises
    ``InvalidUsername``, ``WeakPassword`` or ``StaffUserExists``."""
    name = normalize_username(username)
    check_password_strength(password, name)
    now = ctx.clock.now()
    user = StaffUser(id=new_id("stf"), username=name, role=role, active=True, created_at=now)
    password_hash = hash_password(password)  # slow on purpose: outside the transaction
    with ctx.uow() as uow:
        if not uow.staff.add(user, password_hash):
            raise StaffUserExists(username=name)
        uow.audit.record(
            AuditRecord(
                "staff_user", user.id, None, "active", f"added {name} as {role}", actor, now
            )
        )
        uow.commit()
    return user


def list_staff(ctx: Context) -> list[StaffUser]:
    with ctx.uow(write=False) as uow:
        return uow.staff.list_all()


def deactivate_staff(ctx: Context, username: str, *, actor: str) -> StaffUser:
    """Deactivate ``username``: it can no longer log in, and what it was doing is
    refused from its next step. Deactivating an inactive user changes nothing.
    Raises ``StaffUserNotFound``."""
    try:
        name = normalize_username(username)
    except InvalidInput:
        raise StaffUserNotFound(key=username) from None
    now = ctx.clock.now()
    with ctx.uow() as uow:
        found = uow.staff.find(name)
        if found is None:
            raise StaffUserNotFound(key=username)
        user = found[0]
        if not user.active:
            return user
        uow.staff.set_active(user.id, False)
        uow.audit.record(
            AuditRecord("staff_user", user.id, "active", "inactive", "deactivated", actor, now)
        )
        uow.commit()
    return StaffUser(user.id, user.username, user.role, False, user.created_at)


def authenticate_staff(ctx: Context, username: str, password: str) -> StaffUser:
    """The active staff user with this username and password.

    Raises ``StaffLoginFailed`` alike for an unknown user, a wrong password and a
    deactivated user, after the same work (an Argon2 check against a decoy hash when
    there is no user), and ``StaffLoginLimited`` past ``LOGIN_TRIES`` per username in
    ``LOGIN_WINDOW`` when a rate limiter is configured. A hash made with older
    parameters is replaced by a fresh one.
    """
    name = login_name(username)
    if ctx.auth is not None:
        # Before any transaction: the limiter may be a network service.
        throttle = ctx.auth.limiter.hit("staff:login", name, limit=LOGIN_TRIES, window=LOGIN_WINDOW)
        if not throttle.allowed:
            raise StaffLoginLimited(retry_after=max(throttle.retry_after, 1))
    return verify_staff(ctx, name, password)


def login_name(username: str) -> str:
    """The name to look up and to count tries against; a name that cannot be valid is
    still counted (bounded), never refused differently from a wrong password."""
    try:
        return normalize_username(username)
    except InvalidInput:
        return username.strip().lower()[:32]


def verify_staff(ctx: Context, username: str, password: str) -> StaffUser:
    """``authenticate_staff`` without the limiter, for callers that count only the
    failures themselves (the admin API checks a password on every request)."""
    with ctx.uow(write=False) as uow:
        found = uow.staff.find(login_name(username))
    if found is None:
        verify_password(_decoy_hash(), password)
        raise StaffLoginFailed()
    user, password_hash = found
    if not verify_password(password_hash, password) or not user.active:
        raise StaffLoginFailed()
    if password_needs_rehash(password_hash):
        fresh = hash_password(password)
        with ctx.uow() as uow:
            uow.staff.set_password_hash(user.id, fresh)
            uow.commit()
    return user
