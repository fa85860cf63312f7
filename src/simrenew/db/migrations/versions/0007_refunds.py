"""Refunds: one row per refunded payment, with its state, reason, who asked for it and
the manual payout's reference; the refunds already under way or made before get
their rows

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The schema as this revision knows it (not simrenew.db.tables, which moves on).
_audit = sa.table(
    "audit_log",
    sa.column("entity", sa.String),
    sa.column("entity_id", sa.String),
    sa.column("to_state", sa.String),
    sa.column("reason", sa.Text),
    sa.column("at", sa.DateTime(timezone=True)),
)
_outbox = sa.table(
    "outbox",
    sa.column("kind", sa.String),
    sa.column("payload", sa.Text),
    sa.column("state", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("delivered_at", sa.DateTime(timezone=True)),
    sa.column("last_error", sa.Text),
)
_orders = sa.table("orders", sa.column("id", sa.String), sa.column("state", sa.String))
_payments = sa.table(
    "payments",
    sa.column("id", sa.String),
    sa.column("order_id", sa.String),
    sa.column("provider", sa.String),
    sa.column("state", sa.String),
    sa.column("amount_minor", sa.BigInteger),
    sa.column("currency", sa.String),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)

# What services/refunds.py wrote to the audit log for a refund a provider confirmed.
_REFUNDED = re.compile(r"^refunded \((?P<reason>[^)]*)\) ref (?P<ref>\S+)")
_REFUSED = re.compile(r"refund refused by [^:]+: (?P<code>\S+)")


def upgrade() -> None:
    refunds = op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("payment_id", sa.String(length=48), nullable=False),
        sa.Column("order_id", sa.String(length=48), nullable=False),
        sa.Column("provider", sa.String(length=24), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=96), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("payout_reference", sa.String(length=128), nullable=True),
        sa.Column("paid_out_by", sa.String(length=96), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('requested', 'succeeded', 'failed', 'manual')", name=op.f("ck_refunds_state")
        ),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_refunds_amount_not_negative")),
        sa.CheckConstraint("attempts > 0", name=op.f("ck_refunds_attempts_positive")),
        sa.CheckConstraint(
            "(state = 'succeeded' AND completed_at IS NOT NULL) OR "
            "(state <> 'succeeded' AND completed_at IS NULL)",
            name=op.f("ck_refunds_completed_when_succeeded"),
        ),
        sa.CheckConstraint(
            "(payout_reference IS NULL AND paid_out_by IS NULL) OR "
            "(payout_reference IS NOT NULL AND paid_out_by IS NOT NULL AND state = 'succeeded')",
            name=op.f("ck_refunds_payout_names_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_refunds_payment_id")),
    )
    op.create_index(op.f("ix_refunds_order_id"), "refunds", ["order_id"])
    op.create_index(op.f("ix_refunds_state"), "refunds", ["state", "created_at"])
    rows = list(_existing_refunds(op.get_bind()))
    if rows:
        op.bulk_insert(refunds, rows)


def downgrade() -> None:
    op.drop_index(op.f("ix_refunds_state"), table_name="refunds")
    op.drop_index(op.f("ix_refunds_order_id"), table_name="refunds")
    op.drop_table("refunds")


def _existing_refunds(connection: sa.Connection) -> Iterable[dict[str, Any]]:
    """A row for every refund the outbox relay made or is making, so that none is
    asked twice and none is forgotten. For each payment the first source wins:

    1. the audit line of a refund a provider confirmed: ``succeeded``;
    2. its outbox REFUND message (the latest): pending → ``requested``, delivered →
       ``succeeded``, dead → ``manual`` for a provider that cannot refund by itself,
       else ``failed`` (refused, or unreachable until the retries ran out);
    3. a ``refunding`` order's succeeded payment with neither: ``failed`` with
       ``not_requested``, for staff to retry (it was never asked of the provider).
    """
    payments = {
        row.id: row
        for row in connection.execute(sa.select(_payments).where(_payments.c.state == "succeeded"))
    }
    found: dict[str, dict[str, Any]] = {}

    for row in connection.execute(
        sa.select(_audit)
        .where(_audit.c.entity == "payment", _audit.c.to_state == "refunded")
        .order_by(_audit.c.at)
    ):
        match = _REFUNDED.match(row.reason or "")
        payment = payments.get(row.entity_id)
        if payment is None or payment.id in found:
            continue
        reason = match["reason"] if match else "unknown"
        ref = match["ref"] if match and match["ref"] != "-" else None
        found[payment.id] = _row(
            payment, reason, "succeeded", at=row.at, completed_at=row.at, provider_ref=ref
        )

    latest: dict[str, Any] = {}
    for row in connection.execute(
        sa.select(_outbox).where(_outbox.c.kind == "refund").order_by(_outbox.c.created_at)
    ):
        payload = json.loads(row.payload)
        latest[str(payload.get("payment_id"))] = (payload, row)
    for payment_id, (payload, row) in latest.items():
        payment = payments.get(payment_id)
        if payment is None or payment_id in found:
            continue
        reason = str(payload.get("reason") or "unknown")[:64]
        if row.state == "pending":
            found[payment_id] = _row(payment, reason, "requested", at=row.created_at)
        elif row.state == "delivered":
            done = row.delivered_at or row.created_at
            found[payment_id] = _row(payment, reason, "succeeded", at=done, completed_at=done)
        else:
            refused = _REFUSED.search(row.last_error or "")
            code = refused["code"][:64] if refused else "delivery_failed"
            state = "manual" if code == "manual_refund_required" else "failed"
            found[payment_id] = _row(payment, reason, state, at=row.created_at, failure_code=code)

    refunding = {
        row.id
        for row in connection.execute(sa.select(_orders).where(_orders.c.state == "refunding"))
    }
    for payment in payments.values():
        if payment.order_id in refunding and payment.id not in found:
            found[payment.id] = _row(
                payment,
                "unknown",
                "failed",
                at=payment.updated_at,
                failure_code="not_requested",
            )
    return found.values()


def _row(
    payment: Any,
    reason: str,
    state: str,
    *,
    at: datetime,
    completed_at: datetime | None = None,
    provider_ref: str | None = None,
    failure_code: str | None = None,
) -> dict[str, Any]:
    return {
        "id": f"rfd_{uuid.uuid4().hex}",
        "payment_id": payment.id,
        "order_id": payment.order_id,
        "provider": payment.provider,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "state": state,
        "reason": reason,
        # Fulfilment asked for every refund of those days except a duplicate payment's.
        "requested_by": "system:payments" if reason == "duplicate_payment" else "system:fulfilment",
        "attempts": 1,
        "provider_ref": provider_ref,
        "failure_code": failure_code,
        "created_at": at,
        "updated_at": at,
        "completed_at": completed_at,
    }
