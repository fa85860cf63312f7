"""What every page shares: the visitor's language, their session if any, the CSRF
token of their forms, and rendering with the security headers.

A route declares ``PageDep`` (anyone), ``SignedInPageDep`` (redirects to the login
page without a session) or adds ``CsrfDep`` for a form post.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from simrenew.bootstrap import App
from simrenew.config import Settings
from simrenew.domain.accounts import Subscriber
from simrenew.domain.auth import NotAuthenticated
from simrenew.domain.errors import DomainError
from simrenew.services.auth import authenticate
from simrenew.web.auth_deps import SESSION_COOKIE
from simrenew.web.i18n import NAMES, Formatter, translations
from simrenew.web.languages import SUPPORTED, negotiate
from simrenew.web.messages import translate
from simrenew.web.pages.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    csrf_token,
    csrf_valid,
    new_csrf_secret,
    origin,
    page_headers,
)

TEMPLATES = Path(__file__).parent.parent.joinpath("templates", "pages")
_YEAR = 365 * 24 * 3600


@cache
def environment(language: str) -> Environment:
    """One Jinja environment per language, with gettext installed (``_``, ``ngettext``)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


class LoginRequired(Exception):
    """A page that needs a session was asked for without one."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfFailed(Exception):
    """A form came back without the token this site put in it."""


class Page:
    """One request for a page, as the templates and routes see it."""

    def __init__(self, request: Request, app: App, subscriber: Subscriber | None) -> None:
        self.request = request
        self.app = app
        self.subscriber = subscriber
        self._cookies: dict[str, tuple[str, int, bool]] = {}
        chosen = request.query_params.get("lang")
        remembered = request.cookies.get(LANGUAGE_COOKIE)
        if chosen in SUPPORTED:
            self.language = chosen
            self.remember_language(chosen)
        elif remembered in SUPPORTED:
            self.language = remembered
        else:
            self.language = negotiate(request.headers.get("accept-language"))
        self.fmt = Formatter(self.language, app.ctx.clock.tz)
        self.gettext: Callable[[str], str] = translations(self.language).gettext
        csrf_secret = request.cookies.get(CSRF_COOKIE)
        if not csrf_secret:
            csrf_secret = new_csrf_secret()
            self._cookies[CSRF_COOKIE] = (csrf_secret, 0, True)
        self._csrf_secret = csrf_secret

    # --- what templates use -----------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def csrf_token(self) -> str:
        return csrf_token(_csrf_key(self.app), self._csrf_secret)

    @property
    def csrf_field(self) -> str:
        return CSRF_FIELD

    @property
    def languages(self) -> list[tuple[str, str, str]]:
        """(tag, name, link to this page in that language) for the switcher."""
        query = {k: v for k, v in self.request.query_params.items() if k != "lang"}
        path = self.request.url.path if self.request.method == "GET" else "/"
        links = []
        for tag in SUPPORTED:
            link = path + "?" + urlencode({**query, "lang": tag})
            links.append((tag, NAMES[tag], link))
        return links

    @property
    def path(self) -> str:
        return self.request.url.path

    def error_text(self, exc: DomainError) -> str:
        """A domain error in this page's language."""
        return translate(
            exc.code, self.language, dict(exc.params), title=exc.code, detail=exc.message
        )[1]

    def remember_language(self, language: str) -> None:
        self._cookies[LANGUAGE_COOKIE] = (language, _YEAR, False)

    # --- responses ----------------------------------------------------------------------

    def render(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        html = environment(self.language).get_template(template).render(page=self, **values)
        response = HTMLResponse(html, status_code=status, headers=self._headers())
        response.headers["Content-Language"] = self.language
        self._set_cookies(response)
        return response

    def redirect(self, url: str) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303, headers=self._headers())
        self._set_cookies(response)
        return response

    def _headers(self) -> dict[str, str]:
        targets = _form_targets(self.app)
        return page_headers(form_targets=targets, private=True)

    def _set_cookies(self, response: Response) -> None:
        for name, (value, max_age, host_only) in self._cookies.items():
            response.set_cookie(
                name,
                value,
                max_age=max_age or None,
                path="/",
                secure=host_only,
                httponly=host_only,
                samesite="strict" if host_only else "lax",
            )


def _csrf_key(app: App) -> bytes:
    return app.settings.login_secret.get_secret_value().encode()


def _form_targets(app: App) -> tuple[str, ...]:
    """Origins a form's answer may redirect to: our public address and the hosted
    checkouts of the providers in use."""
    return (origin(app.settings.public_url),)


def _subscriber(request: Request, app: App) -> Subscriber | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return authenticate(app.ctx, token)
    except NotAuthenticated:
        return None


def page(request: Request) -> Page:
    app: App = request.app.state.simrenew
    return Page(request, app, _subscriber(request, app))


def signed_in_page(request: Request) -> Page:
    current = page(request)
    if current.subscriber is None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        raise LoginRequired(target if request.method == "GET" else "/cards")
    return current


def checked_csrf(
    request: Request, csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None
) -> None:
    app: App = request.app.state.simrenew
    if not csrf_valid(_csrf_key(app), request.cookies.get(CSRF_COOKIE), csrf_token):
        raise CsrfFailed()


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")


def new_form_key() -> str:
    """A fresh idempotency key put in a form, so that submitting twice orders once."""
    return "web-" + secrets.token_urlsafe(16)


PageDep = Annotated[Page, Depends(page)]
SignedInPageDep = Annotated[Page, Depends(signed_in_page)]
CsrfDep = Depends(checked_csrf)
