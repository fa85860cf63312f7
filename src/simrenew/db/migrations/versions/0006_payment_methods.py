"""Saved payment methods: provider tokens per subscriber, the sandbox's own cards on
file, and on each payment who asked to save its method and which saved method it used

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("subscriber_id", sa.String(length=48), nullable=False),
        sa.Column("provider", sa.String(length=24), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("customer_ref", sa.String(length=128), nullable=True),
        sa.Column("brand", sa.String(length=24), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "exp_month IS NULL OR exp_month BETWEEN 1 AND 12",
            name=op.f("ck_payment_methods_exp_month"),
        ),
        sa.CheckConstraint(
            "last4 IS NULL OR length(last4) = 4", name=op.f("ck_payment_methods_last4")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_payment_methods_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("provider", "token", name="uq_payment_methods_provider_token"),
    )
    op.create_index(op.f("ix_payment_methods_subscriber_id"), "payment_methods", ["subscriber_id"])
    op.create_table(
        "sandbox_methods",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("customer_ref", sa.String(length=64), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detached_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_sandbox_methods")),
    )
    # batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("save_for", sa.String(length=48), nullable=True))
        batch.add_column(sa.Column("method_id", sa.String(length=48), nullable=True))
        batch.create_foreign_key(
            op.f("fk_payments_save_for_subscribers"), "subscribers", ["save_for"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_payments_method_id_payment_methods"),
            "payment_methods",
            ["method_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint(op.f("fk_payments_method_id_payment_methods"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_payments_save_for_subscribers"), type_="foreignkey")
        batch.drop_column("method_id")
        batch.drop_column("save_for")
    op.drop_table("sandbox_methods")
    op.drop_index(op.f("ix_payment_methods_subscriber_id"), table_name="payment_methods")
    op.drop_table("payment_methods")
