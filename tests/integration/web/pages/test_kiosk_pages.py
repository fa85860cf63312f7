"""Kiosk mode through the pages: the number pad without JavaScript, plans, confirm,
then paying by scanning the QR code or by card here, the done screen with its
receipt; orders recorded with the kiosk channel; nothing of the card shown before
payment; every screen goes back to the start by itself."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import segno
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.services.payments import start_payment
from simrenew.web.i18n import Formatter
from tests.integration.web.orders_http import NUMBER, OFFER, count, pay_on_page
from tests.integration.web.pages.pages_http import browser, log_in, submit
from tests.support import FixedClock, renew

CARD_FACTS = ("balance", "Balance", "days left", "Valid until", "餘額", "有效期至")
KIOSK_JS = '<script src="/static/kiosk.js" defer></script>'
FOLLOW = '<noscript><meta http-equiv="refresh" content="2"></noscript>'
IDLE_RESET = '<noscript><meta http-equiv="refresh" content="120;url=/kiosk"></noscript>'


def _digits(page: Response) -> str:
    found = re.search(r'id="digits" name="digits" value="([^"]*)"', page.text)
    assert found, page.text
    return found.group(1)


def _field(page: Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, f"no {name} in the page"
    return found.group(1)


def _press(client: TestClient, page: Response, *keys: str) -> Response:
    for key in keys:
        page = submit(client, page, "/kiosk/keypad", digits=_digits(page), key=key)
        assert page.status_code == 200, page.text
    return page


def _to_confirm(client: TestClient, number: str = "51234567", offer: str = OFFER) -> Response:
    start = client.get("/kiosk")
    offers = submit(client, start, "/kiosk/keypad", digits=number, key="next")
    assert offers.status_code == 200, offers.text
    confirm = submit(
        client,
        offers,
        "/kiosk/confirm",
        number=_field(offers, "number"),
        form_key=_field(offers, "form_key"),
        offer_code=offer,
    )
    assert confirm.status_code == 200, confirm.text
    return confirm


def _pay(client: TestClient, confirm: Response, method: str) -> Response:
    return submit(
        client,
        confirm,
        "/kiosk/pay",
        number=_field(confirm, "number"),
        offer_code=_field(confirm, "offer_code"),
        form_key=_field(confirm, "form_key"),
        coupon="",
        pay_with="sandbox",
        method=method,
    )


def _order_id(location: str) -> str:
    found = re.search(r"/kiosk/orders/([^/?]+)", location)
    assert found, location
    return found.group(1)


def _qr_path(svg: str) -> str:
    found = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg)
    assert found, svg
    return found.group(1)


def _kiosk_orders(app: App) -> list[tuple[str, str]]:
    with app.engine.connect() as connection:
        rows = connection.execute(select(tables.orders.c.channel, tables.orders.c.actor))
        return [(row.channel, row.actor) for row in rows]


def test_the_number_pad_builds_the_number_without_javascript(app: App) -> None:
    client = browser(app)
    start = client.get("/kiosk")
    assert start.status_code == 200
    assert _digits(start) == ""
    typed = _press(client, start, "5", "1", "2", "3", "9")
    assert _digits(typed) == "51239"
    assert _digits(_press(client, typed, "back")) == "5123"
    assert _digits(_press(client, typed, "clear")) == ""
    # A hardware keyboard can type anything: only a number's characters are kept.
    mixed = submit(client, start, "/kiosk/keypad", digits="+852 5123-45x", key="6")
    assert _digits(mixed) == "+852512345" + "6"
    # The field does not grow past the longest number.
    full = submit(client, start, "/kiosk/keypad", digits="1" * 16, key="2")
    assert _digits(full) == "1" * 16
    # Every digit, delete and clear are keys of the pad; Next (also Enter) looks it up.
    for key in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "back"):
        assert f'name="key" value="{key}"' in start.text
    assert start.text.index('value="next"') < start.text.index('value="1"')
    offers = submit(client, _press(client, start, *"51234567"), "/kiosk/keypad", digits="51234567")
    assert offers.status_code == 200, offers.text
    assert 'id="number-masked">+852****4567<' in offers.text
    assert f'name="offer_code" value="{OFFER}"' in offers.text


def test_an_unknown_or_empty_number_stays_on_the_pad_with_a_message(app: App) -> None:
    client = browser(app)
    start = client.get("/kiosk")
    empty = submit(client, start, "/kiosk/keypad", digits="", key="next")
    assert empty.status_code == 422
    assert 'role="alert"' in empty.text
    unknown = submit(client, start, "/kiosk/keypad", digits="12345", key="next")
    assert unknown.status_code == 404
    assert 'role="alert"' in unknown.text
    assert _digits(unknown) == "12345"
    assert "kiosk" in unknown.text and KIOSK_JS in unknown.text


def test_paying_by_qr_code_ends_on_the_done_screen_with_a_receipt(app: App) -> None:
    client = browser(app)
    confirm = _to_confirm(client)
    assert 'id="number-masked">+852****4567<' in confirm.text
    assert "Scan to pay with your phone" in confirm.text
    assert "Pay by card here" in confirm.text

    paid = _pay(client, confirm, "qr")
    assert paid.status_code == 303, paid.text
    order_id = _order_id(paid.headers["location"])
    assert paid.headers["location"] == f"/kiosk/orders/{order_id}"

    waiting = client.get(paid.headers["location"])
    assert waiting.status_code == 200, waiting.text
    assert FOLLOW in waiting.text
    assert 'data-kiosk-follow="2"' in waiting.text  # kiosk.js reloads it
    assert IDLE_RESET not in waiting.text  # it follows the order instead
    assert 'id="price">HK$' in waiting.text
    svg = re.search(r'<div class="qr"><svg .*?</svg>', waiting.text, re.S)
    assert svg, waiting.text
    assert "style=" not in svg.group(0)
    # The code is the provider's checkout of this payment: asking again for the
    # pending payment gives the same checkout, whose QR code must be the one shown.
    checkout_url = start_payment(
        app.ctx,
        order_id,
        "sandbox",
        actor="test",
        return_url=app.settings.public_url.rstrip("/") + "/orders/{order_id}/result",
    ).checkout_url
    assert checkout_url and "/sandbox/checkout/" in checkout_url
    expected = segno.make(checkout_url, error="m").svg_inline(omitsize=True)
    assert _qr_path(svg.group(0)) == _qr_path(expected)

    early = client.get(f"/kiosk/orders/{order_id}/done")
    assert 'data-outcome="waiting"' in early.text and FOLLOW in early.text

    # The payer pays on the phone, which the provider sends to the site's result page.
    back = pay_on_page(client, checkout_url)
    assert urlsplit(str(back.url)).path == f"/orders/{order_id}/result", back.url

    moved = client.get(f"/kiosk/orders/{order_id}")
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/kiosk/orders/{order_id}/done"
    done = client.get(moved.headers["location"])
    assert done.status_code == 200
    assert 'data-outcome="fulfilled"' in done.text
    assert f'id="receipt-number">R2026-{order_id[-12:].upper()}<' in done.text
    assert 'id="number-masked">+852****4567<' in done.text
    assert 'id="validity-end">' in done.text
    assert app.settings.official_domain in done.text.split('id="receipt"')[1]
    assert re.search(
        r'<button type="button" id="print" data-kiosk-print[^>]*>Print receipt<', done.text
    )
    assert KIOSK_JS in done.text
    assert IDLE_RESET in done.text

    assert _kiosk_orders(app) == [("kiosk", "kiosk:web")]
    assert count(app, tables.fulfilments) == 1


def test_paying_by_card_here_comes_back_to_the_kiosk(app: App) -> None:
    client = browser(app)
    paid = _pay(client, _to_confirm(client), "card")
    assert paid.status_code == 303, paid.text
    checkout_url = paid.headers["location"]
    assert "/sandbox/checkout/" in checkout_url

    back = pay_on_page(client, checkout_url)
    path = urlsplit(str(back.url)).path
    assert re.fullmatch(r"/kiosk/orders/[^/]+/done", path), back.url
    assert back.status_code == 200
    assert 'data-outcome="fulfilled"' in back.text
    assert "Print receipt" in back.text
    assert _kiosk_orders(app) == [("kiosk", "kiosk:web")]


def test_after_a_decline_the_kiosk_offers_both_ways_to_pay_again(app: App) -> None:
    client = browser(app)
    paid = _pay(client, _to_confirm(client), "card")
    back = pay_on_page(client, paid.headers["location"], action="decline")
    # Back on the kiosk's own address (the sandbox redirects to the public URL).
    declined = client.get(urlsplit(str(back.url)).path)
    assert 'data-outcome="declined"' in declined.text
    assert 'id="pay-qr"' in declined.text and 'id="pay-card"' in declined.text
    assert 'href="/kiosk"' in declined.text
    order_id = _order_id(str(declined.url))

    again = submit(
        client, declined, f"/kiosk/orders/{order_id}/pay", pay_with="sandbox", method="qr"
    )
    assert again.status_code == 303, again.text
    assert again.headers["location"] == f"/kiosk/orders/{order_id}"
    waiting = client.get(again.headers["location"])
    assert '<div class="qr"><svg ' in waiting.text

    by_card = submit(
        client, declined, f"/kiosk/orders/{order_id}/pay", pay_with="sandbox", method="card"
    )
    assert by_card.status_code == 303
    done = pay_on_page(client, by_card.headers["location"])
    assert 'data-outcome="fulfilled"' in done.text
    assert count(app, tables.orders) == 1
    assert count(app, tables.fulfilments) == 1


def test_pressing_pay_twice_orders_once(app: App) -> None:
    client = browser(app)
    confirm = _to_confirm(client)
    first = _pay(client, confirm, "qr")
    second = _pay(client, confirm, "qr")
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert count(app, tables.orders) == 1


def test_the_kiosk_never_shows_the_cards_balance_or_validity_before_payment(app: App) -> None:
    renew(app, NUMBER, "ONE2-M1")
    renew(app, NUMBER, "ONE2-CR50")
    with app.uow(write=False) as uow:
        card = uow.cards.find(NUMBER)
    assert card is not None and card.validity_end is not None and card.balance_minor
    for language in ("en", "zh-Hant"):
        fmt = Formatter(language, app.ctx.clock.tz)
        validity = (fmt.date(card.validity_end), card.validity_end.isoformat())
        client = browser(app, language)
        confirm = _to_confirm(client)
        offers = submit(client, client.get("/kiosk"), "/kiosk/keypad", digits=NUMBER, key="next")
        waiting = client.get(_pay(client, confirm, "qr").headers["location"])
        for page in (offers, confirm, waiting):
            assert page.status_code == 200
            for fact in (*CARD_FACTS, *validity):
                assert fact not in page.text, (language, fact)


def test_every_kiosk_screen_is_kiosk_mode_without_the_account_menu(app: App) -> None:
    client = browser(app)
    log_in(client, app, NUMBER)  # a session left in the kiosk's browser is ignored
    start = client.get("/kiosk")
    offers = submit(client, start, "/kiosk/keypad", digits="51234567", key="next")
    confirm = _to_confirm(client)
    for page in (start, offers, confirm):
        assert '<body class="kiosk">' in page.text
        assert KIOSK_JS in page.text
        assert IDLE_RESET in page.text
        assert 'class="menu"' not in page.text
        assert "/logout" not in page.text
        assert 'class="langs"' in page.text
        # Switching language on a screen reached by a form restarts the kiosk.
        assert 'href="/kiosk?lang=zh-Hant"' in page.text
        assert "<script>" not in page.text and " style=" not in page.text
    assert client.get("/static/kiosk.js").status_code == 200


def test_the_number_is_never_kept_in_a_cookie(app: App) -> None:
    client = browser(app)
    paid = _pay(client, _to_confirm(client), "qr")
    client.get(paid.headers["location"])
    for value in client.cookies.values():
        assert "1234567" not in value
    again = client.get("/kiosk")
    assert _digits(again) == ""
    assert "****4567" not in again.text


def test_the_qr_screen_stops_following_the_order_after_a_while(app: App, clock: FixedClock) -> None:
    client = browser(app)
    paid = _pay(client, _to_confirm(client), "qr")
    clock.advance(timedelta(minutes=6))
    stale = client.get(paid.headers["location"])
    assert stale.status_code == 200
    assert 'data-outcome="stale"' in stale.text
    assert 'content="2"' not in stale.text
    assert "data-kiosk-follow" not in stale.text
    assert IDLE_RESET in stale.text
    assert '<div class="qr">' not in stale.text


def test_an_unknown_order_is_a_kiosk_error_page(app: App) -> None:
    client = browser(app)
    for path in ("/kiosk/orders/ord_nope", "/kiosk/orders/ord_nope/done"):
        missing = client.get(path)
        assert missing.status_code == 404
        assert '<body class="kiosk">' in missing.text
        assert 'href="/kiosk"' in missing.text


def test_kiosk_pages_speak_the_visitors_language(app: App) -> None:
    client = browser(app, "zh-Hans")
    confirm = _to_confirm(client)
    assert "用手机扫码付款" in confirm.text
    assert "在此用银行卡付款" in confirm.text
    start = browser(app, "zh-Hant").get("/kiosk")
    assert "下一步" in start.text and "數字鍵盤" in start.text


def test_a_wrong_coupon_keeps_the_plan_and_says_why(app: App) -> None:
    client = browser(app)
    confirm = _to_confirm(client)
    fields = {k: _field(confirm, k) for k in ("number", "offer_code", "form_key")}
    wrong = submit(client, confirm, "/kiosk/confirm", coupon="NOPE", **fields)
    assert wrong.status_code == 409
    assert 'role="alert"' in wrong.text
    assert 'id="pay-qr"' in wrong.text
    assert 'name="coupon" value=""' in wrong.text
