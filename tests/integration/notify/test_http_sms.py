"""HttpSmsSender against a fake JSON gateway (tests/fakes/sms_gateway.py) through
httpx.MockTransport, and its receipt callbacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from simrenew.bootstrap import App, ChannelMisconfigured, sms_sender
from simrenew.config import Settings
from simrenew.domain.outbox import OutboxKind, OutboxState
from simrenew.notify.dev_inbox import DevInbox
from simrenew.notify.http_sms import HttpSmsSender, ReceiptRejected, sign
from simrenew.ports import DeliveryError, DeliveryReceipt, DeliveryStatus, PermanentDeliveryError
from tests.fakes.sms_gateway import TOKEN, URL, FakeSmsGateway
from tests.smtp_support import free_port

PHONE = "+85291234567"


class MemorySink:
    def __init__(self) -> None:
        self.submissions: list[tuple[str, str, str]] = []
        self.receipts: list[DeliveryReceipt] = []

    def record_submission(
        self, message_id: str, provider_message_id: str, channel: str, part: int = 1
    ) -> None:
        self.submissions.append((message_id, provider_message_id, channel))

    def record_receipt(self, receipt: DeliveryReceipt) -> None:
        self.receipts.append(receipt)


@pytest.fixture
def gateway() -> FakeSmsGateway:
    return FakeSmsGateway()


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def sender(gateway: FakeSmsGateway, sink: MemorySink) -> Iterator[HttpSmsSender]:
    sender = HttpSmsSender(URL, TOKEN, receipts=sink, transport=gateway.transport)
    yield sender
    sender.close()


def test_posts_the_documented_json_with_the_bearer_token(
    gateway: FakeSmsGateway, sender: HttpSmsSender, sink: MemorySink
) -> None:
    text = "您的驗證碼是 482913 (5 min)"
    sender.send_sms(PHONE, text, message_id="msg_1")

    [request] = gateway.requests
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Idempotency-Key"] == "msg_1"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"to": PHONE, "text": text, "reference": "msg_1"}
    [sms] = gateway.sent
    assert sms.text == text
    assert sink.submissions == [("msg_1", sms.gateway_id, "http")]


def test_a_repeat_is_sent_once_by_the_gateway(
    gateway: FakeSmsGateway, sender: HttpSmsSender, sink: MemorySink
) -> None:
    sender.send_sms(PHONE, "hello", message_id="msg_1")
    sender.send_sms(PHONE, "hello", message_id="msg_1")  # the outbox delivers at least once
    assert len(gateway.requests) == 2 and len(gateway.sent) == 1
    assert sink.submissions[0] == sink.submissions[1]


def test_a_rejected_number_is_permanent(gateway: FakeSmsGateway, sender: HttpSmsSender) -> None:
    with pytest.raises(PermanentDeliveryError, match="422"):
        sender.send_sms("12345", "hello", message_id="msg_1")
    assert gateway.sent == []


@pytest.mark.parametrize("status", [401, 403, 408, 429, 500, 502, 503])
def test_throttling_server_errors_and_token_faults_are_retryable(
    gateway: FakeSmsGateway, sender: HttpSmsSender, status: int
) -> None:
    gateway.fail_next(status)
    with pytest.raises(DeliveryError, match=str(status)) as caught:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)
    sender.send_sms(PHONE, "hello", message_id="msg_1")  # and the retry goes through
    assert len(gateway.sent) == 1


def test_a_timeout_is_retryable(gateway: FakeSmsGateway, sender: HttpSmsSender) -> None:
    gateway.fail_next(timeout=True)
    with pytest.raises(DeliveryError, match="ReadTimeout") as caught:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)


def test_a_wrong_token_never_shows_in_errors_or_repr(gateway: FakeSmsGateway) -> None:
    sender = HttpSmsSender(URL, "wrong-token-987", transport=gateway.transport)
    with pytest.raises(DeliveryError, match="401") as caught:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
    assert "wrong-token-987" not in str(caught.value) and "wrong-token-987" not in repr(sender)
    sender.close()


def test_nothing_listening_is_retryable() -> None:
    sender = HttpSmsSender(
        f"http://127.0.0.1:{free_port()}/v1/sms", TOKEN, timeout=timedelta(seconds=2)
    )
    with pytest.raises(DeliveryError, match="unreachable") as caught:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)
    sender.close()


# --- receipt callbacks --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected", "error"),
    [
        ("delivered", DeliveryStatus.DELIVERED, None),
        ("failed", DeliveryStatus.UNDELIVERABLE, "absent-subscriber"),
        ("expired", DeliveryStatus.EXPIRED, None),
        ("rejected", DeliveryStatus.REJECTED, "blocked"),
    ],
)
def test_a_signed_receipt_reaches_the_sink(
    gateway: FakeSmsGateway,
    sender: HttpSmsSender,
    sink: MemorySink,
    status: str,
    expected: DeliveryStatus,
    error: str | None,
) -> None:
    sender.send_sms(PHONE, "hello", message_id="msg_1")
    headers, body = gateway.receipt(gateway.sent[0], status, error=error)

    returned = sender.handle_receipt(headers, body)

    assert sink.receipts == [returned]
    assert returned == DeliveryReceipt(
        channel="http",
        provider_message_id=gateway.sent[0].gateway_id,
        message_id="msg_1",
        status=expected,
        error_code=error,
        done_at=datetime(2026, 3, 1, 4, 5, 30, tzinfo=UTC),
    )


def test_a_receipt_signed_with_another_key_is_rejected(
    gateway: FakeSmsGateway, sender: HttpSmsSender, sink: MemorySink
) -> None:
    sender.send_sms(PHONE, "hello", message_id="msg_1")
    headers, body = gateway.receipt(gateway.sent[0], token="someone-else")
    with pytest.raises(ReceiptRejected, match="signature"):
        sender.handle_receipt(headers, body)
    good_headers, _ = gateway.receipt(gateway.sent[0])
    tampered = body.replace(b"delivered", b"rejected")
    with pytest.raises(ReceiptRejected, match="signature"):
        sender.handle_receipt(good_headers, tampered)
    with pytest.raises(ReceiptRejected):
        sender.handle_receipt({}, body)
    assert sink.receipts == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "teleported"},
        {"id": ""},
        {"done_at": "2026-03-01T12:05:30"},  # no offset: which zone?
        {"done_at": "yesterday"},
    ],
)
def test_an_unreadable_receipt_is_rejected(
    gateway: FakeSmsGateway, sender: HttpSmsSender, sink: MemorySink, overrides: dict[str, str]
) -> None:
    sender.send_sms(PHONE, "hello", message_id="msg_1")
    _, body = gateway.receipt(gateway.sent[0])
    data = {**json.loads(body), **overrides}
    bad = json.dumps(data).encode()
    # Correctly signed (header names are case-insensitive), but not a valid receipt.
    with pytest.raises(ReceiptRejected):
        sender.handle_receipt({"x-signature": sign(TOKEN, bad)}, bad)
    with pytest.raises(ReceiptRejected, match="JSON"):
        sender.handle_receipt({"X-Signature": sign(TOKEN, b"not json")}, b"not json")
    assert sink.receipts == []


# --- wiring and the outbox (SQLite and PostgreSQL) ----------------------------------


def test_the_relay_delivers_queued_sms_over_http(app: App, gateway: FakeSmsGateway) -> None:
    sender = HttpSmsSender(URL, TOKEN, transport=gateway.transport)
    now = app.ctx.clock.now()
    with app.uow() as uow:
        good = uow.outbox.add(OutboxKind.SMS, {"to": PHONE, "text": "續期成功"}, at=now)
        bad = uow.outbox.add(OutboxKind.SMS, {"to": "852", "text": "續期成功"}, at=now)
        uow.commit()

    stats = replace(app.relay, sms=sender).drain()
    sender.close()

    assert (stats.delivered, stats.dead) == (1, 1)
    with app.uow(write=False) as uow:
        states = {m.id: m.state for m in uow.outbox.list(limit=10)}
    assert states == {good: OutboxState.DELIVERED, bad: OutboxState.DEAD}
    assert [(s.to, s.text, s.reference) for s in gateway.sent] == [(PHONE, "續期成功", good)]


def test_bootstrap_picks_http_and_refuses_it_half_configured() -> None:
    inbox = DevInbox(create_engine("sqlite://"))  # never used: no message is sent here
    settings = Settings(
        sms_channel="http",
        http_sms_url=URL,
        http_sms_token=TOKEN,  # type: ignore[arg-type]  # pydantic coerces
    )
    sender = sms_sender(settings, inbox)
    assert isinstance(sender, HttpSmsSender) and TOKEN not in repr(sender)
    sender.close()
    with pytest.raises(ChannelMisconfigured, match="SIMRENEW_HTTP_SMS_TOKEN"):
        sms_sender(Settings(sms_channel="http", http_sms_url=URL), inbox)
    with pytest.raises(ValueError, match="http"):
        HttpSmsSender("ftp://gateway", TOKEN)
