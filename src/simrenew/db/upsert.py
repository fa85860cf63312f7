"""An INSERT that treats "this row is already there" as success.

Deliveries are at least once, so adapters that record what they delivered must
accept the same id twice. Checking first and inserting after is a race between two
workers; ``ON CONFLICT DO NOTHING`` lets the database settle it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
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
    there. Raises ``NotImplementedError`` on a database other than SQLite or
    PostgreSQL.
    """
    target = (
        list(conflict_columns)
        if conflict_columns is not None
        else [column.name for column in table.primary_key.columns]
    )
    dialect = connection.dialect.name
    if dialect == "sqlite":
        sqlite_stmt = sqlite.insert(table).values(dict(values))
        result = connection.execute(sqlite_stmt.on_conflict_do_nothing(index_elements=target))
    elif dialect == "postgresql":
        pg_stmt = postgresql.insert(table).values(dict(values))
        result = connection.execute(pg_stmt.on_conflict_do_nothing(index_elements=target))
    else:
        raise NotImplementedError(f"no conflict-ignoring insert for {dialect!r}")
    return result.rowcount == 1
