"""Quick top-up through the pages, without logging in: anyone may pay for a number,
and sees no more of that card than its masked number and the plans that fit it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.flows import (
    choose_offer,
    choose_sandbox,
    expect_language,
    expect_outcome,
    forgive_error_status,
    masked,
    offer_name,
    offer_price,
    pay_on_sandbox,
    result_order_id,
    say,
)
from tests.browser.support import (
    DEMO_ACTIVE,
    LiveServer,
    PageProblems,
    assert_accessible,
    screenshot,
)

OFFER = "ONE2-D7"
EN = "en"


def test_quick_topup_of_someone_elses_number(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/?lang={EN}")
    expect_language(page, EN, "Top up a card")
    expect(page.get_by_role("link", name=say(EN, "Log in"), exact=True).first).to_be_visible()
    screenshot(page, "quick-topup-1-home")
    assert_accessible(page)

    # Typed as people write it: spaces, no country code.
    page.get_by_label(say(EN, "Mobile number"), exact=True).fill("9123 4567")
    page.get_by_role("button", name=say(EN, "Show plans"), exact=True).click()

    # The plans, with the masked number only: no balance, validity or state.
    expect_language(page, EN, "Choose a plan")
    expect(page.locator("#number-masked")).to_have_text(masked(DEMO_ACTIVE))
    main = page.get_by_role("main")
    for hidden in ("Balance", "Valid until", "Days left", "State", "In service", "Data left"):
        expect(main.get_by_text(say(EN, hidden), exact=True)).to_have_count(0)
    expect(main.locator("[data-validity-end], [data-days-left], .badge, meter")).to_have_count(0)
    expect(main).not_to_contain_text("9123 4567")
    expect(main).not_to_contain_text("91234567")
    plans = page.get_by_role("group", name=say(EN, "Plans for this card"), exact=True)
    expect(plans.get_by_role("radio")).not_to_have_count(0)
    choose_offer(page, OFFER, EN)
    price = offer_price(page, OFFER, EN)
    screenshot(page, "quick-topup-2-offers")
    assert_accessible(page)
    page.get_by_role("button", name=say(EN, "Continue"), exact=True).click()

    # Confirm: masked number, plan and price; still nothing about the card itself.
    expect_language(page, EN, "Confirm and pay")
    expect(page.locator("#number-masked")).to_have_text(masked(DEMO_ACTIVE))
    expect(page.locator("#offer-name")).to_have_text(offer_name(OFFER, EN))
    expect(page.locator("#price")).to_have_text(price)
    expect(main.get_by_text(re.compile(say(EN, "Valid until")))).to_have_count(0)
    screenshot(page, "quick-topup-3-confirm")
    assert_accessible(page)
    choose_sandbox(page, EN)
    page.get_by_role("button", name=say(EN, "Pay %(amount)s", amount=price), exact=True).click()

    pay_on_sandbox(page)

    result_order_id(page)
    expect_outcome(page, "fulfilled")
    expect_language(page, EN, "Your order")
    expect(page.locator("#outcome")).to_contain_text(masked(DEMO_ACTIVE))
    # Not the owner: no receipt download, a way to top up another card instead.
    expect(page.get_by_role("link", name=re.compile("receipt", re.I))).to_have_count(0)
    expect(
        page.get_by_role("link", name=say(EN, "Top up another card"), exact=True)
    ).to_be_visible()
    screenshot(page, "quick-topup-4-done")
    assert_accessible(page)


def test_a_number_without_a_card_is_refused_on_the_form(
    live_server: LiveServer, page: Page, page_problems: PageProblems
) -> None:
    page.goto(f"{live_server.url}/?lang={EN}")
    number = page.get_by_label(say(EN, "Mobile number"), exact=True)
    number.fill("5999 0000")
    page.get_by_role("button", name=say(EN, "Show plans"), exact=True).click()
    expect_language(page, EN, "Top up a card")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(number).to_have_value("5999 0000")  # kept, to be corrected
    screenshot(page, "quick-topup-unknown-number")
    assert_accessible(page)
    # The form comes back with the error's status (404: no such card), which Chromium
    # logs as a failed load of the page itself: expected here, and only that.
    forgive_error_status(page_problems, 404, "/quick")
