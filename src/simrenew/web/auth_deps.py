"""Who is calling: a subscriber session from ``Authorization: Bearer`` (apps) or the
``__Host-simrenew_session`` cookie (the web)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from simrenew.domain.accounts import Subscriber
from simrenew.domain.auth import NotAuthenticated
from simrenew.services.auth import LoggedIn, authenticate
from simrenew.web.deps import CtxDep
from simrenew.web.problems import Problem

SESSION_COOKIE = "__Host-simrenew_session"

_bearer = HTTPBearer(auto_error=False, description="The token from POST /api/v1/auth/session.")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="Set by POST /api/v1/auth/session."
)


def session_token(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> str:
    """The presented token; the bearer wins when both are sent. 401 if none."""
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    if cookie:
        return cookie
    raise _not_authenticated()


def current_subscriber(ctx: CtxDep, token: Annotated[str, Depends(session_token)]) -> Subscriber:
    try:
        return authenticate(ctx, token)
    except NotAuthenticated:
        raise _not_authenticated() from None


def optional_subscriber(
    ctx: CtxDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Subscriber | None:
    """The subscriber when a session is presented, None when none is; a session that
    is presented but not valid is still a 401 (never silently anonymous)."""
    token = bearer.credentials if bearer is not None and bearer.credentials else cookie
    if not token:
        return None
    return current_subscriber(ctx, token)


def _not_authenticated() -> Problem:
    problem = Problem(
        401,
        "not_authenticated",
        "Log in first: no valid session was presented.",
        title="Not authenticated",
    )
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


def set_session_cookie(response: Response, logged_in: LoggedIn) -> None:
    """The web session: ``__Host-`` (this host only, path /), Secure, HttpOnly,
    SameSite=Lax, for the session's whole possible life (the server ends it sooner
    when idle)."""
    session = logged_in.session
    response.set_cookie(
        SESSION_COOKIE,
        logged_in.token,
        max_age=(session.expires_at - session.created_at) // timedelta(seconds=1),
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


SessionTokenDep = Annotated[str, Depends(session_token)]
SubscriberDep = Annotated[Subscriber, Depends(current_subscriber)]
OptionalSubscriberDep = Annotated[Subscriber | None, Depends(optional_subscriber)]
