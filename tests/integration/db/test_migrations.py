"""The migrations make exactly the schema ``simrenew.db.tables`` describes, on SQLite
and PostgreSQL, and the invariants hold in the database on their own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, String, Table, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from simrenew.db import tables as t
from simrenew.db.migrate import alembic_config, current_revision, head_revision, is_current, upgrade

AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def schema_differences(engine: Engine, metadata: MetaData = t.metadata) -> list[Any]:
    """What autogenerate would change to make the database match ``metadata``.

    Types are compared too. Our TypeDecorators need no special case: Alembic compares
    their ``impl`` (``UtcDateTime`` is ``DateTime(timezone=True)``, ``JsonText`` is
    ``Text``), which is what the migration creates.
    """
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def downgrade(engine: Engine, revision: str = "base") -> None:
    """The mirror of ``simrenew.db.migrate.upgrade``."""
    config = alembic_config()
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        connection.commit()


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


# --- the schema -------------------------------------------------------------------------


def test_the_migrated_schema_matches_the_tables_module(engine: Engine) -> None:
    assert schema_differences(engine) == []
    assert table_names(engine) == set(t.metadata.tables) | {"alembic_version"}
    assert is_current(engine)
    assert current_revision(engine) == head_revision()


def test_the_comparison_sees_drift(engine: Engine) -> None:
    # Guard against a vacuous check: a column the database lacks and a changed type
    # must both show up.
    drifted = MetaData(naming_convention=t.metadata.naming_convention)
    for table in t.metadata.sorted_tables:
        table.to_metadata(drifted)
    cards = drifted.tables["cards"]
    assert isinstance(cards, Table)
    cards.append_column(Column("nickname", String(40)))
    drifted.tables["outbox"].c.kind.type = String(40)

    differences = schema_differences(engine, drifted)
    kinds = sorted(d[0] if isinstance(d, tuple) else d[0][0] for d in differences)
    assert kinds == ["add_column", "modify_type"]


def test_upgrade_again_is_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    assert is_current(engine)
    assert schema_differences(engine) == []


@pytest.fixture
def restored(engine: Engine) -> Iterator[Engine]:
    """The database, brought back to head whatever the test did to it (the PostgreSQL
    database is shared by the whole run)."""
    try:
        yield engine
    finally:
        upgrade(engine)


def test_downgrade_to_base_then_upgrade_again(restored: Engine) -> None:
    engine = restored
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not is_current(engine)
    assert table_names(engine) <= {"alembic_version"}

    upgrade(engine)
    assert is_current(engine)
    assert schema_differences(engine) == []
    assert table_names(engine) == set(t.metadata.tables) | {"alembic_version"}


# --- constraints hold without the code ------------------------------------------------------


def base_rows(engine: Engine) -> None:
    """A product line, two cards and an order for the constraint cases to hang on."""
    card = {
        "product_line": "PL",
        "form_factor": "physical",
        "state": "active",
        "language": "en",
        "created_at": AT,
        "updated_at": AT,
    }
    with engine.begin() as connection:
        connection.execute(
            insert(t.product_lines),
            {
                "code": "PL",
                "currency": "HKD",
                "grace_days": 30,
                "cooling_off_days": 90,
                "order_min_minor": 1000,
                "order_max_minor": 100000,
                "per_30_days_minor": 300000,
                "names": {"en": "Line"},
                "validity_bands": [],
                "updated_at": AT,
            },
        )
        connection.execute(
            insert(t.cards),
            [
                {
                    **card,
                    "id": "card_1",
                    "iccid": "8985201260001000018",
                    "primary_number": "+85251234567",
                },
                {
                    **card,
                    "id": "card_2",
                    "iccid": "8985201260001000026",
                    "primary_number": "+85261234567",
                },
            ],
        )
        connection.execute(
            insert(t.orders),
            {
                "id": "ord_1",
                "card_id": "card_1",
                "offer_code": "ONE2-M1",
                "offer_version": 1,
                "channel": "web",
                "actor": "test",
                "state": "paid",
                "currency": "HKD",
                "list_price_minor": 8800,
                "discount_minor": 0,
                "price_minor": 8800,
                "promotions": [],
                "bonus": [],
                "created_at": AT,
                "expires_at": AT,
                "updated_at": AT,
            },
        )


def ledger_entry(entry_id: str, balance_after: int, order_id: str | None = None) -> dict[str, Any]:
    return {
        "id": entry_id,
        "card_id": "card_1",
        "kind": "top_up",
        "amount_minor": 5000,
        "currency": "HKD",
        "balance_after_minor": balance_after,
        "reason": "test",
        "order_id": order_id,
        "at": AT,
    }


def bucket(bucket_id: str, initial: int, used: int) -> dict[str, Any]:
    return {
        "id": bucket_id,
        "card_id": "card_1",
        "zone": "HK",
        "kind": "data_mb",
        "initial": initial,
        "used": used,
        "valid_from": AT,
        "valid_until": AT,
    }


def card(card_id: str, iccid: str, number: str, balance: int) -> dict[str, Any]:
    return {
        "id": card_id,
        "iccid": iccid,
        "primary_number": number,
        "product_line": "PL",
        "form_factor": "esim",
        "state": "in_stock",
        "balance_minor": balance,
        "language": "en",
        "created_at": AT,
        "updated_at": AT,
    }


def payment_event(event_row_id: str, event_id: str, provider: str = "sandbox") -> dict[str, Any]:
    return {
        "id": event_row_id,
        "provider": provider,
        "event_id": event_id,
        "payment_id": "pay_1",
        "state": "succeeded",
        "payload": "{}",
        "received_at": AT,
    }


# (table, a row the database accepts, a row that breaks the invariant, the constraint)
CASES: dict[str, tuple[Table, dict[str, Any], dict[str, Any], str]] = {
    "one fulfilment per order": (
        t.fulfilments,
        {"order_id": "ord_1", "card_id": "card_1", "at": AT},
        {"order_id": "ord_1", "card_id": "card_1", "at": AT},
        r"pk_fulfilments|fulfilments\.order_id",
    ),
    "one payment event per provider event id": (
        t.payment_events,
        payment_event("pev_1", "evt_42"),
        payment_event("pev_2", "evt_42"),
        r"uq_payment_events_provider_event|payment_events\.provider, payment_events\.event_id",
    ),
    "a card balance never below zero": (
        t.cards,
        card("card_3", "8985201260001000034", "+85291234567", 0),
        card("card_4", "8985201260001000042", "+85251234568", -1),
        "ck_cards_balance_not_negative",
    ),
    "a ledger balance never below zero": (
        t.ledger_entries,
        ledger_entry("led_1", 0),
        ledger_entry("led_2", -1),
        "ck_ledger_entries_balance_not_negative",
    ),
    "an order moves value once per kind": (
        t.ledger_entries,
        ledger_entry("led_1", 5000, order_id="ord_1"),
        ledger_entry("led_2", 10000, order_id="ord_1"),
        r"uq_ledger_entries_order_kind|ledger_entries\.order_id, ledger_entries\.kind",
    ),
    "a bucket never uses more than it holds": (
        t.buckets,
        bucket("bkt_1", 1024, 1024),
        bucket("bkt_2", 1024, 1025),
        "ck_buckets_used_in_range",
    ),
    "a bucket's use is never negative": (
        t.buckets,
        bucket("bkt_1", 1024, 0),
        bucket("bkt_2", 1024, -1),
        "ck_buckets_used_in_range",
    ),
    "a number belongs to one live card": (
        t.card_numbers,
        {"number": "+85251234567", "card_id": "card_1", "role": "primary"},
        {"number": "+85251234567", "card_id": "card_2", "role": "primary"},
        r"pk_card_numbers|card_numbers\.number",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_database_enforces(engine: Engine, case: str) -> None:
    table, accepted, refused, violates = CASES[case]
    base_rows(engine)
    count = select(func.count()).select_from(table)
    with engine.connect() as connection:
        before = connection.execute(count).scalar_one()

    with engine.begin() as connection:
        connection.execute(insert(table), accepted)
    with pytest.raises(IntegrityError) as caught, engine.begin() as connection:
        connection.execute(insert(table), refused)
    # Refused by the intended constraint (PostgreSQL names it, SQLite names its columns).
    assert re.search(violates, str(caught.value.orig)), caught.value.orig

    with engine.connect() as connection:
        assert connection.execute(count).scalar_one() == before + 1


def test_a_duplicate_provider_event_id_is_fine_for_another_provider(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(insert(t.payment_events), payment_event("pev_1", "evt_42"))
        connection.execute(insert(t.payment_events), payment_event("pev_2", "evt_42", "stripe"))
        assert connection.scalar(select(func.count()).select_from(t.payment_events)) == 2
