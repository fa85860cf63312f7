"""The card lifecycle over time: ``active`` until 23:59:59 Hong Kong time of the
validity end, then ``grace`` for the product line's grace days, then ``terminated``;
every move recorded with reason and actor, and the network told."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.domain.cards import Card, CardState
from simrenew.domain.catalog import BucketKind
from simrenew.domain.errors import OfferNotAvailable
from simrenew.domain.orders import OrderState
from simrenew.domain.outbox import OutboxKind
from simrenew.services.cards import show_card
from simrenew.services.lifecycle import SweepResult, sweep_lifecycle
from tests.support import HKT, FixedClock, order, renew

CARD = "+85251234567"  # ONE2: 30 days of grace, 90 days of cooling-off; two numbers
ICCID = "8985201260001000018"
SECOND_NUMBER = "+8613812345678"
LIFECYCLE = "system:lifecycle"


def _card(app: App, iccid: str = ICCID) -> Card:
    with app.uow(write=False) as uow:
        card = uow.cards.find(iccid)
    assert card is not None
    return card


def _card_audit(app: App, card_id: str) -> list[Any]:
    log = tables.audit_log
    with app.engine.connect() as connection:
        return list(
            connection.execute(
                select(log.c.from_state, log.c.to_state, log.c.reason, log.c.actor, log.c.at)
                .where(log.c.entity == "card", log.c.entity_id == card_id)
                .order_by(log.c.at, log.c.id)
            )
        )


def _provisioning(app: App, iccid: str = ICCID) -> list[str]:
    with app.uow(write=False) as uow:
        return sorted(
            m.payload["action"]
            for m in uow.outbox.list(limit=500)
            if m.kind is OutboxKind.PROVISION and m.payload["iccid"] == iccid
        )


def _rows(app: App, table: Table) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def _sweep_at(app: App, clock: FixedClock, *local: int) -> SweepResult:
    clock.set_local(*local)
    return sweep_lifecycle(app.ctx)


# --- active → grace ----------------------------------------------------------------------


def test_a_card_enters_grace_just_after_23_59_59_of_its_last_day(
    app: App, clock: FixedClock
) -> None:
    renew(app, CARD, "ONE2-D1")
    card = _card(app)
    assert (card.state, card.validity_end) == (CardState.ACTIVE, date(2026, 11, 22))

    assert _sweep_at(app, clock, 2026, 11, 22, 23, 59, 58) == SweepResult(0, 0)
    assert _card(app).state is CardState.ACTIVE
    assert _sweep_at(app, clock, 2026, 11, 22, 23, 59, 59) == SweepResult(0, 0)
    assert _card(app).state is CardState.ACTIVE
    assert _sweep_at(app, clock, 2026, 11, 22, 23, 59, 59, 999999) == SweepResult(0, 0)
    assert _card(app).state is CardState.ACTIVE
    assert _provisioning(app) == ["activate", "add_allowance"]

    assert _sweep_at(app, clock, 2026, 11, 23, 0, 0, 0) == SweepResult(to_grace=1, terminated=0)

    in_grace = _card(app)
    assert in_grace.state is CardState.GRACE
    assert in_grace.state_since == clock.now()
    assert in_grace.validity_end == date(2026, 11, 22)
    (_, entered_grace) = _card_audit(app, card.id)
    assert tuple(entered_grace) == (
        "active",
        "grace",
        "validity ended 2026-11-22",
        LIFECYCLE,
        clock.now(),
    )
    assert _provisioning(app) == ["activate", "add_allowance", "suspend"]
    app.relay.drain()
    (suspend,) = [c for c in app.network.list(iccid=ICCID) if c.action == "suspend"]
    assert set(suspend.numbers) == {CARD, SECOND_NUMBER}
    # Still reachable by number in grace: renewal is allowed.
    assert show_card(app.ctx, CARD).card.state is CardState.GRACE


def test_a_queued_period_keeps_the_card_active_past_the_first_end(
    app: App, clock: FixedClock
) -> None:
    renew(app, CARD, "ONE2-D1")
    renew(app, CARD, "ONE2-D7")  # queued: 2026-11-23 .. 2026-11-29
    assert _card(app).validity_end == date(2026, 11, 29)

    assert _sweep_at(app, clock, 2026, 11, 23, 0, 0, 0) == SweepResult(0, 0)
    assert _sweep_at(app, clock, 2026, 11, 29, 23, 59, 59) == SweepResult(0, 0)
    assert _card(app).state is CardState.ACTIVE
    assert _sweep_at(app, clock, 2026, 11, 30, 0, 0, 0) == SweepResult(1, 0)
    assert _card(app).state is CardState.GRACE


def test_cards_in_stock_are_never_swept(app: App, clock: FixedClock) -> None:
    assert _sweep_at(app, clock, 2030, 1, 1, 0, 0, 0) == SweepResult(0, 0)
    with app.uow(write=False) as uow:
        assert uow.cards.count_by_state() == {CardState.IN_STOCK: 12}


# --- grace → terminated --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "iccid", "offer", "line", "grace_days", "cooling_off_days"),
    [
        ("+85251234567", "8985201260001000018", "ONE2-D1", "ONE2", 30, 90),
        ("+85251234569", "8985201260002000017", "HKDATA-D1", "HKDATA", 15, 60),
        ("+8613612345678", "8985201260003000016", "GBATRAVEL-D1", "GBATRAVEL", 7, 30),
    ],
    ids=["ONE2", "HKDATA", "GBATRAVEL"],
)
def test_grace_lasts_the_product_lines_grace_days_then_the_card_is_terminated(
    app: App,
    clock: FixedClock,
    number: str,
    iccid: str,
    offer: str,
    line: str,
    grace_days: int,
    cooling_off_days: int,
) -> None:
    with app.uow(write=False) as uow:
        product_line = uow.catalog.product_line(line)
    assert (product_line.grace_days, product_line.cooling_off_days) == (
        grace_days,
        cooling_off_days,
    )
    renew(app, number, offer)
    card = _card(app, iccid)
    assert card.validity_end == date(2026, 11, 22)
    assert _sweep_at(app, clock, 2026, 11, 23, 0, 0, 0) == SweepResult(1, 0)
    last_grace_day = date(2026, 11, 22) + timedelta(days=grace_days)

    assert _sweep_at(app, clock, *last_grace_day.timetuple()[:3], 23, 59, 59) == SweepResult(0, 0)
    assert _card(app, iccid).state is CardState.GRACE

    day_after = last_grace_day + timedelta(days=1)
    assert _sweep_at(app, clock, *day_after.timetuple()[:3], 0, 0, 0) == SweepResult(0, 1)

    terminated = _card(app, iccid)
    assert terminated.state is CardState.TERMINATED
    assert terminated.state_since == clock.now()
    transitions = [tuple(row) for row in _card_audit(app, card.id)]
    assert [(f, t) for f, t, *_ in transitions] == [
        ("in_stock", "active"),
        ("active", "grace"),
        ("grace", "terminated"),
    ]
    assert all(reason and actor for _, _, reason, actor, _ in transitions)
    assert transitions[2][2:] == (
        f"grace of {grace_days} days after 2026-11-22 ended",
        LIFECYCLE,
        clock.now(),
    )
    assert _provisioning(app, iccid) == ["activate", "add_allowance", "suspend", "terminate"]

    pool = tables.number_pool
    numbers = tables.card_numbers
    with app.engine.connect() as connection:
        assert connection.execute(select(numbers).where(numbers.c.card_id == card.id)).all() == []
        pooled = connection.execute(select(pool).where(pool.c.previous_card_id == card.id)).all()
    assert sorted(row.number for row in pooled) == sorted(card.numbers)
    reusable_from = datetime.combine(
        day_after + timedelta(days=cooling_off_days), datetime.min.time(), tzinfo=HKT
    )
    assert {(row.released_at, row.reusable_from) for row in pooled} == {
        (clock.now(), reusable_from)
    }

    app.relay.drain()
    assert [c.action for c in app.network.list(iccid=iccid)][-1] == "terminate"


# --- renewing in grace ---------------------------------------------------------------------


def test_renewing_in_grace_starts_today_and_reactivates_at_once(
    app: App, clock: FixedClock
) -> None:
    renew(app, CARD, "ONE2-D1")
    assert _sweep_at(app, clock, 2026, 11, 25, 9, 0, 0) == SweepResult(1, 0)
    app.relay.drain()

    renewed = renew(app, CARD, "ONE2-D7")

    assert renewed.state is OrderState.FULFILLED
    view = show_card(app.ctx, CARD)
    assert view.card.state is CardState.ACTIVE
    assert view.card.state_since == clock.now()
    # From today, not from the day after the old end: the grace days are not paid for.
    assert view.card.validity_end == date(2026, 12, 1)
    assert [(p.start, p.end) for p in view.periods] == [(date(2026, 11, 25), date(2026, 12, 1))]
    data = [b for b in view.buckets if b.kind is BucketKind.DATA_MB and b.order_id == renewed.id]
    assert [(b.zone, b.initial, b.valid_from, b.valid_until) for b in data] == [
        (
            "GBA",
            5120,
            clock.now(),
            datetime(2026, 12, 1, 23, 59, 59, tzinfo=HKT),
        )
    ]
    last = _card_audit(app, view.card.id)[-1]
    assert (last.from_state, last.to_state, last.actor) == ("grace", "active", "system:fulfilment")
    assert last.reason == f"renewed in grace: order {renewed.id}"
    assert _provisioning(app) == ["activate", "add_allowance", "add_allowance", "resume", "suspend"]
    app.relay.drain()
    actions = [c.action for c in app.network.list(iccid=ICCID)]
    assert actions.count("resume") == 1

    # A sweep now finds nothing to do: the card is active again.
    assert sweep_lifecycle(app.ctx) == SweepResult(0, 0)
    assert _sweep_at(app, clock, 2026, 12, 2, 0, 0, 0) == SweepResult(1, 0)


def test_credit_bought_in_grace_reactivates_for_its_band(app: App, clock: FixedClock) -> None:
    renew(app, CARD, "ONE2-D1")
    assert _sweep_at(app, clock, 2026, 11, 30, 12, 0, 0) == SweepResult(1, 0)

    renew(app, CARD, "ONE2-CR50")

    view = show_card(app.ctx, CARD)
    assert view.card.state is CardState.ACTIVE
    assert view.card.validity_end == date(2026, 11, 30) + timedelta(days=179)
    assert view.balance.amount_minor == 5000


def test_an_add_on_cannot_be_bought_in_grace(app: App, clock: FixedClock) -> None:
    renew(app, CARD, "ONE2-D1")
    assert _sweep_at(app, clock, 2026, 11, 24, 12, 0, 0) == SweepResult(1, 0)
    with pytest.raises(OfferNotAvailable):
        order(app, CARD, "ONE2-ADD5G")
    assert _card(app).state is CardState.GRACE


# --- repeats ----------------------------------------------------------------------------------


def test_sweeping_twice_changes_nothing_the_second_time(app: App, clock: FixedClock) -> None:
    renew(app, CARD, "ONE2-D1")
    renew(app, "+85261234567", "ONE2-D1")

    assert _sweep_at(app, clock, 2026, 11, 23, 0, 0, 5) == SweepResult(2, 0)
    audit, outbox = _rows(app, tables.audit_log), _rows(app, tables.outbox)
    assert sweep_lifecycle(app.ctx) == SweepResult(0, 0)
    clock.advance(timedelta(hours=1))
    assert sweep_lifecycle(app.ctx) == SweepResult(0, 0)
    assert (_rows(app, tables.audit_log), _rows(app, tables.outbox)) == (audit, outbox)

    assert _sweep_at(app, clock, 2026, 12, 23, 0, 0, 5) == SweepResult(0, 2)
    audit, outbox = _rows(app, tables.audit_log), _rows(app, tables.outbox)
    pooled = _rows(app, tables.number_pool)
    assert pooled == 4
    assert sweep_lifecycle(app.ctx) == SweepResult(0, 0)
    assert (_rows(app, tables.audit_log), _rows(app, tables.outbox)) == (audit, outbox)
    assert _rows(app, tables.number_pool) == pooled
    with app.uow(write=False) as uow:
        assert uow.cards.count_by_state() == {CardState.IN_STOCK: 10, CardState.TERMINATED: 2}


def test_a_sweep_that_jumps_past_grace_moves_the_card_through_both_states(
    app: App, clock: FixedClock
) -> None:
    renew(app, CARD, "ONE2-D1")
    # The worker was down for two months: one sweep catches up, in order.
    assert _sweep_at(app, clock, 2027, 1, 20, 8, 0, 0) == SweepResult(1, 1)
    card = _card(app)
    assert card.state is CardState.TERMINATED
    # Both moves carry the same instant; the set is what matters.
    assert {(r.from_state, r.to_state) for r in _card_audit(app, card.id)} == {
        ("in_stock", "active"),
        ("active", "grace"),
        ("grace", "terminated"),
    }
    assert _provisioning(app) == ["activate", "add_allowance", "suspend", "terminate"]
