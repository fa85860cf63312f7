"""SqlDeliveryStatusSink on SQLite and PostgreSQL: receipts out of order, repeated,
ahead of their submission, and never moving a status backwards."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from simrenew.db import tables as t
from simrenew.db.delivery_repository import PartDelivery, SqlDeliveryStatusSink, list_for_message
from simrenew.ports import DeliveryReceipt, DeliveryStatus

T0 = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


class Ticking:
    """A clock that moves a second per reading, so every write has its own time."""

    def __init__(self) -> None:
        self.now = T0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=1)
            return self.now


@pytest.fixture
def sink(engine: Engine) -> SqlDeliveryStatusSink:
    return SqlDeliveryStatusSink(engine, now=Ticking())


def receipt(
    remote_id: str,
    status: DeliveryStatus,
    *,
    message_id: str | None = "msg_1",
    channel: str = "smpp",
    error: str | None = None,
    done_at: datetime | None = None,
) -> DeliveryReceipt:
    return DeliveryReceipt(channel, remote_id, message_id, status, error, done_at)


def statuses(engine: Engine, message_id: str = "msg_1") -> list[tuple[int | None, str]]:
    return [(p.part, p.status.value) for p in list_for_message(engine, message_id)]


def row_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(t.message_deliveries)).scalar_one()
        )


def test_each_part_submitted_is_a_row_that_starts_accepted(
    engine: Engine, sink: SqlDeliveryStatusSink
) -> None:
    sink.record_submission("msg_1", "a1", "smpp", 1)
    sink.record_submission("msg_1", "a2", "smpp", 2)
    sink.record_submission("msg_2", "b1", "smpp", 1)

    [first, second] = list_for_message(engine, "msg_1")
    assert (first.part, first.remote_id, first.status) == (1, "a1", DeliveryStatus.ACCEPTED)
    assert (second.part, second.remote_id) == (2, "a2")
    assert first.submitted_at == first.updated_at == T0 + timedelta(seconds=1)
    assert first.done_at is None
    assert statuses(engine, "msg_2") == [(1, "accepted")]


def test_receipts_move_each_part_forwards_and_keep_the_final_word(
    engine: Engine, sink: SqlDeliveryStatusSink
) -> None:
    done = datetime(2026, 3, 1, 4, 5, tzinfo=UTC)
    sink.record_submission("msg_1", "a1", "smpp", 1)
    sink.record_submission("msg_1", "a2", "smpp", 2)

    sink.record_receipt(receipt("a1", DeliveryStatus.ENROUTE))
    sink.record_receipt(receipt("a2", DeliveryStatus.UNDELIVERABLE, error="001", done_at=done))
    sink.record_receipt(receipt("a1", DeliveryStatus.DELIVERED, error="000", done_at=done))
    assert statuses(engine) == [(1, "delivered"), (2, "undeliverable")]

    # Late and repeated receipts: an older ENROUTE, the same DELIVRD again, a
    # contradicting final one. None changes anything, not even the times.
    before = list_for_message(engine, "msg_1")
    sink.record_receipt(receipt("a1", DeliveryStatus.ENROUTE))
    sink.record_receipt(receipt("a1", DeliveryStatus.DELIVERED, error="000"))
    sink.record_receipt(receipt("a2", DeliveryStatus.DELIVERED))
    sink.record_receipt(receipt("a2", DeliveryStatus.ACCEPTED))
    after = list_for_message(engine, "msg_1")
    assert after == before
    assert (after[0].error_code, after[0].done_at) == ("000", done)
    assert (after[1].error_code, after[1].done_at) == ("001", done)


def test_a_receipt_ahead_of_its_submission_is_kept_and_merged(
    engine: Engine, sink: SqlDeliveryStatusSink
) -> None:
    done = datetime(2026, 3, 1, 4, 5, tzinfo=UTC)
    # The channel did not know the message yet: only the gateway id.
    sink.record_receipt(receipt("a2", DeliveryStatus.DELIVERED, message_id=None, done_at=done))
    assert list_for_message(engine, "msg_1") == []

    sink.record_submission("msg_1", "a1", "smpp", 1)
    sink.record_submission("msg_1", "a2", "smpp", 2)
    sink.record_receipt(receipt("a1", DeliveryStatus.DELIVERED))

    parts = list_for_message(engine, "msg_1")
    assert [(p.part, p.remote_id, p.status.value) for p in parts] == [
        (1, "a1", "delivered"),
        (2, "a2", "delivered"),
    ]
    assert parts[1].done_at == done
    assert parts[1].submitted_at is not None
    assert row_count(engine) == 2


def test_a_repeated_submission_keeps_one_row_and_its_status(
    engine: Engine, sink: SqlDeliveryStatusSink
) -> None:
    sink.record_submission("msg_1", "a1", "http")
    sink.record_receipt(receipt("a1", DeliveryStatus.DELIVERED, channel="http"))
    sink.record_submission("msg_1", "a1", "http")
    assert statuses(engine) == [(1, "delivered")]
    assert row_count(engine) == 1


def test_the_same_gateway_id_on_two_channels_is_two_rows(
    engine: Engine, sink: SqlDeliveryStatusSink
) -> None:
    sink.record_submission("msg_1", "42", "smpp")
    sink.record_submission("msg_2", "42", "http")
    sink.record_receipt(receipt("42", DeliveryStatus.REJECTED, channel="http", message_id=None))
    assert statuses(engine, "msg_1") == [(1, "accepted")]
    assert statuses(engine, "msg_2") == [(1, "rejected")]


def test_a_receipt_naming_the_id_in_decimal_finds_the_hexadecimal_submission(
    engine: Engine, sink: SqlDeliveryStatusSink
) -> None:
    sink.record_submission("msg_1", "1f4", "smpp", 1)
    sink.record_receipt(receipt("500", DeliveryStatus.DELIVERED))
    assert [(p.remote_id, p.status.value) for p in list_for_message(engine, "msg_1")] == [
        ("1f4", "delivered")
    ]
    assert row_count(engine) == 1


def test_a_retried_message_lists_each_attempts_parts(
    engine: Engine, sink: SqlDeliveryStatusSink
) -> None:
    sink.record_submission("msg_1", "a1", "smpp", 1)  # the first attempt lost part 2
    sink.record_submission("msg_1", "b1", "smpp", 1)
    sink.record_submission("msg_1", "b2", "smpp", 2)
    sink.record_receipt(receipt("b2", DeliveryStatus.DELIVERED))
    parts: list[PartDelivery] = list_for_message(engine, "msg_1")
    assert [(p.part, p.remote_id, p.status.value) for p in parts] == [
        (1, "a1", "accepted"),
        (1, "b1", "accepted"),
        (2, "b2", "delivered"),
    ]


def test_a_receipt_and_its_submission_racing_end_in_one_merged_row(
    engine: Engine, sink: SqlDeliveryStatusSink
) -> None:
    """The HTTP callback and the worker's thread, at once, many times over."""
    ids = [f"r{n}" for n in range(20)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(action: str) -> None:
        try:
            start.wait()
            for remote_id in ids:
                if action == "submit":
                    sink.record_submission("msg_1", remote_id, "http", 1)
                else:
                    sink.record_receipt(
                        receipt(remote_id, DeliveryStatus.DELIVERED, channel="http")
                    )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in ("submit", "receipt")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    parts = list_for_message(engine, "msg_1")
    assert sorted(p.remote_id for p in parts) == sorted(ids)
    assert {p.status for p in parts} == {DeliveryStatus.DELIVERED}
    assert all(p.submitted_at is not None and p.part == 1 for p in parts)
