"""Engines for SQLite (embedded) and PostgreSQL (production), tuned for both.

SQLite runs in WAL mode with ``synchronous=FULL`` (a confirmed payment must survive a
power cut), a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so that two
writers queue instead of failing halfway with ``database is locked``.
"""

from __future__ import annotations

import threading
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

    lock = _writer_lock(database or ":memory:")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == "IMMEDIATE" and not connection.info.get(_HOLDS_LOCK):
            # Writers of this process queue here, in order, rather than in SQLite's
            # busy handler, which sleeps 1, 2, 5 ... 100 ms between polls and turns
            # a short wait into a long one under load.
            if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
                raise TimeoutError(
                    f"no write lock on the SQLite database after {SQLITE_BUSY_TIMEOUT_S} s"
                )
            connection.info[_HOLDS_LOCK] = True
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            _release(connection.info)
            raise

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        # Back in the pool means committed or rolled back: the writer is done.
        _release(record.info)

    @event.listens_for(engine, "close")
    def _on_close(dbapi_connection: Any, record: Any) -> None:
        _release(record.info)

    def _release(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_LOCK, False):
            lock.release()

    return engine


_HOLDS_LOCK = "simrenew_holds_writer_lock"
_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(database: str) -> threading.Lock:
    """One lock per database file, shared by every engine of the process on it."""
    key = str(Path(database).resolve()) if database != ":memory:" else database
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(key, threading.Lock())


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
