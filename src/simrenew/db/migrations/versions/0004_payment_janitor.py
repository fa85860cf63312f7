"""The payment janitor's schedule: recheck_at, rechecks and review_since on payments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recheck_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rechecks", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("review_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_payments_recheck_at", ["recheck_at"], unique=False)

    # Payments left open before the janitor existed are due at once: the first pass
    # asks their providers, and the schedule (counted from each payment's start) then
    # either goes on or, for the ones older than a week, flags them for review.
    payments = sa.table(
        "payments",
        sa.column("state", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("recheck_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        payments.update()
        .where(payments.c.state.in_(("pending", "unknown")))
        .values(recheck_at=payments.c.created_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_recheck_at")
        batch_op.drop_column("review_since")
        batch_op.drop_column("rechecks")
        batch_op.drop_column("recheck_at")
