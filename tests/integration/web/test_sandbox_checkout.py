"""The sandbox's hosted page: shows the amount, pays or declines once, and refuses
forged sessions."""

from __future__ import annotations

from urllib.parse import urlsplit

from simrenew.bootstrap import App
from simrenew.db import tables
from tests.integration.web.orders_http import (
    checkout_path,
    client,
    count,
    pay_on_page,
    quick_order,
    session_of,
)


def test_the_page_shows_the_payment_and_carries_its_session_in_a_form(app: App) -> None:
    http = client(app)
    placed = quick_order(http).json()
    page = http.get(checkout_path(placed["checkout_url"]))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert placed["price"]["display"].replace("$", "") in page.text.replace("$", "")
    assert f'id="reference">…{placed["payment_id"][-6:]}<' in page.text  # masked
    assert "<script" not in page.text.lower()
    assert 'method="post"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert session_of(page.text) in placed["checkout_url"]


def test_decline_fails_the_payment_and_leaves_the_order_payable(app: App) -> None:
    http = client(app)
    placed = quick_order(http).json()
    result = pay_on_page(http, placed["checkout_url"], action="decline")
    assert 'data-status="failed"' in result.text
    order = http.get(f"/api/v1/orders/{placed['order_id']}").json()
    assert order["state"] == "awaiting_payment"
    assert order["payment"]["state"] == "failed"
    assert order["payment"]["failure_code"] == "card_declined"
    # A second attempt is a new payment, which succeeds.
    again = http.post(
        f"/api/v1/orders/{placed['order_id']}/payments",
        json={"pay_with": "sandbox"},
        headers={"Idempotency-Key": "retry-after-decline"},
    )
    assert again.status_code == 201
    assert again.json()["payment_id"] != placed["payment_id"]
    assert 'data-status="succeeded"' in pay_on_page(http, again.json()["checkout_url"]).text
    assert http.get(f"/api/v1/orders/{placed['order_id']}").json()["state"] == "fulfilled"


def test_paying_twice_charges_once(app: App) -> None:
    http = client(app)
    placed = quick_order(http).json()
    first = pay_on_page(http, placed["checkout_url"])
    second = pay_on_page(http, placed["checkout_url"], action="decline")
    assert 'data-status="succeeded"' in first.text
    assert 'data-status="succeeded"' in second.text  # already decided: the result stands
    assert count(app, tables.sandbox_charges) == 1
    assert count(app, tables.fulfilments) == 1


def test_forged_or_foreign_sessions_are_refused(app: App) -> None:
    http = client(app)
    one = quick_order(http).json()
    other = quick_order(http, number="+85261234567").json()
    one_path = urlsplit(one["checkout_url"]).path
    body, _, mac = session_of(http.get(checkout_path(one["checkout_url"])).text).partition(".")

    forged = http.get(one_path, params={"session": f"{body}.{'0' * 64}"})
    assert forged.status_code == 400
    assert forged.headers["content-type"] == "application/problem+json"
    assert forged.json()["code"] == "signature_invalid"
    garbage = http.post(one_path, data={"session": "nonsense€", "action": "pay"})
    assert garbage.status_code == 400
    assert garbage.json()["code"] == "signature_invalid"

    foreign = session_of(http.get(checkout_path(other["checkout_url"])).text)
    stolen = http.post(one_path, data={"session": foreign, "action": "pay"})
    assert stolen.status_code == 400
    bad_action = http.post(one_path, data={"session": f"{body}.{mac}", "action": "refund"})
    assert bad_action.status_code == 422
    assert count(app, tables.sandbox_charges) == 0
