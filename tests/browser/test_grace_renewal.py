"""A card in its grace period: its page explains that outgoing service is stopped
and until when it can be renewed; renewing it reactivates it at once."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from simrenew.web.pages.cards import display_number
from tests.browser.flows import (
    card_item,
    choose_offer,
    choose_sandbox,
    expect_language,
    expect_outcome,
    log_in,
    masked,
    offer_price,
    pay_on_sandbox,
    result_order_id,
    say,
    say_pattern,
)
from tests.browser.support import DEMO_GRACE, LiveServer, assert_accessible, screenshot

LANGUAGE = "zh-Hant"  # the demo card's own language
OFFER = "ONE2-M1"


def test_card_in_grace_is_renewed_and_reactivated(live_server: LiveServer, page: Page) -> None:
    number, spaced = DEMO_GRACE, display_number(DEMO_GRACE)
    log_in(page, live_server, number, LANGUAGE)

    # The grace explanation: what stopped, until when it can be renewed, what to do.
    card = card_item(page, spaced)
    expect(card).to_have_attribute("data-state", "grace")
    badge = card.locator(".badge")
    expect(badge).to_have_attribute("data-state", "grace")
    expect(badge).to_have_text(say(LANGUAGE, "In grace period"))
    notice = card.locator('[data-notice="grace"]')
    expect(notice).to_contain_text(say(LANGUAGE, "Outgoing service is stopped."))
    until = say_pattern(
        LANGUAGE,
        "You can still renew it until %(date)s. "
        "Renewing now reactivates it at once, with the same number.",
    )
    expect(notice.get_by_text(until)).to_be_visible()
    expect(card.locator("dt", has_text=say(LANGUAGE, "Validity ended"))).to_be_visible()
    expect(
        notice.get_by_role("link", name=say(LANGUAGE, "What happens when a card expires"))
    ).to_have_attribute("href", "/help/expired")
    screenshot(page, "grace-1-cards")
    assert_accessible(page)

    notice.get_by_role("link", name=say(LANGUAGE, "Renew now"), exact=True).click()
    expect_language(page, LANGUAGE, "Renew your card")
    expect(page.locator("#card-state")).to_have_text(say(LANGUAGE, "In grace period"))
    expect(page.locator("#grace-note")).to_be_visible()
    choose_offer(page, OFFER, LANGUAGE)
    price = offer_price(page, OFFER, LANGUAGE)
    screenshot(page, "grace-2-offers")
    assert_accessible(page)
    page.get_by_role("button", name=say(LANGUAGE, "Continue"), exact=True).click()

    expect_language(page, LANGUAGE, "Confirm your renewal")
    expect(page.locator("#number-masked")).to_have_text(masked(number))
    expect(page.locator("#grace-note")).to_have_text(
        say(LANGUAGE, "Paying reactivates this card at once.")
    )
    new_validity = page.locator("#validity-after").inner_text().strip()
    assert new_validity
    screenshot(page, "grace-3-confirm")
    assert_accessible(page)
    choose_sandbox(page, LANGUAGE)
    page.get_by_role(
        "button", name=say(LANGUAGE, "Pay %(amount)s", amount=price), exact=True
    ).click()

    pay_on_sandbox(page)
    result_order_id(page)
    expect_outcome(page, "fulfilled")
    screenshot(page, "grace-4-done")

    # Active again, with the validity the confirmation gave, and no grace notice.
    page.get_by_role("link", name=say(LANGUAGE, "My cards"), exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/cards$"))
    card = card_item(page, spaced)
    expect(card).to_have_attribute("data-state", "active")
    expect(card.locator(".badge")).to_have_text(say(LANGUAGE, "In service"))
    expect(card.locator("[data-notice]")).to_have_count(0)
    expect(card.locator("[data-validity-end]")).to_have_text(new_validity)
    screenshot(page, "grace-5-active")
    assert_accessible(page)

    card.get_by_role("link", name=say(LANGUAGE, "Details"), exact=True).click()
    expect(page.locator(".badge[data-state]")).to_have_attribute("data-state", "active")
    expect(page.locator("#periods [data-period='running']")).to_have_count(1)
