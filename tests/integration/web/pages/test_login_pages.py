"""Logging in and out through the pages."""

from __future__ import annotations

from simrenew.bootstrap import App
from tests.integration.web.pages.pages_http import browser, log_in, submit

NUMBER = "+85251234567"
SESSION = "__Host-simrenew_session"


def test_logging_in_sets_the_session_cookie_and_goes_on(app: App) -> None:
    client = browser(app)
    done = log_in(client, app, NUMBER)
    assert done.headers["location"] == "/cards"
    cookie = done.headers["set-cookie"]
    assert cookie.startswith(SESSION + "=")
    for flag in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert flag.lower() in cookie.lower()


def test_a_wrong_code_is_explained_in_the_pages_language(app: App) -> None:
    client = browser(app, "zh-Hans")
    sent = submit(client, client.get("/login"), "/login", phone=NUMBER)
    wrong = submit(client, sent, "/login/code", phone=NUMBER, code="000000")
    assert wrong.status_code == 400
    assert 'role="alert"' in wrong.text
    assert SESSION not in wrong.headers.get("set-cookie", "")


def test_next_is_followed_only_within_the_site(app: App) -> None:
    client = browser(app)
    form = client.get("/login?next=//evil.example/x")
    assert 'value="/cards"' in form.text
    sent = submit(client, form, "/login", phone=NUMBER, next="https://evil.example/")
    assert "evil" not in sent.text


def test_logging_out_ends_the_session(app: App) -> None:
    client = browser(app)
    log_in(client, app, NUMBER)
    home = client.get("/")
    assert "Log out" in home.text
    out = submit(client, home, "/logout")
    assert out.status_code == 303
    assert "Log out" not in client.get("/").text
