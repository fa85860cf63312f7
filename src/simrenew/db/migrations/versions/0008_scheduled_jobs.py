"""Scheduled jobs: expiry, termination, reminders and (reserved) auto-renew attempts
as rows, one per card, period and kind

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No rows are written here: the worker's sweep on start records the jobs of every
    # card whose time is near, and the lifecycle backstop covers the rest.
    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("period", sa.String(length=24), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'done', 'skipped', 'dead')",
            name=op.f("ck_scheduled_jobs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_scheduled_jobs_card_id_cards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_jobs")),
        sa.UniqueConstraint("card_id", "period", "kind", name="uq_scheduled_jobs_card_period_kind"),
    )
    op.create_index(op.f("ix_scheduled_jobs_due"), "scheduled_jobs", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_scheduled_jobs_due"), table_name="scheduled_jobs")
    op.drop_table("scheduled_jobs")
