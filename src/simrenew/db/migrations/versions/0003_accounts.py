"""Subscriber accounts, login codes, sessions, preferences and auto-renew settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("anti_phishing_word", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("phone", name=op.f("uq_subscribers_phone")),
    )
    op.create_table(
        "subscriber_cards",
        sa.Column("subscriber_id", sa.String(length=48), nullable=False),
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_subscriber_cards_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_cards_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "card_id", name=op.f("pk_subscriber_cards")),
    )
    op.create_index(
        op.f("ix_subscriber_cards_card_id"), "subscriber_cards", ["card_id"], unique=False
    )
    op.create_table(
        "login_codes",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_login_codes_attempts")),
        sa.CheckConstraint(
            "purpose IN ('login', 'bind_card')", name=op.f("ck_login_codes_purpose")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_codes")),
    )
    op.create_index(
        "ix_login_codes_phone", "login_codes", ["phone", "purpose", "created_at"], unique=False
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.String(length=48), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_sessions_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_subscriber_id"), "sessions", ["subscriber_id"], unique=False)
    op.create_table(
        "notification_preferences",
        sa.Column("subscriber_id", sa.String(length=48), nullable=False),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("reminders", sa.Boolean(), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_notification_preferences_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("subscriber_id", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "auto_renew_settings",
        sa.Column("card_id", sa.String(length=48), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("offer_code", sa.String(length=48), nullable=True),
        sa.Column("payment_token_id", sa.String(length=128), nullable=True),
        sa.Column("updated_by", sa.String(length=48), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT enabled OR offer_code IS NOT NULL",
            name=op.f("ck_auto_renew_settings_offer_when_enabled"),
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_auto_renew_settings_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["subscribers.id"],
            name=op.f("fk_auto_renew_settings_updated_by_subscribers"),
        ),
        sa.PrimaryKeyConstraint("card_id", name=op.f("pk_auto_renew_settings")),
    )


def downgrade() -> None:
    op.drop_table("auto_renew_settings")
    op.drop_table("notification_preferences")
    op.drop_index(op.f("ix_sessions_subscriber_id"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("ix_login_codes_phone", table_name="login_codes")
    op.drop_table("login_codes")
    op.drop_index(op.f("ix_subscriber_cards_card_id"), table_name="subscriber_cards")
    op.drop_table("subscriber_cards")
    op.drop_table("subscribers")
