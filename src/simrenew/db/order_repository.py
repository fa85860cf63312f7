"""Orders, their fulfilment marker, payments, provider events and idempotency keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from simrenew.db import tables as t
from simrenew.db.serialization import allowance_from_json, allowance_to_json
from simrenew.db.types import UtcDateTime
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.errors import IdempotencyKeyReused, OrderNotFound, PaymentNotFound
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.orders import Channel, Order, OrderState
from simrenew.domain.payments import Payment, PaymentEvent, PaymentState, recheck_after
from simrenew.ports import AuditRecord, IdempotencyClaim

IDEMPOTENCY_TTL = timedelta(hours=24)

# States whose money counts towards the 30-day limit: promised, taken or kept.
_COMMITTED = (
    OrderState.AWAITING_PAYMENT.value,
    OrderState.PAID.value,
    OrderState.FULFILLED.value,
)

# Built once (see card_repository): these run on every renewal.
_ORDER = select(t.orders).where(t.orders.c.id == bindparam("order_id"))
_ORDER_LOCKED = _ORDER.with_for_update()
_INSERT_ORDER = insert(t.orders)
_UPDATE_ORDER = (
    update(t.orders)
    .where(t.orders.c.id == bindparam("b_id"), t.orders.c.state == bindparam("b_previous"))
    .values(state=bindparam("b_state"), updated_at=bindparam("b_updated_at"))
)
_COMMITTED_TOTAL = select(func.coalesce(func.sum(t.orders.c.price_minor), 0)).where(
    t.orders.c.card_id == bindparam("card_id"),
    t.orders.c.created_at >= bindparam("since"),
    t.orders.c.state.in_(_COMMITTED),
)
_INSERT_FULFILMENT = insert(t.fulfilments)
_PAYMENT = select(t.payments).where(t.payments.c.id == bindparam("payment_id"))
_PAYMENT_LOCKED = _PAYMENT.with_for_update()
_PAYMENTS_OF_ORDER = (
    select(t.payments)
    .where(t.payments.c.order_id == bindparam("order_id"))
    .order_by(t.payments.c.created_at)
)
_INSERT_PAYMENT = insert(t.payments)
_UPDATE_PAYMENT = (
    update(t.payments)
    .where(t.payments.c.id == bindparam("b_id"), t.payments.c.state == bindparam("b_previous"))
    .values(
        state=bindparam("b_state"),
        provider_ref=bindparam("b_provider_ref"),
        failure_code=bindparam("b_failure_code"),
        checkout_url=bindparam("b_checkout_url"),
        updated_at=bindparam("b_updated_at"),
    )
)
# A payment that becomes final leaves the janitor's schedule in the same statement.
_UPDATE_PAYMENT_FINAL = _UPDATE_PAYMENT.values(recheck_at=None)
_OPEN_PAYMENT_STATES = tuple(s.value for s in PaymentState if not s.is_final)


def order_from_row(row: Any) -> Order:
    currency = row.currency
    return Order(
        id=row.id,
        card_id=row.card_id,
        offer_code=row.offer_code,
        offer_version=row.offer_version,
        channel=Channel(row.channel),
        actor=row.actor,
        state=OrderState(row.state),
        list_price=Money(row.list_price_minor, currency),
        discount=Money(row.discount_minor, currency),
        price=Money(row.price_minor, currency),
        promotions=tuple(row.promotions),
        created_at=row.created_at,
        expires_at=row.expires_at,
        updated_at=row.updated_at,
        idempotency_key=row.idempotency_key,
        bonus=tuple(allowance_from_json(a) for a in row.bonus),
    )


def payment_from_row(row: Any) -> Payment:
    return Payment(
        id=row.id,
        order_id=row.order_id,
        provider=row.provider,
        state=PaymentState(row.state),
        amount=Money(row.amount_minor, row.currency),
        created_at=row.created_at,
        updated_at=row.updated_at,
        provider_ref=row.provider_ref,
        failure_code=row.failure_code,
        checkout_url=row.checkout_url,
        recheck_at=row.recheck_at,
        rechecks=row.rechecks,
        review_since=row.review_since,
        save_for=row.save_for,
        method_id=row.method_id,
    )


class SqlOrderRepository:
    def __init__(self, connection: Connection, audit: list[AuditRecord]) -> None:
        self._connection = connection
        self._audit = audit

    def get(self, order_id: str, *, lock: bool = False) -> Order:
        row = self._connection.execute(
            _ORDER_LOCKED if lock else _ORDER, {"order_id": order_id}
        ).first()
        if row is None:
            raise OrderNotFound(key=order_id)
        return order_from_row(row)

    def add(self, order: Order, *, reason: str) -> None:
        self._connection.execute(
            _INSERT_ORDER,
            {
                "id": order.id,
                "card_id": order.card_id,
                "offer_code": order.offer_code,
                "offer_version": order.offer_version,
                "channel": order.channel.value,
                "actor": order.actor,
                "state": order.state.value,
                "currency": order.price.currency,
                "list_price_minor": order.list_price.amount_minor,
                "discount_minor": order.discount.amount_minor,
                "price_minor": order.price.amount_minor,
                "promotions": list(order.promotions),
                "bonus": [allowance_to_json(a) for a in order.bonus],
                "idempotency_key": order.idempotency_key,
                "created_at": order.created_at,
                "expires_at": order.expires_at,
                "updated_at": order.updated_at,
            },
        )
        self._audit.append(
            AuditRecord(
                "order", order.id, None, order.state.value, reason, order.actor, order.created_at
            )
        )

    def update(
        self,
        order: Order,
        previous: OrderState,
        *,
        reason: str,
        actor: str,
        audit_from: OrderState | None = None,
    ) -> None:
        """Store ``order``'s new state; the WHERE on the stored ``previous`` state makes
        a lost race an error instead of a silent overwrite. ``audit_from`` is the state
        the audit line starts from when intermediate steps were noted with ``note``."""
        result = self._connection.execute(
            _UPDATE_ORDER,
            {
                "b_id": order.id,
                "b_previous": previous.value,
                "b_state": order.state.value,
                "b_updated_at": order.updated_at,
            },
        )
        if result.rowcount != 1:
            raise RuntimeError(f"order {order.id} changed under us (expected {previous.value})")
        self.note(order, audit_from or previous, reason=reason, actor=actor)

    def note(self, order: Order, previous: OrderState, *, reason: str, actor: str) -> None:
        """Audit a step that is not stored on its own (``paid`` on the way to
        ``fulfilled`` in one transaction)."""
        self._audit.append(
            AuditRecord(
                "order",
                order.id,
                previous.value,
                order.state.value,
                reason,
                actor,
                order.updated_at,
            )
        )

    def list_for_card(self, card_id: str, limit: int = 50) -> list[Order]:
        rows = self._connection.execute(
            select(t.orders)
            .where(t.orders.c.card_id == card_id)
            .order_by(t.orders.c.created_at.desc(), t.orders.c.id.desc())
            .limit(limit)
        )
        return [order_from_row(r) for r in rows]

    def list_for_cards(
        self,
        card_ids: Sequence[str],
        *,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[Order]:
        """Orders of ``card_ids``, newest first (``created_at``, then id), at most
        ``limit``; with ``before`` (an order's created_at and id), only the orders that
        come after it in that order: a cursor that stays right while new orders come."""
        if not card_ids:
            return []
        query = select(t.orders).where(t.orders.c.card_id.in_(list(card_ids)))
        if before is not None:
            at, order_id = before
            query = query.where(
                or_(
                    t.orders.c.created_at < at,
                    and_(t.orders.c.created_at == at, t.orders.c.id < order_id),
                )
            )
        rows = self._connection.execute(
            query.order_by(t.orders.c.created_at.desc(), t.orders.c.id.desc()).limit(limit)
        )
        return [order_from_row(r) for r in rows]

    def list_by_key_prefix(self, card_id: str, prefix: str) -> list[Order]:
        """The card's orders whose idempotency key starts with ``prefix``, oldest first."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._connection.execute(
            select(t.orders)
            .where(
                t.orders.c.card_id == card_id,
                t.orders.c.idempotency_key.like(escaped + "%", escape="\\"),
            )
            .order_by(t.orders.c.created_at, t.orders.c.id)
        )
        return [order_from_row(r) for r in rows]

    def committed_total(self, card_id: str, since: datetime) -> int:
        total = self._connection.scalar(_COMMITTED_TOTAL, {"card_id": card_id, "since": since})
        return int(total or 0)

    def due_for_expiry(self, now: datetime, limit: int) -> list[Order]:
        rows = self._connection.execute(
            select(t.orders)
            .where(
                t.orders.c.state == OrderState.AWAITING_PAYMENT.value,
                t.orders.c.expires_at <= now,
            )
            .order_by(t.orders.c.expires_at, t.orders.c.id)
            .limit(limit)
        )
        return [order_from_row(r) for r in rows]

    def add_fulfilment(self, order_id: str, card_id: str, at: datetime) -> None:
        # The primary key on order_id refuses a second fulfilment even if code failed to.
        self._connection.execute(
            _INSERT_FULFILMENT, {"order_id": order_id, "card_id": card_id, "at": at}
        )

    def count_by_state(self) -> dict[OrderState, int]:
        rows = self._connection.execute(
            select(t.orders.c.state, func.count()).group_by(t.orders.c.state)
        )
        return {OrderState(state): count for state, count in rows}


class SqlPaymentRepository:
    def __init__(self, connection: Connection, audit: list[AuditRecord]) -> None:
        self._connection = connection
        self._audit = audit

    def get(self, payment_id: str, *, lock: bool = False) -> Payment:
        row = self._connection.execute(
            _PAYMENT_LOCKED if lock else _PAYMENT, {"payment_id": payment_id}
        ).first()
        if row is None:
            raise PaymentNotFound(key=payment_id)
        return payment_from_row(row)

    def add(self, payment: Payment, *, actor: str) -> None:
        """Store a new payment; one that is not final goes on the janitor's schedule
        from its start (the first re-check 5 minutes after ``created_at``)."""
        self._connection.execute(
            _INSERT_PAYMENT,
            {
                "id": payment.id,
                "order_id": payment.order_id,
                "provider": payment.provider,
                "state": payment.state.value,
                "amount_minor": payment.amount.amount_minor,
                "currency": payment.amount.currency,
                "provider_ref": payment.provider_ref,
                "failure_code": payment.failure_code,
                "checkout_url": payment.checkout_url,
                "created_at": payment.created_at,
                "updated_at": payment.updated_at,
                "recheck_at": (
                    None if payment.state.is_final else recheck_after(payment.created_at, 0)
                ),
                "rechecks": 0,
                "review_since": None,
                "save_for": payment.save_for,
                "method_id": payment.method_id,
            },
        )
        self._audit.append(
            AuditRecord(
                "payment",
                payment.id,
                None,
                payment.state.value,
                "started",
                actor,
                payment.created_at,
            )
        )

    def update(self, payment: Payment, previous: PaymentState, *, reason: str, actor: str) -> None:
        """Store ``payment``'s state and provider details (not its schedule: see
        ``claim_due_rechecks`` and ``record_check``); a final state takes it off the
        janitor's schedule. The WHERE on ``previous`` turns a lost race into an error."""
        result = self._connection.execute(
            _UPDATE_PAYMENT_FINAL if payment.state.is_final else _UPDATE_PAYMENT,
            {
                "b_id": payment.id,
                "b_previous": previous.value,
                "b_state": payment.state.value,
                "b_provider_ref": payment.provider_ref,
                "b_failure_code": payment.failure_code,
                "b_checkout_url": payment.checkout_url,
                "b_updated_at": payment.updated_at,
            },
        )
        if result.rowcount != 1:
            raise RuntimeError(f"payment {payment.id} changed under us (expected {previous.value})")
        if payment.state != previous:
            self._audit.append(
                AuditRecord(
                    "payment",
                    payment.id,
                    previous.value,
                    payment.state.value,
                    reason,
                    actor,
                    payment.updated_at,
                )
            )

    def list_for_order(self, order_id: str) -> list[Payment]:
        rows = self._connection.execute(
            select(t.payments)
            .where(t.payments.c.order_id == order_id)
            .order_by(t.payments.c.created_at)
        )
        return [payment_from_row(r) for r in rows]

    def list_succeeded_for_orders(self, order_ids: Sequence[str]) -> list[Payment]:
        """The succeeded payments of ``order_ids``, oldest first (one query for a page
        of order history)."""
        if not order_ids:
            return []
        rows = self._connection.execute(
            select(t.payments)
            .where(
                t.payments.c.order_id.in_(list(order_ids)),
                t.payments.c.state == PaymentState.SUCCEEDED.value,
            )
            .order_by(t.payments.c.created_at, t.payments.c.id)
        )
        return [payment_from_row(r) for r in rows]

    def list_in_states(self, states: Iterable[PaymentState], limit: int) -> list[Payment]:
        rows = self._connection.execute(
            select(t.payments)
            .where(t.payments.c.state.in_([s.value for s in states]))
            .order_by(t.payments.c.updated_at)
            .limit(limit)
        )
        return [payment_from_row(r) for r in rows]

    def claim_due_rechecks(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Payment]:
        """Take up to ``limit`` payments whose re-check is due, oldest due first, by
        moving their ``recheck_at`` to ``lease_until``: no other janitor takes them
        until then, and if this one dies they are simply due again.

        On PostgreSQL ``SKIP LOCKED`` lets janitors claim side by side without waiting
        on each other; on SQLite the write transaction's lock serialises the claims.
        The returned payments carry ``recheck_at`` as stored (the lease), which tells
        the janitor later whether its claim still holds.
        """
        p = t.payments
        due = (
            select(p.c.id)
            .where(p.c.recheck_at <= now, p.c.state.in_(_OPEN_PAYMENT_STATES))
            .order_by(p.c.recheck_at, p.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = self._connection.execute(
            update(p)
            .where(p.c.id.in_(due.scalar_subquery()))
            .values(recheck_at=lease_until)
            .returning(*p.c)
        ).all()
        claimed = [payment_from_row(r) for r in rows]
        return sorted(claimed, key=lambda payment: (payment.created_at, payment.id))

    def record_check(
        self, payment_id: str, *, next_at: datetime | None, review_since: datetime | None
    ) -> None:
        """Count one re-check of ``payment_id``: ``rechecks + 1`` and the next check at
        ``next_at`` (None: no more). ``review_since`` flags it for manual review (an
        earlier flag's time is kept). A final payment is never put back on the
        schedule nor flagged, whatever the caller passes."""
        p = t.payments
        is_open = p.c.state.in_(_OPEN_PAYMENT_STATES)
        values: dict[str, Any] = {"rechecks": p.c.rechecks + 1, "recheck_at": None}
        if next_at is not None:
            values["recheck_at"] = case((is_open, literal(next_at, UtcDateTime())), else_=None)
        if review_since is not None:
            values["review_since"] = case(
                (is_open, func.coalesce(p.c.review_since, literal(review_since, UtcDateTime()))),
                else_=p.c.review_since,
            )
        self._connection.execute(update(p).where(p.c.id == payment_id).values(values))

    def list_for_review(self, limit: int = 100) -> list[Payment]:
        """Payments flagged for manual review and still not final, longest waiting
        first."""
        p = t.payments
        rows = self._connection.execute(
            select(p)
            .where(p.c.state.in_(_OPEN_PAYMENT_STATES), p.c.review_since.is_not(None))
            .order_by(p.c.review_since, p.c.id)
            .limit(limit)
        )
        return [payment_from_row(r) for r in rows]

    def record_event(
        self, event: PaymentEvent, payload: str, at: datetime, *, outcome: str
    ) -> bool:
        """Keep the event; False if this (provider, event id) was seen before."""
        return insert_ignoring_duplicates(
            self._connection,
            t.payment_events,
            {
                "id": new_id("pev"),
                "provider": event.provider,
                "event_id": event.event_id,
                "payment_id": event.payment_id,
                "state": event.state.value,
                "outcome": outcome,
                "payload": payload,
                "received_at": at,
            },
            conflict_columns=("provider", "event_id"),
        )

    def events_for(self, payment_id: str) -> list[dict[str, Any]]:
        rows = self._connection.execute(
            select(t.payment_events)
            .where(t.payment_events.c.payment_id == payment_id)
            .order_by(t.payment_events.c.received_at)
        )
        return [dict(r._mapping) for r in rows]


class SqlIdempotencyStore:
    """Idempotency keys, kept 24 h. The primary key (scope, key) is the guard: on
    PostgreSQL a concurrent duplicate waits on the first insert and then sees it."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def claim(
        self, key: str, scope: str, request_hash: str, at: datetime, *, result_ref: str
    ) -> IdempotencyClaim:
        """Take ``key`` for a request that will produce ``result_ref`` (e.g. the id the
        new order will have); the row only survives if that transaction commits."""
        table = t.idempotency_keys
        inserted = insert_ignoring_duplicates(
            self._connection,
            table,
            {
                "scope": scope,
                "key": key,
                "request_hash": request_hash,
                "result_ref": result_ref,
                "created_at": at,
            },
        )
        if inserted:
            return IdempotencyClaim(True, request_hash, None)
        row = self._connection.execute(
            select(table.c.request_hash, table.c.result_ref, table.c.created_at)
            .where(table.c.scope == scope, table.c.key == key)
            .with_for_update()
        ).one()
        if row.created_at < at - IDEMPOTENCY_TTL:
            # Expired: the key is free again.
            self._connection.execute(
                update(table)
                .where(table.c.scope == scope, table.c.key == key)
                .values(request_hash=request_hash, result_ref=result_ref, created_at=at)
            )
            return IdempotencyClaim(True, request_hash, None)
        if row.request_hash != request_hash:
            raise IdempotencyKeyReused(key=key)
        return IdempotencyClaim(False, row.request_hash, row.result_ref)

    def complete(self, key: str, scope: str, result_ref: str) -> None:
        table = t.idempotency_keys
        self._connection.execute(
            update(table)
            .where(table.c.scope == scope, table.c.key == key)
            .values(result_ref=result_ref)
        )

    def purge(self, before: datetime) -> int:
        result = self._connection.execute(
            delete(t.idempotency_keys).where(t.idempotency_keys.c.created_at < before)
        )
        return result.rowcount
