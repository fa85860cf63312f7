"""The database scan that tests/conftest.py runs after every test using ``app`` finds a
card number on SQLite and on PostgreSQL, in text, JSON and byte columns (tests/pci.py),
and finds nothing in a database holding only what simrenew keeps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, insert

from simrenew.bootstrap import App
from simrenew.db import tables
from tests.pci import scan_database
from tests.support import order, pay, renew

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture
def leaky(engine: Engine) -> Iterator[Engine]:
    """A fresh database with card numbers written where none may be, removed afterwards."""
    with engine.begin() as connection:
        connection.execute(
            insert(tables.dev_inbox),
            {
                "message_id": "msg_1",
                "channel": "sms",
                "recipient": "+85251234567",
                "body": "您的卡 4242 4242 4242 4242 已扣款。",
                "created_at": NOW,
            },
        )
        connection.execute(
            insert(tables.outbox),
            {
                "id": "out_1",
                "kind": "email",
                "payload": {"to": "a@example.com", "text": "paid by 5555-5555-5555-4444"},
                "state": "pending",
                "created_at": NOW,
                "available_at": NOW,
            },
        )
        connection.execute(
            insert(tables.idempotent_requests),
            {
                "scope": "orders",
                "key": "k1",
                "request_hash": "0" * 64,
                "status": 201,
                "headers": {},
                # Not ASCII around it: PostgreSQL returns such bytes escaped.
                "body": json.dumps({"卡": "378282246310005"}, ensure_ascii=False).encode(),
                "created_at": NOW,
            },
        )
        connection.execute(
            insert(tables.audit_log),
            {
                "id": "aud_1",
                "entity": "payment",
                "entity_id": "pay_1",
                "from_state": "pending",
                "to_state": "failed",
                "reason": "declined: card 6011111111111117",
                "actor": "provider:sandbox",
                "at": NOW,
            },
        )
    yield engine
    with engine.begin() as connection:
        for table in (
            tables.dev_inbox,
            tables.outbox,
            tables.idempotent_requests,
            tables.audit_log,
        ):
            connection.execute(delete(table))


def test_card_numbers_are_found_in_text_json_and_byte_columns(leaky: Engine) -> None:
    findings = scan_database(leaky, tables.metadata)

    assert sorted((f.where, f.key, f.masked) for f in findings) == [
        ("audit_log.reason", "id=aud_1", "601111******1117"),
        ("dev_inbox.body", "message_id=msg_1", "424242******4242"),
        ("idempotent_requests.body", "scope=orders, key=k1", "378282*****0005"),
        ("outbox.payload", "id=out_1", "555555******4444"),
    ]


def test_a_database_after_renewals_and_a_decline_has_no_card_numbers(app: App) -> None:
    renew(app, "+85251234567", "ONE2-D7")
    renew(app, "+85261234567", "ONE2-CR50")
    declined = order(app, "+85291234567", "ONE2-M1")
    pay(app, declined.id, "decline")
    app.relay.drain()

    assert scan_database(app.engine, tables.metadata) == []
