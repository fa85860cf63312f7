"""The schema, as SQLAlchemy Core tables. Alembic migrations create it; this module
is what the repositories query and what the drift test compares the migrations to.

Invariants live in constraints, not only in code: unique idempotency keys, unique
(provider, event id), one fulfilment per order, balance and bucket use never
negative, one live card per number.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from simrenew.db.types import JsonText, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(48)

# --- catalogue ---------------------------------------------------------------------

# One row: bumped by every catalogue change, so that each process knows when its
# cached copy of the catalogue is out of date.
catalog_state = Table(
    "catalog_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

zone_sets = Table(
    "zone_sets",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("zones", JsonText, nullable=False),
)

product_lines = Table(
    "product_lines",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("cooling_off_days", Integer, nullable=False),
    Column("order_min_minor", BigInteger, nullable=False),
    Column("order_max_minor", BigInteger, nullable=False),
    Column("per_30_days_minor", BigInteger, nullable=False),
    Column("names", JsonText, nullable=False),
    Column("validity_bands", JsonText, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("currency IN ('HKD', 'CNY')", name="currency"),
    CheckConstraint("grace_days >= 0 AND cooling_off_days >= 0", name="days"),
)

offers = Table(
    "offers",
    metadata,
    Column("code", String(48), primary_key=True),
    Column("current_version", Integer, nullable=False),
    Column("product_line", String(32), ForeignKey("product_lines.code"), nullable=False),
    Column("active", Boolean, nullable=False),
)

offer_versions = Table(
    "offer_versions",
    metadata,
    Column("code", String(48), ForeignKey("offers.code"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("product_line", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("body", JsonText, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('plan', 'addon', 'credit', 'validity')", name="kind"),
    CheckConstraint("price_minor >= 0", name="price"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("code", String(48), primary_key=True),
    Column("body", JsonText, nullable=False),
    Column("global_limit", Integer),
    Column("redeemed", Integer, nullable=False, server_default="0"),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "redeemed >= 0 AND (global_limit IS NULL OR redeemed <= global_limit)", name="limit"
    ),
)

promotion_redemptions = Table(
    "promotion_redemptions",
    metadata,
    Column("promotion_code", String(48), ForeignKey("promotions.code"), primary_key=True),
    Column("order_id", ID, primary_key=True),
    Column("card_id", ID, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_promotion_redemptions_card", "card_id", "promotion_code"),
)

# --- cards ---------------------------------------------------------------------------

cards = Table(
    "cards",
    metadata,
    Column("id", ID, primary_key=True),
    Column("iccid", String(20), nullable=False, unique=True),
    Column("eid", String(32), unique=True),
    Column("imsi", String(15)),
    Column("primary_number", String(16), nullable=False),
    Column("second_number", String(16)),
    Column("product_line", String(32), ForeignKey("product_lines.code"), nullable=False),
    Column("form_factor", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("validity_end", Date),
    Column("state_since", UtcDateTime),
    Column("balance_minor", BigInteger, nullable=False, server_default="0"),
    Column("language", String(8), nullable=False),
    Column("email", String(254)),
    Column("renewal_count", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("balance_minor >= 0", name="balance_not_negative"),
    CheckConstraint("state IN ('in_stock', 'active', 'grace', 'terminated')", name="state"),
    CheckConstraint("form_factor IN ('physical', 'esim')", name="form_factor"),
    Index("ix_cards_state_validity_end", "state", "validity_end"),
)

# One row per number of a live card: a number belongs to at most one card at a time,
# whether it is that card's primary or second number.
card_numbers = Table(
    "card_numbers",
    metadata,
    Column("number", String(16), primary_key=True),
    Column("card_id", ID, ForeignKey("cards.id"), nullable=False, index=True),
    Column("role", String(8), nullable=False),
)

# Numbers of terminated cards rest here until they may be issued again.
number_pool = Table(
    "number_pool",
    metadata,
    Column("number", String(16), primary_key=True),
    Column("previous_card_id", ID, nullable=False),
    Column("released_at", UtcDateTime, nullable=False),
    Column("reusable_from", UtcDateTime, nullable=False),
)

validity_periods = Table(
    "validity_periods",
    metadata,
    Column("id", ID, primary_key=True),
    Column("card_id", ID, ForeignKey("cards.id"), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("order_id", ID, unique=True),
    Column("offer_code", String(48), nullable=False),
    CheckConstraint("end_date >= start_date", name="range"),
    Index("ix_validity_periods_card", "card_id", "end_date"),
)

buckets = Table(
    "buckets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("card_id", ID, ForeignKey("cards.id"), nullable=False),
    Column("zone", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("initial", BigInteger, nullable=False),
    Column("used", BigInteger, nullable=False, server_default="0"),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime, nullable=False),
    Column("order_id", ID),
    CheckConstraint("used >= 0 AND used <= initial", name="used_in_range"),
    CheckConstraint("kind IN ('data_mb', 'voice_min', 'sms')", name="kind"),
    Index("ix_buckets_card", "card_id", "valid_until"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("card_id", ID, ForeignKey("cards.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("balance_after_minor", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("order_id", ID),
    Column("at", UtcDateTime, nullable=False),
    CheckConstraint("balance_after_minor >= 0", name="balance_not_negative"),
    # An order moves value at most once per kind (one top-up, one refund).
    UniqueConstraint("order_id", "kind", name="uq_ledger_entries_order_kind"),
    Index("ix_ledger_entries_card", "card_id", "at"),
)

# Usage records from the network feed. The record id is the network's: a record fed
# twice is counted once.
usage_records = Table(
    "usage_records",
    metadata,
    Column("record_id", String(128), primary_key=True),
    Column("card_id", ID, ForeignKey("cards.id"), nullable=False),
    Column("zone", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("overage", BigInteger, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    CheckConstraint("amount >= 0 AND overage >= 0 AND overage <= amount", name="amounts"),
    Index("ix_usage_records_card_at", "card_id", "at"),
)

# --- orders and payments -------------------------------------------------------------

orders = Table(
    "orders",
    metadata,
    Column("id", ID, primary_key=True),
    Column("card_id", ID, ForeignKey("cards.id"), nullable=False),
    Column("offer_code", String(48), nullable=False),
    Column("offer_version", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("actor", String(96), nullable=False),
    Column("state", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("list_price_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("promotions", JsonText, nullable=False),
    # Bonus allowances promised at the quoted price; fulfilment gives exactly these.
    Column("bonus", JsonText, nullable=False),
    Column("idempotency_key", String(128)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "state IN ('awaiting_payment', 'paid', 'fulfilled', 'cancelled', 'expired', "
        "'refunding', 'refunded')",
        name="state",
    ),
    CheckConstraint(
        "price_minor >= 0 AND discount_minor >= 0 AND price_minor + discount_minor = "
        "list_price_minor",
        name="price_adds_up",
    ),
    Index("ix_orders_card_created", "card_id", "created_at"),
    Index("ix_orders_state_expires", "state", "expires_at"),
)

fulfilments = Table(
    "fulfilments",
    metadata,
    # The primary key is the whole point: an order is fulfilled at most once.
    Column("order_id", ID, ForeignKey("orders.id"), primary_key=True),
    Column("card_id", ID, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("order_id", ID, ForeignKey("orders.id"), nullable=False, index=True),
    Column("provider", String(24), nullable=False),
    Column("state", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("provider_ref", String(128)),
    Column("failure_code", String(64)),
    Column("checkout_url", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The janitor's schedule: when the provider is next asked (NULL once final or
    # flagged), how many times it was asked, and since when a person should look.
    Column("recheck_at", UtcDateTime),
    Column("rechecks", Integer, nullable=False, server_default="0"),
    Column("review_since", UtcDateTime),
    # Saved payment methods (migration 0006): the subscriber who asked for this
    # payment's method to be kept for later, and the saved method a payment charged.
    Column("save_for", ID, ForeignKey("subscribers.id")),
    Column("method_id", ID, ForeignKey("payment_methods.id")),
    CheckConstraint(
        "state IN ('pending', 'unknown', 'succeeded', 'failed', 'cancelled')", name="state"
    ),
    Index("ix_payments_state", "state", "updated_at"),
    Index("ix_payments_recheck_at", "recheck_at"),
)

payment_events = Table(
    "payment_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("provider", String(24), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("payment_id", ID, nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("outcome", String(16)),
    Column("payload", Text, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("result_ref", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_idempotency_keys_created", "created_at"),
)

# Responses of mutating HTTP calls, kept 24 h by Idempotency-Key so that a repeat gets
# the first response byte for byte. ``status`` is NULL while the first call is still
# running (a concurrent repeat then gets a retryable 409).
idempotent_requests = Table(
    "idempotent_requests",
    metadata,
    Column("scope", String(96), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer),
    Column("headers", JsonText),
    Column("body", LargeBinary),
    Column("created_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    Index("ix_idempotent_requests_created", "created_at"),
)

# --- side effects and history ---------------------------------------------------------

outbox = Table(
    "outbox",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("payload", JsonText, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("available_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(64)),
    Column("lease_until", UtcDateTime),
    Column("last_error", Text),
    Column("delivered_at", UtcDateTime),
    Column("dedupe_key", String(160), unique=True),
    CheckConstraint("state IN ('pending', 'delivered', 'dead')", name="state"),
    Index("ix_outbox_due", "state", "available_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", ID, primary_key=True),
    Column("entity", String(24), nullable=False),
    Column("entity_id", ID, nullable=False),
    Column("from_state", String(20)),
    Column("to_state", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(96), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_audit_log_entity", "entity", "entity_id", "at"),
)

# What the embedded senders "delivered": the developer inbox and the recorded network
# commands. Unique message ids make a repeated delivery harmless.
dev_inbox = Table(
    "dev_inbox",
    metadata,
    Column("message_id", ID, primary_key=True),
    Column("channel", String(8), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("subject", Text),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_dev_inbox_recipient", "recipient", "created_at"),
)

network_commands = Table(
    "network_commands",
    metadata,
    Column("command_id", ID, primary_key=True),
    Column("action", String(24), nullable=False),
    Column("iccid", String(20), nullable=False, index=True),
    Column("payload", JsonText, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)


# The sandbox provider's own books: it plays a remote payment service, so it keeps
# its charges apart from ours, as a real provider would.
sandbox_charges = Table(
    "sandbox_charges",
    metadata,
    Column("payment_id", ID, primary_key=True),
    Column("scenario", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("status IN ('processing', 'succeeded', 'failed', 'refunded')", name="status"),
)


# --- subscriber accounts, login codes and sessions (migration 0003) ------------------

# A subscriber account is a verified phone number; it is made by the first login.
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("phone", String(16), nullable=False, unique=True),
    Column("email", String(254)),
    Column("language", String(8), nullable=False),
    Column("anti_phishing_word", String(40)),
    Column("created_at", UtcDateTime, nullable=False),
)

subscriber_cards = Table(
    "subscriber_cards",
    metadata,
    Column("subscriber_id", ID, ForeignKey("subscribers.id"), primary_key=True),
    Column("card_id", ID, ForeignKey("cards.id"), primary_key=True, index=True),
    Column("bound_at", UtcDateTime, nullable=False),
)

# Only the HMAC of a code is kept. ``consumed_at`` is set when the code is used,
# replaced, or killed by too many wrong tries (then it is also when the lock began).
login_codes = Table(
    "login_codes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("phone", String(16), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("consumed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("purpose IN ('login', 'bind_card')", name="purpose"),
    CheckConstraint("attempts >= 0", name="attempts"),
    Index("ix_login_codes_phone", "phone", "purpose", "created_at"),
)

# The id is the SHA-256 of the token: the token itself is never stored.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subscriber_id", ID, ForeignKey("subscribers.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("subscriber_id", ID, ForeignKey("subscribers.id"), primary_key=True),
    Column("sms", Boolean, nullable=False),
    Column("email", Boolean, nullable=False),
    Column("in_app", Boolean, nullable=False),
    Column("reminders", Boolean, nullable=False),
    Column("marketing", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# One setting per card (not per account): a card bound to two accounts must still be
# charged at most once per period.
auto_renew_settings = Table(
    "auto_renew_settings",
    metadata,
    Column("card_id", ID, ForeignKey("cards.id"), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("offer_code", String(48)),
    Column("payment_token_id", String(128)),
    Column("updated_by", ID, ForeignKey("subscribers.id"), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("NOT enabled OR offer_code IS NOT NULL", name="offer_when_enabled"),
)


# --- vouchers, staff users and cash at a counter (migration 0005) -------------------

# A print run of voucher cards: a face value in one currency, or one offer.
voucher_batches = Table(
    "voucher_batches",
    metadata,
    Column("id", ID, primary_key=True),
    # The first digits of every serial in the batch.
    Column("prefix", Integer, nullable=False, unique=True),
    Column("value_minor", BigInteger),
    Column("offer_code", String(48)),
    Column("currency", String(3), nullable=False),
    Column("count", Integer, nullable=False),
    Column("created_by", String(96), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "(value_minor IS NOT NULL AND offer_code IS NULL) OR "
        "(value_minor IS NULL AND offer_code IS NOT NULL)",
        name="value_or_offer",
    ),
    CheckConstraint("value_minor IS NULL OR value_minor > 0", name="value_positive"),
    CheckConstraint("count > 0", name="count_positive"),
    CheckConstraint("prefix BETWEEN 1 AND 999999", name="prefix_range"),
    CheckConstraint("currency IN ('HKD', 'CNY')", name="currency"),
)

# One voucher card. Only the HMAC of its PIN is kept (unique: it is what a PIN is
# looked up by). A voucher pays at most one order and an order is paid by at most
# one voucher (the unique columns); "redeemed" always names its order and payment.
vouchers = Table(
    "vouchers",
    metadata,
    Column("serial", String(16), primary_key=True),
    Column("batch_id", ID, ForeignKey("voucher_batches.id"), nullable=False, index=True),
    Column("pin_hash", String(64), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("redeemed_order_id", ID, ForeignKey("orders.id"), unique=True),
    Column("payment_id", ID, ForeignKey("payments.id"), unique=True),
    Column("redeemed_at", UtcDateTime),
    Column("voided_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("state IN ('issued', 'redeemed', 'void')", name="state"),
    CheckConstraint(
        "(state = 'redeemed' AND redeemed_order_id IS NOT NULL AND payment_id IS NOT NULL "
        "AND redeemed_at IS NOT NULL) OR (state <> 'redeemed' AND redeemed_order_id IS NULL "
        "AND payment_id IS NULL AND redeemed_at IS NULL)",
        name="redeemed_names_order",
    ),
    CheckConstraint(
        "(state = 'void' AND voided_at IS NOT NULL) OR (state <> 'void' AND voided_at IS NULL)",
        name="void_has_time",
    ),
)

# Wrong voucher PINs per number; the row is also what serialises the tries for a
# number (it is locked for the length of each try).
voucher_lockouts = Table(
    "voucher_lockouts",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("window_start", UtcDateTime),
    Column("locked_until", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("failures >= 0", name="failures"),
)

# Staff logins: an Argon2id hash (PHC string), never the password.
staff_users = Table(
    "staff_users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(8), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("role IN ('admin', 'cs', 'agent', 'kiosk')", name="role"),
)

# A staff user's session at a till. ``open_for`` is the staff id while the shift is
# open and NULL once closed: its unique constraint allows one open shift per user
# (NULLs never clash), on SQLite and PostgreSQL alike.
cash_shifts = Table(
    "cash_shifts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("staff_id", ID, ForeignKey("staff_users.id"), nullable=False, index=True),
    Column("open_for", ID, unique=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    CheckConstraint(
        "(closed_at IS NULL AND open_for IS NOT NULL AND open_for = staff_id) OR "
        "(closed_at IS NOT NULL AND open_for IS NULL)",
        name="open_for_while_open",
    ),
)

# Cash taken for an order: one per order and per payment; the change adds up.
cash_receipts = Table(
    "cash_receipts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("order_id", ID, ForeignKey("orders.id"), nullable=False, unique=True),
    Column("payment_id", ID, ForeignKey("payments.id"), nullable=False, unique=True),
    Column("shift_id", ID, ForeignKey("cash_shifts.id"), nullable=False, index=True),
    Column("staff_id", ID, ForeignKey("staff_users.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("tendered_minor", BigInteger, nullable=False),
    Column("change_minor", BigInteger, nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint(
        "tendered_minor >= amount_minor AND change_minor = tendered_minor - amount_minor",
        name="change_adds_up",
    ),
    CheckConstraint("currency IN ('HKD', 'CNY')", name="currency"),
)


# --- saved payment methods (migration 0006) ------------------------------------------

# A provider's reusable reference to a subscriber's card or wallet, for auto-renew and
# one-tap payments. Only the provider's token and what a person needs to recognise the
# method (brand, last four digits, expiry) are kept: never a card number or a CVV.
# A deleted method keeps its row (payments name it) with ``deleted_at`` set.
payment_methods = Table(
    "payment_methods",
    metadata,
    Column("id", ID, primary_key=True),
    Column("subscriber_id", ID, ForeignKey("subscribers.id"), nullable=False, index=True),
    Column("provider", String(24), nullable=False),
    Column("token", String(128), nullable=False),
    Column("customer_ref", String(128)),
    Column("brand", String(24), nullable=False),
    Column("last4", String(4)),
    Column("exp_month", Integer),
    Column("exp_year", Integer),
    Column("label", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("deleted_at", UtcDateTime),
    UniqueConstraint("provider", "token", name="uq_payment_methods_provider_token"),
    CheckConstraint("exp_month IS NULL OR exp_month BETWEEN 1 AND 12", name="exp_month"),
    CheckConstraint("last4 IS NULL OR length(last4) = 4", name="last4"),
)

# The sandbox provider's own saved methods ("cards on file" at the remote service):
# a saved sandbox method charges later with the scenario chosen when it was saved.
sandbox_methods = Table(
    "sandbox_methods",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("customer_ref", String(64), nullable=False),
    Column("scenario", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("detached_at", UtcDateTime),
)


# --- refunds (migration 0007) ---

# The refund of one payment, in full (``domain.refunds.Refund``): a payment is refunded
# at most once, which the unique ``payment_id`` enforces whoever asks (fulfilment, a
# duplicate payment, staff) and however often. A refund paid back by hand names the
# payout's reference and the staff user who made it.
refunds = Table(
    "refunds",
    metadata,
    Column("id", ID, primary_key=True),
    Column("payment_id", ID, ForeignKey("payments.id"), nullable=False, unique=True),
    Column("order_id", ID, ForeignKey("orders.id"), nullable=False, index=True),
    Column("provider", String(24), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("note", Text),
    Column("requested_by", String(96), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("provider_ref", String(128)),
    Column("failure_code", String(64)),
    Column("payout_reference", String(128)),
    Column("paid_out_by", String(96)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    CheckConstraint("state IN ('requested', 'succeeded', 'failed', 'manual')", name="state"),
    CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    CheckConstraint("attempts > 0", name="attempts_positive"),
    CheckConstraint(
        "(state = 'succeeded' AND completed_at IS NOT NULL) OR "
        "(state <> 'succeeded' AND completed_at IS NULL)",
        name="completed_when_succeeded",
    ),
    CheckConstraint(
        "(payout_reference IS NULL AND paid_out_by IS NULL) OR "
        "(payout_reference IS NOT NULL AND paid_out_by IS NOT NULL AND state = 'succeeded')",
        name="payout_names_staff",
    ),
    Index("ix_refunds_state", "state", "created_at"),
)


# --- scheduled jobs (migration 0008) ---

# What happens to a card without a click (``domain.jobs``): expiry, termination,
# reminders, auto-renew attempts. One row per (card, period, kind), so recording a job
# twice (fulfilment, usage, the daily sweep) records it once; claimed under a lease.
scheduled_jobs = Table(
    "scheduled_jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("card_id", ID, ForeignKey("cards.id"), nullable=False),
    Column("period", String(24), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(64)),
    Column("lease_until", UtcDateTime),
    Column("last_error", Text),
    Column("done_at", UtcDateTime),
    Column("outcome", Text),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("state IN ('pending', 'done', 'skipped', 'dead')", name="state"),
    UniqueConstraint("card_id", "period", "kind", name="uq_scheduled_jobs_card_period_kind"),
    Index("ix_scheduled_jobs_due", "state", "due_at"),
)


# --- message deliveries (migration 0009) ---

# What the SMS gateways report on each part of each SMS (``domain.deliveries``): one
# row per part submitted, keyed by the gateway's id for it. A receipt that overtakes
# its submission makes the row first (``message_id`` and ``part`` still unknown); the
# submission fills them in. ``status`` only moves forwards.
message_deliveries = Table(
    "message_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", ID),
    Column("part", Integer),
    Column("channel", String(16), nullable=False),
    Column("remote_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64)),
    Column("submitted_at", UtcDateTime),
    Column("done_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "status IN ('accepted', 'enroute', 'delivered', 'expired', 'deleted', "
        "'undeliverable', 'rejected', 'unknown')",
        name="status",
    ),
    CheckConstraint("part IS NULL OR part > 0", name="part_positive"),
    UniqueConstraint("channel", "remote_id", name="uq_message_deliveries_channel_remote_id"),
    Index("ix_message_deliveries_message_id", "message_id", "part"),
)
