"""What an operator may see of a dead outbox message, and the errors of retrying one.

A dead letter is shown by its kind, a masked recipient and its last error, never by
its payload: an SMS's text may hold a login code, an e-mail's a receipt.

    DomainError
    └── NotFound
        ├── DeadLetterNotFound      no dead outbox message with that id
        └── DeadJobNotFound         no dead scheduled job with that id
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simrenew.domain.cards import mask_number
from simrenew.domain.errors import NotFound
from simrenew.domain.outbox import OutboxKind, OutboxMessage


class DeadLetterNotFound(NotFound):
    code = "dead_letter_not_found"
    template = "No dead outbox message {key!r}."


class DeadJobNotFound(NotFound):
    code = "dead_job_not_found"
    template = "No dead scheduled job {key!r}."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead outbox message without its payload."""

    id: str
    kind: OutboxKind
    message_kind: str | None  # what the SMS or e-mail was (``login_code``, ``receipt``)
    recipient: str | None  # masked
    attempts: int
    created_at: datetime
    last_error: str | None


def mask_recipient(kind: OutboxKind, payload: dict[str, Any]) -> str | None:
    """``+852****4567`` or ``c***@example.com``; None for kinds that have no person
    as recipient (provisioning, refunds)."""
    to = payload.get("to")
    if not isinstance(to, str) or kind not in (OutboxKind.SMS, OutboxKind.EMAIL):
        return None
    if kind is OutboxKind.EMAIL:
        local, at, domain = to.partition("@")
        return f"{local[:1]}***@{domain}" if at and local else "***"
    return mask_number(to)


def dead_letter(message: OutboxMessage) -> DeadLetter:
    message_kind = message.payload.get("kind")
    return DeadLetter(
        id=message.id,
        kind=message.kind,
        message_kind=message_kind if isinstance(message_kind, str) else None,
        recipient=mask_recipient(message.kind, message.payload),
        attempts=message.attempts,
        created_at=message.created_at,
        last_error=_without_text(message.last_error, message.payload.get("text")),
    )


def _without_text(error: str | None, text: object) -> str | None:
    """The error, with the message's text cut out should a gateway have echoed it."""
    if error is None or not isinstance(text, str) or not text:
        return error
    return error.replace(text, "[text]")
