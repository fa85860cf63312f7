"""The SMS delivery statuses, kept in ``message_deliveries``: the database
``DeliveryStatusSink`` and the queries that read it back.

The sink is called from the SMPP listener thread and from the HTTP gateway's receipt
callback, never inside another unit of work, so each call is its own short
transaction. Receipts can overtake their submission (the SMSC's ``deliver_sm`` may be
read before the worker's thread records the ``submit_sm_resp``; a gateway's callback
may beat its own HTTP answer): such a receipt makes the row, keyed by the gateway's
id, and the submission then fills in our message id and part number. Either order
ends in the same row. A status only moves as ``DeliveryStatus.advance`` allows, so a
late or repeated receipt never undoes a final one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, select, update

from simrenew.db.tables import message_deliveries as md
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.deliveries import DeliveryStatus, remote_id_variants
from simrenew.ports import DeliveryReceipt


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PartDelivery:
    """One submitted part of an SMS and what its gateway last said of it."""

    message_id: str | None
    part: int | None
    channel: str
    remote_id: str
    status: DeliveryStatus
    error_code: str | None
    submitted_at: datetime | None
    done_at: datetime | None
    updated_at: datetime


class SqlDeliveryStatusSink:
    """A ``DeliveryStatusSink`` over ``message_deliveries``; thread-safe (one
    connection per call). Database errors propagate: the SMPP listener then asks the
    SMSC to send the receipt again, the callback route answers 5xx so the gateway
    retries."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._engine = engine
        self._now = now

    def record_submission(
        self, message_id: str, provider_message_id: str, channel: str, part: int = 1
    ) -> None:
        at = self._now()
        with self._engine.begin() as connection:
            inserted = insert_ignoring_duplicates(
                connection,
                md,
                {
                    "message_id": message_id,
                    "part": part,
                    "channel": channel,
                    "remote_id": provider_message_id,
                    "status": DeliveryStatus.ACCEPTED.value,
                    "submitted_at": at,
                    "updated_at": at,
                },
                conflict_columns=("channel", "remote_id"),
            )
            if not inserted:
                # Its receipt came first (or the submission is reported twice): keep
                # the status the receipt set, add what only the submission knows.
                connection.execute(
                    update(md)
                    .where(md.c.channel == channel, md.c.remote_id == provider_message_id)
                    .values(message_id=message_id, part=part, submitted_at=at, updated_at=at)
                )

    def record_receipt(self, receipt: DeliveryReceipt) -> None:
        at = self._now()
        with self._engine.begin() as connection:
            row = _find(connection, receipt)
            if row is None:
                inserted = insert_ignoring_duplicates(
                    connection,
                    md,
                    {
                        "message_id": receipt.message_id,
                        "channel": receipt.channel,
                        "remote_id": receipt.provider_message_id,
                        "status": receipt.status.value,
                        "error_code": receipt.error_code,
                        "done_at": receipt.done_at,
                        "updated_at": at,
                    },
                    conflict_columns=("channel", "remote_id"),
                )
                if inserted:
                    return
                # The submission was recorded between our look and our insert.
                row = _find(connection, receipt)
                if row is None:  # the insert just clashed with it: it cannot be gone
                    raise RuntimeError("delivery row vanished")
            _apply(connection, row, receipt, at)


def _find(connection: Connection, receipt: DeliveryReceipt) -> RowMapping | None:
    """The row the receipt is about, locked (PostgreSQL) until the transaction ends.

    Matched by the gateway id as given first; failing that, among our message's parts,
    by the id's decimal or hexadecimal form (SMSCs that write it the other way)."""
    query = select(md).where(md.c.channel == receipt.channel).with_for_update()
    exact = connection.execute(query.where(md.c.remote_id == receipt.provider_message_id))
    row = exact.mappings().first()
    if row is not None or receipt.message_id is None:
        return row
    variants = list(remote_id_variants(receipt.provider_message_id))
    candidates = connection.execute(query.where(md.c.message_id == receipt.message_id))
    for candidate in candidates.mappings():
        if set(remote_id_variants(candidate["remote_id"])) & set(variants):
            return candidate
    return None


def _apply(connection: Connection, row: RowMapping, receipt: DeliveryReceipt, at: datetime) -> None:
    current = DeliveryStatus(row["status"])
    status = DeliveryStatus.advance(current, receipt.status)
    changes: dict[str, Any] = {}
    if row["message_id"] is None and receipt.message_id is not None:
        changes["message_id"] = receipt.message_id
    if status is not current:
        changes.update(status=status.value, error_code=receipt.error_code)
        if status.final:
            changes["done_at"] = receipt.done_at
    if not changes:
        return  # a duplicate or an older receipt: nothing to say
    changes["updated_at"] = at
    connection.execute(update(md).where(md.c.id == row["id"]).values(**changes))


def list_for_message(engine: Engine, message_id: str) -> list[PartDelivery]:
    """Every part submitted for ``message_id`` (a retried message has one row per
    attempt and part), in part order, then oldest first."""
    query = (
        select(md)
        .where(md.c.message_id == message_id)
        .order_by(md.c.part, md.c.submitted_at, md.c.id)
    )
    with engine.connect() as connection:
        return [_part(row) for row in connection.execute(query).mappings()]


def _part(row: RowMapping) -> PartDelivery:
    return PartDelivery(
        message_id=row["message_id"],
        part=row["part"],
        channel=row["channel"],
        remote_id=row["remote_id"],
        status=DeliveryStatus(row["status"]),
        error_code=row["error_code"],
        submitted_at=row["submitted_at"],
        done_at=row["done_at"],
        updated_at=row["updated_at"],
    )
