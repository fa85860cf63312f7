"""The refund state machine: the table, the provider's answers, a retry and a payout."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from simrenew.domain.errors import IllegalTransition
from simrenew.domain.money import Money
from simrenew.domain.refunds import (
    MANUAL_REFUND_REQUIRED,
    REFUND_TRANSITIONS,
    PayoutReferenceInvalid,
    Refund,
    RefundReasonMissing,
    RefundState,
    payout_reference,
    staff_note,
)

RS = RefundState
AT = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=1)

REFUND_MOVES = {
    (RS.REQUESTED, RS.SUCCEEDED),
    (RS.REQUESTED, RS.FAILED),
    (RS.REQUESTED, RS.MANUAL),
    (RS.FAILED, RS.REQUESTED),
    (RS.FAILED, RS.MANUAL),
    (RS.MANUAL, RS.SUCCEEDED),
}
ALL_MOVES = [(a, b) for a in RefundState for b in RefundState]


def make_refund(state: RefundState = RS.REQUESTED, **changes: object) -> Refund:
    refund = Refund(
        id="rfd_1",
        payment_id="pay_1",
        order_id="ord_1",
        provider="sandbox",
        amount=Money(8800, "HKD"),
        state=state,
        reason="card_not_renewable",
        requested_by="system:fulfilment",
        created_at=AT,
        updated_at=AT,
    )
    return replace(refund, **changes)  # type: ignore[arg-type]


def test_the_table_is_exactly_the_documented_one() -> None:
    table = {(a, b) for a, targets in REFUND_TRANSITIONS.items() for b in targets}
    assert table == REFUND_MOVES
    assert set(REFUND_TRANSITIONS) == set(RefundState)
    assert [s for s in RefundState if s.is_final] == [RS.SUCCEEDED]


@pytest.mark.parametrize(("current", "target"), ALL_MOVES)
def test_every_move_is_allowed_or_refused_by_the_table(
    current: RefundState, target: RefundState
) -> None:
    refund = make_refund(current)
    if (current, target) in REFUND_MOVES:
        moved = refund.move_to(target, LATER)
        assert (moved.state, moved.updated_at) == (target, LATER)
        assert moved.completed_at == (LATER if target is RS.SUCCEEDED else None)
    else:
        with pytest.raises(IllegalTransition) as refused:
            refund.move_to(target, LATER)
        assert refused.value.code == "illegal_transition"
        assert refused.value.params == {
            "entity": "refund",
            "current": current.value,
            "target": target.value,
        }


def test_an_accepted_refund_succeeds_with_the_providers_reference() -> None:
    done = make_refund().answered(succeeded=True, provider_ref="re_1", failure_code=None, at=LATER)
    assert (done.state, done.provider_ref, done.failure_code) == (RS.SUCCEEDED, "re_1", None)
    assert done.completed_at == LATER


def test_a_provider_that_cannot_refund_by_itself_makes_it_manual() -> None:
    manual = make_refund().answered(
        succeeded=False, provider_ref=None, failure_code=MANUAL_REFUND_REQUIRED, at=LATER
    )
    assert (manual.state, manual.failure_code) == (RS.MANUAL, MANUAL_REFUND_REQUIRED)
    assert manual.completed_at is None


@pytest.mark.parametrize(
    ("code", "kept"), [("charge_disputed", "charge_disputed"), (None, "refused")]
)
def test_a_refusal_makes_it_failed_with_a_code(code: str | None, kept: str) -> None:
    failed = make_refund().answered(
        succeeded=False, provider_ref="re_9", failure_code=code, at=LATER
    )
    assert (failed.state, failed.failure_code, failed.provider_ref) == (RS.FAILED, kept, "re_9")


@pytest.mark.parametrize("state", [RS.SUCCEEDED, RS.FAILED, RS.MANUAL])
def test_only_a_requested_refund_takes_an_answer(state: RefundState) -> None:
    with pytest.raises(IllegalTransition):
        make_refund(state).answered(succeeded=True, provider_ref=None, failure_code=None, at=LATER)


def test_a_retry_asks_again_and_counts() -> None:
    failed = make_refund(RS.FAILED, failure_code="charge_disputed")
    retried = failed.retried(LATER)
    assert (retried.state, retried.attempts, retried.failure_code) == (RS.REQUESTED, 2, None)
    with pytest.raises(IllegalTransition):
        retried.retried(LATER)  # requested: already being asked


@pytest.mark.parametrize("state", [RS.MANUAL, RS.FAILED])
def test_a_payout_by_hand_completes_a_manual_or_failed_refund(state: RefundState) -> None:
    paid = make_refund(state).paid_out(reference="FPS-123", by="staff:carol", at=LATER)
    assert (paid.state, paid.payout_reference, paid.paid_out_by) == (
        RS.SUCCEEDED,
        "FPS-123",
        "staff:carol",
    )
    assert paid.completed_at == LATER


@pytest.mark.parametrize("state", [RS.REQUESTED, RS.SUCCEEDED])
def test_no_payout_while_the_provider_may_still_refund_or_once_done(state: RefundState) -> None:
    with pytest.raises(IllegalTransition) as refused:
        make_refund(state).paid_out(reference="FPS-123", by="staff:carol", at=LATER)
    assert refused.value.params["current"] == state.value


def test_a_staff_reason_and_a_payout_reference_are_required_and_bounded() -> None:
    assert staff_note("  customer complaint  ") == "customer complaint"
    assert payout_reference(" FPS-123 ") == "FPS-123"
    for bad in ("", "   ", "x" * 501):
        with pytest.raises(RefundReasonMissing):
            staff_note(bad)
    for bad in ("", " ", "x" * 129):
        with pytest.raises(PayoutReferenceInvalid):
            payout_reference(bad)
    assert payout_reference("x" * 128) == "x" * 128
