"""The sandbox's saved methods ("cards on file"): saved when a payment that asked for
it is paid on the checkout page, charged later with the scenario they were saved with,
forgotten on request; on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, func, select

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.domain.ids import new_id
from simrenew.domain.payments import PaymentState
from simrenew.ports import (
    PaymentRequest,
    ProviderError,
    SavedMethodDetails,
    SavedMethodRef,
    SavesPaymentMethods,
)
from simrenew.providers.sandbox import SandboxProvider

AMOUNT = 4800
RENEWAL = 3800


def _provider(app: App) -> SandboxProvider:
    provider = app.ctx.provider("sandbox")
    assert isinstance(provider, SandboxProvider)
    return provider


def _request(
    scenario: str | None = None,
    *,
    save_method: bool = False,
    customer_ref: str | None = None,
    amount_minor: int = AMOUNT,
) -> PaymentRequest:
    return PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=amount_minor,
        currency="HKD",
        description="ONE2-D7 test",
        language="en",
        return_url="",
        scenario=scenario,
        save_method=save_method,
        customer_ref=customer_ref,
    )


def _saved(app: App, scenario: str = "succeed", customer_ref: str | None = None) -> SavedMethodRef:
    """A method saved by a paid checkout that ran ``scenario``."""
    request = _request(scenario, save_method=True, customer_ref=customer_ref)
    if scenario == "unknown":
        # Charged (and saved) at the start, whose answer is lost.
        with pytest.raises(ProviderError):
            _provider(app).create_payment(request)
    else:
        _provider(app).create_payment(request)
        app.sandbox.complete(request.payment_id, action="pay")
    details = _provider(app).saved_method(request.payment_id, None)
    assert details is not None
    return SavedMethodRef(details.token, details.customer_ref)


def _charges(engine: Engine, payment_id: str) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(t.sandbox_charges.c.status, t.sandbox_charges.c.amount_minor).where(
                t.sandbox_charges.c.payment_id == payment_id
            )
        ).all()
    return [(str(status), int(amount)) for status, amount in rows]


def test_the_sandbox_saves_payment_methods(app: App) -> None:
    assert isinstance(_provider(app), SavesPaymentMethods)


def test_a_paid_checkout_that_asked_to_save_keeps_a_card_on_file(app: App) -> None:
    request = _request(save_method=True)
    _provider(app).create_payment(request)
    assert _provider(app).saved_method(request.payment_id, None) is None  # not paid yet

    app.sandbox.complete(request.payment_id)

    details = _provider(app).saved_method(request.payment_id, f"sbx_{request.payment_id}")
    assert details is not None
    assert details.token.startswith("sbx_pm_") and len(details.token) > len("sbx_pm_") + 16
    assert details.customer_ref is not None and details.customer_ref.startswith("sbx_cus_")
    now = app.ctx.clock.now()
    assert details == SavedMethodDetails(
        token=details.token,
        customer_ref=details.customer_ref,
        brand="sandbox",
        last4="4242",
        exp_month=now.month,
        exp_year=now.year + 3,
    )
    # Asking again gives the same method; another payment saves another one.
    assert _provider(app).saved_method(request.payment_id, None) == details
    other = _saved(app)
    assert other.token != details.token


def test_the_request_customer_is_reused_through_the_signed_checkout_page(app: App) -> None:
    request = _request(save_method=True, customer_ref="sbx_cus_existing")
    started = _provider(app).create_payment(request)
    assert started.checkout_url is not None
    # The hosted page knows the checkout only from the signed token in its URL.
    (token,) = parse_qs(urlsplit(started.checkout_url).query)["session"]
    session = app.sandbox.session(token)
    assert (session.save_method, session.customer_ref) == (True, "sbx_cus_existing")

    app.sandbox.complete(request.payment_id, action="pay", session=session)

    details = _provider(app).saved_method(request.payment_id, None)
    assert details is not None and details.customer_ref == "sbx_cus_existing"


@pytest.mark.parametrize(
    ("save_method", "scenario", "action"),
    [(False, "succeed", "pay"), (True, "decline", "decline"), (True, "succeed", "decline")],
)
def test_nothing_is_kept_unless_asked_and_paid(
    app: App, engine: Engine, save_method: bool, scenario: str, action: str
) -> None:
    request = _request(scenario, save_method=save_method)
    _provider(app).create_payment(request)
    app.sandbox.complete(request.payment_id, action=action)

    assert _provider(app).saved_method(request.payment_id, None) is None
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.sandbox_methods)).scalar() == 0


def test_charging_a_saved_card_succeeds_once_however_often_it_is_asked(
    app: App, engine: Engine
) -> None:
    method = _saved(app)
    renewal = _request(amount_minor=RENEWAL)

    first = _provider(app).charge_saved(renewal, method)
    again = _provider(app).charge_saved(renewal, method)

    assert first == again
    assert (first.state, first.provider_ref, first.amount_minor, first.failure_code) == (
        PaymentState.SUCCEEDED,
        f"sbx_{renewal.payment_id}",
        RENEWAL,
        None,
    )
    assert _charges(engine, renewal.payment_id) == [("succeeded", RENEWAL)]
    status = _provider(app).fetch_status(renewal.payment_id, first.provider_ref)
    assert (status.state, status.amount_minor) == (PaymentState.SUCCEEDED, RENEWAL)
    # Refunds work as for any sandbox charge.
    assert _provider(app).refund(renewal.payment_id, first.provider_ref, RENEWAL, "HKD").succeeded
    assert _charges(engine, renewal.payment_id) == [("refunded", RENEWAL)]


def test_two_charges_at_once_take_the_money_once(app: App, engine: Engine) -> None:
    method = _saved(app)
    renewal = _request(amount_minor=RENEWAL)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: _provider(app).charge_saved(renewal, method), [1, 2]))

    assert [r.state for r in results] == [PaymentState.SUCCEEDED, PaymentState.SUCCEEDED]
    assert _charges(engine, renewal.payment_id) == [("succeeded", RENEWAL)]


def test_a_card_saved_with_decline_is_declined(app: App, engine: Engine) -> None:
    # The checkout itself was paid (the buyer chose "pay"); the card declines later.
    method = _saved(app, "decline")
    renewal = _request()

    result = _provider(app).charge_saved(renewal, method)

    assert (result.state, result.failure_code) == (PaymentState.FAILED, "card_declined")
    assert _provider(app).charge_saved(renewal, method) == result
    assert _provider(app).fetch_status(renewal.payment_id, None).state is PaymentState.FAILED
    assert _charges(engine, renewal.payment_id) == [("failed", AMOUNT)]


def test_a_card_saved_with_pending_then_succeed_settles_later(app: App) -> None:
    method = _saved(app, "pending_then_succeed")
    renewal = _request()

    result = _provider(app).charge_saved(renewal, method)

    assert result.state is PaymentState.PENDING
    assert _provider(app).fetch_status(renewal.payment_id, None).state is PaymentState.PENDING
    (settled,) = app.sandbox.settle(renewal.payment_id)
    event = _provider(app).parse_callback(settled.headers, settled.body, app.ctx.clock.now())
    assert (event.payment_id, event.state) == (renewal.payment_id, PaymentState.SUCCEEDED)
    assert _provider(app).fetch_status(renewal.payment_id, None).state is PaymentState.SUCCEEDED


def test_a_time_out_after_the_charge_is_found_by_the_status_check(app: App, engine: Engine) -> None:
    method = _saved(app, "unknown")
    renewal = _request(amount_minor=RENEWAL)

    with pytest.raises(ProviderError):
        _provider(app).charge_saved(renewal, method)

    status = _provider(app).fetch_status(renewal.payment_id, None)
    assert (status.state, status.amount_minor) == (PaymentState.SUCCEEDED, RENEWAL)
    # Asking again gets the first charge's answer, not a second charge.
    assert _provider(app).charge_saved(renewal, method).state is PaymentState.SUCCEEDED
    assert _charges(engine, renewal.payment_id) == [("succeeded", RENEWAL)]


def test_a_forgotten_card_is_declined_and_forgetting_twice_is_fine(
    app: App, engine: Engine
) -> None:
    request = _request(save_method=True)
    _provider(app).create_payment(request)
    app.sandbox.complete(request.payment_id)
    details = _provider(app).saved_method(request.payment_id, None)
    assert details is not None
    method = SavedMethodRef(details.token, details.customer_ref)

    _provider(app).forget_method(method)
    _provider(app).forget_method(method)
    _provider(app).forget_method(SavedMethodRef("sbx_pm_never_saved", None))

    with engine.connect() as connection:
        detached = connection.execute(
            select(t.sandbox_methods.c.detached_at).where(t.sandbox_methods.c.token == method.token)
        ).scalar_one()
    assert detached == app.ctx.clock.now()
    assert _provider(app).saved_method(request.payment_id, None) is None
    renewal = _request()
    result = _provider(app).charge_saved(renewal, method)
    assert (result.state, result.failure_code) == (PaymentState.FAILED, "method_detached")
    assert _charges(engine, renewal.payment_id) == []


def test_a_method_not_on_file_or_not_the_customers_is_not_charged(app: App, engine: Engine) -> None:
    method = _saved(app, customer_ref="sbx_cus_owner")
    for wrong in (
        SavedMethodRef("sbx_pm_unknown", None),
        SavedMethodRef(method.token, "sbx_cus_someone_else"),
    ):
        renewal = _request()
        result = _provider(app).charge_saved(renewal, wrong)
        assert (result.state, result.failure_code) == (PaymentState.FAILED, "method_not_found")
        assert _charges(engine, renewal.payment_id) == []
    # The owner's own reference (or none) charges it.
    assert _provider(app).charge_saved(_request(), method).state is PaymentState.SUCCEEDED
    unowned = SavedMethodRef(method.token, None)
    assert _provider(app).charge_saved(_request(), unowned).state is PaymentState.SUCCEEDED
