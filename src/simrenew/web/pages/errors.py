"""Errors on pages are pages: a login redirect, a stale form, or any problem the API
would have answered with problem+json, shown in the visitor's language."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from simrenew.web.messages import translate
from simrenew.web.pages.page import CsrfFailed, LoginRequired, login_url, page


def render_error(
    request: Request, *, status: int, code: str, title: str, detail: str, params: dict[str, Any]
) -> Response:
    current = page(request)
    title, detail = translate(code, current.language, params, title=title, detail=detail)
    return current.render("error.html", status=status, title=title, detail=detail, code=code)


def install(app: FastAPI) -> None:
    app.state.page_errors = render_error

    @app.exception_handler(LoginRequired)
    def _login(request: Request, exc: LoginRequired) -> Response:
        return page(request).redirect(login_url(exc.next_url))

    @app.exception_handler(CsrfFailed)
    def _csrf(request: Request, exc: CsrfFailed) -> Response:
        current = page(request)
        _ = current.gettext
        return current.render(
            "error.html",
            status=403,
            code="csrf_failed",
            title=_("This form has expired"),
            detail=_("Please go back, reload the page and try again."),
        )
