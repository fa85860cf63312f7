"""What an operator sees of a dead outbox message: never its payload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simrenew.domain.dead_letters import dead_letter, mask_recipient
from simrenew.domain.outbox import OutboxKind, OutboxMessage, OutboxState

AT = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "payload", "masked"),
    [
        (OutboxKind.SMS, {"to": "+85251234567"}, "+852****4567"),
        (OutboxKind.EMAIL, {"to": "chan.taiman@example.com.hk"}, "c***@example.com.hk"),
        (OutboxKind.EMAIL, {"to": "not-an-address"}, "***"),
        (OutboxKind.PROVISION, {"to": "+85251234567"}, None),
        (OutboxKind.SMS, {}, None),
        (OutboxKind.SMS, {"to": 85251234567}, None),
    ],
)
def test_recipients_are_masked(kind: OutboxKind, payload: dict[str, object], masked: str) -> None:
    assert mask_recipient(kind, payload) == masked


def test_a_dead_letter_keeps_nothing_of_the_text() -> None:
    message = OutboxMessage(
        id="msg_1",
        kind=OutboxKind.SMS,
        payload={"to": "+85251234567", "text": "simrenew code #482913", "kind": "login_code"},
        created_at=AT,
        available_at=AT,
        attempts=8,
        state=OutboxState.DEAD,
        last_error="DeliveryError: 503",
    )
    letter = dead_letter(message)
    assert (letter.message_kind, letter.recipient, letter.attempts) == (
        "login_code",
        "+852****4567",
        8,
    )
    assert "482913" not in repr(letter)


def test_a_gateway_that_echoed_the_text_does_not_show_it() -> None:
    text = "simrenew code #482913"
    message = OutboxMessage(
        id="msg_2",
        kind=OutboxKind.SMS,
        payload={"to": "+85251234567", "text": text},
        created_at=AT,
        available_at=AT,
        state=OutboxState.DEAD,
        last_error=f"DeliveryError: rejected '{text}'",
    )
    assert dead_letter(message).last_error == "DeliveryError: rejected '[text]'"
