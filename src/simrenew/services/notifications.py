"""Subscriber messages as outbox rows: an SMS to the card's number, an e-mail where
one is known, rendered in the subscriber's language when the change commits."""

from __future__ import annotations

from datetime import datetime

from simrenew.domain.cards import Card
from simrenew.domain.messages import MessageKind, render
from simrenew.domain.outbox import OutboxKind
from simrenew.ports import UnitOfWork
from simrenew.services.context import Context


def enqueue_message(
    uow: UnitOfWork,
    ctx: Context,
    card: Card,
    kind: MessageKind,
    *,
    at: datetime,
    dedupe: str,
    **values: str,
) -> None:
    """Queue ``kind`` for ``card``. ``dedupe`` names the cause (e.g. the order id):
    the same message for the same cause is queued once, enforced by a unique key."""
    message = render(kind, card.language, brand=ctx.brand, domain=ctx.official_domain, **values)
    uow.outbox.add(
        OutboxKind.SMS,
        {"to": card.primary_number, "text": message.text, "kind": kind.value},
        at=at,
        dedupe_key=f"sms:{kind.value}:{dedupe}",
    )
    if card.email:
        uow.outbox.add(
            OutboxKind.EMAIL,
            {
                "to": card.email,
                "subject": message.subject,
                "text": message.text,
                "kind": kind.value,
            },
            at=at,
            dedupe_key=f"email:{kind.value}:{dedupe}",
        )
