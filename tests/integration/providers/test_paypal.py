"""The PayPal adapter against a local fake of PayPal's REST API (``tests.fakes.paypal_api``),
built from PayPal's documented formats: tokens, orders, captures, refunds, idempotency
keys, and webhooks signed with a certificate the test makes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from simrenew.bootstrap import App
from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import EventOutcome, PaymentState
from simrenew.ports import PaymentRequest, ProviderError
from simrenew.providers.paypal import (
    TOKEN_MARGIN_SECONDS,
    PayPalProvider,
    signed_message,
    to_value,
)
from simrenew.services.payments import handle_callback, recheck_payment, start_payment
from tests.fakes.paypal_api import (
    API_BASE,
    CERT_HOST,
    CERT_URL,
    FakePayPal,
    make_cert,
    make_key,
)
from tests.support import START, order

NOW = START
CLIENT_ID = "AcTestClientId"
SECRET = "EC-test-secret"
WEBHOOK_ID = "8PT597110X687430LKGECATA"
RETURN_URL = "https://shop.example.hk/orders/ord_1/result"
AMOUNT = 4800


@dataclass
class Ticker:
    """A monotonic clock (ns) the test moves."""

    ns: int = 10**12

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: int) -> None:
        self.ns += seconds * 10**9


@pytest.fixture(scope="module")
def paypal_key() -> rsa.RSAPrivateKey:
    return make_key()


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return make_key()


@pytest.fixture
def fake(paypal_key: rsa.RSAPrivateKey) -> FakePayPal:
    return FakePayPal(CLIENT_ID, SECRET, WEBHOOK_ID, now=lambda: NOW, key=paypal_key)


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


def _provider(fake: FakePayPal, ticker: Ticker, **kwargs: object) -> PayPalProvider:
    return PayPalProvider(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        webhook_id=WEBHOOK_ID,
        api_base=API_BASE,
        transport=fake.transport(),
        monotonic_ns=ticker,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def paypal(fake: FakePayPal, ticker: Ticker) -> Iterator[PayPalProvider]:
    provider = _provider(fake, ticker)
    yield provider
    provider.close()
    assert fake.problems == []


def _request(
    *, amount_minor: int = AMOUNT, currency: str = "HKD", language: str = "zh-Hant"
) -> PaymentRequest:
    return PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=amount_minor,
        currency=currency,
        description="ONE2-M1 renewal",
        language=language,
        return_url=RETURN_URL,
    )


def _sent(fake: FakePayPal, method: str, path_end: str) -> list[dict[str, object]]:
    """Bodies of the requests the fake received, with their headers."""
    return [
        {"headers": r.headers, "body": json.loads(r.content) if r.content else None}
        for r in fake.requests
        if r.method == method and r.url.path.endswith(path_end)
    ]


def _paid(fake: FakePayPal, paypal: PayPalProvider, funding: str = "ok") -> tuple[str, str]:
    """A payment the buyer approved and we captured: (payment id, order id)."""
    request = _request()
    started = paypal.create_payment(request)
    assert started.provider_ref is not None
    fake.approve(started.provider_ref, funding)
    paypal.fetch_status(request.payment_id, started.provider_ref)
    return request.payment_id, started.provider_ref


# --- creating a payment ------------------------------------------------------------------


def test_create_opens_an_order_and_returns_its_approval_link(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    started = paypal.create_payment(request)

    assert started.state is PaymentState.PENDING
    order = fake.order_for(request.payment_id)
    assert started.provider_ref == order["id"]
    assert started.checkout_url == f"https://www.sandbox.paypal.com/checkoutnow?token={order['id']}"
    assert started.amount_minor == AMOUNT
    (sent,) = _sent(fake, "POST", "/v2/checkout/orders")
    headers, body = sent["headers"], sent["body"]
    assert headers["PayPal-Request-Id"] == request.payment_id  # type: ignore[index]
    assert headers["Authorization"].startswith("Bearer A21AA")  # type: ignore[index]
    assert body == {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "reference_id": request.order_id,
                "custom_id": request.payment_id,
                "invoice_id": request.payment_id,
                "description": "ONE2-M1 renewal",
                "amount": {"currency_code": "HKD", "value": "48.00"},
            }
        ],
        "payment_source": {
            "paypal": {
                "experience_context": {
                    "locale": "zh-HK",
                    "shipping_preference": "NO_SHIPPING",
                    "user_action": "PAY_NOW",
                    "payment_method_preference": "IMMEDIATE_PAYMENT_REQUIRED",
                    "return_url": RETURN_URL,
                    "cancel_url": RETURN_URL,
                }
            }
        },
    }
    assert fake.token_requests == 1


@pytest.mark.parametrize(
    ("minor", "currency", "value"),
    [
        (1, "HKD", "0.01"),
        (5, "CNY", "0.05"),
        (10, "HKD", "0.10"),
        (4800, "HKD", "48.00"),
        (123456, "CNY", "1234.56"),
        (100000000, "HKD", "1000000.00"),
    ],
)
def test_amounts_go_out_as_decimal_strings_of_the_minor_units(
    fake: FakePayPal, paypal: PayPalProvider, minor: int, currency: str, value: str
) -> None:
    assert to_value(minor, currency) == value
    request = _request(amount_minor=minor, currency=currency)
    started = paypal.create_payment(request)
    assert started.state is PaymentState.PENDING
    assert started.amount_minor == minor
    amount = fake.order_for(request.payment_id)["purchase_units"][0]["amount"]
    assert amount == {"currency_code": currency, "value": value}


@pytest.mark.parametrize("bad", [-1, True])
def test_amounts_that_are_not_non_negative_integers_are_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        to_value(bad, "HKD")


def test_pressing_pay_twice_gets_the_same_order(fake: FakePayPal, paypal: PayPalProvider) -> None:
    request = _request()
    first = paypal.create_payment(request)
    second = paypal.create_payment(request)
    assert first.provider_ref == second.provider_ref
    assert first.checkout_url == second.checkout_url
    assert len(fake.orders) == 1


def test_an_order_paypal_refuses_is_a_failed_payment(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    started = paypal.create_payment(_request(amount_minor=0))
    assert started.state is PaymentState.FAILED
    assert started.failure_code == "amount_must_be_positive"
    assert fake.orders == {}


# --- the access token --------------------------------------------------------------------


def test_the_token_is_reused_until_shortly_before_it_expires(
    fake: FakePayPal, paypal: PayPalProvider, ticker: Ticker
) -> None:
    paypal.create_payment(_request())
    paypal.create_payment(_request())
    assert fake.token_requests == 1
    ticker.advance(fake.token_lifetime - TOKEN_MARGIN_SECONDS - 1)
    paypal.create_payment(_request())
    assert fake.token_requests == 1
    ticker.advance(2)
    paypal.create_payment(_request())
    assert fake.token_requests == 2


def test_a_revoked_token_is_replaced_and_the_call_retried_once(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    paypal.create_payment(_request())
    fake.revoke_tokens()
    request = _request()
    started = paypal.create_payment(request)
    assert started.state is PaymentState.PENDING
    assert fake.token_requests == 2
    # The retry carried the same idempotency key: one order for the payment.
    assert fake.order_for(request.payment_id)["id"] == started.provider_ref


def test_wrong_credentials_are_a_provider_error(fake: FakePayPal, ticker: Ticker) -> None:
    provider = PayPalProvider(
        client_id=CLIENT_ID,
        client_secret="wrong",
        webhook_id=WEBHOOK_ID,
        api_base=API_BASE,
        transport=fake.transport(),
        monotonic_ns=ticker,
    )
    with pytest.raises(ProviderError):
        provider.create_payment(_request())
    assert fake.orders == {}


# --- status and capture --------------------------------------------------------------------


def test_an_order_not_yet_approved_is_pending_and_is_not_captured(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    started = paypal.create_payment(request)
    status = paypal.fetch_status(request.payment_id, started.provider_ref)
    assert status.state is PaymentState.PENDING
    assert status.provider_ref == started.provider_ref
    assert _sent(fake, "POST", "/capture") == []


def test_an_approved_order_is_captured_once_and_succeeds(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    started = paypal.create_payment(request)
    assert started.provider_ref is not None
    fake.approve(started.provider_ref)

    status = paypal.fetch_status(request.payment_id, started.provider_ref)
    assert status.state is PaymentState.SUCCEEDED
    assert status.amount_minor == AMOUNT
    assert status.provider_ref == started.provider_ref  # the order id, never the capture id
    again = paypal.fetch_status(request.payment_id, started.provider_ref)
    assert again.state is PaymentState.SUCCEEDED

    assert len(fake.charged(request.payment_id)) == 1
    (capture,) = _sent(fake, "POST", "/capture")
    assert capture["headers"]["PayPal-Request-Id"] == f"{request.payment_id}-capture"  # type: ignore[index]


def test_an_order_approved_with_the_legacy_approve_link_is_read_too(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    started = paypal.create_payment(request)
    order = fake.orders[str(started.provider_ref)]
    # What an order made with application_context looks like.
    order["status"] = "CREATED"
    order["links"][1]["rel"] = "approve"
    status = paypal.fetch_status(request.payment_id, started.provider_ref)
    assert status.state is PaymentState.PENDING
    assert status.checkout_url == order["links"][1]["href"]


@pytest.mark.parametrize(
    ("funding", "state", "failure_code"),
    [
        ("decline", PaymentState.FAILED, "capture_declined"),
        ("instrument_declined", PaymentState.FAILED, "instrument_declined"),
        ("pending", PaymentState.PENDING, None),
    ],
)
def test_the_capture_outcome_is_the_payment_outcome(
    fake: FakePayPal,
    paypal: PayPalProvider,
    funding: str,
    state: PaymentState,
    failure_code: str | None,
) -> None:
    request = _request()
    started = paypal.create_payment(request)
    assert started.provider_ref is not None
    fake.approve(started.provider_ref, funding)
    status = paypal.fetch_status(request.payment_id, started.provider_ref)
    assert status.state is state
    assert status.failure_code == failure_code
    assert fake.charged(request.payment_id) == []


def test_a_voided_order_is_cancelled(fake: FakePayPal, paypal: PayPalProvider) -> None:
    request = _request()
    started = paypal.create_payment(request)
    fake.void(str(started.provider_ref))
    status = paypal.fetch_status(request.payment_id, started.provider_ref)
    assert status.state is PaymentState.CANCELLED
    assert status.failure_code == "order_voided"


def test_an_order_paypal_does_not_know_is_cancelled(paypal: PayPalProvider) -> None:
    status = paypal.fetch_status("pay_x", "5O0000NOSUCHORDER")
    assert status.state is PaymentState.CANCELLED
    assert status.failure_code == "order_not_found"


def test_without_an_order_id_nothing_can_have_been_charged(paypal: PayPalProvider) -> None:
    status = paypal.fetch_status("pay_x", None)
    assert status.state is PaymentState.CANCELLED


def test_another_payments_order_is_not_trusted(fake: FakePayPal, paypal: PayPalProvider) -> None:
    payment_id, order_id = _paid(fake, paypal)
    with pytest.raises(ProviderError):
        paypal.fetch_status("pay_someone_else", order_id)
    assert paypal.fetch_status(payment_id, order_id).state is PaymentState.SUCCEEDED


# --- failures on the way -----------------------------------------------------------------


def test_a_capture_answer_lost_after_paypal_charged_is_found_by_the_next_recheck(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    started = paypal.create_payment(request)
    fake.approve(str(started.provider_ref))
    fake.fail_next("POST", r"/capture$", "timeout_after")

    with pytest.raises(ProviderError):
        paypal.fetch_status(request.payment_id, started.provider_ref)
    assert len(fake.charged(request.payment_id)) == 1  # PayPal did take the money

    status = paypal.fetch_status(request.payment_id, started.provider_ref)
    assert status.state is PaymentState.SUCCEEDED
    assert status.amount_minor == AMOUNT
    assert len(fake.charged(request.payment_id)) == 1  # and only once


def test_a_lost_capture_answer_is_not_charged_twice_by_a_capture_retry(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    started = paypal.create_payment(request)
    fake.approve(str(started.provider_ref))
    fake.fail_next("POST", r"/capture$", "timeout_after")
    with pytest.raises(ProviderError):
        paypal.fetch_status(request.payment_id, started.provider_ref)
    # The re-check reads a stale "approved" and captures again: the same
    # PayPal-Request-Id returns the first capture instead of taking the money twice.
    fake.fail_next("GET", r"^/v2/checkout/orders/", "stale_approved")
    status = paypal.fetch_status(request.payment_id, started.provider_ref)
    assert status.state is PaymentState.SUCCEEDED
    assert len(fake.charged(request.payment_id)) == 1
    assert len(_sent(fake, "POST", "/capture")) == 2


def test_a_create_answer_lost_after_paypal_made_the_order(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    fake.fail_next("POST", r"^/v2/checkout/orders$", "timeout_after")
    with pytest.raises(ProviderError):
        paypal.create_payment(request)
    assert len(fake.orders) == 1
    # Nobody has the approval link, so nothing can be charged: the re-check closes it.
    assert paypal.fetch_status(request.payment_id, None).state is PaymentState.CANCELLED
    # And a retry of the same payment finds the same order, not a second one.
    again = paypal.create_payment(request)
    assert again.provider_ref == fake.order_for(request.payment_id)["id"]
    assert len(fake.orders) == 1
    assert fake.charged(request.payment_id) == []


def test_a_timeout_before_reaching_paypal_is_a_provider_error(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    fake.fail_next("POST", r"^/v2/checkout/orders$", "timeout_before")
    with pytest.raises(ProviderError):
        paypal.create_payment(_request())
    assert fake.orders == {}


@pytest.mark.parametrize("status", ["500", "503", "429"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", r"^/v1/oauth2/token$"),
        ("POST", r"^/v2/checkout/orders$"),
        ("GET", r"^/v2/checkout/orders/"),
        ("POST", r"/capture$"),
        ("POST", r"/refund$"),
    ],
)
def test_server_errors_and_throttling_are_provider_errors(
    fake: FakePayPal, paypal: PayPalProvider, method: str, path: str, status: str
) -> None:
    request = _request()
    if path.endswith("token$"):
        fake.fail_next(method, path, status)
        with pytest.raises(ProviderError):
            paypal.create_payment(request)
        return
    if path.startswith(r"^/v2/checkout/orders$"):
        fake.fail_next(method, path, status)
        with pytest.raises(ProviderError):
            paypal.create_payment(request)
        return
    started = paypal.create_payment(request)
    fake.approve(str(started.provider_ref))
    if path.endswith("refund$"):
        paypal.fetch_status(request.payment_id, started.provider_ref)
    fake.fail_next(method, path, status)
    with pytest.raises(ProviderError):
        if path.endswith("refund$"):
            paypal.refund(request.payment_id, started.provider_ref, AMOUNT, "HKD")
        else:
            paypal.fetch_status(request.payment_id, started.provider_ref)


# --- refunds -------------------------------------------------------------------------------


def test_a_captured_payment_is_refunded_once(fake: FakePayPal, paypal: PayPalProvider) -> None:
    payment_id, order_id = _paid(fake, paypal)

    result = paypal.refund(payment_id, order_id, AMOUNT, "HKD")
    assert result.succeeded
    assert result.provider_ref in fake.refunds
    again = paypal.refund(payment_id, order_id, AMOUNT, "HKD")
    assert again.succeeded and again.provider_ref == result.provider_ref

    (refund,) = fake.refunds.values()
    assert refund["minor"] == AMOUNT and refund["custom_id"] == payment_id
    sent = _sent(fake, "POST", "/refund")
    assert {s["headers"]["PayPal-Request-Id"] for s in sent} == {f"{payment_id}-refund"}  # type: ignore[index]
    assert sent[0]["body"] == {
        "amount": {"currency_code": "HKD", "value": "48.00"},
        "custom_id": payment_id,
    }


def test_a_refund_of_more_than_was_captured_is_refused(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    payment_id, order_id = _paid(fake, paypal)
    result = paypal.refund(payment_id, order_id, AMOUNT + 1, "HKD")
    assert not result.succeeded
    assert result.failure_code == "refund_amount_exceeded"
    assert fake.refunds == {}


def test_a_payment_refunded_by_hand_counts_as_refunded(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    payment_id, order_id = _paid(fake, paypal)
    (capture,) = fake.charged(payment_id)
    fake.captures[capture["id"]]["status"] = "REFUNDED"  # done in PayPal's dashboard
    assert paypal.refund(payment_id, order_id, AMOUNT, "HKD").succeeded


def test_an_order_never_captured_cannot_be_refunded(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    started = paypal.create_payment(request)
    result = paypal.refund(request.payment_id, started.provider_ref, AMOUNT, "HKD")
    assert not result.succeeded and result.failure_code == "not_captured"
    assert not paypal.refund(request.payment_id, None, AMOUNT, "HKD").succeeded


# --- webhooks ------------------------------------------------------------------------------


def _capture_event(
    fake: FakePayPal, paypal: PayPalProvider, event_type: str, funding: str = "ok"
) -> tuple[str, str, bytes]:
    payment_id, order_id = _paid(fake, paypal, funding)
    capture_id = fake.order_for(payment_id)["purchase_units"][0]["payments"]["captures"][0]["id"]
    return payment_id, order_id, fake.event_body(event_type, fake.capture_resource(capture_id))


def test_a_capture_completed_webhook_is_a_success(fake: FakePayPal, paypal: PayPalProvider) -> None:
    payment_id, order_id, body = _capture_event(fake, paypal, "PAYMENT.CAPTURE.COMPLETED")
    delivery = fake.sign(body)

    event = paypal.parse_callback(delivery.headers, delivery.body, NOW)

    assert event.provider == "paypal"
    assert event.event_id == json.loads(body)["id"]
    assert event.payment_id == payment_id
    assert event.state is PaymentState.SUCCEEDED
    assert event.amount == Money(AMOUNT, "HKD")
    assert event.provider_ref == order_id
    assert event.occurred_at == NOW
    assert event.failure_code is None


@pytest.mark.parametrize(
    ("event_type", "funding", "state", "failure_code"),
    [
        ("PAYMENT.CAPTURE.DENIED", "decline", PaymentState.FAILED, "denied"),
        ("PAYMENT.CAPTURE.DECLINED", "decline", PaymentState.FAILED, "declined"),
        ("PAYMENT.CAPTURE.PENDING", "pending", PaymentState.PENDING, None),
    ],
)
def test_capture_webhooks_map_to_payment_states(
    fake: FakePayPal,
    paypal: PayPalProvider,
    event_type: str,
    funding: str,
    state: PaymentState,
    failure_code: str | None,
) -> None:
    payment_id, _, body = _capture_event(fake, paypal, event_type, funding)
    delivery = fake.sign(body)
    event = paypal.parse_callback(delivery.headers, delivery.body, NOW)
    assert (event.payment_id, event.state, event.failure_code) == (payment_id, state, failure_code)


def test_a_denial_reason_is_the_failure_code(fake: FakePayPal, paypal: PayPalProvider) -> None:
    payment_id, _ = _paid(fake, paypal, "decline")
    (capture,) = fake.order_for(payment_id)["purchase_units"][0]["payments"]["captures"]
    resource = fake.capture_resource(capture["id"])
    resource["status_details"] = {"reason": "BUYER_COMPLAINT"}
    delivery = fake.sign(fake.event_body("PAYMENT.CAPTURE.DENIED", resource))
    event = paypal.parse_callback(delivery.headers, delivery.body, NOW)
    assert event.failure_code == "buyer_complaint"


def test_an_order_approved_webhook_is_pending_until_captured(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    request = _request()
    started = paypal.create_payment(request)
    fake.approve(str(started.provider_ref))
    body = fake.event_body("CHECKOUT.ORDER.APPROVED", fake.orders[str(started.provider_ref)])
    delivery = fake.sign(body)
    # Header names arrive lower-cased from the web server.
    headers = {k.lower(): v for k, v in delivery.headers.items()}

    event = paypal.parse_callback(headers, delivery.body, NOW)

    assert event.state is PaymentState.PENDING
    assert event.payment_id == request.payment_id
    assert event.provider_ref == started.provider_ref
    assert event.amount == Money(AMOUNT, "HKD")
    assert fake.charged(request.payment_id) == []  # parsing never captures


def test_a_redelivered_event_keeps_its_event_id(fake: FakePayPal, paypal: PayPalProvider) -> None:
    _, _, body = _capture_event(fake, paypal, "PAYMENT.CAPTURE.COMPLETED")
    first = paypal.parse_callback(fake.sign(body).headers, body, NOW)
    later = NOW + timedelta(minutes=30)
    retry = fake.sign(body, transmission_time=later)  # a new transmission of the same event
    second = paypal.parse_callback(retry.headers, body, later)
    assert second.event_id == first.event_id
    assert fake.cert_fetches == 1  # the certificate is cached


def test_the_certificate_is_fetched_without_credentials(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    _, _, body = _capture_event(fake, paypal, "PAYMENT.CAPTURE.COMPLETED")
    paypal.parse_callback(fake.sign(body).headers, body, NOW)
    (fetch,) = [r for r in fake.requests if r.url.host == CERT_HOST]
    assert str(fetch.url) == CERT_URL
    assert "authorization" not in fetch.headers


def test_our_signed_message_is_the_documented_one() -> None:
    # transmission id | transmission time | webhook id | unsigned decimal CRC32 of the body
    assert signed_message("tid-1", "2026-11-22T02:00:00Z", "WH1", b"{}") == (
        b"tid-1|2026-11-22T02:00:00Z|WH1|2745614147"
    )


def _completed_body(fake: FakePayPal, paypal: PayPalProvider) -> bytes:
    return _capture_event(fake, paypal, "PAYMENT.CAPTURE.COMPLETED")[2]


def test_a_webhook_signed_with_another_key_is_refused(
    fake: FakePayPal, paypal: PayPalProvider, stranger_key: rsa.RSAPrivateKey
) -> None:
    body = _completed_body(fake, paypal)
    forged = fake.sign(body, key=stranger_key)
    with pytest.raises(SignatureInvalid):
        paypal.parse_callback(forged.headers, body, NOW)


def test_a_webhook_for_another_webhook_id_is_refused(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    body = _completed_body(fake, paypal)
    other = fake.sign(body, webhook_id="3XY12345AB678901C")
    with pytest.raises(SignatureInvalid):
        paypal.parse_callback(other.headers, body, NOW)


def test_a_tampered_body_is_refused(fake: FakePayPal, paypal: PayPalProvider) -> None:
    body = _completed_body(fake, paypal)
    delivery = fake.sign(body)
    tampered = body.replace(b'"48.00"', b'"4.80"')
    assert tampered != body
    with pytest.raises(SignatureInvalid):
        paypal.parse_callback(delivery.headers, tampered, NOW)


@pytest.mark.parametrize("offset", [timedelta(minutes=-11), timedelta(minutes=11)])
def test_a_stale_or_future_transmission_is_refused(
    fake: FakePayPal, paypal: PayPalProvider, offset: timedelta
) -> None:
    body = _completed_body(fake, paypal)
    delivery = fake.sign(body, transmission_time=NOW + offset)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        paypal.parse_callback(delivery.headers, body, NOW)
    near = fake.sign(body, transmission_time=NOW - timedelta(minutes=9))
    assert paypal.parse_callback(near.headers, body, NOW).state is PaymentState.SUCCEEDED


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}',
        b'{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","create_time":"2026-11-22T02:00:00Z",'
        b'"resource":{"id":"3C1","status":"COMPLETED","amount":{"currency_code":"HKD","value":"48.00"}}}',
        b'{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","create_time":"2026-11-22T02:00:00Z",'
        b'"resource":{"custom_id":"pay_1","amount":{"currency_code":"HKD","value":48.0}}}',
        b'{"id":"WH-1","event_type":"PAYMENT.CAPTURE.REFUNDED","create_time":"2026-11-22T02:00:00Z",'
        b'"resource":{"custom_id":"pay_1","amount":{"currency_code":"HKD","value":"48.00"}}}',
    ],
    ids=["not-json", "not-object", "no-resource", "no-custom-id", "number-amount", "unhandled"],
)
def test_a_genuine_signature_over_a_body_we_cannot_use_is_refused(
    fake: FakePayPal, paypal: PayPalProvider, body: bytes
) -> None:
    delivery = fake.sign(body)
    with pytest.raises(SignatureInvalid):
        paypal.parse_callback(delivery.headers, body, NOW)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("PAYPAL-TRANSMISSION-SIG", None),
        ("PAYPAL-TRANSMISSION-ID", None),
        ("PAYPAL-CERT-URL", None),
        ("PAYPAL-TRANSMISSION-TIME", "yesterday"),
        ("PAYPAL-TRANSMISSION-SIG", "***not base64***"),
        ("PAYPAL-AUTH-ALGO", "SHA1withRSA"),
    ],
)
def test_malformed_signature_headers_are_refused(
    fake: FakePayPal, paypal: PayPalProvider, header: str, value: str | None
) -> None:
    body = _completed_body(fake, paypal)
    headers = dict(fake.sign(body).headers)
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    with pytest.raises(SignatureInvalid):
        paypal.parse_callback(headers, body, NOW)


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://evil.example/v1/notifications/certs/CERT-1",
        "http://api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.sandbox.paypal.com.evil.example/v1/notifications/certs/CERT-1",
        "https://evil.example#@api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
        "https://user@api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.sandbox.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://api.sandbox.paypal.com/v1/oauth2/token",
        "https://api.sandbox.paypal.com/v1/notifications/certs/../../oauth2/token",
    ],
)
def test_a_certificate_is_never_fetched_from_outside_paypal(
    fake: FakePayPal, paypal: PayPalProvider, stranger_key: rsa.RSAPrivateKey, cert_url: str
) -> None:
    body = _completed_body(fake, paypal)
    delivery = fake.sign(body, key=stranger_key, cert_url=cert_url)
    before = len(fake.requests)
    with pytest.raises(SignatureInvalid, match="not PayPal's"):
        paypal.parse_callback(delivery.headers, body, NOW)
    assert len(fake.requests) == before


@pytest.mark.parametrize(
    ("common_name", "not_before", "not_after"),
    [
        ("evil.example.com", timedelta(days=-1), timedelta(days=30)),
        ("messageverificationcerts.sandbox.paypal.com", timedelta(days=-60), timedelta(days=-1)),
        ("messageverificationcerts.sandbox.paypal.com", timedelta(days=1), timedelta(days=60)),
    ],
    ids=["not-paypal", "expired", "not-yet-valid"],
)
def test_a_certificate_that_is_not_a_valid_paypal_one_is_refused(
    fake: FakePayPal,
    paypal: PayPalProvider,
    common_name: str,
    not_before: timedelta,
    not_after: timedelta,
) -> None:
    path = "/v1/notifications/certs/CERT-odd"
    fake.certs[path] = make_cert(
        fake.key, common_name=common_name, not_before=NOW + not_before, not_after=NOW + not_after
    )
    body = _completed_body(fake, paypal)
    delivery = fake.sign(body, cert_url=f"https://{CERT_HOST}{path}")
    with pytest.raises(SignatureInvalid):
        paypal.parse_callback(delivery.headers, body, NOW)


def test_a_certificate_paypal_cannot_serve_is_a_provider_error(
    fake: FakePayPal, paypal: PayPalProvider
) -> None:
    body = _completed_body(fake, paypal)
    fake.fail_next("GET", r"^/v1/notifications/certs/", "503")
    with pytest.raises(ProviderError):
        paypal.parse_callback(fake.sign(body).headers, body, NOW)
    # PayPal retries the delivery; by then the certificate is there.
    assert paypal.parse_callback(fake.sign(body).headers, body, NOW).state is PaymentState.SUCCEEDED


def test_verification_through_paypals_api(
    fake: FakePayPal, ticker: Ticker, stranger_key: rsa.RSAPrivateKey
) -> None:
    offline = _provider(fake, ticker)
    online = _provider(fake, ticker, verification="api")
    body = _completed_body(fake, offline)
    delivery = fake.sign(body)

    event = online.parse_callback(delivery.headers, body, NOW)
    assert event.state is PaymentState.SUCCEEDED
    # Cross-check: what PayPal's API accepts, our own verifier accepts, and vice versa.
    assert offline.parse_callback(delivery.headers, body, NOW) == event
    (sent,) = _sent(fake, "POST", "/verify-webhook-signature")
    assert sent["body"]["webhook_id"] == WEBHOOK_ID  # type: ignore[index]
    assert sent["body"]["webhook_event"] == json.loads(body)  # type: ignore[index]

    forged = fake.sign(body, key=stranger_key)
    with pytest.raises(SignatureInvalid):
        online.parse_callback(forged.headers, body, NOW)
    with pytest.raises(SignatureInvalid):
        offline.parse_callback(forged.headers, body, NOW)
    stale = fake.sign(body, transmission_time=NOW - timedelta(hours=1))
    with pytest.raises(SignatureInvalid):
        online.parse_callback(stale.headers, body, NOW)
    offline.close()
    online.close()
    assert fake.problems == []


# --- through the payment services ----------------------------------------------------------


def test_a_paypal_payment_end_to_end(app: App, fake: FakePayPal, paypal: PayPalProvider) -> None:
    ctx = replace(app.ctx, providers={**app.ctx.providers, "paypal": paypal})
    placed = order(app, "+85251234567", "ONE2-M1")
    payment = start_payment(ctx, placed.id, "paypal", actor="test", return_url=RETURN_URL)
    assert payment.checkout_url is not None and "checkoutnow?token=" in payment.checkout_url
    fake.approve(fake.order_for(payment.id)["id"])

    approved = fake.sign(fake.event_body("CHECKOUT.ORDER.APPROVED", fake.order_for(payment.id)))
    assert handle_callback(ctx, "paypal", approved.headers, approved.body) is EventOutcome.STALE

    # The buyer is back (or the janitor runs): the re-check captures.
    paid = recheck_payment(ctx, payment.id)
    assert paid.state is PaymentState.SUCCEEDED
    with app.uow(write=False) as uow:
        assert uow.orders.get(placed.id).state is OrderState.FULFILLED

    capture = fake.order_for(payment.id)["purchase_units"][0]["payments"]["captures"][0]
    completed = fake.event_body("PAYMENT.CAPTURE.COMPLETED", fake.capture_resource(capture["id"]))
    first = fake.sign(completed)
    assert handle_callback(ctx, "paypal", first.headers, first.body) is EventOutcome.STALE
    again = fake.sign(completed)
    assert handle_callback(ctx, "paypal", again.headers, again.body) is EventOutcome.DUPLICATE
    assert len(fake.charged(payment.id)) == 1
