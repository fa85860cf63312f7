"""The embedded network: provisioning commands are recorded, not sent anywhere."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from simrenew.db.tables import network_commands
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.ports import NetworkCommand


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RecordedCommand:
    """A command as the gateway received it, and when."""

    command_id: str
    action: str
    iccid: str
    imsi: str | None
    numbers: tuple[str, ...]
    details: Mapping[str, Any]
    created_at: datetime


class RecordingNetworkGateway:
    """A ``NetworkGateway`` for the embedded mode that writes each command to
    ``network_commands``.

    Each command is stored in its own short transaction; sending the same
    ``command_id`` again is a no-op, as the outbox delivers at least once.
    ``details`` must be JSON-serialisable. Database errors propagate unchanged.
    """

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._engine = engine
        self._now = now

    def send(self, command: NetworkCommand) -> None:
        with self._engine.begin() as connection:
            insert_ignoring_duplicates(
                connection,
                network_commands,
                {
                    "command_id": command.command_id,
                    "action": command.action,
                    "iccid": command.iccid,
                    "payload": {
                        "imsi": command.imsi,
                        "numbers": list(command.numbers),
                        "details": dict(command.details),
                    },
                    "created_at": self._now(),
                },
            )

    def list(self, iccid: str | None = None) -> builtins.list[RecordedCommand]:
        """Every recorded command, oldest first, optionally for one card."""
        query = select(network_commands).order_by(
            network_commands.c.created_at, network_commands.c.command_id
        )
        if iccid is not None:
            query = query.where(network_commands.c.iccid == iccid)
        # A read needs no write lock: ask the SQLite begin hook for a deferred BEGIN.
        with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            rows = connection.execute(query).mappings().all()
        return [
            RecordedCommand(
                command_id=row["command_id"],
                action=row["action"],
                iccid=row["iccid"],
                imsi=row["payload"]["imsi"],
                numbers=tuple(row["payload"]["numbers"]),
                details=row["payload"]["details"],
                created_at=row["created_at"],
            )
            for row in rows
        ]
