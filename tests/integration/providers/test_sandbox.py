"""The sandbox provider through its public face: the adapter simrenew calls
(``SandboxProvider``) and the remote side the tests play the buyer on
(``SandboxGateway``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simrenew.bootstrap import App
from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.payments import PaymentState
from simrenew.ports import PaymentProvider, PaymentRequest, ProviderError, RefundResult
from simrenew.providers.sandbox import SCENARIOS, SIGNATURE_HEADER, Callback, signature_header
from tests.support import FixedClock

AMOUNT = 4800


def _provider(app: App) -> PaymentProvider:
    return app.ctx.provider("sandbox")


def _request(scenario: str | None, *, amount_minor: int = AMOUNT) -> PaymentRequest:
    return PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=amount_minor,
        currency="HKD",
        description="ONE2-D7 test",
        language="en",
        return_url="",
        scenario=scenario,
    )


def _state(app: App, payment_id: str) -> PaymentState:
    return _provider(app).fetch_status(payment_id, None).state


def _event_state(app: App, callback: Callback) -> PaymentState:
    return _provider(app).parse_callback(callback.headers, callback.body, app.ctx.clock.now()).state


def test_succeed_is_pending_until_the_buyer_pays_then_succeeded(app: App) -> None:
    request = _request("succeed")
    started = _provider(app).create_payment(request)
    assert started.state is PaymentState.PENDING
    assert started.checkout_url is not None
    assert started.checkout_url.startswith(
        f"{app.settings.public_url}/sandbox/checkout/{request.payment_id}"
    )
    assert _state(app, request.payment_id) is PaymentState.PENDING

    (paid,) = app.sandbox.complete(request.payment_id)

    status = _provider(app).fetch_status(request.payment_id, None)
    assert (status.state, status.amount_minor, status.provider_ref) == (
        PaymentState.SUCCEEDED,
        AMOUNT,
        f"sbx_{request.payment_id}",
    )
    event = _provider(app).parse_callback(paid.headers, paid.body, app.ctx.clock.now())
    assert (event.payment_id, event.state, event.amount, event.failure_code) == (
        request.payment_id,
        PaymentState.SUCCEEDED,
        Money(AMOUNT, "HKD"),
        None,
    )
    # A checkout is decided once: paying again sends nothing.
    assert app.sandbox.complete(request.payment_id) == []
    assert app.sandbox.settle(request.payment_id) == []


def test_decline_is_failed_with_the_card_declined_code(app: App) -> None:
    request = _request("decline")
    _provider(app).create_payment(request)

    (declined,) = app.sandbox.complete(request.payment_id)

    assert _state(app, request.payment_id) is PaymentState.FAILED
    event = _provider(app).parse_callback(declined.headers, declined.body, app.ctx.clock.now())
    assert (event.state, event.failure_code) == (PaymentState.FAILED, "card_declined")


def test_pending_then_succeed_is_pending_while_processing_then_succeeded(app: App) -> None:
    request = _request("pending_then_succeed")
    _provider(app).create_payment(request)

    (processing,) = app.sandbox.complete(request.payment_id)
    assert _event_state(app, processing) is PaymentState.PENDING
    assert _state(app, request.payment_id) is PaymentState.PENDING

    (settled,) = app.sandbox.settle(request.payment_id)
    assert _event_state(app, settled) is PaymentState.SUCCEEDED
    assert _state(app, request.payment_id) is PaymentState.SUCCEEDED
    assert app.sandbox.settle(request.payment_id) == []


def test_unknown_times_out_after_charging_and_a_status_check_finds_it_paid(app: App) -> None:
    request = _request("unknown")
    with pytest.raises(ProviderError):
        _provider(app).create_payment(request)

    status = _provider(app).fetch_status(request.payment_id, None)
    assert (status.state, status.amount_minor) == (PaymentState.SUCCEEDED, AMOUNT)
    assert app.sandbox.complete(request.payment_id) == []  # nothing left to do


def test_no_scenario_means_succeed(app: App) -> None:
    assert set(SCENARIOS) == {"succeed", "decline", "pending_then_succeed", "unknown"}
    request = _request(None)
    _provider(app).create_payment(request)
    (paid,) = app.sandbox.complete(request.payment_id)
    assert _event_state(app, paid) is PaymentState.SUCCEEDED


@pytest.mark.parametrize("scenario", ["fail", "SUCCEED", "unknown "])
def test_an_unknown_scenario_name_is_a_value_error_and_charges_nothing(
    app: App, scenario: str
) -> None:
    request = _request(scenario)
    with pytest.raises(ValueError, match="unknown sandbox scenario"):
        _provider(app).create_payment(request)
    assert app.sandbox.charge(request.payment_id) is None


# --- refunds ---------------------------------------------------------------------------------


def test_a_paid_charge_is_refunded_once_and_a_repeat_is_harmless(app: App) -> None:
    request = _request("succeed")
    _provider(app).create_payment(request)
    app.sandbox.complete(request.payment_id)

    first = _provider(app).refund(request.payment_id, None, AMOUNT, "HKD")
    again = _provider(app).refund(request.payment_id, None, AMOUNT, "HKD")

    assert first == again == RefundResult(True, provider_ref=f"sbxr_{request.payment_id}")
    assert app.sandbox.charge(request.payment_id)["status"] == "refunded"  # type: ignore[index]
    # The payment did succeed; the refund is a separate fact.
    assert _state(app, request.payment_id) is PaymentState.SUCCEEDED


@pytest.mark.parametrize("stage", ["checkout-open", "declined", "processing", "never-started"])
def test_a_charge_that_was_not_paid_cannot_be_refunded(app: App, stage: str) -> None:
    scenario = {"declined": "decline", "processing": "pending_then_succeed"}.get(stage, "succeed")
    request = _request(scenario)
    if stage != "never-started":
        _provider(app).create_payment(request)
    if stage in ("declined", "processing"):
        app.sandbox.complete(request.payment_id)
    before = app.sandbox.charge(request.payment_id)

    refused = _provider(app).refund(request.payment_id, None, AMOUNT, "HKD")

    assert refused == RefundResult(False, failure_code="not_refundable")
    assert app.sandbox.charge(request.payment_id) == before
    if stage == "processing":
        # Once it clears, it is paid and refundable.
        app.sandbox.settle(request.payment_id)
        assert _provider(app).refund(request.payment_id, None, AMOUNT, "HKD").succeeded


# --- callbacks ---------------------------------------------------------------------------------


def test_callbacks_are_signed_with_the_first_secret_at_the_gateways_time(
    app: App, clock: FixedClock
) -> None:
    request = _request("succeed")
    _provider(app).create_payment(request)
    (paid,) = app.sandbox.complete(request.payment_id)
    header = paid.headers["Sandbox-Signature"]
    assert header.startswith(f"t={int(clock.now().timestamp())},v1=")
    assert header.count("v1=") == 1

    clock.advance(timedelta(seconds=301))
    with pytest.raises(SignatureInvalid):
        _provider(app).parse_callback(paid.headers, paid.body, clock.now())


def test_a_validly_signed_body_that_is_not_an_event_is_refused(app: App) -> None:
    now = app.ctx.clock.now()
    for body in (b"not json", b'{"id":"evt_1","type":"payment.exploded","created":0,"data":{}}'):
        headers = {
            SIGNATURE_HEADER: signature_header(["test-secret-new"], int(now.timestamp()), body)
        }
        with pytest.raises(SignatureInvalid):
            _provider(app).parse_callback(headers, body, now)
