"""A paid order whose card can no longer be renewed is refunded automatically and the
subscriber told; a terminated card is refused up front with a clear message."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.domain.cards import CardState
from simrenew.domain.errors import CardNotRenewable
from simrenew.domain.orders import OrderState
from simrenew.domain.outbox import OutboxKind
from simrenew.domain.payments import EventOutcome, PaymentState
from simrenew.services.cards import show_card
from simrenew.services.lifecycle import SweepResult, sweep_lifecycle
from simrenew.services.ordering import expire_unpaid_orders
from simrenew.services.payments import handle_callback, start_payment
from simrenew.services.quoting import offers_for_card, quote
from tests.support import FixedClock, order, pay, renew

CARD = "+85291234567"  # ONE2 (30 days of grace), English, with an e-mail address
ICCID = "8985201260001000034"
SECOND_NUMBER = "+8613712345678"


def _terminate(app: App, clock: FixedClock) -> None:
    """Drive the card through its life: one day of service, then 30 days of grace."""
    clock.set_local(2026, 12, 23, 0, 0, 1)  # validity ended 2026-11-22; grace ran 30 days
    assert sweep_lifecycle(app.ctx) == SweepResult(to_grace=1, terminated=1)
    with app.uow(write=False) as uow:
        card = uow.cards.find(ICCID)
        assert card is not None and card.state is CardState.TERMINATED


@pytest.mark.parametrize("expired_meanwhile", [False, True], ids=["awaiting", "expired"])
def test_a_payment_that_clears_after_the_card_was_terminated_is_refunded(
    app: App, clock: FixedClock, expired_meanwhile: bool
) -> None:
    assert renew(app, CARD, "ONE2-D1").state is OrderState.FULFILLED
    assert show_card(app.ctx, CARD).card.validity_end == date(2026, 11, 22)
    placed = order(app, CARD, "ONE2-M1")  # renewable when ordered
    payment = start_payment(
        app.ctx, placed.id, "sandbox", actor="test", scenario="pending_then_succeed"
    )
    (processing,) = app.sandbox.complete(payment.id)
    assert handle_callback(app.ctx, "sandbox", processing.headers, processing.body) is (
        EventOutcome.STALE
    )
    _terminate(app, clock)
    if expired_meanwhile:
        assert expire_unpaid_orders(app.ctx) == 1
    app.relay.drain()  # the first confirmation and the lifecycle commands
    messages_before = {m.message_id for m in app.inbox.list(recipient=CARD)}

    (settled,) = app.sandbox.settle(payment.id)
    outcome = handle_callback(app.ctx, "sandbox", settled.headers, settled.body)

    assert outcome is EventOutcome.APPLIED
    with app.uow(write=False) as uow:
        assert uow.payments.get(payment.id).state is PaymentState.SUCCEEDED
        assert uow.orders.get(placed.id).state is OrderState.REFUNDING
        card = uow.cards.get(placed.card_id)
        assert (card.state, card.validity_end, card.renewal_count) == (
            CardState.TERMINATED,
            date(2026, 11, 22),
            1,
        )
        assert [p.offer_code for p in uow.cards.periods(card.id)] == ["ONE2-D1"]
        refunds = [m for m in uow.outbox.list(limit=500) if m.kind is OutboxKind.REFUND]
        reasons = [
            r["reason"]
            for r in uow.audit.list_for("order", placed.id)
            if r["to_state"] == "refunding"
        ]
    assert [m.payload for m in refunds] == [
        {"payment_id": payment.id, "order_id": placed.id, "reason": "card_not_renewable"}
    ]
    assert reasons == ["refund: card_not_renewable"]
    with app.engine.connect() as connection:
        fulfilled = connection.scalar(
            select(func.count())
            .select_from(tables.fulfilments)
            .where(tables.fulfilments.c.order_id == placed.id)
        )
    assert fulfilled == 0

    app.relay.drain()

    with app.uow(write=False) as uow:
        assert uow.orders.get(placed.id).state is OrderState.REFUNDED
    assert app.sandbox.charge(payment.id)["status"] == "refunded"  # type: ignore[index]
    new = [m for m in app.inbox.list(recipient=CARD) if m.message_id not in messages_before]
    # Told twice: that the refund is coming, with the reason; and that it was made.
    assert len(new) == 2
    (sms,) = [m for m in new if "will be refunded" in m.body]
    assert sms.channel == "sms"
    assert placed.id in sms.body
    assert "HK$88.00" in sms.body
    assert "a new card is needed" in sms.body
    (done,) = [m for m in new if "has been made" in m.body]
    assert placed.id in done.body and "HK$88.00" in done.body
    emails = [m for m in app.inbox.list(recipient="alex.wong@example.com") if placed.id in m.body]
    assert len(emails) == 2
    assert all(m.subject is not None and "refund" in m.subject for m in emails)
    # Nothing went to the network for this order: no allowance for a dead card.
    actions = [c.action for c in app.network.list(iccid=ICCID)]
    assert sorted(actions) == ["activate", "add_allowance", "suspend", "terminate"]


def test_renewing_a_terminated_card_by_iccid_is_refused_with_a_clear_message(
    app: App, clock: FixedClock
) -> None:
    renew(app, CARD, "ONE2-D1")
    _terminate(app, clock)
    with app.engine.connect() as connection:
        orders_before = connection.scalar(select(func.count()).select_from(tables.orders))

    with pytest.raises(CardNotRenewable) as refused:
        order(app, ICCID, "ONE2-M1")

    assert "a new card is needed" in refused.value.message
    assert refused.value.code == "card_not_renewable"
    with app.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(tables.orders)) == orders_before
    quoted = quote(app.ctx, ICCID, "ONE2-M1")
    assert isinstance(quoted.refusal, CardNotRenewable)
    _, quotes = offers_for_card(app.ctx, ICCID)
    assert quotes and all(isinstance(q.refusal, CardNotRenewable) for q in quotes)


@pytest.mark.parametrize("typed", [CARD, "9123 4567", SECOND_NUMBER])
def test_renewing_a_terminated_card_by_its_number_says_a_new_card_is_needed(
    app: App, clock: FixedClock, typed: str
) -> None:
    """A subscriber knows the number, not the ICCID. While the number cools off it
    belongs to no other card, so the answer must still be "a new card is needed",
    not "no such card"."""
    renew(app, CARD, "ONE2-D1")
    _terminate(app, clock)

    with pytest.raises(CardNotRenewable) as refused:
        order(app, typed, "ONE2-M1")

    assert "a new card is needed" in refused.value.message


def test_a_payment_that_would_queue_more_than_12_months_is_refunded(app: App) -> None:
    renew(app, CARD, "ONE2-Y1")  # running until 2027-11-21
    # Both orders fit when placed; only one of them can be fulfilled.
    first, second = order(app, CARD, "ONE2-Y1"), order(app, CARD, "ONE2-Y1")
    payment, _ = pay(app, first.id)
    assert show_card(app.ctx, CARD).card.validity_end == date(2028, 11, 21)

    late, outcomes = pay(app, second.id)

    assert outcomes == [EventOutcome.APPLIED]
    with app.uow(write=False) as uow:
        assert uow.orders.get(second.id).state is OrderState.REFUNDING
        assert uow.payments.get(late.id).state is PaymentState.SUCCEEDED
    assert show_card(app.ctx, CARD).card.validity_end == date(2028, 11, 21)
    app.relay.drain()
    with app.uow(write=False) as uow:
        assert uow.orders.get(second.id).state is OrderState.REFUNDED
        assert uow.orders.get(first.id).state is OrderState.FULFILLED
    assert app.sandbox.charge(late.id)["status"] == "refunded"  # type: ignore[index]
    assert app.sandbox.charge(payment.id)["status"] == "succeeded"  # type: ignore[index]
    issued, made = sorted(
        (m for m in app.inbox.list(recipient=CARD) if second.id in m.body),
        key=lambda m: "has been made" in m.body,
    )
    assert "more than 12 months would be queued" in issued.body
    assert "will be refunded" in issued.body
    assert "has been made" in made.body
