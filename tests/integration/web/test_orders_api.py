"""Orders by id: status and receipt (no balance), paying, cancelling."""

from __future__ import annotations

from simrenew.bootstrap import App
from tests.integration.web.orders_http import client, new_key, pay_on_page, quick_order

MISSING = "ord_" + "0" * 36


def test_status_before_and_after_payment_with_the_receipt_in_the_callers_language(
    app: App,
) -> None:
    http = client(app)
    placed = quick_order(http).json()
    before = http.get(f"/api/v1/orders/{placed['order_id']}").json()
    assert before["state"] == "awaiting_payment"
    assert before["payment"]["state"] == "pending"
    assert before["receipt"] is None

    pay_on_page(http, placed["checkout_url"])
    english = http.get(
        f"/api/v1/orders/{placed['order_id']}", headers={"Accept-Language": "en"}
    ).json()
    chinese = http.get(f"/api/v1/orders/{placed['order_id']}").json()
    assert english["state"] == "fulfilled"
    receipt = english["receipt"]
    assert receipt["price"] == placed["price"]
    assert receipt["promotions"] == placed["promotions"]
    assert receipt["paid_at"] is not None
    assert receipt["receipt_number"] == f"R2026-{placed['order_id'][-12:].upper()}"
    assert receipt["validity_end"] > english["created_at"][:10]
    assert english["offer_name"] != chinese["offer_name"]
    assert english["receipt"]["offer_name"] == english["offer_name"]
    assert "balance" not in str(english)


def test_unknown_and_malformed_order_ids(app: App) -> None:
    http = client(app)
    missing = http.get(f"/api/v1/orders/{MISSING}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "order_not_found"
    assert missing.headers["content-type"] == "application/problem+json"
    assert http.get("/api/v1/orders/42").status_code == 422
    paying = http.post(
        f"/api/v1/orders/{MISSING}/payments",
        json={"pay_with": "sandbox"},
        headers={"Idempotency-Key": new_key()},
    )
    assert paying.status_code == 404


def test_starting_a_payment_twice_returns_the_pending_one(app: App) -> None:
    http = client(app)
    placed = quick_order(http).json()
    path = f"/api/v1/orders/{placed['order_id']}/payments"
    first = http.post(path, json={}, headers={"Idempotency-Key": new_key()})
    second = http.post(path, json={}, headers={"Idempotency-Key": new_key()})
    assert first.status_code == second.status_code == 201
    assert first.json()["payment_id"] == second.json()["payment_id"] == placed["payment_id"]
    unknown = http.post(
        path, json={"pay_with": "nosuchpay"}, headers={"Idempotency-Key": new_key()}
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "provider_not_found"


def test_cancel_then_pay_is_refused_and_cancel_replays(app: App) -> None:
    http = client(app)
    placed = quick_order(http).json()
    key = new_key()
    cancel = f"/api/v1/orders/{placed['order_id']}/cancel"
    first = http.post(cancel, headers={"Idempotency-Key": key})
    assert first.status_code == 200
    assert first.json()["state"] == "cancelled"
    assert http.post(cancel, headers={"Idempotency-Key": key}).content == first.content
    assert http.post(cancel, headers={"Idempotency-Key": new_key()}).json()["state"] == (
        "cancelled"
    )

    paying = http.post(
        f"/api/v1/orders/{placed['order_id']}/payments",
        json={"pay_with": "sandbox"},
        headers={"Idempotency-Key": new_key(), "Accept-Language": "en"},
    )
    assert paying.status_code == 409
    assert paying.json()["code"] == "order_not_payable"
    assert "cannot be paid" in paying.json()["detail"]


def test_a_fulfilled_order_cannot_be_cancelled(app: App) -> None:
    http = client(app)
    placed = quick_order(http).json()
    pay_on_page(http, placed["checkout_url"])
    response = http.post(
        f"/api/v1/orders/{placed['order_id']}/cancel",
        headers={"Idempotency-Key": new_key(), "Accept-Language": "zh-Hans"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert response.headers["content-language"] == "zh-Hans"
