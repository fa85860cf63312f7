"""POST /webhooks/sms/http: the HTTP SMS gateway's signed delivery receipts, recorded
in message_deliveries (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine

from simrenew.bootstrap import App, build
from simrenew.config import Settings
from simrenew.db.delivery_repository import SqlDeliveryStatusSink, list_for_message
from simrenew.domain.outbox import OutboxKind
from simrenew.notify.http_sms import HttpSmsSender, sign
from simrenew.ports import DeliveryStatus
from tests.fakes.sms_gateway import TOKEN, URL, FakeSmsGateway, SentSms
from tests.integration.web.orders_http import client
from tests.support import FixedClock

PATH = "/webhooks/sms/http"
PHONE = "+85291234567"


@pytest.fixture
def gateway() -> FakeSmsGateway:
    return FakeSmsGateway()


@pytest.fixture
def http_app(app: App, gateway: FakeSmsGateway) -> Iterator[App]:
    """The app with the HTTP channel wired as bootstrap wires it: the database sink."""
    sender = HttpSmsSender(
        URL,
        TOKEN,
        receipts=SqlDeliveryStatusSink(app.engine, now=app.ctx.clock.now),
        transport=gateway.transport,
    )
    app.relay = replace(app.relay, sms=sender)
    yield app
    sender.close()


def sent_sms(app: App, gateway: FakeSmsGateway) -> SentSms:
    with app.uow() as uow:
        uow.outbox.add(OutboxKind.SMS, {"to": PHONE, "text": "續期成功"}, at=app.ctx.clock.now())
        uow.commit()
    assert app.relay.drain().delivered == 1
    [sms] = gateway.sent
    return sms


def test_a_signed_receipt_marks_the_message_delivered(
    http_app: App, gateway: FakeSmsGateway
) -> None:
    sms = sent_sms(http_app, gateway)
    [part] = list_for_message(http_app.engine, sms.reference)
    assert (part.channel, part.remote_id, part.status) == ("http", sms.gateway_id, "accepted")

    headers, body = gateway.receipt(sms, "delivered")
    response = client(http_app).post(PATH, content=body, headers=headers)

    assert response.status_code == 204, response.text
    [part] = list_for_message(http_app.engine, sms.reference)
    assert part.status is DeliveryStatus.DELIVERED
    assert part.done_at is not None and part.done_at.isoformat() == "2026-03-01T04:05:30+00:00"

    # The gateway retries an older "enroute" afterwards: taken, and changes nothing.
    headers, body = gateway.receipt(sms, "enroute")
    assert client(http_app).post(PATH, content=body, headers=headers).status_code == 204
    [part] = list_for_message(http_app.engine, sms.reference)
    assert part.status is DeliveryStatus.DELIVERED


def test_a_forged_receipt_is_refused_with_a_stable_code_and_changes_nothing(
    http_app: App, gateway: FakeSmsGateway
) -> None:
    sms = sent_sms(http_app, gateway)
    headers, body = gateway.receipt(sms, "failed", token="not-the-gateway-token")
    http = client(http_app)

    response = http.post(PATH, content=body, headers={**headers, "Accept-Language": "zh-Hant"})
    missing = http.post(PATH, content=body, headers={"Content-Type": "application/json"})

    for refused in (response, missing):
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "sms_receipt_signature_invalid"
    assert response.json()["title"] == "回條簽署無效"
    [part] = list_for_message(http_app.engine, sms.reference)
    assert part.status is DeliveryStatus.ACCEPTED


def test_a_signed_but_unreadable_receipt_is_a_400(http_app: App, gateway: FakeSmsGateway) -> None:
    sms = sent_sms(http_app, gateway)
    body = json.dumps({"id": sms.gateway_id, "status": "teleported"}).encode()
    response = client(http_app).post(PATH, content=body, headers={"X-Signature": sign(TOKEN, body)})
    assert response.status_code == 400
    assert response.json()["code"] == "sms_receipt_invalid"
    [part] = list_for_message(http_app.engine, sms.reference)
    assert part.status is DeliveryStatus.ACCEPTED


def test_an_instance_without_the_http_channel_has_no_receipt_callback(app: App) -> None:
    body = b'{"id": "gw-1", "status": "delivered"}'
    response = client(app).post(PATH, content=body, headers={"X-Signature": sign(TOKEN, body)})
    assert response.status_code == 404
    assert response.json()["code"] == "sms_channel_not_http"


def test_bootstrap_wires_the_http_channel_to_the_database(
    engine: Engine, clock: FixedClock
) -> None:
    """``sms_channel=http`` as an operator sets it: a receipt ahead of (or without)
    its submission is kept under the gateway's id and our reference."""
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sandbox_secrets=["test-secret-new"],  # type: ignore[list-item]  # pydantic coerces
        smtp_host=None,
        sms_channel="http",
        http_sms_url=URL,
        http_sms_token=TOKEN,  # type: ignore[arg-type]  # pydantic coerces
    )
    application = build(settings, clock=clock, engine=engine)
    try:
        sms = SentSms(PHONE, "續期成功", "msg_early", "gw-000042")
        headers, body = FakeSmsGateway().receipt(sms, "delivered")
        response = client(application).post(PATH, content=body, headers=headers)
        assert response.status_code == 204, response.text
        [part] = list_for_message(engine, "msg_early")
        assert (part.channel, part.remote_id, part.status) == (
            "http",
            "gw-000042",
            DeliveryStatus.DELIVERED,
        )
    finally:
        application.close()
