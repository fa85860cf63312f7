"""Who is calling the admin API: a staff user, by HTTP Basic (RFC 7617) on every
request.

Basic because the admin API is for scripts and tools (``curl -u``, a monitoring
check): no login round trip, no session to keep. The staff web UI, with its
5-minute idle sessions and CSRF tokens (SPEC "Security"), is a later issue and will
not use this. Basic sends the password with every request, so the admin API must
only be served over HTTPS: the app's public URL is https in production, and a proxy
that also answers plain http must not forward /api/v1/admin from it.

The password is checked with the staff users' Argon2id verifier (an unknown user is
checked against a decoy hash, so it takes as long); an unknown user, a wrong password
and a deactivated user get one and the same 401. Failures only are counted, per
username and per client IP, in the shared rate limiter: a script that knows its
password may call as often as it likes, a guesser is refused with a 429 before any
hash is computed (which also keeps the 64 MiB Argon2 check from being a lever
against the server).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.requests import HTTPConnection

from simrenew.domain.staff import (
    MAX_PASSWORD_LENGTH,
    StaffLoginFailed,
    StaffLoginLimited,
    StaffRole,
    StaffUser,
)
from simrenew.ports import RateLimiter, Throttle
from simrenew.services.staff import LOGIN_TRIES, LOGIN_WINDOW, login_name, verify_staff
from simrenew.web.deps import CtxDep
from simrenew.web.problems import Problem

REALM = "simrenew admin"


class _LenientBasic(HTTPBasic):
    """FastAPI's HTTP Basic scheme (it documents the API's security in OpenAPI), but a
    malformed header counts as no credentials: every refusal is the one 401 below.
    Credentials are read as UTF-8 (RFC 7617 ``charset="UTF-8"``), not only ASCII."""

    async def __call__(self, request: HTTPConnection) -> HTTPBasicCredentials | None:  # type: ignore[override]
        scheme, _, param = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return None
        username, separator, password = decoded.partition(":")
        if not separator:
            return None
        return HTTPBasicCredentials(username=username, password=password)


_basic = _LenientBasic(
    realm=REALM,
    auto_error=False,
    description="A staff user's username and password (HTTPS only).",
)


@dataclass(frozen=True, slots=True)
class StaffGate:
    """Failed passwords allowed per username and per client IP within ``window``.
    Per IP is higher: several operators may share an office address."""

    limiter: RateLimiter
    failures_per_user: int = LOGIN_TRIES
    failures_per_ip: int = 3 * LOGIN_TRIES
    window: timedelta = LOGIN_WINDOW

    def _budgets(self, username: str, ip: str) -> tuple[tuple[str, str, int], ...]:
        return (
            ("staff:api:user", login_name(username), self.failures_per_user),
            ("staff:api:ip", ip, self.failures_per_ip),
        )

    def check(self, username: str, ip: str) -> None:
        """Raise a 429 when either budget is used up, without counting a try."""
        for scope, key, limit in self._budgets(username, ip):
            throttle = self.limiter.peek(scope, key, limit=limit, window=self.window)
            if not throttle.allowed:
                raise _limited(scope, throttle)

    def failed(self, username: str, ip: str) -> None:
        for scope, key, limit in self._budgets(username, ip):
            self.limiter.hit(scope, key, limit=limit, window=self.window)


def staff_credentials(
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> HTTPBasicCredentials:
    """The presented username and password, or the 401. A router declares it first
    so that a request refused for its own sake (no ``Idempotency-Key``) is refused
    before its password costs an Argon2 check or counts as a failure."""
    if credentials is None:
        raise _unauthorized()
    return credentials


def current_staff(
    request: Request,
    ctx: CtxDep,
    credentials: Annotated[HTTPBasicCredentials, Depends(staff_credentials)],
) -> StaffUser:
    """The active staff user whose username and password came with the request."""
    gate: StaffGate = request.app.state.staff_gate
    ip = request.client.host if request.client else "unknown"
    gate.check(credentials.username, ip)
    try:
        if len(credentials.password) > MAX_PASSWORD_LENGTH:
            raise StaffLoginFailed()  # no password is that long; spare the hash
        return verify_staff(ctx, credentials.username, credentials.password)
    except StaffLoginFailed:
        gate.failed(credentials.username, ip)
        raise _unauthorized() from None


StaffDep = Annotated[StaffUser, Depends(current_staff)]


def require_role(*roles: StaffRole) -> Callable[[StaffUser], StaffUser]:
    """A dependency: the staff user, if their role is one of ``roles``; 403 otherwise.

    ``Annotated[StaffUser, Depends(require_role(StaffRole.ADMIN))]``
    """
    wanted = ", ".join(role.value for role in roles)

    def staff_with_role(staff: StaffDep) -> StaffUser:
        if staff.role not in roles:
            raise Problem(
                403,
                "staff_role_required",
                f"This needs the role {wanted}; role {staff.role.value} may not use it.",
                title="Not permitted",
                roles=wanted,
                role=staff.role.value,
            )
        return staff

    return staff_with_role


def _unauthorized() -> Problem:
    problem = Problem(
        401,
        StaffLoginFailed.code,
        StaffLoginFailed.template,
        title="Not authenticated",
    )
    problem.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return problem


def _limited(scope: str, throttle: Throttle) -> Problem:
    retry_after = max(throttle.retry_after, 1)
    if scope == "staff:api:user":
        error = StaffLoginLimited(retry_after=retry_after)
        problem = Problem(
            429, error.code, error.message, title="Too many requests", retry_after=retry_after
        )
    else:
        problem = Problem(
            429,
            "rate_limited",
            f"Too many requests; retry in {retry_after} seconds.",
            title="Too many requests",
            retry_after=retry_after,
        )
    problem.headers["Retry-After"] = str(retry_after)
    return problem
