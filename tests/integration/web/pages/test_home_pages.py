"""Quick top-up through the pages: number → offers → confirm → the sandbox's page →
the result page, in the visitor's language; and what every page carries."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from simrenew.bootstrap import App
from simrenew.db import tables
from tests.integration.web.orders_http import NUMBER, OFFER, count, pay_on_page
from tests.integration.web.pages.pages_http import browser, csrf_of, submit

CARD_FACTS = ("balance", "Balance", "days left", "Valid until", "餘額", "有效期至")


def _to_checkout(client, number: str = "5123 4567", coupon: str = "") -> str:  # type: ignore[no-untyped-def]
    home = client.get("/")
    offers = submit(client, home, "/quick", number=number)
    assert offers.status_code == 200, offers.text
    form_key = offers.text.split('name="form_key" value="')[1].split('"')[0]
    confirm = submit(
        client,
        offers,
        "/quick/confirm",
        number=number,
        offer_code=OFFER,
        form_key=form_key,
        coupon=coupon,
    )
    assert confirm.status_code == 200, confirm.text
    paid = submit(
        client,
        confirm,
        "/quick/pay",
        number=number,
        offer_code=OFFER,
        form_key=form_key,
        pay_with="sandbox",
        coupon=coupon,
    )
    assert paid.status_code == 303, paid.text
    return paid.headers["location"]


def test_quick_top_up_through_the_pages_ends_fulfilled(app: App) -> None:
    client = browser(app)
    checkout_url = _to_checkout(client)
    assert "/sandbox/checkout/" in checkout_url

    back = pay_on_page(client, checkout_url)
    # The sandbox sends the buyer back to our result page, as a hosted checkout does.
    assert urlsplit(str(back.url)).path.endswith("/result"), back.url
    app.relay.drain()
    result = client.get(urlsplit(str(back.url)).path)
    assert 'data-outcome="fulfilled"' in result.text
    assert "+852****4567" in result.text
    assert count(app, tables.fulfilments) == 1


def test_the_quick_pages_never_show_the_cards_balance_or_validity(app: App) -> None:
    client = browser(app)
    home = client.get("/")
    offers = submit(client, home, "/quick", number="51234567")
    assert "+852****4567" in offers.text
    for fact in CARD_FACTS:
        assert fact not in offers.text


def test_pressing_pay_twice_orders_once(app: App) -> None:
    client = browser(app)
    home = client.get("/")
    offers = submit(client, home, "/quick", number=NUMBER)
    form_key = offers.text.split('name="form_key" value="')[1].split('"')[0]
    fields = {"number": NUMBER, "offer_code": OFFER, "form_key": form_key, "pay_with": "sandbox"}
    first = submit(client, offers, "/quick/pay", **fields)
    second = submit(client, offers, "/quick/pay", **fields)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert count(app, tables.orders) == 1


def test_a_declined_payment_can_be_paid_again_from_the_result_page(app: App) -> None:
    client = browser(app)
    declined = pay_on_page(client, _to_checkout(client), action="decline")
    result_path = urlsplit(str(declined.url)).path
    result = client.get(result_path)
    assert 'data-outcome="declined"' in result.text

    again = submit(client, result, result_path.replace("/result", "/pay"), pay_with="sandbox")
    assert again.status_code == 303
    pay_on_page(client, again.headers["location"])
    app.relay.drain()
    assert 'data-outcome="fulfilled"' in client.get(result_path).text
    with app.engine.connect() as connection:
        states = sorted(connection.execute(tables.payments.select()).mappings().all(), key=str)
    assert sorted(row["state"] for row in states) == ["failed", "succeeded"]


def test_an_unknown_number_is_explained_on_the_form(app: App) -> None:
    client = browser(app, "zh-Hant")
    home = client.get("/")
    answer = submit(client, home, "/quick", number="59999999")
    assert answer.status_code == 404
    assert 'role="alert"' in answer.text
    assert "找不到" in answer.text


def test_a_form_without_its_csrf_token_is_refused(app: App) -> None:
    client = browser(app)
    client.get("/")
    forged = client.post("/quick", data={"number": NUMBER, "csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert "This form has expired" in forged.text
    assert count(app, tables.orders) == 0


def test_a_token_from_another_visitor_is_refused(app: App) -> None:
    mine, theirs = browser(app), browser(app)
    token = csrf_of(theirs.get("/"))
    mine.get("/")
    assert mine.post("/quick", data={"number": NUMBER, "csrf_token": token}).status_code == 403


@pytest.mark.parametrize(
    ("language", "heading"),
    [("zh-Hant", "為電話卡增值"), ("zh-Hans", "为电话卡充值"), ("en", "Top up a card")],
)
def test_the_home_page_speaks_the_browsers_language(app: App, language: str, heading: str) -> None:
    page = browser(app, language).get("/")
    assert f"<h1>{heading}</h1>" in page.text
    assert f'<html lang="{language}">' in page.text


def test_the_chosen_language_is_remembered(app: App) -> None:
    client = browser(app, "en")
    chosen = client.get("/?lang=zh-Hans")
    assert "为电话卡充值" in chosen.text
    assert "为电话卡充值" in client.get("/").text  # the cookie, over Accept-Language
    assert "為電話卡增值" in client.get("/?lang=zh-Hant").text


def test_every_page_shows_the_official_domain_and_a_strict_policy(app: App) -> None:
    page = browser(app).get("/")
    assert app.settings.official_domain in page.text
    policy = page.headers["content-security-policy"]
    assert "unsafe-inline" not in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_page_errors_are_pages_and_api_errors_stay_problems(app: App) -> None:
    client = browser(app, "en")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    api = client.get("/api/v1/orders/ord_nope")
    assert api.headers["content-type"].startswith("application/problem+json")
