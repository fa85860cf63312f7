"""The four steps (check, choose, pay, confirm) through the pages, once per language:
the language is chosen with the page's own switcher, the login code and the order
confirmation are read from the dev inbox, and the sandbox's hosted page takes the
payment."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from simrenew.web.pages.cards import display_number
from tests.browser.flows import (
    LANGUAGES,
    activate_with_quick_topup,
    card_item,
    choose_offer,
    choose_sandbox,
    confirmation_sms,
    enter_code,
    expect_language,
    expect_outcome,
    masked,
    offer_name,
    offer_price,
    pay_on_sandbox,
    request_code,
    result_order_id,
    say,
    say_pattern,
    switch_language,
)
from tests.browser.support import LiveServer, assert_accessible, screenshot

# One active card per language, each with its own account (a number gets one login
# code a minute, so the three runs must not share one). The zh-Hant card is still in
# stock in the demo: the module activates it first.
NUMBERS = {"zh-Hant": "+85251234567", "zh-Hans": "+85251234568", "en": "+85291234567"}
OFFER = "ONE2-M1"
GBA = "Greater Bay Area (Hong Kong, Mainland, Macau)"


@pytest.fixture(scope="module")
def cards_active(live_server: LiveServer) -> LiveServer:
    activate_with_quick_topup(live_server, NUMBERS["zh-Hant"], "ONE2-D7")
    return live_server


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_four_steps(cards_active: LiveServer, page: Page, language: str) -> None:
    server, number = cards_active, NUMBERS[language]
    shot = f"four-steps-{language}"

    # Log in, in the language chosen with the switcher (the browser asks for English).
    page.goto(f"{server.url}/login")
    expect_language(page, "en", "Log in")
    switch_language(page, language)
    expect_language(page, language, "Log in")
    footer = page.get_by_role("contentinfo")
    expect(footer).to_contain_text("simrenew.example.hk")
    screenshot(page, f"{shot}-1-login")
    assert_accessible(page)
    asked = request_code(page, number, language)
    screenshot(page, f"{shot}-2-code")
    assert_accessible(page)
    enter_code(page, server, number, language, asked)

    # 1. Check: the card with its state, validity, balance and what data is left.
    expect(page).to_have_url(re.compile(r"/cards$"))
    expect_language(page, language, "My cards")
    card = card_item(page, display_number(number))
    expect(card).to_have_count(1)
    badge = card.locator(".badge")
    expect(badge).to_have_attribute("data-state", "active")
    expect(badge).to_have_text(say(language, "In service"))
    validity = card.locator("[data-validity-end]")
    expect(validity).to_have_attribute("data-validity-end", re.compile(r"^\d{4}-\d{2}-\d{2}$"))
    expect(card.locator("dt", has_text=say(language, "Valid until"))).to_be_visible()
    expect(card.locator("dt", has_text=say(language, "Balance"))).to_be_visible()
    meter = card.get_by_role("meter", name=say(language, GBA), exact=True)
    expect(meter).to_be_visible()
    assert int(meter.get_attribute("value") or "0") > 0
    screenshot(page, f"{shot}-3-cards")
    assert_accessible(page)

    # The card's own page: its usage chart is an image with a text alternative.
    card.get_by_role("link", name=say(language, "Details"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        say(language, "Card %(number)s", number=display_number(number))
    )
    summary = say_pattern(
        language, "Data used per day over the last %(days)s days: %(total)s in all."
    )
    chart = page.get_by_role("img", name=summary)
    expect(chart).to_have_attribute("id", "usage-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).not_to_have_count(0)
    screenshot(page, f"{shot}-4-card")
    assert_accessible(page)

    # 2. Choose: the offers with radio buttons and a coupon field.
    page.get_by_role("link", name=say(language, "Renew"), exact=True).click()
    expect_language(page, language, "Renew your card")
    expect(page.get_by_label(say(language, "Coupon code (optional)"), exact=True)).to_be_editable()
    choose_offer(page, OFFER, language)
    price = offer_price(page, OFFER, language)
    after = page.locator(f"#offer-{OFFER} .after").inner_text()
    screenshot(page, f"{shot}-5-offers")
    assert_accessible(page)
    page.get_by_role("button", name=say(language, "Continue"), exact=True).click()

    # 3. Confirm: masked number, offer, price and the new validity, then pay.
    expect_language(page, language, "Confirm your renewal")
    expect(page.locator("#number-masked")).to_have_text(masked(number))
    expect(page.locator("#offer-name")).to_have_text(offer_name(OFFER, language))
    expect(page.locator("#price")).to_contain_text(price)
    new_validity = page.locator("#validity-after").inner_text().strip()
    assert new_validity and new_validity in after, (new_validity, after)
    screenshot(page, f"{shot}-6-confirm")
    assert_accessible(page)
    choose_sandbox(page, language)
    page.get_by_role("button", name=say(language, "Pay %(amount)s", amount=price)).click()

    sandbox_amount = page.locator("#amount")
    expect(sandbox_amount).to_be_visible()
    assert digits(sandbox_amount.inner_text()) == digits(price)
    screenshot(page, f"{shot}-7-sandbox")
    pay_on_sandbox(page)

    # 4. Done: back on the result page, which follows the order until it is fulfilled.
    order_id = result_order_id(page)
    expect_outcome(page, "fulfilled")
    expect_language(page, language, "Your order")
    expect(page.locator("#outcome")).to_contain_text(masked(number))
    screenshot(page, f"{shot}-8-done")
    assert_accessible(page)

    # The card now runs to the validity the confirmation promised.
    page.get_by_role("link", name=say(language, "My cards"), exact=True).first.click()
    expect(card_item(page, display_number(number)).locator("[data-validity-end]")).to_have_text(
        new_validity
    )

    # The confirmation SMS, as the dev inbox shows it.
    sms = confirmation_sms(server, number, order_id)
    page.goto(f"{server.url}/dev/inbox")
    expect_language(page, language, "Development inbox")
    page.get_by_label(say(language, "Recipient (number or e-mail address)"), exact=True).fill(
        number
    )
    page.get_by_role("button", name=say(language, "Filter"), exact=True).click()
    message = page.locator("#messages > li").filter(has_text=order_id)
    expect(message).to_have_count(1)
    expect(message.locator("pre.body")).to_have_text(sms)
    expect(message.locator(".recipient")).to_have_text(number)
    screenshot(page, f"{shot}-9-inbox")
    assert_accessible(page)
