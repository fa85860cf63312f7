"""Quick top-up over HTTP: a number in, offers out (never balance, validity or state),
order, the sandbox's page, paid, fulfilled, confirmed by SMS."""

from __future__ import annotations

import html

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.ratelimit import LimitsRateLimiter
from simrenew.web.quick_limits import QuickLimitPolicy, QuickLimits
from tests.integration.web.orders_http import (
    NUMBER,
    OFFER,
    client,
    count,
    pay_on_page,
    quick_order,
)
from tests.support import renew

FORBIDDEN_KEYS = {"balance", "validity_end", "state", "valid_until", "expires_at", "days_left"}


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_the_four_steps_over_http(app: App) -> None:
    http = client(app)

    lookup = http.post("/api/v1/quick-topup/lookup", json={"number": "5123 4567"})
    assert lookup.status_code == 200, lookup.text
    found = lookup.json()
    assert found["number_masked"] == "+852****4567"
    offer = next(o for o in found["offers"] if o["code"] == OFFER)
    assert offer["price"]["amount_minor"] <= offer["list_price"]["amount_minor"]
    assert set(offer["names"]) == {"zh-Hant", "zh-Hans", "en"}

    created = quick_order(http)
    assert created.status_code == 201, created.text
    placed = created.json()
    assert placed["state"] == "awaiting_payment"
    assert placed["price"] == offer["price"]
    assert placed["promotions"] == offer["promotions"]

    page = http.get(placed["checkout_url"].split("127.0.0.1:8000", 1)[1])
    assert page.status_code == 200
    assert offer["price"]["display"] in html.unescape(page.text)
    assert "<script" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"

    result = pay_on_page(http, placed["checkout_url"])
    assert result.status_code == 200
    assert 'data-status="succeeded"' in result.text

    status = http.get(f"/api/v1/orders/{placed['order_id']}", headers={"Accept-Language": "en"})
    assert status.status_code == 200
    body = status.json()
    assert body["state"] == "fulfilled"
    assert body["payment"]["state"] == "succeeded"
    receipt = body["receipt"]
    assert receipt["order_id"] == placed["order_id"]
    assert receipt["number_masked"] == "+852****4567"
    assert receipt["validity_end"] is not None
    assert "balance" not in status.text

    app.relay.drain()
    sms = [m for m in app.inbox.list(recipient=NUMBER) if m.channel == "sms"]
    assert any(placed["order_id"] in m.body for m in sms), [m.body for m in sms]
    assert count(app, tables.fulfilments) == 1


def test_lookup_never_shows_balance_validity_or_state(app: App) -> None:
    renew(app, NUMBER, "ONE2-CR100")  # the card now has a balance and a validity end
    response = client(app).post(
        "/api/v1/quick-topup/lookup", json={"number": NUMBER}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200
    keys = _keys(response.json())
    assert not keys & FORBIDDEN_KEYS, keys & FORBIDDEN_KEYS
    with app.uow(write=False) as uow:
        card = uow.cards.find(NUMBER)
    assert card is not None and card.validity_end is not None and card.balance_minor > 0
    assert card.validity_end.isoformat() not in response.text
    assert card.state.value not in response.text
    assert set(response.json()) == {"number_masked", "product_line", "offers"}
    assert "51234567" not in response.text


def test_unknown_invalid_and_terminated_numbers(app: App) -> None:
    http = client(app)
    unknown = http.post("/api/v1/quick-topup/lookup", json={"number": "+85261239999"})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["code"] == "card_not_found"

    invalid = http.post("/api/v1/quick-topup/lookup", json={"number": "12"})
    assert invalid.status_code == 404  # no card has it, whatever it is
    assert invalid.json()["code"] == "card_not_found"

    with app.engine.begin() as connection:
        connection.execute(
            tables.cards.update()
            .where(tables.cards.c.primary_number == NUMBER)
            .values(state="terminated")
        )
    closed = http.post(
        "/api/v1/quick-topup/lookup", json={"number": NUMBER}, headers={"Accept-Language": "en"}
    )
    assert closed.status_code == 409
    assert closed.json()["code"] == "card_not_renewable"
    assert "new card" in closed.json()["detail"]
    ordered = quick_order(http)
    assert ordered.status_code == 409
    assert ordered.json()["code"] == "card_not_renewable"


def test_lookups_are_rate_limited_per_number(app: App) -> None:
    http = client(app)
    http.app.state.quick_limits = QuickLimits(
        LimitsRateLimiter(), QuickLimitPolicy(lookup_per_number=3)
    )  # type: ignore[attr-defined]
    answers = [
        http.post("/api/v1/quick-topup/lookup", json={"number": n}).status_code
        for n in (NUMBER, "51234567", "+852 5123 4567", NUMBER)
    ]
    assert answers == [200, 200, 200, 429]
    other = http.post("/api/v1/quick-topup/lookup", json={"number": "+85261234567"})
    assert other.status_code == 200
    limited = http.post("/api/v1/quick-topup/lookup", json={"number": NUMBER})
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


def test_orders_are_rate_limited_per_ip(app: App) -> None:
    http = client(app)
    limits = QuickLimits(LimitsRateLimiter(), QuickLimitPolicy(order_per_ip=2))
    http.app.state.quick_limits = limits  # type: ignore[attr-defined]
    statuses = [
        quick_order(http, number=n, offer="ONE2-D1").status_code
        for n in ("+85251234567", "+85261234567", "+85291234567")
    ]
    assert statuses == [201, 201, 429]
