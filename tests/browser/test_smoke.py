"""Smoke tests through the real server and Chromium: a quick top-up paid on the
sandbox's hosted checkout page, a web login whose session cookie Chromium keeps, and
the page watcher that every browser test relies on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.support import (
    DEMO_ACTIVE,
    LiveServer,
    PageProblems,
    assert_accessible,
    latest_sms,
    login_code,
    screenshot,
    wait_for,
)


def quick_order(api: httpx.Client, number: str, offer: str) -> dict[str, Any]:
    """A quick top-up order through the API, to be paid with the sandbox."""
    lookup = api.post("/api/v1/quick-topup/lookup", json={"number": number})
    assert lookup.status_code == 200, lookup.text
    assert offer in [o["code"] for o in lookup.json()["offers"]]
    placed = api.post(
        "/api/v1/quick-topup/orders",
        json={"number": number, "offer_code": offer, "pay_with": "sandbox"},
        headers={"Idempotency-Key": f"browser-test-{uuid.uuid4()}"},
    )
    assert placed.status_code == 201, placed.text
    checkout: dict[str, Any] = placed.json()
    return checkout


def test_quick_topup_paid_on_the_sandbox_checkout_page(live_server: LiveServer, page: Page) -> None:
    with live_server.client() as api:
        checkout = quick_order(api, DEMO_ACTIVE, "ONE2-M1")
        assert checkout["state"] == "awaiting_payment"
        assert checkout["checkout_url"].startswith(f"{live_server.url}/sandbox/checkout/")

        page.goto(checkout["checkout_url"])
        expect(page.get_by_role("heading", name="Sandbox checkout")).to_be_visible()
        expect(page.locator("#amount")).to_have_text(checkout["price"]["display"])
        screenshot(page, "sandbox-checkout")
        assert_accessible(page)

        page.get_by_role("button", name="Pay").click()
        expect(page.locator("#result")).to_have_attribute("data-status", "succeeded")
        expect(page.locator("#result")).to_contain_text("Payment succeeded")
        screenshot(page, "sandbox-checkout-succeeded")
        assert_accessible(page)

        def fulfilled() -> dict[str, Any] | None:
            order = api.get(f"/api/v1/orders/{checkout['order_id']}").json()
            return order if order["state"] == "fulfilled" else None

        order = wait_for(fulfilled, timeout=15, what="the order to be fulfilled")
        assert order["payment"]["state"] == "succeeded"
        assert order["receipt"]["order_id"] == checkout["order_id"]


def test_session_cookie_is_kept_by_chromium_on_http_loopback(
    live_server: LiveServer, page: Page
) -> None:
    """``__Host-simrenew_session`` is ``Secure``: Chromium still stores and sends it on
    http://127.0.0.1, a potentially trustworthy origin, so the web pages can keep
    their session in it in the embedded mode too."""
    page.goto(f"{live_server.url}/healthz")
    asked = datetime.now(UTC)
    with live_server.client() as api:
        sent = api.post("/api/v1/auth/code", json={"phone": DEMO_ACTIVE})
        assert sent.status_code == 202, sent.text
    code = login_code(latest_sms(live_server, DEMO_ACTIVE, since=asked))

    session = page.evaluate(
        """async ([phone, code]) => {
            const response = await fetch("/api/v1/auth/session", {
                method: "POST",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({phone, code}),
            });
            return {status: response.status};
        }""",
        [DEMO_ACTIVE, code],
    )
    assert session["status"] == 201
    cookies = {c["name"]: c for c in page.context.cookies(live_server.url)}
    assert "__Host-simrenew_session" in cookies, cookies.keys()
    cookie = cookies["__Host-simrenew_session"]
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Lax")

    cards = page.evaluate(
        """async () => {
            const response = await fetch("/api/v1/me/cards");
            return {status: response.status, body: await response.json()};
        }"""
    )
    assert cards["status"] == 200, cards
    assert DEMO_ACTIVE in str(cards["body"])
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it

    navigated = page.goto(f"{live_server.url}/api/v1/me/cards")  # as a page would be
    assert navigated is not None and navigated.status == 200


def test_the_watcher_reports_csp_violations_and_console_errors(
    live_server: LiveServer, page: Page, page_problems: PageProblems
) -> None:
    """The guard the other browser tests rely on: the sandbox page's CSP
    (``default-src 'none'``) refuses an image, and both that and a console error are
    seen; then they are cleared, so this test itself passes."""
    with live_server.client() as api:
        page.goto(quick_order(api, DEMO_ACTIVE, "ONE2-M3")["checkout_url"])
    page.evaluate(
        """() => {
            const image = document.createElement("img");
            image.src = "/static/nowhere.png";
            document.body.append(image);
            console.error("deliberate console error");
        }"""
    )

    def seen() -> list[str] | None:
        found = page_problems.problems
        csp_event = any(p.startswith("Content Security Policy violation: img-src") for p in found)
        csp_console = any("Content Security Policy" in p and "console" in p for p in found)
        logged = any("deliberate console error" in p for p in found)
        return list(found) if csp_event and csp_console and logged else None

    wait_for(
        seen,
        timeout=5,
        what=lambda: f"the watcher to see all three; it saw {page_problems.problems}",
        page=page,
    )
    page_problems.clear()
