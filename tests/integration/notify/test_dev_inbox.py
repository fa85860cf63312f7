"""DevInbox on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from simrenew.db.tables import dev_inbox
from simrenew.notify.dev_inbox import DevInbox, InboxMessage

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class StepClock:
    """A clock that moves one second per reading, so every message has its own time."""

    def __init__(self) -> None:
        self.current = START

    def __call__(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current


def count_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(dev_inbox)).scalar_one()


def test_stores_sms_and_email_and_lists_newest_first(engine: Engine) -> None:
    inbox = DevInbox(engine, now=StepClock())
    inbox.send_sms("+85291234567", "您的登入驗證碼是 123456", message_id="msg_1")
    inbox.send_email("chan@example.com", "續期成功", "您的計劃已生效。\n", message_id="msg_2")

    assert inbox.list() == [
        InboxMessage(
            channel="email",
            recipient="chan@example.com",
            subject="續期成功",
            body="您的計劃已生效。\n",
            created_at=START + timedelta(seconds=2),
            message_id="msg_2",
        ),
        InboxMessage(
            channel="sms",
            recipient="+85291234567",
            subject=None,
            body="您的登入驗證碼是 123456",
            created_at=START + timedelta(seconds=1),
            message_id="msg_1",
        ),
    ]
    assert all(message.created_at.tzinfo is not None for message in inbox.list())


def test_filters_by_recipient_and_limits(engine: Engine) -> None:
    inbox = DevInbox(engine, now=StepClock())
    for n in range(5):
        inbox.send_sms("+85291234567", f"text {n}", message_id=f"msg_a{n}")
    inbox.send_sms("+8613812345678", "other", message_id="msg_b")

    mine = inbox.list("+85291234567", limit=3)
    assert [message.body for message in mine] == ["text 4", "text 3", "text 2"]
    assert [message.message_id for message in inbox.list("+8613812345678")] == ["msg_b"]
    assert inbox.list("+85200000000") == []
    with pytest.raises(ValueError):
        inbox.list(limit=0)


def test_stores_time_in_utc_whatever_the_zone_given(engine: Engine) -> None:
    hong_kong = ZoneInfo("Asia/Hong_Kong")
    inbox = DevInbox(engine, now=lambda: datetime(2026, 3, 1, 20, 0, tzinfo=hong_kong))
    inbox.send_sms("+85291234567", "hi", message_id="msg_1")
    [message] = inbox.list()
    assert message.created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert message.created_at.utcoffset() == timedelta(0)


def test_a_repeated_delivery_is_stored_once(engine: Engine) -> None:
    inbox = DevInbox(engine, now=StepClock())
    inbox.send_sms("+85291234567", "code 123456", message_id="msg_same")
    inbox.send_sms("+85291234567", "code 123456", message_id="msg_same")
    inbox.send_email("a@example.com", "subject", "body", message_id="msg_mail")
    inbox.send_email("a@example.com", "subject", "body", message_id="msg_mail")

    assert count_rows(engine) == 2
    first = inbox.list("+85291234567")
    assert [message.created_at for message in first] == [START + timedelta(seconds=1)]


def test_concurrent_repeats_of_one_message_store_one_row(engine: Engine) -> None:
    inbox = DevInbox(engine)
    workers = 8
    barrier = threading.Barrier(workers)

    def deliver() -> None:
        barrier.wait(timeout=10)
        inbox.send_sms("+85291234567", "code 123456", message_id="msg_race")

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(deliver) for _ in range(workers)]
        for future in futures:
            future.result(timeout=30)  # re-raises any worker's error

    assert count_rows(engine) == 1
