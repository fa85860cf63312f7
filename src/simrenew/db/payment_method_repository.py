"""Saved payment methods (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from simrenew.db import tables as t
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.errors import PaymentMethodNotFound
from simrenew.domain.payment_methods import PaymentMethod

_M = t.payment_methods


def _method(row: Any) -> PaymentMethod:
    return PaymentMethod(
        id=row.id,
        subscriber_id=row.subscriber_id,
        provider=row.provider,
        token=row.token,
        customer_ref=row.customer_ref,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        label=row.label,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
    )


class SqlPaymentMethodRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, method: PaymentMethod) -> PaymentMethod:
        """Store ``method``; the provider's token is unique, so saving the same method
        twice (a replayed outbox message, the same card saved by two payments) keeps
        the first row, which is returned."""
        insert_ignoring_duplicates(
            self._connection,
            _M,
            {
                "id": method.id,
                "subscriber_id": method.subscriber_id,
                "provider": method.provider,
                "token": method.token,
                "customer_ref": method.customer_ref,
                "brand": method.brand,
                "last4": method.last4,
                "exp_month": method.exp_month,
                "exp_year": method.exp_year,
                "label": method.label,
                "created_at": method.created_at,
                "deleted_at": None,
            },
            conflict_columns=("provider", "token"),
        )
        row = self._connection.execute(
            select(_M).where(_M.c.provider == method.provider, _M.c.token == method.token)
        ).one()
        return _method(row)

    def get(self, method_id: str, *, lock: bool = False) -> PaymentMethod:
        query = select(_M).where(_M.c.id == method_id)
        row = self._connection.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise PaymentMethodNotFound(key=method_id)
        return _method(row)

    def list_live(self, subscriber_id: str) -> list[PaymentMethod]:
        rows = self._connection.execute(
            select(_M)
            .where(_M.c.subscriber_id == subscriber_id, _M.c.deleted_at.is_(None))
            .order_by(_M.c.created_at.desc(), _M.c.id)
        )
        return [_method(row) for row in rows]

    def customer_ref(self, subscriber_id: str, provider: str) -> str | None:
        """The customer the subscriber already is at ``provider`` (from any method
        saved there, deleted or not), so that new methods are filed together."""
        return self._connection.execute(
            select(_M.c.customer_ref)
            .where(
                _M.c.subscriber_id == subscriber_id,
                _M.c.provider == provider,
                _M.c.customer_ref.is_not(None),
            )
            .order_by(_M.c.created_at)
            .limit(1)
        ).scalar()

    def delete(self, method_id: str, at: datetime) -> bool:
        """Mark the method deleted; False when it already was."""
        result = self._connection.execute(
            update(_M).where(_M.c.id == method_id, _M.c.deleted_at.is_(None)).values(deleted_at=at)
        )
        return result.rowcount == 1
