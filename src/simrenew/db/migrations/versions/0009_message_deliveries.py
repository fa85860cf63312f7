"""Message deliveries: what the SMS gateways' delivery receipts say of each part of
each SMS, one row per part submitted

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign key to outbox: delivered outbox rows are purged after a week, while a
    # receipt may even arrive before its submission is recorded.
    op.create_table(
        "message_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=48), nullable=True),
        sa.Column("part", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("remote_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('accepted', 'enroute', 'delivered', 'expired', 'deleted', "
            "'undeliverable', 'rejected', 'unknown')",
            name=op.f("ck_message_deliveries_status"),
        ),
        sa.CheckConstraint(
            "part IS NULL OR part > 0", name=op.f("ck_message_deliveries_part_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_deliveries")),
        sa.UniqueConstraint("channel", "remote_id", name="uq_message_deliveries_channel_remote_id"),
    )
    op.create_index(
        op.f("ix_message_deliveries_message_id"),
        "message_deliveries",
        ["message_id", "part"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_message_deliveries_message_id"), table_name="message_deliveries")
    op.drop_table("message_deliveries")
