"""Paying with a prepaid voucher's PIN from the confirm pages."""

from __future__ import annotations

import re
from datetime import date

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.domain.money import Money
from simrenew.services.vouchers import generate_vouchers
from tests.integration.web.orders_http import NUMBER, OFFER, count
from tests.integration.web.pages.pages_http import browser, log_in, submit


def _pin(app: App, value: str = "100") -> str:
    made = generate_vouchers(
        app.ctx,
        count=1,
        expires_on=date(2027, 12, 31),
        actor="test",
        value=Money.parse(value, "HKD"),
    )
    return made.vouchers[0].pin


def _confirm(client, number: str = NUMBER):  # type: ignore[no-untyped-def]
    offers = submit(client, client.get("/"), "/quick", number=number)
    form_key = re.search(r'name="form_key" value="([^"]+)"', offers.text)
    assert form_key
    confirm = submit(
        client, offers, "/quick/confirm", number=number, offer_code=OFFER, form_key=form_key[1]
    )
    return confirm, form_key[1]


def test_a_quick_top_up_paid_with_a_voucher_is_fulfilled_at_once(app: App) -> None:
    pin = _pin(app)
    client = browser(app)
    confirm, form_key = _confirm(client)
    assert 'action="/quick/voucher"' in confirm.text
    fields = {"number": NUMBER, "offer_code": OFFER, "form_key": form_key}

    wrong = submit(client, confirm, "/quick/voucher", pin="0000 0000 0000 0000", **fields)
    assert wrong.status_code == 400
    assert "The voucher PIN is wrong." in wrong.text
    assert '<details class="voucher" open>' in wrong.text

    paid = submit(client, confirm, "/quick/voucher", pin=pin, **fields)
    assert paid.status_code == 303
    app.relay.drain()
    assert 'data-outcome="fulfilled"' in client.get(paid.headers["location"]).text
    assert count(app, tables.orders) == 1  # the wrong try and the right one: one order
    assert count(app, tables.fulfilments) == 1

    again = submit(client, confirm, "/quick/voucher", pin=pin, **fields)
    assert again.status_code == 409  # the order is paid: the voucher is not taken twice


def test_a_voucher_too_small_is_explained_in_chinese(app: App) -> None:
    pin = _pin(app, "10")
    client = browser(app, "zh-Hant")
    confirm, form_key = _confirm(client)
    refused = submit(
        client,
        confirm,
        "/quick/voucher",
        number=NUMBER,
        offer_code=OFFER,
        form_key=form_key,
        pin=pin,
    )
    assert refused.status_code == 409
    assert "此禮券面值" in refused.text


def test_renewing_my_card_with_a_voucher(app: App) -> None:
    pin = _pin(app)
    client = browser(app)
    log_in(client, app, NUMBER)
    cards = client.get("/cards").text
    card_id = re.search(r'href="/cards/(card_[0-9a-f]+)/renew"', cards)
    assert card_id
    offers = client.get(f"/cards/{card_id[1]}/renew")
    confirm = submit(client, offers, f"/cards/{card_id[1]}/renew/confirm", offer_code=OFFER)
    form_key = re.search(r'name="form_key" value="([^"]+)"', confirm.text)
    assert form_key
    paid = submit(
        client,
        confirm,
        f"/cards/{card_id[1]}/renew/voucher",
        offer_code=OFFER,
        form_key=form_key[1],
        pin=pin,
    )
    assert paid.status_code == 303, paid.text
    assert count(app, tables.fulfilments) == 1
