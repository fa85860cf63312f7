"""Provider callbacks: verified first, then applied exactly once and never backwards,
whatever the number of replays and whatever order they arrive in."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import ColumnElement, Table, func, select

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.domain.cards import CardState
from simrenew.domain.errors import PaymentNotFound, SignatureInvalid
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import EventOutcome, Payment, PaymentState
from simrenew.providers.sandbox import SIGNATURE_HEADER, Callback, signature_header
from simrenew.services.cards import show_card
from simrenew.services.payments import handle_callback, start_payment
from tests.support import FixedClock, order

CARD = "+85251234567"  # ONE2, zh-Hant, with an e-mail address; in stock
D7_PRICE_MINOR = 4800  # ONE2-D7 costs HK$48.00
NEW_SECRET, OLD_SECRET = "test-secret-new", "test-secret-old"


def _start(app: App, order_id: str, scenario: str = "succeed") -> Payment:
    return start_payment(app.ctx, order_id, "sandbox", actor="test", scenario=scenario)


def _deliver(app: App, callback: Callback) -> EventOutcome:
    return handle_callback(app.ctx, "sandbox", callback.headers, callback.body)


def _headers(app: App, body: bytes, *, secrets: list[str], offset: int = 0) -> dict[str, str]:
    timestamp = int(app.ctx.clock.now().timestamp()) + offset
    return {
        SIGNATURE_HEADER: signature_header(secrets, timestamp, body),
        "Content-Type": "application/json",
    }


def _body(
    payment_id: str,
    event_type: str,
    *,
    event_id: str,
    amount_minor: int = D7_PRICE_MINOR,
    currency: str = "HKD",
    created: int = 0,
) -> bytes:
    """A sandbox event as the provider would send it (the signature is added apart)."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created": created,
            "data": {
                "payment_id": payment_id,
                "provider_ref": f"sbx_{payment_id}",
                "amount_minor": amount_minor,
                "currency": currency,
                "failure_code": None,
            },
        },
        separators=(",", ":"),
    ).encode()


def _states(app: App, order_id: str, payment_id: str) -> tuple[OrderState, PaymentState]:
    with app.uow(write=False) as uow:
        return uow.orders.get(order_id).state, uow.payments.get(payment_id).state


def _events(app: App, payment_id: str) -> list[dict[str, object]]:
    with app.uow(write=False) as uow:
        return uow.payments.events_for(payment_id)


def _count(app: App, table: Table, *where: ColumnElement[bool]) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def _fulfilments(app: App, order_id: str) -> int:
    return _count(app, tables.fulfilments, tables.fulfilments.c.order_id == order_id)


# --- duplicates and order -----------------------------------------------------------


def test_a_replayed_success_is_applied_once_and_confirmed_by_one_sms(
    app: App, clock: FixedClock
) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id)
    (succeeded,) = app.sandbox.complete(payment.id)

    assert _deliver(app, succeeded) is EventOutcome.APPLIED
    clock.advance(timedelta(seconds=30))
    assert _deliver(app, succeeded) is EventOutcome.DUPLICATE
    assert _deliver(app, succeeded) is EventOutcome.DUPLICATE

    assert _states(app, placed.id, payment.id) == (OrderState.FULFILLED, PaymentState.SUCCEEDED)
    assert _fulfilments(app, placed.id) == 1
    assert [e["outcome"] for e in _events(app, payment.id)] == ["applied"]
    view = show_card(app.ctx, CARD)
    assert view.card.state is CardState.ACTIVE
    assert view.card.validity_end == date(2026, 11, 28)
    assert view.card.renewal_count == 1
    assert [(p.start, p.end) for p in view.periods] == [(date(2026, 11, 22), date(2026, 11, 28))]

    app.relay.drain()
    sms = app.inbox.list(recipient=CARD)
    assert [(m.channel, placed.id in m.body) for m in sms] == [("sms", True)]
    actions = sorted(c.action for c in app.network.list(iccid=view.card.iccid))
    assert actions == ["activate", "add_allowance"]


def test_processing_arriving_after_success_is_stale_and_moves_nothing_back(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id, "pending_then_succeed")
    (processing,) = app.sandbox.complete(payment.id)
    (succeeded,) = app.sandbox.settle(payment.id)

    assert _deliver(app, succeeded) is EventOutcome.APPLIED
    assert _deliver(app, processing) is EventOutcome.STALE

    assert _states(app, placed.id, payment.id) == (OrderState.FULFILLED, PaymentState.SUCCEEDED)
    assert _fulfilments(app, placed.id) == 1
    assert sorted((e["state"], e["outcome"]) for e in _events(app, payment.id)) == [
        ("pending", "stale"),
        ("succeeded", "applied"),
    ]
    # Late replays of either are duplicates.
    assert _deliver(app, processing) is EventOutcome.DUPLICATE
    assert _deliver(app, succeeded) is EventOutcome.DUPLICATE
    assert _fulfilments(app, placed.id) == 1
    assert show_card(app.ctx, CARD).card.validity_end == date(2026, 11, 28)


def test_processing_in_order_changes_nothing_until_the_success(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id, "pending_then_succeed")
    (processing,) = app.sandbox.complete(payment.id)

    # pending → pending is no move: kept, not applied; above all, nothing fulfilled.
    assert _deliver(app, processing) is EventOutcome.STALE
    assert _states(app, placed.id, payment.id) == (
        OrderState.AWAITING_PAYMENT,
        PaymentState.PENDING,
    )
    assert _fulfilments(app, placed.id) == 0

    (succeeded,) = app.sandbox.settle(payment.id)
    assert _deliver(app, succeeded) is EventOutcome.APPLIED
    assert _states(app, placed.id, payment.id) == (OrderState.FULFILLED, PaymentState.SUCCEEDED)
    assert _fulfilments(app, placed.id) == 1


def test_a_success_after_a_decline_is_stale_because_failed_is_final(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id, "decline")
    (declined,) = app.sandbox.complete(payment.id)
    assert _deliver(app, declined) is EventOutcome.APPLIED

    # Validly signed, right amount, new event id: still too late, failed is final.
    forged = _body(payment.id, "payment.succeeded", event_id="evt_forged_after_decline")
    outcome = handle_callback(
        app.ctx, "sandbox", _headers(app, forged, secrets=[NEW_SECRET]), forged
    )
    assert outcome is EventOutcome.STALE

    assert _states(app, placed.id, payment.id) == (
        OrderState.AWAITING_PAYMENT,
        PaymentState.FAILED,
    )
    with app.uow(write=False) as uow:
        assert uow.payments.get(payment.id).failure_code == "card_declined"
    assert _fulfilments(app, placed.id) == 0
    assert show_card(app.ctx, CARD).card.state is CardState.IN_STOCK
    assert sorted((e["state"], e["outcome"]) for e in _events(app, payment.id)) == [
        ("failed", "applied"),
        ("succeeded", "stale"),
    ]


def test_a_failure_after_a_success_is_stale_and_the_order_stays_fulfilled(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id)
    (succeeded,) = app.sandbox.complete(payment.id)
    assert _deliver(app, succeeded) is EventOutcome.APPLIED

    late = _body(payment.id, "payment.failed", event_id="evt_late_failure")
    outcome = handle_callback(app.ctx, "sandbox", _headers(app, late, secrets=[NEW_SECRET]), late)

    assert outcome is EventOutcome.STALE
    assert _states(app, placed.id, payment.id) == (OrderState.FULFILLED, PaymentState.SUCCEEDED)
    app.relay.drain()
    # No "payment failed" message for a payment that succeeded.
    assert len(app.inbox.list(recipient=CARD)) == 1


# --- verification ----------------------------------------------------------------------


def _wrong_secret(app: App, clock: FixedClock, callback: Callback) -> tuple[dict[str, str], bytes]:
    return _headers(app, callback.body, secrets=["not-our-secret"]), callback.body


def _stale_timestamp(
    app: App, clock: FixedClock, callback: Callback
) -> tuple[dict[str, str], bytes]:
    clock.advance(timedelta(seconds=301))
    return callback.headers, callback.body


def _one_byte_changed(
    app: App, clock: FixedClock, callback: Callback
) -> tuple[dict[str, str], bytes]:
    original = f'"amount_minor":{D7_PRICE_MINOR}'.encode()
    assert callback.body.count(original) == 1
    body = callback.body.replace(original, f'"amount_minor":{D7_PRICE_MINOR - 3000}'.encode())
    assert len(body) == len(callback.body)
    assert sum(a != b for a, b in zip(body, callback.body, strict=True)) == 1
    return callback.headers, body


def _no_header(app: App, clock: FixedClock, callback: Callback) -> tuple[dict[str, str], bytes]:
    return {"Content-Type": "application/json"}, callback.body


def _signature_mangled(
    app: App, clock: FixedClock, callback: Callback
) -> tuple[dict[str, str], bytes]:
    header = callback.headers[SIGNATURE_HEADER]
    last = header[-1]
    return {SIGNATURE_HEADER: header[:-1] + ("0" if last != "0" else "1")}, callback.body


def _malformed_header(
    app: App, clock: FixedClock, callback: Callback
) -> tuple[dict[str, str], bytes]:
    return {SIGNATURE_HEADER: "v1=deadbeef"}, callback.body


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_wrong_secret, "signature does not match"),
        (_signature_mangled, "signature does not match"),
        (_stale_timestamp, "timestamp outside tolerance"),
        (_one_byte_changed, "signature does not match"),
        (_no_header, "missing signature"),
        (_malformed_header, "malformed signature header"),
    ],
    ids=[
        "bad-signature",
        "mangled-signature",
        "stale-timestamp",
        "body-1-byte",
        "no-header",
        "malformed-header",
    ],
)
def test_an_unverifiable_callback_is_refused_and_nothing_is_recorded(
    app: App,
    clock: FixedClock,
    tamper: Callable[[App, FixedClock, Callback], tuple[dict[str, str], bytes]],
    reason: str,
) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id)
    (succeeded,) = app.sandbox.complete(payment.id)
    headers, body = tamper(app, clock, succeeded)

    with pytest.raises(SignatureInvalid) as refused:
        handle_callback(app.ctx, "sandbox", headers, body)

    assert refused.value.params["reason"] == reason
    assert _count(app, tables.payment_events) == 0
    assert _states(app, placed.id, payment.id) == (
        OrderState.AWAITING_PAYMENT,
        PaymentState.PENDING,
    )
    assert _fulfilments(app, placed.id) == 0
    assert show_card(app.ctx, CARD).card.state is CardState.IN_STOCK
    with app.uow(write=False) as uow:
        assert uow.outbox.list() == []


def test_the_timestamp_tolerance_is_300_seconds_either_way(app: App, clock: FixedClock) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id)
    (succeeded,) = app.sandbox.complete(payment.id)

    for offset in (301, -301):
        with pytest.raises(SignatureInvalid):
            handle_callback(
                app.ctx,
                "sandbox",
                _headers(app, succeeded.body, secrets=[NEW_SECRET], offset=offset),
                succeeded.body,
            )
    assert _count(app, tables.payment_events) == 0

    clock.advance(timedelta(seconds=300))
    assert _deliver(app, succeeded) is EventOutcome.APPLIED
    assert _states(app, placed.id, payment.id) == (OrderState.FULFILLED, PaymentState.SUCCEEDED)


def test_the_signature_header_name_is_case_insensitive(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id)
    (succeeded,) = app.sandbox.complete(payment.id)
    headers = {k.lower(): v for k, v in succeeded.headers.items()}
    assert handle_callback(app.ctx, "sandbox", headers, succeeded.body) is EventOutcome.APPLIED


def test_a_callback_signed_only_with_the_previous_secret_is_accepted(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id)
    (succeeded,) = app.sandbox.complete(payment.id)
    old_only = _headers(app, succeeded.body, secrets=[OLD_SECRET])
    assert old_only[SIGNATURE_HEADER] != succeeded.headers[SIGNATURE_HEADER]

    assert handle_callback(app.ctx, "sandbox", old_only, succeeded.body) is EventOutcome.APPLIED
    assert _states(app, placed.id, payment.id) == (OrderState.FULFILLED, PaymentState.SUCCEEDED)
    assert _fulfilments(app, placed.id) == 1


def test_one_good_signature_among_several_is_enough(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id)
    (succeeded,) = app.sandbox.complete(payment.id)
    # A provider mid-rotation sends a signature per secret; only the old one is ours.
    headers = _headers(app, succeeded.body, secrets=["retired-secret", OLD_SECRET])
    assert handle_callback(app.ctx, "sandbox", headers, succeeded.body) is EventOutcome.APPLIED
    assert _fulfilments(app, placed.id) == 1


def test_a_signed_event_for_a_payment_we_never_made_is_refused_and_not_kept(app: App) -> None:
    body = _body("pay_00000000000000000000000000000000", "payment.succeeded", event_id="evt_x")
    with pytest.raises(PaymentNotFound):
        handle_callback(app.ctx, "sandbox", _headers(app, body, secrets=[NEW_SECRET]), body)
    assert _count(app, tables.payment_events) == 0


# --- amounts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_minor", "currency"),
    [(D7_PRICE_MINOR - 1, "HKD"), (100, "HKD"), (D7_PRICE_MINOR, "CNY")],
    ids=["one-cent-short", "far-short", "other-currency"],
)
def test_an_event_for_another_amount_is_a_mismatch_and_fulfils_nothing(
    app: App, amount_minor: int, currency: str
) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment = _start(app, placed.id)
    body = _body(
        payment.id,
        "payment.succeeded",
        event_id="evt_wrong_amount",
        amount_minor=amount_minor,
        currency=currency,
    )

    outcome = handle_callback(app.ctx, "sandbox", _headers(app, body, secrets=[NEW_SECRET]), body)

    assert outcome is EventOutcome.MISMATCH
    assert _states(app, placed.id, payment.id) == (
        OrderState.AWAITING_PAYMENT,
        PaymentState.PENDING,
    )
    assert _fulfilments(app, placed.id) == 0
    assert show_card(app.ctx, CARD).card.state is CardState.IN_STOCK
    assert [e["outcome"] for e in _events(app, payment.id)] == ["mismatch"]
    with app.uow(write=False) as uow:
        flagged = [
            row
            for row in uow.audit.list_for("payment", payment.id)
            if str(row["reason"]).startswith("flagged:")
        ]
    assert len(flagged) == 1
    assert flagged[0]["actor"] == "provider:sandbox"

    # The genuine event still goes through afterwards.
    (succeeded,) = app.sandbox.complete(payment.id)
    assert _deliver(app, succeeded) is EventOutcome.APPLIED
    assert _states(app, placed.id, payment.id) == (OrderState.FULFILLED, PaymentState.SUCCEEDED)


# --- a storm -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [7, 2026])
def test_200_shuffled_callbacks_with_duplicates_fulfil_20_orders_once_each(
    app: App, seed: int
) -> None:
    rng = random.Random(seed)
    placed_ids: list[str] = []
    callbacks: list[Callback] = []
    for index in range(20):
        placed = order(app, CARD, "ONE2-D7")
        placed_ids.append(placed.id)
        scenario = "pending_then_succeed" if index % 2 else "succeed"
        payment = _start(app, placed.id, scenario)
        callbacks += app.sandbox.complete(payment.id)
        callbacks += app.sandbox.settle(payment.id)
    assert len(callbacks) == 30  # 10 successes + 10 (processing, success) pairs
    deliveries = callbacks + [rng.choice(callbacks) for _ in range(200 - len(callbacks))]
    rng.shuffle(deliveries)

    outcomes = Counter(_deliver(app, callback) for callback in deliveries)

    assert outcomes == {
        EventOutcome.APPLIED: 20,
        EventOutcome.STALE: 10,  # every processing event: sideways or backwards
        EventOutcome.DUPLICATE: 170,
    }
    assert _count(app, tables.payment_events) == 30
    with app.uow(write=False) as uow:
        assert {uow.orders.get(i).state for i in placed_ids} == {OrderState.FULFILLED}
    assert _count(app, tables.fulfilments) == 20
    for order_id in placed_ids:
        assert _fulfilments(app, order_id) == 1

    view = show_card(app.ctx, CARD)
    start = date(2026, 11, 22)
    assert view.card.validity_end == start + timedelta(days=20 * 7 - 1)
    assert view.card.renewal_count == 20
    periods = view.periods
    assert sorted(p.order_id for p in periods if p.order_id) == sorted(placed_ids)
    assert [(p.start, p.end) for p in periods] == [
        (start + timedelta(days=7 * i), start + timedelta(days=7 * i + 6)) for i in range(20)
    ]

    app.relay.drain()
    sms = app.inbox.list(recipient=CARD, limit=100)
    assert len(sms) == 20
    assert sorted(next(i for i in placed_ids if i in m.body) for m in sms) == sorted(placed_ids)
