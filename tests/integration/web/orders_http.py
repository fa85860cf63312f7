"""Shortcuts for the order API tests: a client, a quick order, the checkout page."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Table, func, select

from simrenew.bootstrap import App
from simrenew.web.app import create_app

NUMBER = "+85251234567"  # demo ONE2 card, zh-Hant
OFFER = "ONE2-M1"


def client(app: App) -> TestClient:
    return TestClient(create_app(app), raise_server_exceptions=False)


def new_key() -> str:
    return uuid.uuid4().hex


def quick_order(
    http: TestClient,
    *,
    number: str = NUMBER,
    offer: str = OFFER,
    key: str | None = None,
    **extra: Any,
) -> Response:
    return http.post(
        "/api/v1/quick-topup/orders",
        json={"number": number, "offer_code": offer, **extra},
        headers={"Idempotency-Key": key or new_key()},
    )


def checkout_path(checkout_url: str) -> str:
    """The checkout page as a path on the test client (the URL names the public host)."""
    parts = urlsplit(checkout_url)
    return f"{parts.path}?{parts.query}"


def session_of(page_html: str) -> str:
    match = re.search(r'name="session" value="([^"]+)"', page_html)
    assert match, "no session field on the checkout page"
    return match.group(1)


def pay_on_page(http: TestClient, checkout_url: str, action: str = "pay") -> Response:
    """Open the checkout page and press a button, as a browser would."""
    page = http.get(checkout_path(checkout_url))
    assert page.status_code == 200, page.text
    payment_path = urlsplit(checkout_url).path
    return http.post(
        payment_path,
        data={"session": session_of(page.text), "action": action},
        follow_redirects=True,
    )


def count(app: App, table: Table) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)
