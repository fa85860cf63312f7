"""``simrenew outbox --message ID``: the delivery status of each part of an SMS, as an
operator reads it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from simrenew.cli import app as cli_app
from simrenew.db.delivery_repository import SqlDeliveryStatusSink
from simrenew.db.engine import make_engine
from simrenew.ports import DeliveryReceipt, DeliveryStatus

SUBMITTED = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Hong Kong
DONE = datetime(2026, 3, 1, 4, 5, 30, tzinfo=UTC)


def run(db_url: str, *args: str) -> Result:
    env = {"SIMRENEW_DATABASE_URL": db_url, "SIMRENEW_SMTP_HOST": None, "COLUMNS": "200"}
    return CliRunner().invoke(cli_app, list(args), env=env)


@pytest.fixture
def recorded(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree
    engine = make_engine(db_url)
    sink = SqlDeliveryStatusSink(engine, now=lambda: SUBMITTED)
    sink.record_submission("msg_long", "smsc-a1", "smpp", 1)
    sink.record_submission("msg_long", "smsc-a2", "smpp", 2)
    sink.record_receipt(
        DeliveryReceipt("smpp", "smsc-a1", "msg_long", DeliveryStatus.DELIVERED, "000", DONE)
    )
    sink.record_receipt(
        DeliveryReceipt("smpp", "smsc-a2", "msg_long", DeliveryStatus.UNDELIVERABLE, "001", DONE)
    )
    engine.dispose()
    return db_url


def test_shows_each_part_with_its_status_in_local_time(recorded: str) -> None:
    result = run(recorded, "outbox", "--message", "msg_long")

    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "smsc-a" in line]
    assert len(lines) == 2
    first, second = lines
    for expected in ("1", "smpp", "smsc-a1", "delivered", "000", "2026-03-01 12:00:00"):
        assert expected in first
    assert "2026-03-01 12:05:30" in first
    for expected in ("2", "smsc-a2", "undeliverable", "001"):
        assert expected in second


def test_a_message_with_no_recorded_part_is_an_error(recorded: str) -> None:
    result = run(recorded, "outbox", "--message", "msg_unknown")
    assert result.exit_code == 1
    assert "no SMS part recorded for msg_unknown" in result.stderr
