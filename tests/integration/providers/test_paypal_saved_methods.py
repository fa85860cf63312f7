"""Saved PayPal wallets with the PayPal provider, against the fake of PayPal's REST API
(``tests/fakes/paypal_api``): saving the wallet with a purchase, reading the vault id
back, charging it with nobody present, deleting the payment token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.payments import PaymentState
from simrenew.ports import (
    PaymentRequest,
    ProviderError,
    SavedMethodDetails,
    SavedMethodRef,
    SavesPaymentMethods,
)
from simrenew.providers.paypal import PayPalProvider, mask_email
from tests.fakes.paypal_api import API_BASE, FakePayPal, make_key
from tests.support import START

CLIENT_ID = "AcTestClientId"
SECRET = "EC-test-secret"
WEBHOOK_ID = "8PT597110X687430LKGECATA"
RETURN_URL = "https://shop.example.hk/orders/ord_1/result"
AMOUNT = 4800
RENEWAL = 3800
VAULT = {"store_in_vault": "ON_SUCCESS", "usage_type": "MERCHANT", "customer_type": "CONSUMER"}


@dataclass
class Ticker:
    ns: int = 10**12

    def __call__(self) -> int:
        return self.ns


@pytest.fixture(scope="module")
def paypal_key() -> rsa.RSAPrivateKey:
    return make_key()


@pytest.fixture
def fake(paypal_key: rsa.RSAPrivateKey) -> FakePayPal:
    return FakePayPal(CLIENT_ID, SECRET, WEBHOOK_ID, now=lambda: START, key=paypal_key)


@pytest.fixture
def paypal(fake: FakePayPal) -> Iterator[PayPalProvider]:
    provider = PayPalProvider(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        webhook_id=WEBHOOK_ID,
        api_base=API_BASE,
        transport=fake.transport(),
        monotonic_ns=Ticker(),
    )
    yield provider
    provider.close()
    assert fake.problems == []


def _request(
    *, amount_minor: int = AMOUNT, save_method: bool = False, customer_ref: str | None = None
) -> PaymentRequest:
    return PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=amount_minor,
        currency="HKD",
        description="ONE2-M1 renewal",
        language="en",
        return_url=RETURN_URL,
        save_method=save_method,
        customer_ref=customer_ref,
    )


def _bodies(fake: FakePayPal, method: str, path: str) -> list[tuple[httpx.Headers, Any]]:
    return [
        (r.headers, json.loads(r.content) if r.content else None)
        for r in fake.requests
        if r.method == method and r.url.path == path
    ]


def _paid_and_saved(
    fake: FakePayPal, paypal: PayPalProvider, customer_ref: str | None = None
) -> tuple[PaymentRequest, str]:
    """A purchase that asked to save the wallet, approved and captured."""
    request = _request(save_method=True, customer_ref=customer_ref)
    order_id = paypal.create_payment(request).provider_ref
    assert order_id is not None
    fake.approve(order_id, email="chan.tai.man@example.com")
    assert paypal.fetch_status(request.payment_id, order_id).state is PaymentState.SUCCEEDED
    return request, order_id


def _saved(fake: FakePayPal, paypal: PayPalProvider) -> SavedMethodRef:
    request, order_id = _paid_and_saved(fake, paypal)
    details = paypal.saved_method(request.payment_id, order_id)
    assert details is not None
    return SavedMethodRef(details.token, details.customer_ref)


def test_paypal_saves_payment_methods(paypal: PayPalProvider) -> None:
    assert isinstance(paypal, SavesPaymentMethods)


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("chan.tai.man@example.com", "c***@example.com"),
        ("x@example.hk", "x***@example.hk"),
        ("not-an-address", "***"),
        ("@example.com", "***"),
    ],
)
def test_e_mail_addresses_are_masked(address: str, masked: str) -> None:
    assert mask_email(address) == masked


# --- saving with the purchase -------------------------------------------------------------


def test_saving_asks_paypal_to_vault_the_wallet_on_success(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request(save_method=True)

    started = paypal.create_payment(request)

    assert started.state is PaymentState.PENDING and started.checkout_url
    ((headers, body),) = _bodies(fake, "POST", "/v2/checkout/orders")
    assert headers["paypal-request-id"] == request.payment_id
    wallet = body["payment_source"]["paypal"]
    assert wallet["attributes"] == {"vault": VAULT}
    assert wallet["experience_context"]["return_url"] == RETURN_URL
    assert body["intent"] == "CAPTURE"


def test_saving_for_a_known_payer_names_their_paypal_customer(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request, order_id = _paid_and_saved(fake, paypal, customer_ref="208743798")

    ((_, body),) = _bodies(fake, "POST", "/v2/checkout/orders")
    assert body["payment_source"]["paypal"]["attributes"] == {
        "vault": VAULT,
        "customer": {"id": "208743798"},
    }
    details = paypal.saved_method(request.payment_id, order_id)
    assert details is not None and details.customer_ref == "208743798"


def test_a_purchase_that_does_not_save_sends_no_vault_attributes(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    order_id = paypal.create_payment(request).provider_ref
    assert order_id is not None
    fake.approve(order_id)
    paypal.fetch_status(request.payment_id, order_id)

    ((_, body),) = _bodies(fake, "POST", "/v2/checkout/orders")
    assert "attributes" not in body["payment_source"]["paypal"]
    assert paypal.saved_method(request.payment_id, order_id) is None


# --- reading the vault back ----------------------------------------------------------------


def test_the_saved_wallet_is_the_orders_vault(fake: FakePayPal, paypal: PayPalProvider) -> None:
    request, order_id = _paid_and_saved(fake, paypal)

    details = paypal.saved_method(request.payment_id, order_id)

    (token,) = fake.vault_tokens
    assert details == SavedMethodDetails(
        token=token,
        customer_ref=fake.vault_tokens[token]["customer_id"],
        brand="paypal",
        label="c***@example.com",
    )
    # Read from the order (GET /v2/checkout/orders/{id}), as PayPal documents it.
    assert _bodies(fake, "GET", f"/v2/checkout/orders/{order_id}")


def test_nothing_saved_before_the_capture_or_without_an_order(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request(save_method=True)
    order_id = paypal.create_payment(request).provider_ref

    assert paypal.saved_method(request.payment_id, order_id) is None
    assert paypal.saved_method(request.payment_id, None) is None
    assert paypal.saved_method(request.payment_id, "5O0000UNKNOWN0000") is None


def test_a_wallet_not_saved_yet_is_asked_again_later(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    fake.vault_later = True
    request, order_id = _paid_and_saved(fake, paypal)

    with pytest.raises(ProviderError, match="not saved yet"):
        paypal.saved_method(request.payment_id, order_id)


def test_another_payments_order_is_not_taken_for_ours(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    _, order_id = _paid_and_saved(fake, paypal)

    with pytest.raises(ProviderError):
        paypal.saved_method(new_id("pay"), order_id)


# --- charging it with nobody present -------------------------------------------------------


def test_charging_a_saved_wallet_completes_an_order_at_once(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    method = _saved(fake, paypal)
    renewal = _request(amount_minor=RENEWAL)

    result = paypal.charge_saved(renewal, method)

    order = fake.order_for(renewal.payment_id)
    assert (result.state, result.provider_ref, result.amount_minor) == (
        PaymentState.SUCCEEDED,
        order["id"],
        RENEWAL,
    )
    (headers, body), *_ = [
        (h, b)
        for h, b in _bodies(fake, "POST", "/v2/checkout/orders")
        if "vault_id" in b["payment_source"]["paypal"]
    ]
    assert headers["paypal-request-id"] == f"{renewal.payment_id}-vault"
    assert body["intent"] == "CAPTURE"
    assert body["payment_source"]["paypal"]["vault_id"] == method.token
    assert body["payment_source"]["paypal"]["stored_credential"] == {
        "payment_initiator": "MERCHANT",
        "usage": "SUBSEQUENT",
        "usage_pattern": "RECURRING_PREPAID",
    }
    (unit,) = body["purchase_units"]
    assert (unit["custom_id"], unit["amount"]) == (
        renewal.payment_id,
        {"currency_code": "HKD", "value": "38.00"},
    )
    assert [c["amount"]["value"] for c in fake.charged(renewal.payment_id)] == ["38.00"]
    # No capture call: PayPal captured it with the order.
    assert not _bodies(fake, "POST", f"/v2/checkout/orders/{order['id']}/capture")
    # The status check and refunds work on it as on any PayPal payment.
    assert paypal.fetch_status(renewal.payment_id, order["id"]).state is PaymentState.SUCCEEDED
    assert paypal.refund(renewal.payment_id, order["id"], RENEWAL, "HKD").succeeded


def test_charging_twice_charges_once(fake: FakePayPal, paypal: PayPalProvider) -> None:
    method = _saved(fake, paypal)
    renewal = _request()

    first = paypal.charge_saved(renewal, method)
    second = paypal.charge_saved(renewal, method)

    assert first == second
    assert len(fake.charged(renewal.payment_id)) == 1


@pytest.mark.parametrize(
    ("outcome", "state", "failure"),
    [
        ("decline", PaymentState.FAILED, "capture_declined"),
        ("instrument_declined", PaymentState.FAILED, "instrument_declined"),
        ("pending", PaymentState.PENDING, None),
        ("payer_action", PaymentState.FAILED, "payer_action_required"),
    ],
)
def test_what_paypal_answers_to_a_saved_wallet_charge(
    fake: FakePayPal,
    paypal: PayPalProvider,
    outcome: str,
    state: PaymentState,
    failure: str | None,
) -> None:
    method = _saved(fake, paypal)
    fake.vault_outcomes[method.token] = outcome
    renewal = _request()

    result = paypal.charge_saved(renewal, method)

    assert (result.state, result.failure_code) == (state, failure)
    assert fake.charged(renewal.payment_id) == []
    assert paypal.charge_saved(renewal, method) == result  # the same answer again


def test_a_time_out_after_the_charge_is_answered_by_charging_again(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    method = _saved(fake, paypal)
    renewal = _request(amount_minor=RENEWAL)
    fake.fail_next("POST", r"^/v2/checkout/orders$", "timeout_after")

    with pytest.raises(ProviderError):
        paypal.charge_saved(renewal, method)

    # PayPal charged; we never heard. Asking again with the same request id returns
    # that order, never a second charge; the status check then works by its id.
    again = paypal.charge_saved(renewal, method)
    order = fake.order_for(renewal.payment_id)
    assert (again.state, again.provider_ref) == (PaymentState.SUCCEEDED, order["id"])
    assert len(fake.charged(renewal.payment_id)) == 1
    assert paypal.fetch_status(renewal.payment_id, order["id"]).state is PaymentState.SUCCEEDED


def test_the_capture_webhook_of_a_saved_wallet_charge_names_the_payment(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    method = _saved(fake, paypal)
    renewal = _request(amount_minor=RENEWAL)
    fake.fail_next("POST", r"^/v2/checkout/orders$", "timeout_after")
    with pytest.raises(ProviderError):
        paypal.charge_saved(renewal, method)
    (capture,) = fake.charged(renewal.payment_id)
    body = fake.event_body("PAYMENT.CAPTURE.COMPLETED", fake.capture_resource(capture["id"]))
    delivery = fake.sign(body)

    event = paypal.parse_callback(delivery.headers, delivery.body, START)

    assert (event.payment_id, event.state, event.amount) == (
        renewal.payment_id,
        PaymentState.SUCCEEDED,
        Money(RENEWAL, "HKD"),
    )
    assert event.provider_ref == fake.order_for(renewal.payment_id)["id"]


def test_a_time_out_before_reaching_paypal_charges_nothing(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    method = _saved(fake, paypal)
    renewal = _request()
    fake.fail_next("POST", r"^/v2/checkout/orders$", "timeout_before")

    with pytest.raises(ProviderError):
        paypal.charge_saved(renewal, method)
    assert fake.charged(renewal.payment_id) == []
    assert paypal.charge_saved(renewal, method).state is PaymentState.SUCCEEDED


@pytest.mark.parametrize("status", ["500", "503", "429"])
def test_server_errors_on_a_charge_are_provider_errors(
    fake: FakePayPal, paypal: PayPalProvider, status: str
) -> None:
    method = _saved(fake, paypal)
    renewal = _request()
    fake.fail_next("POST", r"^/v2/checkout/orders$", status)

    with pytest.raises(ProviderError):
        paypal.charge_saved(renewal, method)
    assert fake.charged(renewal.payment_id) == []


# --- forgetting it ------------------------------------------------------------------------


def test_forgetting_deletes_the_payment_token_and_twice_is_fine(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    method = _saved(fake, paypal)

    paypal.forget_method(method)
    paypal.forget_method(method)  # PayPal: 404, gone already

    assert fake.vault_tokens == {}
    deletes = _bodies(fake, "DELETE", f"/v3/vault/payment-tokens/{method.token}")
    assert len(deletes) == 2
    assert all(h["authorization"].startswith("Bearer ") for h, _ in deletes)
    renewal = _request()
    result = paypal.charge_saved(renewal, method)
    assert (result.state, result.failure_code) == (PaymentState.FAILED, "invalid_resource_id")
    assert fake.charged(renewal.payment_id) == []


def test_a_server_error_while_forgetting_is_a_provider_error(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    method = _saved(fake, paypal)
    fake.fail_next("DELETE", r"^/v3/vault/payment-tokens/", "503")

    with pytest.raises(ProviderError):
        paypal.forget_method(method)
    assert method.token in fake.vault_tokens
