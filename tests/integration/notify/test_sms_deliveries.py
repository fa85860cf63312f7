"""End to end: the application as bootstrap wires it for ``sms_channel=smpp``, the
worker's start, the relay and the SMSC simulator process (tests/fakes/smsc.py), whose
delivery receipts end up in message_deliveries (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from simrenew.bootstrap import App, build
from simrenew.config import Settings
from simrenew.db.delivery_repository import PartDelivery, list_for_message
from simrenew.domain.outbox import OutboxKind
from simrenew.notify.smpp import SmppSender
from simrenew.ports import DeliveryStatus
from simrenew.worker.runner import connect_sms
from tests.fakes.smsc import PASSWORD, SYSTEM_ID, SmscProcess, free_port, wait_for
from tests.support import FixedClock

PHONE = "+85291234567"
UNDELIVERED = "+85291110000"
# 150 Chinese characters: UCS-2, 67 per part, so three parts.
LONG_TEXT = "您的數據組合已成功續期，有效期至二零二六年三月三十一日。多謝使用。" * 5


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[SmscProcess]:
    process = SmscProcess(
        tmp_path / "smsc.jsonl", "--receipt", f"{UNDELIVERED.lstrip('+')}=UNDELIV:001"
    )
    process.start()
    yield process
    process.stop()


def smpp_settings(engine: Engine, port: int) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sandbox_secrets=["test-secret-new"],  # type: ignore[list-item]  # pydantic coerces
        smtp_host=None,
        sms_channel="smpp",
        smpp_host="127.0.0.1",
        smpp_port=port,
        smpp_system_id=SYSTEM_ID,
        smpp_password=PASSWORD,  # type: ignore[arg-type]  # pydantic coerces
    )


@pytest.fixture
def smpp_app(engine: Engine, clock: FixedClock, smsc: SmscProcess) -> Iterator[App]:
    application = build(smpp_settings(engine, smsc.port), clock=clock, engine=engine)
    yield application
    application.close()


def queue_sms(app: App, to: str, text: str) -> str:
    with app.uow() as uow:
        message_id = uow.outbox.add(
            OutboxKind.SMS, {"to": to, "text": text}, at=app.ctx.clock.now()
        )
        uow.commit()
    return message_id


def final_parts(app: App, message_id: str, count: int) -> list[PartDelivery]:
    """The message's parts once ``count`` of them have a final status (or nothing)."""
    parts = list_for_message(app.engine, message_id)
    if len(parts) == count and all(p.status.final for p in parts):
        return parts
    return []


def test_a_long_chinese_sms_ends_delivered_part_by_part(smpp_app: App, smsc: SmscProcess) -> None:
    assert isinstance(smpp_app.relay.sms, SmppSender)
    connect_sms(smpp_app)  # the worker binds at start: before any message
    assert smpp_app.relay.sms.bound
    long_id = queue_sms(smpp_app, PHONE, LONG_TEXT)
    lost_id = queue_sms(smpp_app, UNDELIVERED, "續期成功")

    assert smpp_app.relay.drain().delivered == 2

    submits = smsc.pdus("submit_sm")
    assert len(submits) == 4
    parts = wait_for(lambda: final_parts(smpp_app, long_id, 3))
    assert [p.part for p in parts] == [1, 2, 3]
    assert {p.status for p in parts} == {DeliveryStatus.DELIVERED}
    assert {p.channel for p in parts} == {"smpp"}
    # The rows name the ids the SMSC answered each submit_sm with.
    answered = {p.text("message_id") for p in smsc.pdus("submit_sm_resp", direction="out")}
    assert {p.remote_id for p in parts} <= answered
    assert all(p.error_code == "000" and p.done_at is not None for p in parts)

    [lost] = wait_for(lambda: final_parts(smpp_app, lost_id, 1))
    assert (lost.part, lost.status, lost.error_code) == (1, DeliveryStatus.UNDELIVERABLE, "001")


def test_the_worker_start_survives_an_smsc_that_is_not_there(
    engine: Engine, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    application = build(smpp_settings(engine, free_port()), clock=clock, engine=engine)
    try:
        with caplog.at_level(logging.WARNING, logger="simrenew.worker.runner"):
            connect_sms(application)
        assert isinstance(application.relay.sms, SmppSender)
        assert not application.relay.sms.bound
        assert "SMS channel not connected yet" in caplog.text
    finally:
        application.close()
