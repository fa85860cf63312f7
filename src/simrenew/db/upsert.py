"""An INSERT that treats "this row is already there" as success.

Deliveries are at least once, so adapters that record what they delivered must
accept the same id twice. Checking first and inserting after is a race between two
workers; ``ON CONFLICT DO NOTHING`` lets the database settle it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_duplicates(
    connection: Connection,
    table: Table,
    values: Mapping[str, Any],
    *,
    conflict_columns: Sequence[str] | None = None,
) -> bool:
    """Insert ``values`` into ``table`` unless a row with the same key exists.

    The key is the primary key unless ``conflict_columns`` names another unique
    index. A clash on any *other* constraint still raises: only a repeat of the same
    key is harmless. Returns True if a row was inserted, False if it was already
    there. Raises ``ValueError`` on a database other than SQLite or PostgreSQL.
    """
    target = (
        tuple(conflict_columns)
        if conflict_columns is not None
        else tuple(column.name for column in table.primary_key.columns)
    )
    statement = _statement(connection.dialect.name, table, target)
    return connection.execute(statement, dict(values)).first() is not None


@functools.cache
def _statement(dialect: str, table: Table, target: tuple[str, ...]) -> Executable:
    """Built once per table: constructing statements is a large share of a hot path."""
    # RETURNING tells "inserted" from "skipped" reliably; rowcount does not on every
    # driver (psycopg reports -1 here under SQLAlchemy 2.1).
    key = table.c[target[0]]
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=target).returning(key)
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=target).returning(key)
    raise ValueError(f"simrenew runs on SQLite and PostgreSQL, not {dialect!r}")
