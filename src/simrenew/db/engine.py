"""Engines for SQLite (embedded) and PostgreSQL (production), tuned for both.

SQLite runs in WAL mode with ``synchronous=FULL`` (a confirmed payment must survive a
power cut), a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so that two
writers queue instead of failing halfway with ``database is locked``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_S = 30


def make_engine(url: str, *, durable: bool = True, **kwargs: Any) -> Engine:
    """``durable=False`` is for data that stands for somebody else's (the sandbox
    provider's books): on SQLite its commits skip the flush to disk."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, synchronous="FULL" if durable else "NORMAL", **kwargs)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it costs a round trip per transaction; a dropped connection fails
    # its transaction, which every use case already treats as "try again".
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, *, synchronous: str, **kwargs: Any) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
