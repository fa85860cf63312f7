"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:43:49.053676
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    catalog_state = op.create_table(
        "catalog_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_catalog_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_state")),
    )
    op.bulk_insert(catalog_state, [{"id": 1, "revision": 0}])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("entity", sa.String(length=24), nullable=False),
        sa.Column("entity_id", sa.String(length=48), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=96), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_entity", ["entity", "entity_id", "at"], unique=False)

    op.create_table(
        "dev_inbox",
        sa.Column("message_id", sa.String(length=48), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_dev_inbox")),
    )
    with op.batch_alter_table("dev_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_dev_inbox_recipient", ["recipient", "created_at"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("result_ref", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index("ix_idempotency_keys_created", ["created_at"], unique=False)

    op.create_table(
        "network_commands",
        sa.Column("command_id", sa.String(length=48), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_network_commands")),
    )
    with op.batch_alter_table("network_commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_commands_iccid"), ["iccid"], unique=False)

    op.create_table(
        "number_pool",
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("previous_card_id", sa.String(length=48), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reusable_from", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_number_pool")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'dead')", name=op.f("ck_outbox_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["state", "available_at"], unique=False)

    op.create_table(
        "payment_events",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("provider", sa.String(length=24), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("payment_id", sa.String(length=48), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),
    )
    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_events_payment_id"), ["payment_id"], unique=False
        )

    op.create_table(
        "product_lines",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("cooling_off_days", sa.Integer(), nullable=False),
        sa.Column("order_min_minor", sa.BigInteger(), nullable=False),
        sa.Column("order_max_minor", sa.BigInteger(), nullable=False),
        sa.Column("per_30_days_minor", sa.BigInteger(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("validity_bands", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("currency IN ('HKD', 'CNY')", name=op.f("ck_product_lines_currency")),
        sa.CheckConstraint(
            "grace_days >= 0 AND cooling_off_days >= 0", name=op.f("ck_product_lines_days")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_product_lines")),
    )
    op.create_table(
        "promotions",
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("global_limit", sa.Integer(), nullable=True),
        sa.Column("redeemed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "redeemed >= 0 AND (global_limit IS NULL OR redeemed <= global_limit)",
            name=op.f("ck_promotions_limit"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_promotions")),
    )
    op.create_table(
        "zone_sets",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("zones", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_zone_sets")),
    )
    op.create_table(
        "cards",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("eid", sa.String(length=32), nullable=True),
        sa.Column("imsi", sa.String(length=15), nullable=True),
        sa.Column("primary_number", sa.String(length=16), nullable=False),
        sa.Column("second_number", sa.String(length=16), nullable=True),
        sa.Column("product_line", sa.String(length=32), nullable=False),
        sa.Column("form_factor", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("validity_end", sa.Date(), nullable=True),
        sa.Column("state_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("balance_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("renewal_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "form_factor IN ('physical', 'esim')", name=op.f("ck_cards_form_factor")
        ),
        sa.CheckConstraint(
            "state IN ('in_stock', 'active', 'grace', 'terminated')", name=op.f("ck_cards_state")
        ),
        sa.CheckConstraint("balance_minor >= 0", name=op.f("ck_cards_balance_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_line"],
            ["product_lines.code"],
            name=op.f("fk_cards_product_line_product_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint("eid", name=op.f("uq_cards_eid")),
        sa.UniqueConstraint("iccid", name=op.f("uq_cards_iccid")),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cards_state_validity_end", ["state", "validity_end"], unique=False
        )

    op.create_table(
        "offers",
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("product_line", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_line"],
            ["product_lines.code"],
            name=op.f("fk_offers_product_line_product_lines"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_offers")),
    )
    op.create_table(
        "promotion_redemptions",
        sa.Column("promotion_code", sa.String(length=48), nullable=False),
        sa.Column("order_id", sa.String(length=48), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["promotion_code"],
            ["promotions.code"],
            name=op.f("fk_promotion_redemptions_promotion_code_promotions"),
        ),
        sa.PrimaryKeyConstraint(
            "promotion_code", "order_id", name=op.f("pk_promotion_redemptions")
        ),
    )
    with op.batch_alter_table("promotion_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_promotion_redemptions_card", ["card_id", "promotion_code"], unique=False
        )

    op.create_table(
        "buckets",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("initial", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.String(length=48), nullable=True),
        sa.CheckConstraint("kind IN ('data_mb', 'voice_min', 'sms')", name=op.f("ck_buckets_kind")),
        sa.CheckConstraint("used >= 0 AND used <= initial", name=op.f("ck_buckets_used_in_range")),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_buckets_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buckets")),
    )
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.create_index("ix_buckets_card", ["card_id", "valid_until"], unique=False)

    op.create_table(
        "card_numbers",
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_numbers_card_id_cards")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_card_numbers")),
    )
    with op.batch_alter_table("card_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_numbers_card_id"), ["card_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("order_id", sa.String(length=48), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "balance_after_minor >= 0", name=op.f("ck_ledger_entries_balance_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_ledger_entries_card_id_cards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("order_id", "kind", name="uq_ledger_entries_order_kind"),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_card", ["card_id", "at"], unique=False)

    op.create_table(
        "offer_versions",
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("product_line", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('plan', 'addon', 'credit', 'validity')", name=op.f("ck_offer_versions_kind")
        ),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_offer_versions_price")),
        sa.ForeignKeyConstraint(
            ["code"], ["offers.code"], name=op.f("fk_offer_versions_code_offers")
        ),
        sa.PrimaryKeyConstraint("code", "version", name=op.f("pk_offer_versions")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("offer_code", sa.String(length=48), nullable=False),
        sa.Column("offer_version", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=96), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("list_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("promotions", sa.Text(), nullable=False),
        sa.Column("bonus", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('awaiting_payment', 'paid', 'fulfilled', 'cancelled', 'expired', 'refunding', 'refunded')",
            name=op.f("ck_orders_state"),
        ),
        sa.CheckConstraint(
            "price_minor >= 0 AND discount_minor >= 0 AND price_minor + discount_minor = list_price_minor",
            name=op.f("ck_orders_price_adds_up"),
        ),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_orders_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_card_created", ["card_id", "created_at"], unique=False)
        batch_op.create_index("ix_orders_state_expires", ["state", "expires_at"], unique=False)

    op.create_table(
        "validity_periods",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("order_id", sa.String(length=48), nullable=True),
        sa.Column("offer_code", sa.String(length=48), nullable=False),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_validity_periods_range")),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_validity_periods_card_id_cards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validity_periods")),
        sa.UniqueConstraint("order_id", name=op.f("uq_validity_periods_order_id")),
    )
    with op.batch_alter_table("validity_periods", schema=None) as batch_op:
        batch_op.create_index("ix_validity_periods_card", ["card_id", "end_date"], unique=False)

    op.create_table(
        "fulfilments",
        sa.Column("order_id", sa.String(length=48), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_fulfilments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_fulfilments")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("order_id", sa.String(length=48), nullable=False),
        sa.Column("provider", sa.String(length=24), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'unknown', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_payments_state"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_payments_state", ["state", "updated_at"], unique=False)

    op.create_table(
        "usage_records",
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("overage", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount >= 0 AND overage >= 0 AND overage <= amount",
            name=op.f("ck_usage_records_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_usage_records_card_id_cards")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_usage_records")),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index("ix_usage_records_card_at", ["card_id", "at"], unique=False)

    op.create_table(
        "sandbox_charges",
        sa.Column("payment_id", sa.String(length=48), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('processing', 'succeeded', 'failed', 'refunded')",
            name=op.f("ck_sandbox_charges_status"),
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_sandbox_charges")),
    )


def downgrade() -> None:
    op.drop_table("catalog_state")
    op.drop_table("sandbox_charges")
    op.drop_table("usage_records")

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_state")
        batch_op.drop_index(batch_op.f("ix_payments_order_id"))

    op.drop_table("payments")
    op.drop_table("fulfilments")
    with op.batch_alter_table("validity_periods", schema=None) as batch_op:
        batch_op.drop_index("ix_validity_periods_card")

    op.drop_table("validity_periods")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_state_expires")
        batch_op.drop_index("ix_orders_card_created")

    op.drop_table("orders")
    op.drop_table("offer_versions")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_card")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("card_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_numbers_card_id"))

    op.drop_table("card_numbers")
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.drop_index("ix_buckets_card")

    op.drop_table("buckets")
    with op.batch_alter_table("promotion_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_promotion_redemptions_card")

    op.drop_table("promotion_redemptions")
    op.drop_table("offers")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index("ix_cards_state_validity_end")

    op.drop_table("cards")
    op.drop_table("zone_sets")
    op.drop_table("promotions")
    op.drop_table("product_lines")
    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_events_payment_id"))

    op.drop_table("payment_events")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    op.drop_table("number_pool")
    with op.batch_alter_table("network_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_commands_iccid"))

    op.drop_table("network_commands")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_keys_created")

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("dev_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_dev_inbox_recipient")

    op.drop_table("dev_inbox")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_entity")

    op.drop_table("audit_log")
