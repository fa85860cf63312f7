"""Refunds, one per refunded payment (SQLAlchemy Core)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from simrenew.db import tables as t
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.money import Money
from simrenew.domain.refunds import Refund, RefundNotFound, RefundState
from simrenew.ports import AuditRecord

_F = t.refunds

_BY_ID = select(_F).where(_F.c.id == bindparam("refund_id"))
_BY_PAYMENT = select(_F).where(_F.c.payment_id == bindparam("payment_id"))
_OF_ORDER = (
    select(_F).where(_F.c.order_id == bindparam("order_id")).order_by(_F.c.created_at, _F.c.id)
)
_UPDATE = (
    update(_F)
    .where(_F.c.id == bindparam("b_id"), _F.c.state == bindparam("b_previous"))
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        provider_ref=bindparam("b_provider_ref"),
        failure_code=bindparam("b_failure_code"),
        payout_reference=bindparam("b_payout_reference"),
        paid_out_by=bindparam("b_paid_out_by"),
        updated_at=bindparam("b_updated_at"),
        completed_at=bindparam("b_completed_at"),
    )
)


def refund_from_row(row: Any) -> Refund:
    return Refund(
        id=row.id,
        payment_id=row.payment_id,
        order_id=row.order_id,
        provider=row.provider,
        amount=Money(row.amount_minor, row.currency),
        state=RefundState(row.state),
        reason=row.reason,
        requested_by=row.requested_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        attempts=row.attempts,
        note=row.note,
        provider_ref=row.provider_ref,
        failure_code=row.failure_code,
        payout_reference=row.payout_reference,
        paid_out_by=row.paid_out_by,
        completed_at=row.completed_at,
    )


class SqlRefundRepository:
    def __init__(self, connection: Connection, audit: list[AuditRecord]) -> None:
        self._connection = connection
        self._audit = audit

    def add(self, refund: Refund) -> bool:
        """Store a new refund; False (and nothing written) when its payment has one
        already: a payment is refunded at most once, which the database settles."""
        added = insert_ignoring_duplicates(
            self._connection,
            _F,
            {
                "id": refund.id,
                "payment_id": refund.payment_id,
                "order_id": refund.order_id,
                "provider": refund.provider,
                "amount_minor": refund.amount.amount_minor,
                "currency": refund.amount.currency,
                "state": refund.state.value,
                "reason": refund.reason,
                "note": refund.note,
                "requested_by": refund.requested_by,
                "attempts": refund.attempts,
                "provider_ref": refund.provider_ref,
                "failure_code": refund.failure_code,
                "payout_reference": refund.payout_reference,
                "paid_out_by": refund.paid_out_by,
                "created_at": refund.created_at,
                "updated_at": refund.updated_at,
                "completed_at": refund.completed_at,
            },
            conflict_columns=("payment_id",),
        )
        if added:
            self._audit.append(
                AuditRecord(
                    "refund",
                    refund.id,
                    None,
                    refund.state.value,
                    f"{refund.amount} of payment {refund.payment_id}: {refund.reason}",
                    refund.requested_by,
                    refund.created_at,
                )
            )
        return added

    def get(self, refund_id: str, *, lock: bool = False) -> Refund:
        query = _BY_ID.with_for_update() if lock else _BY_ID
        row = self._connection.execute(query, {"refund_id": refund_id}).first()
        if row is None:
            raise RefundNotFound(key=refund_id)
        return refund_from_row(row)

    def for_payment(self, payment_id: str, *, lock: bool = False) -> Refund | None:
        query = _BY_PAYMENT.with_for_update() if lock else _BY_PAYMENT
        row = self._connection.execute(query, {"payment_id": payment_id}).first()
        return None if row is None else refund_from_row(row)

    def list_for_order(self, order_id: str) -> list[Refund]:
        rows = self._connection.execute(_OF_ORDER, {"order_id": order_id})
        return [refund_from_row(r) for r in rows]

    def list_in_state(self, state: RefundState | None = None, limit: int = 100) -> list[Refund]:
        """Oldest first: what waits longest for a person comes first."""
        query = select(_F).order_by(_F.c.created_at, _F.c.id).limit(limit)
        if state is not None:
            query = query.where(_F.c.state == state.value)
        return [refund_from_row(r) for r in self._connection.execute(query)]

    def update(self, refund: Refund, previous: RefundState, *, reason: str, actor: str) -> None:
        """Store ``refund``'s state and details; the WHERE on the stored ``previous``
        state makes a lost race an error instead of a silent overwrite."""
        result = self._connection.execute(
            _UPDATE,
            {
                "b_id": refund.id,
                "b_previous": previous.value,
                "b_state": refund.state.value,
                "b_attempts": refund.attempts,
                "b_provider_ref": refund.provider_ref,
                "b_failure_code": refund.failure_code,
                "b_payout_reference": refund.payout_reference,
                "b_paid_out_by": refund.paid_out_by,
                "b_updated_at": refund.updated_at,
                "b_completed_at": refund.completed_at,
            },
        )
        if result.rowcount != 1:
            raise RuntimeError(f"refund {refund.id} changed under us (expected {previous.value})")
        self._audit.append(
            AuditRecord(
                "refund",
                refund.id,
                previous.value,
                refund.state.value,
                reason,
                actor,
                refund.updated_at,
            )
        )
