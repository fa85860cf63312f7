"""Saved cards with the Stripe provider, against the local fake of Stripe's API
(``tests/fakes/stripe_api``) through the official SDK: saving during Checkout, reading
the saved card back, charging it with nobody present, forgetting it. The parameters we
send are checked against the SDK's own typed parameter definitions, and webhooks
against the SDK's own verifier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from stripe.params import PaymentIntentCreateParams
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsPaymentIntentData

from simrenew.domain.ids import new_id
from simrenew.domain.payments import PaymentState
from simrenew.ports import (
    PaymentRequest,
    ProviderError,
    SavedMethodDetails,
    SavedMethodRef,
    SavesPaymentMethods,
)
from simrenew.providers.stripe import StripeProvider
from tests.fakes.stripe_api import API_KEY, FakeStripe, running

SECRET = "whsec_current_0123456789abcdef"
RETURN_URL = "https://shop.example/orders/ord_1/result"
AMOUNT = 4800
RENEWAL = 3800


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    yield from running(FakeStripe())


@pytest.fixture
def provider(fake: FakeStripe) -> Iterator[StripeProvider]:
    provider = StripeProvider(
        API_KEY,
        [SECRET],
        fallback_return_url=RETURN_URL,
        api_base=fake.url,
        timeout_seconds=1,  # the test that times out waits this long
    )
    yield provider
    provider.close()


def _request(
    *,
    amount_minor: int = AMOUNT,
    save_method: bool = False,
    customer_ref: str | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=amount_minor,
        currency="HKD",
        description="ONE2-D7 ord_test",
        language="en",
        return_url=RETURN_URL,
        save_method=save_method,
        customer_ref=customer_ref,
    )


def _saved_checkout(
    provider: StripeProvider, fake: FakeStripe, customer_ref: str | None = None
) -> tuple[PaymentRequest, str]:
    """A Checkout payment made with ``save_method``, paid by card."""
    request = _request(save_method=True, customer_ref=customer_ref)
    session_id = provider.create_payment(request).provider_ref
    assert session_id is not None
    fake.pay(session_id, brand="mastercard", last4="4444", exp=(3, 2030))
    return request, session_id


def _saved(provider: StripeProvider, fake: FakeStripe) -> SavedMethodRef:
    request, session_id = _saved_checkout(provider, fake)
    details = provider.saved_method(request.payment_id, session_id)
    assert details is not None
    return SavedMethodRef(details.token, details.customer_ref)


def _intents_for(fake: FakeStripe, payment_id: str) -> list[dict[str, Any]]:
    return [i for i in fake.intents.values() if i["metadata"].get("payment_id") == payment_id]


def _sdk_knows(typed: type, params: dict[str, Any]) -> None:
    """Every key we send is one the SDK's typed parameters define."""
    known = set(typed.__annotations__)
    assert set(params) <= known, set(params) - known


def test_stripe_saves_payment_methods(provider: StripeProvider) -> None:
    assert isinstance(provider, SavesPaymentMethods)


# --- saving during Checkout ----------------------------------------------------------------


def test_saving_asks_checkout_for_an_off_session_card_under_a_new_customer(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request = _request(save_method=True)

    result = provider.create_payment(request)

    assert result.state is PaymentState.PENDING and result.checkout_url
    (call,) = fake.calls("POST", "/v1/checkout/sessions")
    params = call.params
    assert params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert params["customer_creation"] == "always"
    assert "customer" not in params
    # Cards only: Checkout cannot keep Alipay or WeChat Pay for charges later.
    assert params["allowed_payment_method_types"] == ["card"]
    assert "payment_method_options" not in params
    expected_metadata = {"payment_id": request.payment_id, "order_id": request.order_id}
    assert params["payment_intent_data"]["metadata"] == expected_metadata
    assert call.headers["idempotency-key"] == f"simrenew-checkout-{request.payment_id}"
    _sdk_knows(SessionCreateParams, params)
    _sdk_knows(SessionCreateParamsPaymentIntentData, params["payment_intent_data"])


def test_saving_files_the_card_under_the_subscribers_customer(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    fake.customers["cus_existing"] = {"id": "cus_existing", "object": "customer"}

    request, session_id = _saved_checkout(provider, fake, customer_ref="cus_existing")

    (call,) = fake.calls("POST", "/v1/checkout/sessions")
    assert call.params["customer"] == "cus_existing"
    assert "customer_creation" not in call.params
    details = provider.saved_method(request.payment_id, session_id)
    assert details is not None and details.customer_ref == "cus_existing"


def test_a_payment_that_does_not_save_still_offers_every_method(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    provider.create_payment(_request())

    (call,) = fake.calls("POST", "/v1/checkout/sessions")
    assert call.params["allowed_payment_method_types"] == ["card", "alipay", "wechat_pay"]
    assert "setup_future_usage" not in call.params["payment_intent_data"]
    assert "customer_creation" not in call.params


def test_saving_needs_cards(fake: FakeStripe) -> None:
    wallets = StripeProvider(
        API_KEY, [SECRET], fallback_return_url=RETURN_URL, api_base=fake.url,
        payment_method_types=["alipay", "wechat_pay"],
    )  # fmt: skip
    try:
        with pytest.raises(ValueError, match="cards"):
            wallets.create_payment(_request(save_method=True))
    finally:
        wallets.close()
    assert fake.sessions == {}


# --- reading the saved card back -------------------------------------------------------------


@pytest.mark.parametrize("ref", ["session", "intent", "none"])
def test_the_saved_card_is_the_payment_intents_payment_method(
    provider: StripeProvider, fake: FakeStripe, ref: str
) -> None:
    request, session_id = _saved_checkout(provider, fake)
    intent = fake.intents[fake.sessions[session_id]["payment_intent"]]
    provider_ref = {"session": session_id, "intent": intent["id"], "none": None}[ref]

    details = provider.saved_method(request.payment_id, provider_ref)

    customer = fake.sessions[session_id]["customer"]
    assert customer is not None and customer.startswith("cus_")
    assert details == SavedMethodDetails(
        token=intent["payment_method"],
        customer_ref=customer,
        brand="mastercard",
        last4="4444",
        exp_month=3,
        exp_year=2030,
    )
    assert details.token.startswith("pm_")
    expanded = [c.params.get("expand") for c in fake.requests if c.method == "GET"]
    assert ["payment_intent.payment_method"] in expanded or ["payment_method"] in expanded


def test_no_saved_card_without_save_method_or_before_payment(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    plain = _request()
    plain_session = provider.create_payment(plain).provider_ref
    assert plain_session is not None
    fake.pay(plain_session)  # paid, but the card was not attached to a customer
    unpaid = _request(save_method=True)
    unpaid_session = provider.create_payment(unpaid).provider_ref

    assert provider.saved_method(plain.payment_id, plain_session) is None
    assert provider.saved_method(unpaid.payment_id, unpaid_session) is None


def test_another_payments_session_is_not_taken_for_ours(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    _, session_id = _saved_checkout(provider, fake)

    with pytest.raises(ProviderError):
        provider.saved_method(new_id("pay"), session_id)


def test_a_5xx_while_reading_the_card_is_a_provider_error(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request, session_id = _saved_checkout(provider, fake)
    fake.fail_next(503, path_prefix="/v1/checkout/sessions/")

    with pytest.raises(ProviderError):
        provider.saved_method(request.payment_id, session_id)


# --- charging it with nobody present ---------------------------------------------------------


def test_charging_a_saved_card_sends_an_off_session_confirmed_payment_intent(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    method = _saved(provider, fake)
    renewal = _request(amount_minor=RENEWAL)

    result = provider.charge_saved(renewal, method)

    assert result.state is PaymentState.SUCCEEDED
    assert result.provider_ref is not None and result.provider_ref.startswith("pi_")
    assert result.amount_minor == RENEWAL
    (call,) = fake.calls("POST", "/v1/payment_intents")
    assert call.headers["idempotency-key"] == f"simrenew-saved-{renewal.payment_id}"
    assert call.headers["stripe-version"] == stripe.api_version
    params = call.params
    assert (params["customer"], params["payment_method"]) == (method.customer_ref, method.token)
    assert (params["off_session"], params["confirm"]) == ("true", "true")
    assert (params["amount"], params["currency"]) == ("3800", "hkd")
    assert params["allowed_payment_method_types"] == ["card"]
    assert params["metadata"] == {
        "payment_id": renewal.payment_id,
        "order_id": renewal.order_id,
        "off_session": "true",
    }
    _sdk_knows(PaymentIntentCreateParams, params)
    # The status check and refunds find it like any other payment.
    status = provider.fetch_status(renewal.payment_id, result.provider_ref)
    assert (status.state, status.amount_minor) == (PaymentState.SUCCEEDED, RENEWAL)
    assert provider.refund(renewal.payment_id, result.provider_ref, RENEWAL, "HKD").succeeded


def test_charging_twice_charges_once(provider: StripeProvider, fake: FakeStripe) -> None:
    method = _saved(provider, fake)
    renewal = _request(amount_minor=RENEWAL)

    first = provider.charge_saved(renewal, method)
    second = provider.charge_saved(renewal, method)

    assert first == second
    assert len(_intents_for(fake, renewal.payment_id)) == 1
    assert len(fake.calls("POST", "/v1/payment_intents")) == 2


@pytest.mark.parametrize(
    ("outcome", "failure"),
    [("decline", "insufficient_funds"), ("authentication_required", "authentication_required")],
)
def test_a_decline_is_failed_with_stripes_decline_code(
    provider: StripeProvider, fake: FakeStripe, outcome: str, failure: str
) -> None:
    method = _saved(provider, fake)
    fake.card_outcomes[method.token] = outcome
    renewal = _request()

    result = provider.charge_saved(renewal, method)

    (intent,) = _intents_for(fake, renewal.payment_id)
    assert (result.state, result.failure_code, result.provider_ref) == (
        PaymentState.FAILED,
        failure,
        intent["id"],
    )
    # Asked again (a retry), Stripe answers the same 402: still one PaymentIntent.
    assert provider.charge_saved(renewal, method) == result
    assert len(_intents_for(fake, renewal.payment_id)) == 1
    # A later status check agrees: failed, not pending (no page to retry on).
    status = provider.fetch_status(renewal.payment_id, None)
    assert status.state is PaymentState.FAILED
    assert status.failure_code == intent["last_payment_error"]["code"]


def test_a_charge_still_processing_is_pending(provider: StripeProvider, fake: FakeStripe) -> None:
    method = _saved(provider, fake)
    fake.card_outcomes[method.token] = "processing"
    renewal = _request()

    result = provider.charge_saved(renewal, method)

    assert result.state is PaymentState.PENDING
    assert provider.fetch_status(renewal.payment_id, result.provider_ref).state is (
        PaymentState.PENDING
    )


def test_an_off_session_charge_waiting_for_the_cardholder_is_failed(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    method = _saved(provider, fake)
    fake.card_outcomes[method.token] = "processing"
    renewal = _request()
    provider.charge_saved(renewal, method)
    (intent,) = _intents_for(fake, renewal.payment_id)
    intent["status"] = "requires_action"  # the bank wants 3-D Secure: nobody is there

    status = provider.fetch_status(renewal.payment_id, intent["id"])

    assert (status.state, status.failure_code) == (PaymentState.FAILED, "authentication_required")


def test_a_time_out_after_the_charge_is_found_by_the_status_check(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    method = _saved(provider, fake)
    renewal = _request(amount_minor=RENEWAL)
    fake.hang_next(path_prefix="/v1/payment_intents")

    with pytest.raises(ProviderError):
        provider.charge_saved(renewal, method)

    # Stripe charged; we never heard. The janitor's check finds it by our payment id.
    status = provider.fetch_status(renewal.payment_id, None)
    (intent,) = _intents_for(fake, renewal.payment_id)
    assert (status.state, status.provider_ref, status.amount_minor) == (
        PaymentState.SUCCEEDED,
        intent["id"],
        RENEWAL,
    )
    # Charging again (same idempotency key) answers the first charge, not a second one.
    again = provider.charge_saved(renewal, method)
    assert (again.state, again.provider_ref) == (PaymentState.SUCCEEDED, intent["id"])
    assert len(_intents_for(fake, renewal.payment_id)) == 1


def test_a_5xx_on_the_charge_is_a_provider_error_and_charges_nothing(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    method = _saved(provider, fake)
    renewal = _request()
    fake.fail_next(500, path_prefix="/v1/payment_intents")

    with pytest.raises(ProviderError):
        provider.charge_saved(renewal, method)
    assert _intents_for(fake, renewal.payment_id) == []


def test_a_card_of_another_customer_is_refused_and_not_charged(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    method = _saved(provider, fake)
    renewal = _request()

    result = provider.charge_saved(renewal, SavedMethodRef(method.token, "cus_someone_else"))

    assert result.state is PaymentState.FAILED
    assert _intents_for(fake, renewal.payment_id) == []


# --- forgetting it --------------------------------------------------------------------------


def test_forgetting_detaches_and_forgetting_twice_is_fine(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    method = _saved(provider, fake)

    provider.forget_method(method)
    provider.forget_method(method)  # Stripe: "not attached to a customer"
    provider.forget_method(SavedMethodRef("pm_test_never_made", None))  # Stripe: 404

    assert fake.payment_methods[method.token]["customer"] is None
    detaches = fake.calls("POST", f"/v1/payment_methods/{method.token}/detach")
    assert len(detaches) == 2
    renewal = _request()
    result = provider.charge_saved(renewal, method)
    assert result.state is PaymentState.FAILED
    assert _intents_for(fake, renewal.payment_id) == []


def test_a_5xx_while_forgetting_is_a_provider_error(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    method = _saved(provider, fake)
    fake.fail_next(503, path_prefix="/v1/payment_methods/")

    with pytest.raises(ProviderError):
        provider.forget_method(method)
    assert fake.payment_methods[method.token]["customer"] == method.customer_ref


# --- webhooks about off-session charges -------------------------------------------------------


def _signed(fake: FakeStripe, kind: str, intent: dict[str, Any]) -> tuple[bytes, str]:
    body = json.dumps(fake.event(kind, intent)).encode()
    timestamp = int(datetime.now(UTC).timestamp())
    header = str(
        stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, timestamp)
    )
    stripe.Webhook.construct_event(body, header, SECRET)  # the SDK's verifier accepts it
    return body, header


@pytest.mark.parametrize(
    ("outcome", "kind", "state"),
    [
        ("succeed", "payment_intent.succeeded", PaymentState.SUCCEEDED),
        # No Checkout page to retry on: a failed off-session charge is final.
        ("decline", "payment_intent.payment_failed", PaymentState.FAILED),
    ],
)
def test_webhooks_about_an_off_session_charge(
    provider: StripeProvider, fake: FakeStripe, outcome: str, kind: str, state: PaymentState
) -> None:
    method = _saved(provider, fake)
    fake.card_outcomes[method.token] = outcome
    renewal = _request()
    provider.charge_saved(renewal, method)
    (intent,) = _intents_for(fake, renewal.payment_id)
    body, header = _signed(fake, kind, intent)

    event = provider.parse_callback({"Stripe-Signature": header}, body, datetime.now(UTC))

    assert (event.payment_id, event.state, event.provider_ref) == (
        renewal.payment_id,
        state,
        intent["id"],
    )
    if state is PaymentState.FAILED:
        assert event.failure_code == "card_declined"
