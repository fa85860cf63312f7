"""The developer inbox: SMS and e-mail of the embedded mode, kept in the database
for the inbox page instead of being sent."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from simrenew.db.tables import dev_inbox
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.ports import Attachment


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One message as the inbox page shows it; ``subject`` is None for SMS."""

    channel: str  # "sms" or "email"
    recipient: str
    subject: str | None
    body: str
    created_at: datetime
    message_id: str


class DevInbox:
    """An ``SmsSender`` and ``EmailSender`` that writes each message to ``dev_inbox``.

    Each delivery is its own short transaction, so the inbox shows what was "sent"
    even if the caller's work later fails, as a real gateway would. Delivering the
    same ``message_id`` again is a no-op: the outbox delivers at least once.
    Database errors propagate unchanged.
    """

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._engine = engine
        self._now = now

    def send_sms(self, to: str, text: str, *, message_id: str) -> None:
        self._store("sms", to, None, text, message_id)

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        message_id: str,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> None:
        # The inbox page shows the text part; HTML and attachments are not kept.
        self._store("email", to, subject, text, message_id)

    def list(self, recipient: str | None = None, limit: int = 50) -> builtins.list[InboxMessage]:
        """The latest ``limit`` messages, newest first, optionally for one recipient."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        query = select(dev_inbox).order_by(
            dev_inbox.c.created_at.desc(), dev_inbox.c.message_id.desc()
        )
        if recipient is not None:
            query = query.where(dev_inbox.c.recipient == recipient)
        # A read needs no write lock: ask the SQLite begin hook for a deferred BEGIN.
        with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            rows = connection.execute(query.limit(limit)).mappings().all()
        return [
            InboxMessage(
                channel=row["channel"],
                recipient=row["recipient"],
                subject=row["subject"],
                body=row["body"],
                created_at=row["created_at"],
                message_id=row["message_id"],
            )
            for row in rows
        ]

    def _store(
        self, channel: str, recipient: str, subject: str | None, body: str, message_id: str
    ) -> None:
        with self._engine.begin() as connection:
            insert_ignoring_duplicates(
                connection,
                dev_inbox,
                {
                    "message_id": message_id,
                    "channel": channel,
                    "recipient": recipient,
                    "subject": subject,
                    "body": body,
                    "created_at": self._now(),
                },
            )
