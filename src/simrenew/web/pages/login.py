"""Logging in with a one-time SMS code, and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from simrenew.domain.errors import DomainError
from simrenew.services import auth
from simrenew.web.auth_deps import SESSION_COOKIE, clear_session_cookie, set_session_cookie
from simrenew.web.pages.page import CsrfDep, Page, PageDep

router = APIRouter(include_in_schema=False)

Phone = Annotated[str, Form(max_length=32)]
NextUrl = Annotated[str, Form(max_length=512)]


def safe_next(target: str) -> str:
    """Only a path on this site: ``next`` must not become an open redirect."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/cards"


def _client_ip(page: Page) -> str:
    client = page.request.client
    return client.host if client else "unknown"


@router.get("/login")
def login_form(page: PageDep, next: Annotated[str, Query(max_length=512)] = "/cards") -> Response:
    if page.subscriber is not None:
        return page.redirect(safe_next(next))
    return page.render("login.html", phone="", next=safe_next(next), error=None)


@router.post("/login", dependencies=[CsrfDep])
def send_code(page: PageDep, phone: Phone, next: NextUrl = "/cards") -> Response:
    try:
        auth.request_login_code(page.app.ctx, phone, _client_ip(page), language=page.language)
    except DomainError as exc:
        return page.render(
            "login.html",
            status=exc.status,
            phone=phone,
            next=safe_next(next),
            error=page.error_text(exc),
        )
    return page.render("login_code.html", phone=phone, next=safe_next(next), error=None)


@router.post("/login/code", dependencies=[CsrfDep])
def check_code(
    page: PageDep, phone: Phone, code: Annotated[str, Form(max_length=12)], next: NextUrl = "/cards"
) -> Response:
    try:
        logged_in = auth.verify_login_code(
            page.app.ctx, phone, code.strip(), language=page.language
        )
    except DomainError as exc:
        return page.render(
            "login_code.html",
            status=exc.status,
            phone=phone,
            next=safe_next(next),
            error=page.error_text(exc),
        )
    response = page.redirect(safe_next(next))
    set_session_cookie(response, logged_in)
    return response


@router.post("/logout", dependencies=[CsrfDep])
def logout(page: PageDep) -> Response:
    token = page.request.cookies.get(SESSION_COOKIE)
    if token:
        auth.logout(page.app.ctx, token)
    response = page.redirect("/")
    clear_session_cookie(response)
    return response
