"""Renewing one of my cards through the pages: offers, confirm, the sandbox's page,
the result; coupons, double submits, declines, grace and closed cards."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import ColumnElement, Table, func, select

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.domain.cards import Card, CardState
from simrenew.domain.orders import Channel, OrderState
from simrenew.services.lifecycle import sweep_lifecycle
from tests.integration.web.orders_http import checkout_path, session_of
from tests.integration.web.pages.pages_http import browser, log_in, submit
from tests.support import FixedClock, remember_card, renew

NUMBER = "+85251234567"  # demo ONE2 card, zh-Hant
OTHER = "+85261234567"  # another subscriber's card


def card_of(app: App, number: str = NUMBER) -> Card:
    with app.uow(write=False) as uow:
        card = uow.cards.find(number)
    assert card is not None
    return card


def signed_in(app: App, language: str = "en", number: str = NUMBER) -> TestClient:
    client = browser(app, language)
    log_in(client, app, number)
    return client


def form_key_of(page: Response) -> str:
    found = re.search(r'name="form_key" value="([^"]+)"', page.text)
    assert found, "no form key on the page"
    return found.group(1)


def outcome_of(page: Response) -> str:
    found = re.search(r'data-outcome="(\w+)"', page.text)
    assert found, page.text
    return found.group(1)


def choose(client: TestClient, card_id: str, offer: str, coupon: str = "") -> Response:
    """Steps one and two: the offers page, then its form sent with ``offer``."""
    offers = client.get(f"/cards/{card_id}/renew")
    assert offers.status_code == 200, offers.text
    return submit(
        client, offers, f"/cards/{card_id}/renew/confirm", offer_code=offer, coupon=coupon
    )


def press_pay(client: TestClient, confirm: Response, card_id: str) -> Response:
    """Send the confirm page's pay form as it is."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm.text))
    return client.post(f"/cards/{card_id}/renew/pay", data=fields)


def on_sandbox(client: TestClient, checkout_url: str, action: str = "pay") -> str:
    """Press a button on the sandbox's page; the path it sends the buyer back to."""
    page = client.get(checkout_path(checkout_url))
    assert page.status_code == 200, page.text
    back = client.post(
        urlsplit(checkout_url).path, data={"session": session_of(page.text), "action": action}
    )
    assert back.status_code == 303, back.text
    return urlsplit(back.headers["location"]).path


def result(client: TestClient, app: App, path: str) -> Response:
    page = client.get(path)
    if outcome_of(page) == "waiting":
        app.relay.drain()
        page = client.get(path)
    return page


def rows(app: App, table: Table, *where: ColumnElement[bool]) -> int:
    with app.engine.connect() as connection:
        query = select(func.count()).select_from(table).where(*where)
        return int(connection.scalar(query) or 0)


# --- the whole flow ----------------------------------------------------------------------


def test_renewing_through_the_pages_activates_the_card(app: App) -> None:
    client = signed_in(app)
    card = card_of(app)
    assert card.state is CardState.IN_STOCK

    offers = client.get(f"/cards/{card.id}/renew")
    assert offers.status_code == 200
    assert 'id="number-masked">+852****4567<' in offers.text
    assert NUMBER not in offers.text
    assert '<li aria-current="step">1 · Choose</li>' in offers.text
    assert "Monthly Plan" in offers.text and "Valid until 21 Dec 2026 after renewal" in offers.text
    assert 'id="coupon"' in offers.text and '<label for="coupon">' in offers.text

    confirm = submit(client, offers, f"/cards/{card.id}/renew/confirm", offer_code="ONE2-M1")
    assert confirm.status_code == 200
    assert '<li aria-current="step">2 · Confirm</li>' in confirm.text
    assert 'id="offer-name">Monthly Plan<' in confirm.text
    assert 'id="price">HK$88.00<' in confirm.text
    assert 'id="validity-after">21 Dec 2026<' in confirm.text
    assert f'href="/cards/{card.id}/renew" id="back"' in confirm.text

    paying = press_pay(client, confirm, card.id)
    assert paying.status_code == 303
    assert urlsplit(paying.headers["location"]).path.startswith("/sandbox/checkout/pay_")

    back = on_sandbox(client, paying.headers["location"])
    assert re.fullmatch(r"/orders/ord_\w+/result", back)
    done = result(client, app, back)
    assert outcome_of(done) == "fulfilled"
    assert "Valid until 21 Dec 2026." in done.text

    renewed = card_of(app)
    assert (renewed.state, renewed.validity_end) == (CardState.ACTIVE, date(2026, 12, 21))
    with app.uow(write=False) as uow:
        (placed,) = uow.orders.list_for_card(card.id)
    assert placed.channel is Channel.WEB
    assert placed.actor.startswith("subscriber:")


@pytest.mark.parametrize(
    ("language", "heading"),
    [("en", "Renew your card"), ("zh-Hant", "為你的電話卡續期"), ("zh-Hans", "为你的电话卡续期")],
)
def test_the_offers_page_speaks_the_visitors_language(
    app: App, language: str, heading: str
) -> None:
    client = signed_in(app, language)
    page = client.get(f"/cards/{card_of(app).id}/renew")
    assert page.status_code == 200
    assert f"<h1>{heading}</h1>" in page.text
    assert f'<html lang="{language}">' in page.text


# --- coupons -----------------------------------------------------------------------------


def test_a_coupon_lowers_the_price_on_the_confirm_page_and_at_the_provider(app: App) -> None:
    client = signed_in(app)
    card = card_of(app)
    confirm = choose(client, card.id, "ONE2-M1", coupon=" gba2026 ")
    assert confirm.status_code == 200
    assert 'id="price">HK$70.40 <del class="was">HK$88.00</del><' in confirm.text
    assert "20% Off Monthly Plans" in confirm.text
    assert '<input type="hidden" name="coupon" value="gba2026">' in confirm.text

    paying = press_pay(client, confirm, card.id)
    assert paying.status_code == 303
    checkout = client.get(checkout_path(paying.headers["location"]))
    assert 'id="amount">HK$70.40<' in checkout.text
    with app.uow(write=False) as uow:
        (placed,) = uow.orders.list_for_card(card.id)
    assert placed.price.amount_minor == 7040
    assert "GBA2026" in placed.promotions


@pytest.mark.parametrize(
    ("language", "coupon", "offer", "message", "status"),
    [
        ("zh-Hant", "NOPE", "ONE2-M1", "優惠碼 NOPE 不適用於此訂單。", 409),
        ("zh-Hans", "NOPE", "ONE2-M1", "优惠码 NOPE 不适用于此订单。", 409),
        ("en", "NOPE", "ONE2-M1", "Coupon code NOPE is not valid for this order.", 409),
        ("en", "GBA2026", "ONE2-D1", "Promotion GBA2026 does not apply", 409),
    ],
)
def test_a_bad_coupon_brings_back_the_offers_with_the_error_translated(
    app: App, language: str, coupon: str, offer: str, message: str, status: int
) -> None:
    client = signed_in(app, language)
    card = card_of(app)
    again = choose(client, card.id, offer, coupon=coupon)
    assert again.status_code == status
    error = re.search(
        r'<p class="notice error" role="alert" id="form-error">([^<]*)</p>', again.text
    )
    assert error and message in error.group(1)
    assert f'action="/cards/{card.id}/renew/confirm"' in again.text  # the offers, to try again
    assert f'name="coupon" value="{coupon}"' in again.text
    assert re.search(rf'value="{offer}"\s+checked', again.text)
    assert rows(app, tables.orders) == 0


# --- paying ------------------------------------------------------------------------------


def test_pressing_pay_twice_orders_once(app: App) -> None:
    client = signed_in(app)
    card = card_of(app)
    confirm = choose(client, card.id, "ONE2-D7")
    first = press_pay(client, confirm, card.id)
    second = press_pay(client, confirm, card.id)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert rows(app, tables.orders) == 1
    assert rows(app, tables.payments) == 1

    # A new visit to the confirm page is a new form: a second order is a choice.
    again = press_pay(client, choose(client, card.id, "ONE2-D7"), card.id)
    assert again.status_code == 303
    assert rows(app, tables.orders) == 2


def test_after_a_decline_try_again_pays_once(app: App) -> None:
    client = signed_in(app)
    card = card_of(app)
    paying = press_pay(client, choose(client, card.id, "ONE2-D7"), card.id)
    back = on_sandbox(client, paying.headers["location"], action="decline")

    declined = result(client, app, back)
    assert outcome_of(declined) == "declined"
    assert 'id="pay-again"' in declined.text
    order_id = back.split("/")[2]
    retry = submit(client, declined, f"/orders/{order_id}/pay", pay_with="sandbox")
    assert retry.status_code == 303
    assert retry.headers["location"] != paying.headers["location"]  # a new payment

    done = result(client, app, on_sandbox(client, retry.headers["location"]))
    assert outcome_of(done) == "fulfilled"
    assert rows(app, tables.payments, tables.payments.c.state == "succeeded") == 1
    assert rows(app, tables.payments, tables.payments.c.state == "failed") == 1
    assert rows(app, tables.fulfilments) == 1
    assert card_of(app).validity_end == date(2026, 11, 28)


# --- grace and closed cards --------------------------------------------------------------


def test_a_card_in_grace_is_renewed_through_the_pages_and_is_active_again(
    app: App, clock: FixedClock
) -> None:
    renew(app, NUMBER, "ONE2-D1")  # valid until 22 Nov 2026
    clock.set_local(2026, 11, 25, 10, 0)
    sweep_lifecycle(app.ctx)
    card = card_of(app)
    assert card.state is CardState.GRACE

    client = signed_in(app)
    offers = client.get(f"/cards/{card.id}/renew")
    assert offers.status_code == 200
    assert 'class="badge grace"' in offers.text
    assert 'id="grace-note"' in offers.text and "reactivates it at once" in offers.text
    # Add-ons need a running plan: shown, greyed out, with the reason.
    assert re.search(r'value="ONE2-ADD5G"\s+disabled', offers.text)
    assert "An add-on needs a running plan" in offers.text

    confirm = submit(client, offers, f"/cards/{card.id}/renew/confirm", offer_code="ONE2-D7")
    assert 'id="validity-after">1 Dec 2026<' in confirm.text  # 7 days from today
    assert "Paying reactivates this card at once." in confirm.text
    back = on_sandbox(client, press_pay(client, confirm, card.id).headers["location"])
    assert outcome_of(result(client, app, back)) == "fulfilled"

    renewed = card_of(app)
    assert (renewed.state, renewed.validity_end) == (CardState.ACTIVE, date(2026, 12, 1))


def test_a_closed_card_gets_an_explanation_instead_of_offers(app: App, clock: FixedClock) -> None:
    renew(app, NUMBER, "ONE2-D1")
    signed_in(app)  # binds the card while it lives
    clock.set_local(2027, 1, 5, 10, 0)  # past 30 days of grace
    sweep_lifecycle(app.ctx)
    card = card_of(app, "8985201260001000018")
    assert card.state is CardState.TERMINATED

    client = signed_in(app, "zh-Hant")
    page = client.get(f"/cards/{card.id}/renew")
    assert page.status_code == 200
    assert 'id="not-renewable"' in page.text
    assert 'href="/help/expired"' in page.text
    assert "renew/confirm" not in page.text  # no form to choose from

    tried = submit(client, page, f"/cards/{card.id}/renew/confirm", offer_code="ONE2-D7")
    assert tried.status_code == 409
    assert "不能再續期" in tried.text
    assert rows(app, tables.orders) == 1  # only the renewal of the test's set-up


# --- whose card --------------------------------------------------------------------------


def test_someone_elses_card_is_not_found(app: App) -> None:
    client = signed_in(app)
    theirs = card_of(app, OTHER)
    mine = client.get(f"/cards/{card_of(app).id}/renew")

    page = client.get(f"/cards/{theirs.id}/renew")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-code="card_not_found"' in page.text
    for step in ("confirm", "pay"):
        sent = submit(
            client,
            mine,
            f"/cards/{theirs.id}/renew/{step}",
            offer_code="ONE2-D7",
            form_key="web-0123456789abcdef",
        )
        assert sent.status_code == 404
        assert 'data-code="card_not_found"' in sent.text
    assert rows(app, tables.orders) == 0


def test_the_renewal_pages_need_a_session_and_a_csrf_token(app: App) -> None:
    card = card_of(app)
    visitor = browser(app)
    away = visitor.get(f"/cards/{card.id}/renew")
    assert away.status_code == 303
    assert away.headers["location"] == f"/login?next=/cards/{card.id}/renew"

    client = signed_in(app)
    forged = client.post(
        f"/cards/{card.id}/renew/pay",
        data={"offer_code": "ONE2-D7", "form_key": "web-0123456789abcdef"},
    )
    assert forged.status_code == 403
    assert rows(app, tables.orders) == 0


def test_the_result_page_shows_the_new_validity_after_the_relay(app: App) -> None:
    client = signed_in(app)
    card = card_of(app)
    paying = press_pay(client, choose(client, card.id, "ONE2-M3"), card.id)
    done = result(client, app, on_sandbox(client, paying.headers["location"]))
    assert outcome_of(done) == "fulfilled"
    assert "Valid until 21 Feb 2027." in done.text
    with app.uow(write=False) as uow:
        (placed,) = uow.orders.list_for_card(card.id)
    assert placed.state is OrderState.FULFILLED
    assert card_of(app).validity_end == date(2026, 11, 22) + timedelta(days=91)


# --- saved payment methods ------------------------------------------------------------------


def test_remember_this_method_then_renew_with_it_in_one_tap(app: App) -> None:
    client = signed_in(app)
    card = card_of(app)
    confirm = choose(client, card.id, "ONE2-M1")
    assert 'id="save-method"' in confirm.text
    assert "It can be remembered with: Test payment (sandbox)." in confirm.text
    assert 'id="pay-saved"' not in confirm.text  # nothing saved yet

    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm.text))
    paying = client.post(f"/cards/{card.id}/renew/pay", data={**fields, "save_method": "on"})
    assert paying.status_code == 303
    back = on_sandbox(client, paying.headers["location"])
    assert outcome_of(result(client, app, back)) == "fulfilled"
    app.relay.drain()  # the outbox keeps the method

    again = choose(client, card.id, "ONE2-M1")
    saved = re.search(r'name="method_id" value="(pm_\w+)" checked> SANDBOX •••• 4242', again.text)
    assert saved, again.text
    paid = submit(
        client,
        again,
        f"/cards/{card.id}/renew/saved",
        offer_code="ONE2-M1",
        form_key=form_key_of(again),
        method_id=saved.group(1),
    )
    assert paid.status_code == 303
    assert outcome_of(result(client, app, paid.headers["location"])) == "fulfilled"
    assert rows(app, tables.sandbox_charges) == 2
    assert card_of(app).validity_end == date(2027, 1, 21)  # two 30-day periods


def test_someone_elses_saved_method_is_refused_on_the_page(app: App) -> None:
    owner = signed_in(app, number=OTHER)
    with app.uow(write=False) as uow:
        (account,) = [uow.accounts.subscriber_by_phone(OTHER)]
    assert account is not None
    method = remember_card(app, account.id, OTHER, "ONE2-M1")
    del owner
    client = signed_in(app)
    card = card_of(app)
    confirm = choose(client, card.id, "ONE2-M1")
    refused = submit(
        client,
        confirm,
        f"/cards/{card.id}/renew/saved",
        offer_code="ONE2-M1",
        form_key=form_key_of(confirm),
        method_id=method.id,
    )
    assert refused.status_code == 404
    assert rows(app, tables.orders) == 1  # the owner's own renewal only
