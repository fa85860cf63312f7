"""Network commands as outbox rows, sent by the worker through the NetworkGateway."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from simrenew.domain.cards import Card
from simrenew.domain.outbox import OutboxKind, ProvisionAction
from simrenew.ports import UnitOfWork


def enqueue_provision(
    uow: UnitOfWork,
    card: Card,
    action: ProvisionAction,
    *,
    at: datetime,
    cause: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    uow.outbox.add(
        OutboxKind.PROVISION,
        {
            "action": action.value,
            "iccid": card.iccid,
            "imsi": card.imsi,
            "numbers": list(card.numbers),
            "details": dict(details or {}),
        },
        at=at,
        dedupe_key=f"provision:{action.value}:{card.id}:{cause}",
    )
