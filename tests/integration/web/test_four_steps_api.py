"""The whole four-step renewal over HTTP, as the official app drives it: log in with
the code from the dev inbox, check, choose, pay on the sandbox page, confirm."""

from __future__ import annotations

from datetime import date

from simrenew.bootstrap import App
from tests.integration.web.orders_http import new_key, pay_on_page
from tests.integration.web.test_account_api import bearer, client_for, log_in

CARD = "+85291234567"  # ONE2, English-speaking owner


def test_check_choose_pay_confirm_over_http(app: App) -> None:
    http = client_for(app)
    token = log_in(http, app, CARD)
    auth = bearer(token)

    # 1. check
    (card,) = http.get("/api/v1/me/cards", headers=auth).json()
    before = http.get(f"/api/v1/me/cards/{card['id']}", headers=auth).json()
    assert before["state"] == "in_stock"

    # 2. choose
    offers = http.get(
        f"/api/v1/me/cards/{card['id']}/offers", headers={**auth, "Accept-Language": "en"}
    ).json()["offers"]
    monthly = next(o for o in offers if o["code"] == "ONE2-M1")
    assert monthly["available"] and monthly["validity_end_after"] == "2026-12-21"
    quoted = http.post(
        f"/api/v1/me/cards/{card['id']}/quote",
        json={"offer_code": "ONE2-M1", "coupon": "GBA2026"},
        headers=auth,
    ).json()
    assert quoted["price"]["amount_minor"] < quoted["list_price"]["amount_minor"]

    # 3. pay
    key = new_key()
    body = {"card_id": card["id"], "offer_code": "ONE2-M1", "coupon": "GBA2026"}
    placed = http.post("/api/v1/me/orders", json=body, headers={**auth, "Idempotency-Key": key})
    assert placed.status_code == 201, placed.text
    assert placed.json()["price"] == quoted["price"]
    replay = http.post("/api/v1/me/orders", json=body, headers={**auth, "Idempotency-Key": key})
    assert replay.content == placed.content
    result = pay_on_page(http, placed.json()["checkout_url"])
    assert result.status_code == 200

    # 4. confirm
    order = http.get(f"/api/v1/orders/{placed.json()['order_id']}").json()
    assert order["state"] == "fulfilled"
    after = http.get(f"/api/v1/me/cards/{card['id']}", headers=auth).json()
    assert after["state"] == "active"
    assert date.fromisoformat(after["validity_end"]) == date(2026, 12, 21)
    app.relay.drain()
    confirmation = app.inbox.list(recipient=CARD, limit=1)[0]
    assert placed.json()["order_id"] in confirmation.body
    assert "2026-12-21" in confirmation.body


def test_someone_elses_card_cannot_be_ordered_for(app: App) -> None:
    http = client_for(app)
    mine = bearer(log_in(http, app, "+85251234567"))
    theirs_token = log_in(http, app, CARD)
    (their_card,) = http.get("/api/v1/me/cards", headers=bearer(theirs_token)).json()
    refused = http.post(
        "/api/v1/me/orders",
        json={"card_id": their_card["id"], "offer_code": "ONE2-M1"},
        headers={**mine, "Idempotency-Key": new_key()},
    )
    assert refused.status_code == 404
    assert refused.json()["code"] == "card_not_found"
    offers = http.get(f"/api/v1/me/cards/{their_card['id']}/offers", headers=mine)
    assert offers.status_code == 404
