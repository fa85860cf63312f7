"""Voucher batches, vouchers and their per-number lock; staff users, cash shifts and
cash receipts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voucher_batches",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("prefix", sa.Integer(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=True),
        sa.Column("offer_code", sa.String(length=48), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(value_minor IS NOT NULL AND offer_code IS NULL) OR "
            "(value_minor IS NULL AND offer_code IS NOT NULL)",
            name=op.f("ck_voucher_batches_value_or_offer"),
        ),
        sa.CheckConstraint(
            "value_minor IS NULL OR value_minor > 0", name=op.f("ck_voucher_batches_value_positive")
        ),
        sa.CheckConstraint("count > 0", name=op.f("ck_voucher_batches_count_positive")),
        sa.CheckConstraint(
            "prefix BETWEEN 1 AND 999999", name=op.f("ck_voucher_batches_prefix_range")
        ),
        sa.CheckConstraint("currency IN ('HKD', 'CNY')", name=op.f("ck_voucher_batches_currency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_batches")),
        sa.UniqueConstraint("prefix", name=op.f("uq_voucher_batches_prefix")),
    )
    op.create_table(
        "vouchers",
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=48), nullable=False),
        sa.Column("pin_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("redeemed_order_id", sa.String(length=48), nullable=True),
        sa.Column("payment_id", sa.String(length=48), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('issued', 'redeemed', 'void')", name=op.f("ck_vouchers_state")
        ),
        sa.CheckConstraint(
            "(state = 'redeemed' AND redeemed_order_id IS NOT NULL AND payment_id IS NOT NULL "
            "AND redeemed_at IS NOT NULL) OR (state <> 'redeemed' AND redeemed_order_id IS NULL "
            "AND payment_id IS NULL AND redeemed_at IS NULL)",
            name=op.f("ck_vouchers_redeemed_names_order"),
        ),
        sa.CheckConstraint(
            "(state = 'void' AND voided_at IS NOT NULL) OR (state <> 'void' AND voided_at IS NULL)",
            name=op.f("ck_vouchers_void_has_time"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["voucher_batches.id"],
            name=op.f("fk_vouchers_batch_id_voucher_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_vouchers_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_order_id"],
            ["orders.id"],
            name=op.f("fk_vouchers_redeemed_order_id_orders"),
        ),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_vouchers_payment_id")),
        sa.UniqueConstraint("pin_hash", name=op.f("uq_vouchers_pin_hash")),
        sa.UniqueConstraint("redeemed_order_id", name=op.f("uq_vouchers_redeemed_order_id")),
    )
    op.create_index(op.f("ix_vouchers_batch_id"), "vouchers", ["batch_id"], unique=False)
    op.create_table(
        "voucher_lockouts",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_voucher_lockouts_failures")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_voucher_lockouts")),
    )
    op.create_table(
        "staff_users",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'cs', 'agent', 'kiosk')", name=op.f("ck_staff_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_users_username")),
    )
    op.create_table(
        "cash_shifts",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("staff_id", sa.String(length=48), nullable=False),
        sa.Column("open_for", sa.String(length=48), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(closed_at IS NULL AND open_for IS NOT NULL AND open_for = staff_id) OR "
            "(closed_at IS NOT NULL AND open_for IS NULL)",
            name=op.f("ck_cash_shifts_open_for_while_open"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name=op.f("fk_cash_shifts_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_shifts")),
        sa.UniqueConstraint("open_for", name=op.f("uq_cash_shifts_open_for")),
    )
    op.create_index(op.f("ix_cash_shifts_staff_id"), "cash_shifts", ["staff_id"], unique=False)
    op.create_table(
        "cash_receipts",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("order_id", sa.String(length=48), nullable=False),
        sa.Column("payment_id", sa.String(length=48), nullable=False),
        sa.Column("shift_id", sa.String(length=48), nullable=False),
        sa.Column("staff_id", sa.String(length=48), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("tendered_minor", sa.BigInteger(), nullable=False),
        sa.Column("change_minor", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_cash_receipts_amount_positive")),
        sa.CheckConstraint(
            "tendered_minor >= amount_minor AND change_minor = tendered_minor - amount_minor",
            name=op.f("ck_cash_receipts_change_adds_up"),
        ),
        sa.CheckConstraint("currency IN ('HKD', 'CNY')", name=op.f("ck_cash_receipts_currency")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_cash_receipts_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_cash_receipts_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["shift_id"], ["cash_shifts.id"], name=op.f("fk_cash_receipts_shift_id_cash_shifts")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name=op.f("fk_cash_receipts_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_receipts")),
        sa.UniqueConstraint("order_id", name=op.f("uq_cash_receipts_order_id")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_cash_receipts_payment_id")),
    )
    op.create_index(op.f("ix_cash_receipts_shift_id"), "cash_receipts", ["shift_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cash_receipts_shift_id"), table_name="cash_receipts")
    op.drop_table("cash_receipts")
    op.drop_index(op.f("ix_cash_shifts_staff_id"), table_name="cash_shifts")
    op.drop_table("cash_shifts")
    op.drop_table("staff_users")
    op.drop_table("voucher_lockouts")
    op.drop_index(op.f("ix_vouchers_batch_id"), table_name="vouchers")
    op.drop_table("vouchers")
    op.drop_table("voucher_batches")
