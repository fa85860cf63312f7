"""Read-only queries for reconciliation (``services.reconciliation.ReconciliationBooks``).

Each query runs in its own short read transaction: reconciliation reads to decide,
and every change it then makes goes through the payments service, which locks and
reads the row again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, Engine, exists, select

from simrenew.db import tables as t
from simrenew.db.order_repository import order_from_row, payment_from_row
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.payments import Payment, PaymentState

_OPEN = (PaymentState.PENDING.value, PaymentState.UNKNOWN.value)
_CHUNK = 500  # bound parameters per IN list


class SqlReconciliationBooks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as connection:
            connection = connection.execution_options(sqlite_begin="DEFERRED")
            with connection.begin():
                yield connection

    def payments_by_ref(self, provider: str, refs: Collection[str]) -> list[Payment]:
        wanted = sorted(set(refs))
        found: list[Payment] = []
        p = t.payments
        with self._read() as connection:
            for start in range(0, len(wanted), _CHUNK):
                rows = connection.execute(
                    select(p)
                    .where(
                        p.c.provider == provider,
                        p.c.provider_ref.in_(wanted[start : start + _CHUNK]),
                    )
                    .order_by(p.c.created_at, p.c.id)
                )
                found.extend(payment_from_row(row) for row in rows)
        return found

    def open_payments(
        self, provider: str, *, created_before: datetime, limit: int
    ) -> list[Payment]:
        p = t.payments
        with self._read() as connection:
            rows = connection.execute(
                select(p)
                .where(
                    p.c.provider == provider,
                    p.c.state.in_(_OPEN),
                    p.c.created_at < created_before,
                )
                .order_by(p.c.created_at, p.c.id)
                .limit(limit)
            )
            return [payment_from_row(row) for row in rows]

    def succeeded_payments(
        self, provider: str, *, since: datetime, until: datetime, limit: int
    ) -> list[Payment]:
        p = t.payments
        with self._read() as connection:
            rows = connection.execute(
                select(p)
                .where(
                    p.c.provider == provider,
                    p.c.state == PaymentState.SUCCEEDED.value,
                    p.c.created_at >= since,
                    p.c.updated_at <= until,
                )
                .order_by(p.c.created_at, p.c.id)
                .limit(limit)
            )
            return [payment_from_row(row) for row in rows]

    def orders_in_state(self, state: OrderState, *, limit: int) -> list[Order]:
        o = t.orders
        with self._read() as connection:
            rows = connection.execute(
                select(o)
                .where(o.c.state == state.value)
                .order_by(o.c.updated_at, o.c.id)
                .limit(limit)
            )
            return [order_from_row(row) for row in rows]

    def fulfilled_without_payment(self, *, limit: int) -> list[Order]:
        o, p = t.orders, t.payments
        paid = exists().where(p.c.order_id == o.c.id, p.c.state == PaymentState.SUCCEEDED.value)
        with self._read() as connection:
            rows = connection.execute(
                select(o)
                .where(o.c.state == OrderState.FULFILLED.value, o.c.price_minor > 0, ~paid)
                .order_by(o.c.updated_at, o.c.id)
                .limit(limit)
            )
            return [order_from_row(row) for row in rows]

    def event_outcome(self, provider: str, event_id: str) -> str | None:
        e = t.payment_events
        with self._read() as connection:
            outcome: str | None = connection.scalar(
                select(e.c.outcome).where(e.c.provider == provider, e.c.event_id == event_id)
            )
            return outcome
