"""The outbox: side effects written in the same transaction as the change that
causes them, delivered at least once by the worker, dead-lettered after too many
failures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from simrenew.db import tables as t
from simrenew.domain.ids import new_id
from simrenew.domain.outbox import OutboxKind, OutboxMessage, OutboxState
from simrenew.ports import AuditRecord


def message_from_row(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        kind=OutboxKind(row.kind),
        payload=row.payload,
        created_at=row.created_at,
        available_at=row.available_at,
        attempts=row.attempts,
        state=OutboxState(row.state),
        last_error=row.last_error,
        dedupe_key=row.dedupe_key,
    )


class SqlOutboxRepository:
    """Writes are buffered and sent as one multi-row INSERT when the unit of work
    commits: a renewal's SMS, e-mail and provisioning rows cost one round trip."""

    def __init__(self, connection: Connection, max_attempts: int = 8) -> None:
        self._connection = connection
        self._pending: list[dict[str, Any]] = []
        self.max_attempts = max_attempts

    def add(
        self,
        kind: OutboxKind,
        payload: Mapping[str, Any],
        *,
        at: datetime,
        available_at: datetime | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        message_id = new_id("msg")
        self._pending.append(
            {
                "id": message_id,
                "kind": kind.value,
                "payload": dict(payload),
                "state": OutboxState.PENDING.value,
                "attempts": 0,
                "created_at": at,
                "available_at": available_at or at,
                "dedupe_key": dedupe_key,
            }
        )
        return message_id

    def flush(self) -> None:
        if self._pending:
            self._connection.execute(insert(t.outbox), self._pending)
            self._pending = []

    def claim(
        self, *, now: datetime, lease_until: datetime, worker: str, limit: int
    ) -> list[OutboxMessage]:
        """Take up to ``limit`` due messages under a lease.

        ``SKIP LOCKED`` lets several workers claim side by side on PostgreSQL; the
        lease lets another worker take over a message whose worker died. Attempts
        are counted at claim time so that a message that crashes its worker still
        reaches the dead-letter limit.
        """
        o = t.outbox
        due = (
            select(o.c.id)
            .where(
                o.c.state == OutboxState.PENDING.value,
                o.c.available_at <= now,
                (o.c.lease_until.is_(None)) | (o.c.lease_until < now),
            )
            .order_by(o.c.available_at, o.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = self._connection.execute(
            update(o)
            .where(o.c.id.in_(due.scalar_subquery()))
            .values(claimed_by=worker, lease_until=lease_until, attempts=o.c.attempts + 1)
            .returning(*o.c)
        ).all()
        return sorted((message_from_row(r) for r in rows), key=lambda m: (m.available_at, m.id))

    def mark_delivered(self, message_id: str, worker: str, at: datetime) -> None:
        o = t.outbox
        self._connection.execute(
            update(o)
            .where(o.c.id == message_id, o.c.state == OutboxState.PENDING.value)
            .values(
                state=OutboxState.DELIVERED.value,
                delivered_at=at,
                lease_until=None,
                last_error=None,
            )
        )

    def mark_failed(
        self, message_id: str, worker: str, *, error: str, retry_at: datetime | None
    ) -> OutboxState:
        """Back to the queue at ``retry_at``, or dead if attempts are used up (or
        ``retry_at`` is None: a permanent failure)."""
        o = t.outbox
        attempts = self._connection.scalar(select(o.c.attempts).where(o.c.id == message_id)) or 0
        dead = retry_at is None or attempts >= self.max_attempts
        state = OutboxState.DEAD if dead else OutboxState.PENDING
        values: dict[str, Any] = {
            "state": state.value,
            "last_error": error[:2000],
            "lease_until": None,
            "claimed_by": None,
        }
        if retry_at is not None:
            values["available_at"] = retry_at
        self._connection.execute(
            update(o)
            .where(
                o.c.id == message_id,
                o.c.claimed_by == worker,
                o.c.state == OutboxState.PENDING.value,
            )
            .values(values)
        )
        return state

    def list(self, *, state: str | None = None, limit: int = 50) -> list[OutboxMessage]:
        query = (
            select(t.outbox)
            .order_by(t.outbox.c.created_at.desc(), t.outbox.c.id.desc())
            .limit(limit)
        )
        if state:
            query = query.where(t.outbox.c.state == state)
        return [message_from_row(r) for r in self._connection.execute(query)]

    def retry_dead(self, message_id: str | None, at: datetime) -> int:
        o = t.outbox
        query = update(o).where(o.c.state == OutboxState.DEAD.value)
        if message_id is not None:
            query = query.where(o.c.id == message_id)
        result = self._connection.execute(
            query.values(
                state=OutboxState.PENDING.value, attempts=0, available_at=at, lease_until=None
            )
        )
        return result.rowcount

    def purge_delivered(self, before: datetime) -> int:
        """Delete messages delivered before ``before``: their texts (login codes among
        them) are not kept longer than they are useful. Dead letters stay for an
        operator."""
        o = t.outbox
        result = self._connection.execute(
            delete(o).where(o.c.state == OutboxState.DELIVERED.value, o.c.delivered_at < before)
        )
        return result.rowcount

    def counts(self) -> dict[str, int]:
        rows = self._connection.execute(
            select(t.outbox.c.state, func.count()).group_by(t.outbox.c.state)
        )
        return {key: value for key, value in rows}

    def oldest_due(self, now: datetime) -> datetime | None:
        """When the longest-waiting pending message became due (the backlog's age);
        None when nothing is waiting. Messages scheduled for later are not backlog."""
        o = t.outbox
        oldest: datetime | None = self._connection.scalar(
            select(func.min(o.c.available_at)).where(
                o.c.state == OutboxState.PENDING.value, o.c.available_at <= now
            )
        )
        return oldest


class SqlAuditLog:
    def __init__(self, connection: Connection, buffer: list[AuditRecord]) -> None:
        self._connection = connection
        self._buffer = buffer

    def record(self, record: AuditRecord) -> None:
        self._buffer.append(record)

    def flush(self) -> None:
        if self._buffer:
            self._connection.execute(
                insert(t.audit_log),
                [
                    {
                        "id": new_id("aud"),
                        "entity": r.entity,
                        "entity_id": r.entity_id,
                        "from_state": r.from_state,
                        "to_state": r.to_state,
                        "reason": r.reason,
                        "actor": r.actor,
                        "at": r.at,
                    }
                    for r in self._buffer
                ],
            )
            self._buffer.clear()

    def list_for(self, entity: str, entity_id: str) -> list[dict[str, Any]]:
        rows = self._connection.execute(
            select(t.audit_log)
            .where(t.audit_log.c.entity == entity, t.audit_log.c.entity_id == entity_id)
            .order_by(t.audit_log.c.at, t.audit_log.c.id)
        )
        return [dict(r._mapping) for r in rows]
