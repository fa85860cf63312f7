"""Shortcuts for page tests: a browser-like client, CSRF tokens, logging in."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response

from simrenew.bootstrap import App
from simrenew.web.app import create_app
from tests.integration.web.test_account_api import sms_code

HTML = {"accept": "text/html"}


def browser(app: App, language: str = "en") -> TestClient:
    """A client that keeps Secure cookies (https), asks for HTML, and stops at
    redirects so that tests see them."""
    client = TestClient(create_app(app), base_url="https://testserver", follow_redirects=False)
    client.headers.update({**HTML, "accept-language": language})
    return client


def csrf_of(page: Response) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert found, "no CSRF token in the page"
    return found.group(1)


def submit(client: TestClient, page: Response, action: str, **fields: str) -> Response:
    """Post a form of ``page`` to ``action`` with its CSRF token, as a browser would."""
    return client.post(action, data={"csrf_token": csrf_of(page), **fields})


def log_in(client: TestClient, app: App, number: str) -> Response:
    """Through the login pages; returns the redirect that ends the login."""
    form = client.get("/login")
    sent = submit(client, form, "/login", phone=number)
    assert sent.status_code == 200, sent.text
    done = submit(client, sent, "/login/code", phone=number, code=sms_code(app, number))
    assert done.status_code == 303, done.text
    return done
