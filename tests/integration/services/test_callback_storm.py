"""A storm of provider callbacks: 1,000 signed deliveries for 100 orders, every event
sent several times, shuffled, and delivered from eight threads at once. Each event is
applied at most once, no payment leaves a final state, each paid order is fulfilled
exactly once and no declined one at all, and the card's validity and stored value add
up to what was paid for."""

from __future__ import annotations

import itertools
import json
import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.domain.ids import new_id
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import EventOutcome, Payment, PaymentState
from simrenew.providers.sandbox import SIGNATURE_HEADER, Callback, signature_header
from simrenew.services.payments import handle_callback, start_payment
from tests.support import HKT, START, order

# The five ONE2 demo cards, all in stock. 20 orders each stay well inside the product
# line's HK$3,000 per 30 days, and 19 weeks plus 180 days inside the 12-month queue.
CARDS = ("+85251234567", "+85261234567", "+85291234567", "+85251234568", "+85261234568")
ORDERS_PER_CARD = 20
WEEK, CREDIT = "ONE2-D7", "ONE2-CR50"  # 7 days; HK$50 of value and 180 days
DAYS = {WEEK: 7, CREDIT: 180}
CREDIT_MINOR = 5000
DELIVERIES = 1_000
THREADS = 8
SECRET = "test-secret-new"  # the sandbox's first secret in tests/conftest.py


@dataclass(frozen=True)
class Placed:
    order_id: str
    card: str
    offer: str
    scenario: str
    payment: Payment

    @property
    def pays(self) -> bool:
        return self.scenario != "decline"


@dataclass(frozen=True)
class Event:
    event_id: str
    payment_id: str
    type: str
    callback: Callback

    @property
    def final(self) -> bool:
        return self.type != "payment.processing"


def _event(callback: Callback) -> Event:
    body = json.loads(callback.body)
    return Event(body["id"], body["data"]["payment_id"], body["type"], callback)


def _processing(app: App, payment: Payment) -> Callback:
    """A ``payment.processing`` event as a provider may send before declining; the
    sandbox's own declines skip it."""
    body = json.dumps(
        {
            "id": new_id("evt"),
            "type": "payment.processing",
            "created": int(app.ctx.clock.now().timestamp()),
            "data": {
                "payment_id": payment.id,
                "provider_ref": f"sbx_{payment.id}",
                "amount_minor": payment.amount.amount_minor,
                "currency": payment.amount.currency,
                "failure_code": None,
            },
        },
        separators=(",", ":"),
    ).encode()
    timestamp = int(app.ctx.clock.now().timestamp())
    return Callback({SIGNATURE_HEADER: signature_header([SECRET], timestamp, body)}, body)


def _place(app: App, card: str, offer: str, scenario: str) -> tuple[Placed, list[Event]]:
    """An order and its payment, and the events the provider sends about it."""
    placed = order(app, card, offer)
    payment = start_payment(app.ctx, placed.id, "sandbox", actor="test", scenario=scenario)
    callbacks = [*app.sandbox.complete(payment.id), *app.sandbox.settle(payment.id)]
    if scenario == "decline":
        callbacks.insert(0, _processing(app, payment))
    return Placed(placed.id, card, offer, scenario, payment), [_event(c) for c in callbacks]


def _deliver_concurrently(app: App, deliveries: list[Event]) -> list[tuple[str, EventOutcome]]:
    """Every delivery, from ``THREADS`` threads started together; (event id, outcome)
    of each. Raises the first error a thread met."""
    outcomes: list[tuple[str, EventOutcome]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(share: list[Event]) -> None:
        try:
            barrier.wait(timeout=30)
            for event in share:
                callback = event.callback
                outcome = handle_callback(app.ctx, "sandbox", callback.headers, callback.body)
                outcomes.append((event.event_id, outcome))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(deliveries[i::THREADS],), name=f"callbacks-{i}")
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a delivery thread hung"
    if errors:
        raise errors[0]
    assert len(outcomes) == len(deliveries)
    return outcomes


def _shuffled_with_duplicates(rng: random.Random, events: list[Event], total: int) -> list[Event]:
    """Every event twice at least, more of them at random up to ``total``, shuffled."""
    deliveries = events * 2
    deliveries += [rng.choice(events) for _ in range(total - len(deliveries))]
    rng.shuffle(deliveries)
    return deliveries


def _payment_transitions(app: App) -> dict[str, list[tuple[str | None, str]]]:
    a = t.audit_log
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(a.c.entity_id, a.c.from_state, a.c.to_state)
            .where(a.c.entity == "payment")
            .order_by(a.c.at, a.c.id)
        ).all()
    transitions: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for payment_id, before, after in rows:
        transitions[payment_id].append((before, after))
    return transitions


def _assert_no_payment_left_a_final_state(app: App, payment_ids: set[str]) -> None:
    """The audit log holds every payment transition: none starts from a final state,
    none is a no-op, and each payment reached its final state exactly once."""
    transitions = _payment_transitions(app)
    assert set(transitions) == payment_ids
    for payment_id, moves in transitions.items():
        for before, after in moves:
            assert before is None or not PaymentState(before).is_final, (payment_id, moves)
            assert before != after, (payment_id, moves)
        finals = [after for _, after in moves if PaymentState(after).is_final]
        assert len(finals) == 1, (payment_id, moves)


def test_1000_shuffled_duplicated_callbacks_from_8_threads_apply_each_event_once(
    app: App,
) -> None:
    rng = random.Random(20261122)
    scenarios = ["succeed"] * 40 + ["pending_then_succeed"] * 30 + ["decline"] * 30
    rng.shuffle(scenarios)
    placed: list[Placed] = []
    events: list[Event] = []
    for index, scenario in enumerate(scenarios):
        card = CARDS[index % len(CARDS)]
        # One top-up per card (the first order on each): value in the ledger as well.
        offer = CREDIT if index < len(CARDS) else WEEK
        one, its_events = _place(app, card, offer, scenario)
        placed.append(one)
        events += its_events
    assert len(placed) == len(CARDS) * ORDERS_PER_CARD
    # One final event per payment; one processing event for each of the other two.
    assert len(events) == 40 + 30 * 2 + 30 * 2
    by_id = {e.event_id: e for e in events}
    assert len(by_id) == len(events)
    deliveries = _shuffled_with_duplicates(rng, events, DELIVERIES)

    outcomes = _deliver_concurrently(app, deliveries)

    # Each event id: the first delivery decides (applied, or stale for "processing",
    # which at best says what the payment already is), every other is a duplicate.
    per_event: dict[str, Counter[EventOutcome]] = defaultdict(Counter)
    for event_id, outcome in outcomes:
        per_event[event_id][outcome] += 1
    assert set(per_event) == set(by_id)
    for event_id, counts in per_event.items():
        event = by_id[event_id]
        first = EventOutcome.APPLIED if event.final else EventOutcome.STALE
        assert counts[first] == 1, (event.type, counts)
        assert set(counts) <= {first, EventOutcome.DUPLICATE}, (event.type, counts)
    assert Counter(outcome for _, outcome in outcomes) == {
        EventOutcome.APPLIED: 100,
        EventOutcome.STALE: 60,
        EventOutcome.DUPLICATE: DELIVERIES - 160,
    }

    # The database agrees: one row per (provider, event id), with that outcome.
    with app.engine.connect() as connection:
        stored = connection.execute(
            select(t.payment_events.c.event_id, t.payment_events.c.outcome).where(
                t.payment_events.c.provider == "sandbox"
            )
        ).all()
    assert len(stored) == len(by_id)
    assert {event_id: EventOutcome(outcome) for event_id, outcome in stored} == {
        event_id: EventOutcome.APPLIED if e.final else EventOutcome.STALE
        for event_id, e in by_id.items()
    }

    # Every payment ends in the state of its final event, and never moved back.
    with app.uow(write=False) as uow:
        payments = {p.payment.id: uow.payments.get(p.payment.id) for p in placed}
        orders = {p.order_id: uow.orders.get(p.order_id) for p in placed}
    for one in placed:
        expected = PaymentState.SUCCEEDED if one.pays else PaymentState.FAILED
        assert payments[one.payment.id].state is expected, one
        assert orders[one.order_id].state is (
            OrderState.FULFILLED if one.pays else OrderState.AWAITING_PAYMENT
        ), one
    _assert_no_payment_left_a_final_state(app, set(payments))

    # Exactly one fulfilment, one validity period, one confirmation per paid order;
    # none of them for a declined one, which is told of the decline once.
    paid = {p.order_id for p in placed if p.pays}
    declined = {p for p in placed if not p.pays}
    with app.engine.connect() as connection:
        fulfilled = Counter(connection.scalars(select(t.fulfilments.c.order_id)).all())
        periods = Counter(
            connection.scalars(
                select(t.validity_periods.c.order_id).where(
                    t.validity_periods.c.order_id.is_not(None)
                )
            ).all()
        )
        dedupe_keys = Counter(
            connection.scalars(
                select(t.outbox.c.dedupe_key).where(t.outbox.c.dedupe_key.like("sms:%"))
            ).all()
        )
    assert fulfilled == dict.fromkeys(paid, 1)
    assert periods == dict.fromkeys(paid, 1)
    assert dedupe_keys == {
        **{f"sms:renewal_confirmed:{order_id}": 1 for order_id in paid},
        **{f"sms:payment_failed:{p.payment.id}": 1 for p in declined},
    }

    # Per card: periods back to back from today, validity and renewals that add up, and
    # exactly the paid top-ups in the ledger and the balance.
    today = START.astimezone(HKT).date()
    with app.engine.connect() as connection:
        for card in CARDS:
            mine = [p for p in placed if p.card == card and p.pays]
            row = connection.execute(select(t.cards).where(t.cards.c.primary_number == card)).one()
            spans = sorted(
                (p.start_date, p.end_date)
                for p in connection.execute(
                    select(t.validity_periods).where(t.validity_periods.c.card_id == row.id)
                )
            )
            ledger = connection.execute(
                select(t.ledger_entries).where(t.ledger_entries.c.card_id == row.id)
            ).all()
            days = sum(DAYS[p.offer] for p in mine)
            top_ups = {p.order_id for p in mine if p.offer == CREDIT}

            assert len(spans) == len(mine), card
            assert spans[0][0] == today, card
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert start == end + timedelta(days=1), card
            assert row.validity_end == today + timedelta(days=days - 1), card
            assert row.renewal_count == len(mine), card
            assert {e.order_id for e in ledger} == top_ups, card
            assert all(e.kind == "top_up" and e.amount_minor == CREDIT_MINOR for e in ledger)
            assert (
                row.balance_minor
                == CREDIT_MINOR * len(top_ups)
                == sum(e.amount_minor for e in ledger)
            ), card
            assert sorted(e.balance_after_minor for e in ledger) == [
                CREDIT_MINOR * (i + 1) for i in range(len(ledger))
            ], card


def test_processing_after_success_in_a_storm_is_stale_and_nothing_moves_back(app: App) -> None:
    """``pending_then_succeed`` with each ``payment.processing`` arriving only after its
    ``payment.succeeded``, both replayed, from eight threads: all processing events are
    stale, and every payment stays succeeded."""
    rng = random.Random(7)
    placed: list[Placed] = []
    succeeded: list[Event] = []
    processing: list[Event] = []
    for index in range(20):
        one, (first, second) = _place(app, CARDS[index % len(CARDS)], WEEK, "pending_then_succeed")
        assert (first.type, second.type) == ("payment.processing", "payment.succeeded")
        placed.append(one)
        processing.append(first)
        succeeded.append(second)

    early = Counter(
        o for _, o in _deliver_concurrently(app, _shuffled_with_duplicates(rng, succeeded, 100))
    )
    late = _deliver_concurrently(app, _shuffled_with_duplicates(rng, processing, 100))

    assert early == {EventOutcome.APPLIED: 20, EventOutcome.DUPLICATE: 80}
    assert Counter(o for _, o in late) == {EventOutcome.STALE: 20, EventOutcome.DUPLICATE: 80}
    with app.uow(write=False) as uow:
        for one in placed:
            assert uow.payments.get(one.payment.id).state is PaymentState.SUCCEEDED
            assert uow.orders.get(one.order_id).state is OrderState.FULFILLED
            assert sorted(
                (e["state"], e["outcome"]) for e in uow.payments.events_for(one.payment.id)
            ) == [
                ("pending", "stale"),
                ("succeeded", "applied"),
            ]
    _assert_no_payment_left_a_final_state(app, {p.payment.id for p in placed})
    with app.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(t.fulfilments)) == 20
