"""A declined payment and its retry: the result page says no money was taken and
offers "Try again", which opens a new checkout for the same order; paid, the order
is fulfilled, and the history holds that one order."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from simrenew.web.pages.cards import display_number
from tests.browser.flows import (
    card_item,
    choose_offer,
    choose_sandbox,
    confirmation_sms,
    expect_language,
    expect_outcome,
    log_in,
    offer_price,
    order_state,
    pay_on_sandbox,
    result_order_id,
    say,
    say_pattern,
)
from tests.browser.support import DEMO_STOCK, LiveServer, assert_accessible, screenshot

EN = "en"
OFFER = "ONE2-M1"


def test_declined_payment_then_paid_on_the_retry(live_server: LiveServer, page: Page) -> None:
    number = DEMO_STOCK  # never renewed: this is its first order
    log_in(page, live_server, number, EN)
    card = card_item(page, display_number(number))
    expect(card).to_have_attribute("data-state", "in_stock")
    card.get_by_role("link", name=say(EN, "Renew"), exact=True).click()
    expect_language(page, EN, "Renew your card")
    choose_offer(page, OFFER, EN)
    price = offer_price(page, OFFER, EN)
    page.get_by_role("button", name=say(EN, "Continue"), exact=True).click()
    choose_sandbox(page, EN)
    page.get_by_role("button", name=say(EN, "Pay %(amount)s", amount=price), exact=True).click()

    # Declined on the provider's page.
    pay_on_sandbox(page, action="Decline")
    order_id = result_order_id(page)
    expect_outcome(page, "declined")
    expect_language(page, EN, "Your order")
    expect(page.locator("#outcome")).to_contain_text(
        say(EN, "The payment did not go through. No money was taken. You can try again.")
    )
    try_again = page.get_by_role("button", name=say(EN, "Try again"), exact=True)
    expect(try_again).to_be_visible()
    screenshot(page, "payment-retry-1-declined")
    assert_accessible(page)
    with live_server.client() as api:
        declined = order_state(api, order_id)
    assert (declined["state"], declined["payment"]["state"]) == ("awaiting_payment", "failed")
    # The card's owner is told by SMS too, with the order's reference.
    assert confirmation_sms(live_server, number, order_id)

    # Try again: a new checkout of the same order, paid this time.
    choose_sandbox(page, EN)
    try_again.click()
    pay_on_sandbox(page)
    assert result_order_id(page) == order_id
    expect_outcome(page, "fulfilled")
    expect(page.locator("#outcome")).to_contain_text(say(EN, "A confirmation SMS is on its way."))
    screenshot(page, "payment-retry-2-paid")
    assert_accessible(page)
    with live_server.client() as api:
        paid = order_state(api, order_id)
    assert (paid["state"], paid["payment"]["state"]) == ("fulfilled", "succeeded")
    assert paid["payment"]["id"] != declined["payment"]["id"]

    # Exactly one order in the history, with its receipt.
    page.get_by_role("navigation", name=say(EN, "Main menu"), exact=True).get_by_role(
        "link", name=say(EN, "Orders"), exact=True
    ).click()
    expect_language(page, EN, "My orders")
    orders = page.locator("#orders > li")
    expect(orders).to_have_count(1)
    expect(orders).to_have_attribute("id", f"order-{order_id}")
    expect(orders).to_have_attribute("data-state", "fulfilled")
    receipt = orders.get_by_role("link", name=say_pattern(EN, "Receipt %(number)s (PDF)"))
    expect(receipt).to_be_visible()
    screenshot(page, "payment-retry-3-orders")
    assert_accessible(page)
    pdf = page.request.get(f"{live_server.url}{receipt.get_attribute('href')}")
    assert pdf.status == 200, pdf.text()[:500]
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    # The card was activated by this first renewal.
    page.get_by_role("link", name=say(EN, "My cards"), exact=True).first.click()
    expect(card_item(page, display_number(number))).to_have_attribute("data-state", "active")
    expect(page).to_have_url(re.compile(r"/cards$"))
