"""The kiosk with JavaScript on: the number typed on the on-screen pad, a plan, and
payment by card on the machine (the sandbox's page) or by QR code with a phone (a
second browser opens the code's URL while the kiosk's waiting screen follows the
order by itself); then the printable receipt. The inactivity reset is checked with
Playwright's fake clock, so no test waits a minute."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, Request, expect

from simrenew.config import Settings
from simrenew.db.engine import make_engine
from simrenew.ports import PaymentRequest
from simrenew.providers.sandbox import SandboxGateway, SandboxProvider
from simrenew.services.order_history import receipt_number
from simrenew.web.pages.kiosk import qr_svg
from tests.browser.flows import (
    KIOSK_DONE_URL,
    SETTLE_MS,
    choose_sandbox,
    expect_language,
    expect_outcome,
    masked,
    offer_name,
    order_state,
    pay_on_sandbox,
    reloads_held,
    say,
)
from tests.browser.support import (
    VIEWPORTS,
    LiveServer,
    PageProblems,
    _server_env,
    assert_accessible,
    screenshot,
)

EN = "en"


def sandbox_secrets() -> list[str]:
    """The secrets the live server signs checkout sessions with: its environment's
    value, read the way the server reads it."""
    raw = _server_env(0, Path("unused"))["SIMRENEW_SANDBOX_SECRETS"]
    return [
        secret.get_secret_value()
        for secret in Settings.model_validate({"sandbox_secrets": raw}).sandbox_secrets
    ]


KIOSK_WAITING_URL = re.compile(r"/kiosk/orders/([^/?#]+)$")


def kiosk_order_id(page: Page, url: re.Pattern[str]) -> str:
    """The order's id in the kiosk's URL, once the page is there."""
    expect(page).to_have_url(url)
    found = url.search(page.url)
    assert found, page.url
    return found.group(1)


def tap_number(page: Page, digits: str) -> None:
    """Tap each digit on the on-screen pad (the group labelled "Number pad")."""
    pad = page.get_by_role("group", name=say(EN, "Number pad"), exact=True)
    for digit in digits:
        pad.get_by_role("button", name=digit, exact=True).click()


def enter_number(page: Page, server: LiveServer, digits: str, shot: str | None = None) -> None:
    """From the kiosk's start to its plans: the pad works in the page (no request
    until Next), and its delete key takes back a digit."""
    posted: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST":
            posted.append(request.url)

    page.goto(f"{server.url}/kiosk?lang={EN}")
    expect_language(page, EN, "Top up a card")
    field = page.get_by_label(say(EN, "Mobile number"), exact=True)
    expect(field).to_be_focused()  # autofocus: ready for a hardware keyboard too
    page.on("request", on_request)
    tap_number(page, digits + "0")
    expect(field).to_have_value(digits + "0")
    page.get_by_role("button", name=say(EN, "Delete the last digit"), exact=True).click()
    expect(field).to_have_value(digits)
    assert posted == [], f"the pad went to the server: {posted}"
    page.remove_listener("request", on_request)
    if shot:
        screenshot(page, shot)
        assert_accessible(page)
    page.get_by_role("button", name=say(EN, "Next"), exact=True).click()
    expect_language(page, EN, "Choose a plan")


def choose_plan(page: Page, code: str, number: str, shot: str | None = None) -> None:
    """Each plan is one big button: its name and price."""
    expect(page.locator("#number-masked")).to_have_text(masked(number))
    plans = page.get_by_role("list", name=say(EN, "Plans for this card"), exact=True)
    button = plans.get_by_role("button", name=re.compile("^" + re.escape(offer_name(code, EN))))
    expect(button).to_have_count(1)
    if shot:
        screenshot(page, shot)
        assert_accessible(page)
    button.click()
    expect_language(page, EN, "Confirm and pay")
    expect(page.locator("#number-masked")).to_have_text(masked(number))
    expect(page.locator("#offer-name")).to_have_text(offer_name(code, EN))


def qr_checkout_url(server: LiveServer, order_id: str) -> str:
    """The checkout URL the waiting screen's QR code must hold: the sandbox's session
    for the order's pending payment, returning to the site's result page (what a
    phone that scanned it opens), built with the sandbox's own code."""
    with server.client() as api:
        payment = order_state(api, order_id)["payment"]
    assert payment is not None and payment["state"] == "pending", payment
    engine = make_engine(server.database_url)
    secrets = sandbox_secrets()
    try:
        provider = SandboxProvider(
            SandboxGateway(engine, secrets), secrets, checkout_base_url=server.url
        )
        opened = provider.create_payment(
            PaymentRequest(
                payment_id=payment["id"],
                order_id=order_id,
                amount_minor=payment["amount"]["amount_minor"],
                currency=payment["amount"]["currency"],
                description="",
                language=EN,
                return_url=f"{server.url}/orders/{order_id}/result",
            )
        )
    finally:
        engine.dispose()
    assert opened.checkout_url
    return opened.checkout_url


def qr_path(svg: str) -> str:
    """The dark modules of a QR code as segno draws them (the path with a stroke)."""
    found = re.search(r'<path class="qrline"[^>]* d="([^"]+)"', svg)
    assert found, svg[:200]
    return found.group(1)


def test_kiosk_pay_by_card_and_print_the_receipt(live_server: LiveServer, page: Page) -> None:
    number = "+85291234567"
    enter_number(page, live_server, "91234567", shot="kiosk-card-1-pad")
    choose_plan(page, "ONE2-M1", number, shot="kiosk-card-2-plans")
    screenshot(page, "kiosk-card-3-confirm")
    assert_accessible(page)

    choose_sandbox(page, EN)
    page.get_by_role("button", name=say(EN, "Pay by card here"), exact=True).click()
    pay_on_sandbox(page)

    expect(page).to_have_url(KIOSK_DONE_URL)
    expect_outcome(page, "fulfilled")
    expect_language(page, EN, "Your order")
    order_id = kiosk_order_id(page, KIOSK_DONE_URL)
    receipt = page.get_by_role("region", name=say(EN, "Receipt"), exact=True)
    expect(receipt).to_be_visible()
    expect(receipt.locator("#number-masked")).to_have_text(masked(number))
    expect(receipt).to_contain_text("simrenew.example.hk")
    with live_server.client() as api:
        assert order_state(api, order_id)["channel"] == "kiosk"

    # The print button: shown by kiosk.js, and it prints.
    print_button = page.get_by_role("button", name=say(EN, "Print receipt"), exact=True)
    expect(print_button).to_be_visible()
    page.evaluate(
        "() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }"
    )
    print_button.click()
    assert page.evaluate("() => window.__printed") == 1
    screenshot(page, "kiosk-card-4-done")
    assert_accessible(page)

    # On paper: the receipt without the buttons and the site's frame.
    page.emulate_media(media="print")
    expect(receipt).to_be_visible()
    expect(print_button).to_be_hidden()
    expect(page.get_by_role("link", name=say(EN, "Finish"), exact=True)).to_be_hidden()
    screenshot(page, "kiosk-card-5-receipt-print")
    page.emulate_media(media="screen")

    page.get_by_role("link", name=say(EN, "Finish"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/kiosk$"))
    expect(page.get_by_label(say(EN, "Mobile number"), exact=True)).to_have_value("")


def test_kiosk_pay_by_qr_with_a_phone(
    live_server: LiveServer, page: Page, browser: Browser
) -> None:
    number = "+85251234568"
    enter_number(page, live_server, "51234568")
    choose_plan(page, "ONE2-D7", number)
    choose_sandbox(page, EN)
    page.get_by_role("button", name=say(EN, "Scan to pay with your phone"), exact=True).click()

    expect(page).to_have_url(KIOSK_WAITING_URL)
    order_id = kiosk_order_id(page, KIOSK_WAITING_URL)
    # The waiting screen reloads itself every 2 s: held still while it is checked.
    with reloads_held(page, re.compile(rf"/kiosk/orders/{order_id}$")):
        expect_language(page, EN, "Scan to pay with your phone")
        expect(page.locator("#outcome")).to_have_attribute("data-outcome", "waiting")
        qr = page.get_by_role("img", name=say(EN, "QR code to pay with your phone"), exact=True)
        expect(qr).to_be_visible()
        box = qr.bounding_box()
        assert box is not None and box["width"] >= 200 and box["height"] >= 200, box
        checkout_url = qr_checkout_url(live_server, order_id)
        shown = qr.evaluate("(svg) => svg.outerHTML")
        assert qr_path(shown) == qr_path(str(qr_svg(checkout_url, "QR"))), "QR holds another URL"
        screenshot(page, "kiosk-qr-1-waiting")
        assert_accessible(page)

    # The payer's phone: another browser, which opens the code's URL and pays.
    phone_problems = PageProblems()
    phone = browser.new_context(
        viewport=VIEWPORTS["phone"], locale="zh-HK", timezone_id="Asia/Hong_Kong"
    )
    try:
        phone_problems.attach(phone)
        on_phone = phone.new_page()
        on_phone.goto(checkout_url)
        screenshot(on_phone, "kiosk-qr-2-phone-checkout")
        pay_on_sandbox(on_phone)
        expect(on_phone).to_have_url(re.compile(rf"/orders/{order_id}/result$"))
        expect_outcome(on_phone, "fulfilled")
        screenshot(on_phone, "kiosk-qr-3-phone-done")
        phone_problems.settle()
        assert not phone_problems.problems, phone_problems.report()
    finally:
        phone.close()

    # Meanwhile the kiosk moves on to its done screen by itself.
    expect(page).to_have_url(KIOSK_DONE_URL, timeout=SETTLE_MS)
    expect_outcome(page, "fulfilled")
    expect(page.get_by_role("region", name=say(EN, "Receipt"), exact=True)).to_be_visible()
    screenshot(page, "kiosk-qr-4-done")
    assert_accessible(page)


def test_kiosk_goes_back_to_the_start_when_left_alone(live_server: LiveServer, page: Page) -> None:
    """After ``data-kiosk-idle`` seconds without a touch, the screen (and the number
    typed) is given up; a touch restarts the count."""
    page.clock.install()
    enter_number(page, live_server, "61234568")
    idle = int(page.locator("[data-kiosk-idle]").get_attribute("data-kiosk-idle") or "0")
    assert idle > 0
    offers_url = page.url

    page.clock.run_for((idle - 5) * 1000)
    page.keyboard.press("Shift")  # a key (or a touch): the count starts again
    page.clock.run_for((idle - 5) * 1000)
    expect(page).to_have_url(offers_url)
    expect_language(page, EN, "Choose a plan")

    page.clock.run_for(10 * 1000)
    expect(page).to_have_url(re.compile(r"/kiosk$"))
    expect_language(page, EN, "Top up a card")
    expect(page.get_by_label(say(EN, "Mobile number"), exact=True)).to_have_value("")


def test_kiosk_receipt_carries_the_receipt_number(live_server: LiveServer, page: Page) -> None:
    """The printed receipt's number is the order's receipt number, the one its PDF
    receipt and the owner's history show (SPEC: "a receipt number per order")."""
    number = "+85251234569"  # a data-only card of another product line
    enter_number(page, live_server, "51234569")
    choose_plan(page, "HKDATA-D1", number)
    choose_sandbox(page, EN)
    page.get_by_role("button", name=say(EN, "Pay by card here"), exact=True).click()
    pay_on_sandbox(page)
    expect(page).to_have_url(KIOSK_DONE_URL)
    expect_outcome(page, "fulfilled")
    order_id = kiosk_order_id(page, KIOSK_DONE_URL)
    with live_server.client() as api:
        paid_at = datetime.fromisoformat(order_state(api, order_id)["receipt"]["paid_at"])
    expected = receipt_number(order_id, paid_at, ZoneInfo("Asia/Hong_Kong"))
    receipt = page.get_by_role("region", name=say(EN, "Receipt"), exact=True)
    expect(receipt.locator("#receipt-number")).to_have_text(expected)
