"""Stored HTTP responses by Idempotency-Key (table ``idempotent_requests``).

Each function runs its own short transaction on the engine: a claim must be visible
to concurrent duplicates before the call it guards runs, and must survive that
call's own transaction failing. The primary key (scope, key) is the guard: two
simultaneous claims cannot both insert.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update

from simrenew.db import tables as t
from simrenew.db.upsert import insert_ignoring_duplicates

KEEP_FOR = timedelta(hours=24)
# A claim that has not completed after this long belongs to a call that crashed (or
# a process that died); a repeat may take it over.
TAKE_OVER_AFTER = timedelta(seconds=60)


class ClaimStatus(enum.StrEnum):
    """What claiming a key found.

    ``fresh``        ours: run the call, then ``complete`` (or ``release``) it
    ``replay``       the same request completed before: send its stored response
    ``mismatch``     the key was used for a different request
    ``in_progress``  the same request is running right now elsewhere
    """

    FRESH = "fresh"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class Claim:
    status: ClaimStatus
    response_status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


def claim(engine: Engine, scope: str, key: str, request_hash: str, now: datetime) -> Claim:
    """Claim ``key`` in ``scope`` for the request hashed as ``request_hash``."""
    table = t.idempotent_requests
    with engine.begin() as connection:
        inserted = insert_ignoring_duplicates(
            connection,
            table,
            {"scope": scope, "key": key, "request_hash": request_hash, "created_at": now},
        )
        if inserted:
            return Claim(ClaimStatus.FRESH)
        row = connection.execute(
            select(table).where(table.c.scope == scope, table.c.key == key).with_for_update()
        ).one()
        expired = row.created_at <= now - KEEP_FOR
        abandoned = row.status is None and row.created_at <= now - TAKE_OVER_AFTER
        if expired or (abandoned and row.request_hash == request_hash):
            connection.execute(
                update(table)
                .where(table.c.scope == scope, table.c.key == key)
                .values(
                    request_hash=request_hash,
                    status=None,
                    headers=None,
                    body=None,
                    created_at=now,
                    completed_at=None,
                )
            )
            return Claim(ClaimStatus.FRESH)
        if row.request_hash != request_hash:
            return Claim(ClaimStatus.MISMATCH)
        if row.status is None:
            return Claim(ClaimStatus.IN_PROGRESS)
        return Claim(ClaimStatus.REPLAY, int(row.status), dict(row.headers or {}), bytes(row.body))


def complete(
    engine: Engine,
    scope: str,
    key: str,
    request_hash: str,
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> bool:
    """Store the response of a fresh claim; False if the claim was taken over meanwhile
    (then the other call's response is the one kept)."""
    table = t.idempotent_requests
    with engine.begin() as connection:
        result = connection.execute(
            update(table)
            .where(
                table.c.scope == scope,
                table.c.key == key,
                table.c.request_hash == request_hash,
                table.c.status.is_(None),
            )
            .values(status=status, headers=dict(headers), body=body, completed_at=now)
        )
        return result.rowcount == 1


def release(engine: Engine, scope: str, key: str, request_hash: str) -> None:
    """Give up an unfinished claim (the call failed in a way worth retrying)."""
    table = t.idempotent_requests
    with engine.begin() as connection:
        connection.execute(
            delete(table).where(
                table.c.scope == scope,
                table.c.key == key,
                table.c.request_hash == request_hash,
                table.c.status.is_(None),
            )
        )


def purge(engine: Engine, now: datetime) -> int:
    """Delete keys (completed or abandoned) past their 24 hours; returns how many.
    Meant for the worker's periodic sweep."""
    table = t.idempotent_requests
    with engine.begin() as connection:
        result = connection.execute(delete(table).where(table.c.created_at <= now - KEEP_FOR))
        return int(result.rowcount)
