from __future__ import annotations

import pytest

from simrenew.domain.errors import IllegalTransition
from simrenew.domain.orders import ORDER_TRANSITIONS, OrderState
from simrenew.domain.payments import PAYMENT_TRANSITIONS, PaymentState
from tests.unit.domain.builders import hk, make_order, make_payment

# --- orders ----------------------------------------------------------------------------------

OS = OrderState
ORDER_MOVES = {
    (OS.AWAITING_PAYMENT, OS.PAID),
    (OS.AWAITING_PAYMENT, OS.CANCELLED),
    (OS.AWAITING_PAYMENT, OS.EXPIRED),
    # A payment that still succeeds is never ignored.
    (OS.CANCELLED, OS.PAID),
    (OS.EXPIRED, OS.PAID),
    (OS.PAID, OS.FULFILLED),
    (OS.PAID, OS.REFUNDING),
    (OS.FULFILLED, OS.REFUNDING),
    (OS.REFUNDING, OS.REFUNDED),
}
ALL_ORDER_MOVES = [(a, b) for a in OrderState for b in OrderState]


def test_the_order_table_is_exactly_the_documented_one() -> None:
    table = {(a, b) for a, targets in ORDER_TRANSITIONS.items() for b in targets}
    assert table == ORDER_MOVES
    assert set(ORDER_TRANSITIONS) == set(OrderState)


@pytest.mark.parametrize(("current", "target"), sorted(ORDER_MOVES))
def test_allowed_order_moves(current: OrderState, target: OrderState) -> None:
    order = make_order(current)
    at = hk(2026, 3, 1, 13)

    moved = order.move_to(target, at)

    assert moved.state is target
    assert moved.updated_at == at
    assert moved.created_at == order.created_at
    assert (moved.price, moved.id) == (order.price, order.id)


@pytest.mark.parametrize(
    ("current", "target"), [m for m in ALL_ORDER_MOVES if m not in ORDER_MOVES]
)
def test_illegal_order_moves_raise(current: OrderState, target: OrderState) -> None:
    order = make_order(current)
    with pytest.raises(IllegalTransition) as caught:
        order.move_to(target, hk(2026, 3, 1, 13))
    assert caught.value.code == "illegal_transition"
    assert caught.value.params == {
        "entity": "order",
        "current": current.value,
        "target": target.value,
    }


@pytest.mark.parametrize("current", [OS.AWAITING_PAYMENT, OS.CANCELLED, OS.EXPIRED, OS.REFUNDED])
def test_an_unpaid_or_refunded_order_is_never_fulfilled(current: OrderState) -> None:
    with pytest.raises(IllegalTransition):
        OrderState.check(current, OS.FULFILLED)


def test_refunded_is_final() -> None:
    assert ORDER_TRANSITIONS[OS.REFUNDED] == frozenset()


# --- payments --------------------------------------------------------------------------------

PS = PaymentState
FINAL = {PS.SUCCEEDED, PS.FAILED, PS.CANCELLED}
PAYMENT_MOVES = {
    (PS.PENDING, PS.UNKNOWN),
    (PS.PENDING, PS.SUCCEEDED),
    (PS.PENDING, PS.FAILED),
    (PS.PENDING, PS.CANCELLED),
    (PS.UNKNOWN, PS.PENDING),
    (PS.UNKNOWN, PS.SUCCEEDED),
    (PS.UNKNOWN, PS.FAILED),
    (PS.UNKNOWN, PS.CANCELLED),
}
ALL_PAYMENT_MOVES = [(a, b) for a in PaymentState for b in PaymentState]


def test_the_payment_table_is_exactly_the_documented_one() -> None:
    table = {(a, b) for a, targets in PAYMENT_TRANSITIONS.items() for b in targets}
    assert table == PAYMENT_MOVES


@pytest.mark.parametrize("state", list(PaymentState))
def test_final_states_have_no_exits(state: PaymentState) -> None:
    assert state.is_final is (state in FINAL)
    if state in FINAL:
        assert PAYMENT_TRANSITIONS[state] == frozenset()
        for target in PaymentState:
            assert not PaymentState.allowed(state, target)


def test_failed_and_unknown_are_kept_apart() -> None:
    assert len({PS.FAILED.value, PS.UNKNOWN.value}) == 2
    # "The provider said no" is final; "we do not know" is re-checked until final.
    assert PS.FAILED.is_final
    assert not PS.UNKNOWN.is_final
    assert not PaymentState.allowed(PS.FAILED, PS.SUCCEEDED)
    assert PaymentState.allowed(PS.UNKNOWN, PS.SUCCEEDED)


def test_an_unknown_payment_can_still_turn_out_succeeded() -> None:
    payment = make_payment(PS.UNKNOWN)
    at = hk(2026, 3, 1, 13)

    succeeded = payment.move_to(PS.SUCCEEDED, at)

    assert succeeded.state is PS.SUCCEEDED
    assert succeeded.updated_at == at


def test_a_declined_payment_keeps_its_failure_code() -> None:
    failed = make_payment(PS.PENDING).move_to(PS.FAILED, hk(2026, 3, 1, 13), "card_declined")
    assert failed.state is PS.FAILED
    assert failed.failure_code == "card_declined"


@pytest.mark.parametrize(("current", "target"), sorted(PAYMENT_MOVES))
def test_allowed_payment_moves(current: PaymentState, target: PaymentState) -> None:
    assert PaymentState.allowed(current, target)
    assert make_payment(current).move_to(target, hk(2026, 3, 1, 13)).state is target


@pytest.mark.parametrize(
    ("current", "target"), [m for m in ALL_PAYMENT_MOVES if m not in PAYMENT_MOVES]
)
def test_illegal_payment_moves_raise(current: PaymentState, target: PaymentState) -> None:
    payment = make_payment(current)
    with pytest.raises(IllegalTransition) as caught:
        payment.move_to(target, hk(2026, 3, 1, 13))
    assert caught.value.code == "illegal_transition"
    assert caught.value.params["entity"] == "payment"


@pytest.mark.parametrize("late", [PS.PENDING, PS.UNKNOWN, PS.FAILED])
def test_a_late_event_cannot_move_a_succeeded_payment_backwards(late: PaymentState) -> None:
    with pytest.raises(IllegalTransition):
        make_payment(PS.SUCCEEDED).move_to(late, hk(2026, 3, 1, 14))
