"""A provider that wants its own acknowledgement gets it: Alipay resends a
notification for a day unless the answer is the plain text ``success``."""

from __future__ import annotations

import httpx

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.providers.alipay import AlipayConfig, AlipayProvider
from simrenew.services.payments import start_payment
from tests.fakes.alipay_api import FakeAlipayGateway, FakeApp, new_key_pair
from tests.integration.web.orders_http import NUMBER, OFFER, client, count
from tests.support import FixedClock, order

APP_ID = "2021000000000099"
GATEWAY = "https://openapi.alipayhk.example/gateway.do"


def test_alipay_notifications_are_acknowledged_with_plain_success(
    app: App, clock: FixedClock
) -> None:
    app_key, alipay_key = new_key_pair(), new_key_pair()
    gateway = FakeAlipayGateway(
        alipay_key=alipay_key,
        apps=[FakeApp(APP_ID, app_key.public_pem)],
        now=clock.now,
        url=GATEWAY,
    )
    provider = AlipayProvider(
        AlipayConfig(
            name="alipayhk",
            app_id=APP_ID,
            app_private_key=app_key.private_pkcs8_pem,
            alipay_public_key=alipay_key.public_pem,
            notify_url="https://simrenew.example.hk/webhooks/alipayhk",
            gateway_url=GATEWAY,
            currency="HKD",
        ),
        client=httpx.Client(transport=gateway.transport()),
        now=clock.now,
    )
    app.ctx.providers["alipayhk"] = provider  # type: ignore[index]
    placed = order(app, NUMBER, OFFER)
    payment = start_payment(app.ctx, placed.id, "alipayhk", actor="test")
    assert payment.checkout_url
    note = gateway.pay(payment.checkout_url)

    http = client(app)
    first = http.post("/webhooks/alipayhk", content=note.body, headers=note.headers)
    again = http.post("/webhooks/alipayhk", content=note.body, headers=note.headers)
    assert (first.status_code, first.text) == (200, "success")
    assert (again.status_code, again.text) == (200, "success")  # a duplicate, still received
    assert first.headers["content-type"].startswith("text/plain")
    assert count(app, tables.fulfilments) == 1

    forged = http.post(
        "/webhooks/alipayhk",
        content=note.body.replace(b"TRADE_SUCCESS", b"TRADE_CLOSED"),
        headers=note.headers,
    )
    assert forged.status_code == 400  # not "success": Alipay retries, we never applied it
    provider.close()


def test_cash_and_vouchers_are_not_online_checkouts(app: App) -> None:
    http = client(app)
    for name in ("cash", "voucher"):
        answer = http.post(
            "/api/v1/quick-topup/orders",
            json={"number": NUMBER, "offer_code": OFFER, "pay_with": name},
            headers={"Idempotency-Key": f"key-{name}"},
        )
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "provider_not_found"
    assert count(app, tables.orders) == 0
