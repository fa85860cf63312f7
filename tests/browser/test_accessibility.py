"""Accessibility of every page, logged out and logged in, at phone width (axe-core,
WCAG 2.0 A/AA and 2.1 AA, plus no sideways scrolling), and the two forms that matter
most used with the keyboard alone: logging in, and choosing an offer."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, BrowserContext, Cookie, Locator, Page, expect

from tests.browser.flows import (
    LANGUAGES,
    choose_offer,
    expect_language,
    forgive_error_status,
    log_in,
    offer_name,
    reloads_held,
    say,
)
from tests.browser.support import (
    DEMO_ACTIVE,
    VIEWPORTS,
    LiveServer,
    PageProblems,
    assert_accessible,
    latest_sms,
    login_code,
    screenshot,
)

EN = "en"
OFFICIAL_DOMAIN = "simrenew.example.hk"  # the live server's (support._server_env)
PHONE = VIEWPORTS["phone"]
SIGNED_IN = DEMO_ACTIVE  # active, with orders and receipts: every part of the pages shows
KEYBOARD = "+85251234568"  # logs in by keyboard in its own test
CODE_PAGE = "+85261234569"  # only asks for a code, to show the code page

Visit = Callable[[Page, LiveServer], None]


# --- how to reach each page -----------------------------------------------------------


def to_quick_offers(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label(say(EN, "Mobile number"), exact=True).fill("6123 4568")
    page.get_by_role("button", name=say(EN, "Show plans"), exact=True).click()
    expect_language(page, EN, "Choose a plan")


def to_quick_confirm(page: Page, server: LiveServer) -> None:
    to_quick_offers(page, server)
    page.get_by_role("button", name=say(EN, "Continue"), exact=True).click()
    expect_language(page, EN, "Confirm and pay")


def to_login_code(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label(say(EN, "Mobile number"), exact=True).fill(CODE_PAGE)
    page.get_by_role("button", name=say(EN, "Send code"), exact=True).click()
    expect_language(page, EN, "Enter your code")


def to_kiosk_offers(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/kiosk")
    page.get_by_label(say(EN, "Mobile number"), exact=True).fill("51234569")
    page.get_by_role("button", name=say(EN, "Next"), exact=True).click()
    expect_language(page, EN, "Choose a plan")


def to_kiosk_confirm(page: Page, server: LiveServer) -> None:
    to_kiosk_offers(page, server)
    plans = page.get_by_role("list", name=say(EN, "Plans for this card"), exact=True)
    plans.get_by_role("button").first.click()
    expect_language(page, EN, "Confirm and pay")


def to_card_detail(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/cards")
    page.get_by_role("link", name=say(EN, "Details"), exact=True).first.click()
    expect(page.locator("svg#usage-chart")).to_be_visible()


def to_renew_offers(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/cards")
    page.get_by_role("link", name=say(EN, "Renew"), exact=True).first.click()
    expect_language(page, EN, "Renew your card")


def to_renew_confirm(page: Page, server: LiveServer) -> None:
    to_renew_offers(page, server)
    choose_offer(page, "ONE2-M1", EN)
    page.get_by_role("button", name=say(EN, "Continue"), exact=True).click()
    expect_language(page, EN, "Confirm your renewal")


def go(path: str, heading: str) -> Visit:
    def visit(page: Page, server: LiveServer) -> None:
        page.goto(f"{server.url}{path}")
        expect_language(page, EN, heading)

    return visit


LOGGED_OUT: dict[str, Visit] = {
    "home": go("/", "Top up a card"),
    "login": go("/login", "Log in"),
    "login-code": to_login_code,
    "quick-offers": to_quick_offers,
    "quick-confirm": to_quick_confirm,
    "help-expired": go("/help/expired", "When a card expires"),
    "kiosk": go("/kiosk", "Top up a card"),
    "kiosk-offers": to_kiosk_offers,
    "kiosk-confirm": to_kiosk_confirm,
    "dev-inbox": go("/dev/inbox", "Development inbox"),
}
LOGGED_IN: dict[str, Visit] = {
    "cards": go("/cards", "My cards"),
    "card-detail": to_card_detail,
    "renew-offers": to_renew_offers,
    "renew-confirm": to_renew_confirm,
    "orders": go("/orders", "My orders"),
    "settings": go("/settings", "Settings"),
    "bind-card": go("/settings/cards/bind", "Add another card"),
    "home-signed-in": go("/", "Top up a card"),
    "help-expired-signed-in": go("/help/expired", "When a card expires"),
}


# Pages with a known defect, each with the reason: a strict xfail, so that the fix
# makes its test fail until the entry goes. None now.
KNOWN_DEFECTS: dict[str, str] = {}


def sweep(names: list[str]) -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_DEFECTS[name], strict=True))
        if name in KNOWN_DEFECTS
        else name
        for name in names
    ]


# --- the sweep ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session_cookies(live_server: LiveServer, browser: Browser) -> list[Cookie]:
    """One login through the pages for every signed-in page of the sweep."""
    context = browser.new_context(locale="en-US", timezone_id="Asia/Hong_Kong")
    try:
        page = context.new_page()
        log_in(page, live_server, SIGNED_IN, EN)
        return context.cookies()
    finally:
        context.close()


def at_phone_width(page: Page) -> Page:
    page.set_viewport_size(PHONE)
    return page


# The innermost elements whose right edge is past ``width``: what makes a page wider.
STICKING_OUT = """(width) => Array.from(document.querySelectorAll("body *"))
  .filter((el) => el.getBoundingClientRect().right > width + 0.5)
  .filter((el) => !Array.from(el.children).some(
    (child) => child.getBoundingClientRect().right > width + 0.5))
  .slice(0, 8)
  .map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}` +
    `${el.className ? "." + String(el.className).split(" ").join(".") : ""}` +
    ` (right edge ${Math.round(el.getBoundingClientRect().right)}px): ` +
    JSON.stringify((el.textContent || "").trim().slice(0, 60)))"""


def check_page(page: Page, name: str) -> None:
    """The screenshots (first: they show what a failure is about), axe, and no
    sideways scrolling at phone width."""
    screenshot(page, f"a11y-{name}")
    assert_accessible(page)
    # Every page: the language switcher and the official domain in the footer.
    switcher = page.get_by_role("navigation", name=say(EN, "Language"), exact=True)
    for language in LANGUAGES:
        expect(switcher.locator(f'a[hreflang="{language}"]')).to_have_count(1)
    expect(page.get_by_role("contentinfo")).to_contain_text(OFFICIAL_DOMAIN)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        wide = page.evaluate(STICKING_OUT, PHONE["width"])
        raise AssertionError(
            f"{page.url} is {width}px wide at phone width ({PHONE['width']}px), so it "
            "scrolls sideways (WCAG 1.4.10 Reflow); the innermost elements past the edge:\n"
            + "\n".join(f"- {element}" for element in wide)
        )


@pytest.mark.parametrize("name", sweep(list(LOGGED_OUT)))
def test_logged_out_page_is_accessible(live_server: LiveServer, page: Page, name: str) -> None:
    at_phone_width(page)
    LOGGED_OUT[name](page, live_server)
    check_page(page, name)


@pytest.mark.parametrize("name", sweep(list(LOGGED_IN)))
def test_logged_in_page_is_accessible(
    live_server: LiveServer,
    context: BrowserContext,
    page: Page,
    session_cookies: list[Cookie],
    name: str,
) -> None:
    context.add_cookies(session_cookies)  # type: ignore[arg-type]  # the same fields
    at_phone_width(page)
    LOGGED_IN[name](page, live_server)
    expect(page.get_by_role("button", name=say(EN, "Log out"), exact=True)).to_be_visible()
    check_page(page, name)


def test_result_page_while_waiting_is_accessible(live_server: LiveServer, page: Page) -> None:
    """The result page of an order not paid yet refreshes itself until it is."""
    at_phone_width(page)
    with live_server.client() as api:
        placed = api.post(
            "/api/v1/quick-topup/orders",
            json={"number": "+85261234568", "offer_code": "ONE2-M1", "pay_with": "sandbox"},
            headers={"Idempotency-Key": "browser-a11y-waiting"},
        )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    url = re.compile(rf"/orders/{order_id}/result$")
    page.goto(f"{live_server.url}/orders/{order_id}/result")
    with reloads_held(page, url):
        expect(page.locator("#outcome")).to_have_attribute("data-outcome", "waiting")
        check_page(page, "result-waiting")


def test_not_found_page_is_accessible(
    live_server: LiveServer, page: Page, page_problems: PageProblems
) -> None:
    at_phone_width(page)
    page.goto(f"{live_server.url}/orders/ord_no_such_order/result")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check_page(page, "not-found")
    forgive_error_status(page_problems, 404, "/orders/ord_no_such_order/result")


# --- the keyboard alone ---------------------------------------------------------------


def tab_to(page: Page, target: Locator, *, limit: int = 40) -> int:
    """Press Tab until ``target`` has the focus; how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if target.evaluate("(element) => element === document.activeElement"):
            return presses
    raise AssertionError(f"{target} was not reached with {limit} presses of Tab")


def test_login_and_offers_with_the_keyboard_alone(live_server: LiveServer, page: Page) -> None:
    at_phone_width(page)
    page.goto(f"{live_server.url}/login?lang={EN}")

    # The first stop is the skip link, which leads to the main content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=say(EN, "Skip to content"), exact=True)
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()

    # Log in: Tab to the number, type it, Enter; then the code, Enter.
    phone = page.get_by_label(say(EN, "Mobile number"), exact=True)
    tab_to(page, phone)
    page.keyboard.type("5123 4568")
    asked = datetime.now(UTC)
    page.keyboard.press("Enter")
    expect_language(page, EN, "Enter your code")
    code = login_code(latest_sms(live_server, KEYBOARD, since=asked))
    tab_to(page, page.get_by_label(say(EN, "6-digit code"), exact=True))
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    expect_language(page, EN, "My cards")

    # To the offers with the keyboard.
    tab_to(page, page.get_by_role("link", name=say(EN, "Renew"), exact=True).first)
    page.keyboard.press("Enter")
    expect_language(page, EN, "Renew your card")

    # The offers are one radio group: Tab enters it at the checked offer, an arrow
    # key moves the choice to the next offer that can be bought.
    radios = page.get_by_role("radio")
    checked = page.get_by_role("radio", checked=True)
    expect(checked).to_have_count(1)
    tab_to(page, checked)
    enabled = [r.get_attribute("value") for r in radios.all() if r.is_enabled()]
    first = checked.get_attribute("value")
    assert first in enabled and len(enabled) > 1, enabled
    wanted = enabled[(enabled.index(first) + 1) % len(enabled)]
    page.keyboard.press("ArrowDown")
    moved = page.locator(f'input[name="offer_code"][value="{wanted}"]')
    expect(moved).to_be_checked()
    expect(moved).to_be_focused()
    screenshot(page, "keyboard-offers")

    tab_to(page, page.get_by_role("button", name=say(EN, "Continue"), exact=True))
    page.keyboard.press("Enter")
    expect_language(page, EN, "Confirm your renewal")
    expect(page.locator("#offer-name")).to_have_text(offer_name(str(wanted), EN))
