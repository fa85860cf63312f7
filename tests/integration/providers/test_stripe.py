"""The Stripe provider against a local fake of Stripe's API (``tests/fakes/stripe_api``),
through the official SDK pointed at the fake; webhook signatures made with the SDK's
own signer and checked against the SDK's own verifier."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe

from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.payments import PaymentState
from simrenew.ports import PaymentRequest, ProviderError
from simrenew.providers.stripe import StripeProvider, signature_header
from tests.fakes.stripe_api import API_KEY, FakeStripe, running

SECRET = "whsec_current_0123456789abcdef"
OLD_SECRET = "whsec_previous_fedcba9876543210"
RETURN_URL = "https://shop.example/orders/ord_1/result"
FALLBACK_URL = "https://shop.example/"
AMOUNT = 4800


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    yield from running(FakeStripe())


@pytest.fixture
def provider(fake: FakeStripe) -> Iterator[StripeProvider]:
    provider = StripeProvider(
        API_KEY,
        [SECRET, OLD_SECRET],
        fallback_return_url=FALLBACK_URL,
        api_base=fake.url,
        timeout_seconds=1,  # the one test that times out waits this long
    )
    yield provider
    provider.close()


def _request(
    *,
    amount_minor: int = AMOUNT,
    currency: str = "HKD",
    language: str = "zh-Hant",
    return_url: str = RETURN_URL,
) -> PaymentRequest:
    return PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=amount_minor,
        currency=currency,
        description="ONE2-D7 ord_test",
        language=language,
        return_url=return_url,
    )


def _started(provider: StripeProvider, fake: FakeStripe) -> tuple[PaymentRequest, str]:
    request = _request()
    result = provider.create_payment(request)
    assert result.provider_ref is not None
    return request, result.provider_ref


# --- create --------------------------------------------------------------------------------


def test_create_opens_a_hosted_checkout_and_is_pending(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request = _request()

    result = provider.create_payment(request)

    assert result.state is PaymentState.PENDING
    assert result.provider_ref is not None and result.provider_ref.startswith("cs_")
    assert result.checkout_url == f"https://checkout.stripe.com/c/pay/{result.provider_ref}"
    assert result.amount_minor == AMOUNT
    (call,) = fake.calls("POST", "/v1/checkout/sessions")
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert call.headers["stripe-version"] == stripe.api_version  # the SDK's pinned version
    assert call.headers["idempotency-key"] == f"simrenew-checkout-{request.payment_id}"
    params = call.params
    assert params["mode"] == "payment"
    (item,) = params["line_items"]
    assert item["quantity"] == "1"
    assert item["price_data"]["currency"] == "hkd"
    assert item["price_data"]["unit_amount"] == "4800"  # minor units, as an integer
    assert item["price_data"]["product_data"]["name"] == request.description
    assert params["client_reference_id"] == request.payment_id
    expected_metadata = {"payment_id": request.payment_id, "order_id": request.order_id}
    assert params["metadata"] == expected_metadata
    assert params["payment_intent_data"]["metadata"] == expected_metadata
    assert params["allowed_payment_method_types"] == ["card", "alipay", "wechat_pay"]
    assert "payment_method_types" not in params
    assert params["payment_method_options"] == {"wechat_pay": {"client": "web"}}
    assert params["success_url"] == params["cancel_url"] == RETURN_URL
    assert params["locale"] == "zh-HK"


def test_create_in_cny_without_a_return_url_uses_the_fallback(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request = _request(currency="CNY", amount_minor=3800, language="zh-Hans", return_url="")

    assert provider.create_payment(request).state is PaymentState.PENDING

    (call,) = fake.calls("POST", "/v1/checkout/sessions")
    assert call.params["line_items"][0]["price_data"]["currency"] == "cny"
    assert call.params["line_items"][0]["price_data"]["unit_amount"] == "3800"
    assert call.params["success_url"] == FALLBACK_URL
    assert call.params["locale"] == "zh"


def test_cards_only_sends_no_wechat_options(fake: FakeStripe) -> None:
    cards = StripeProvider(
        API_KEY, [SECRET], fallback_return_url=FALLBACK_URL, api_base=fake.url,
        payment_method_types=["card"],
    )  # fmt: skip
    try:
        assert cards.create_payment(_request()).state is PaymentState.PENDING
    finally:
        cards.close()
    (call,) = fake.calls("POST", "/v1/checkout/sessions")
    assert call.params["allowed_payment_method_types"] == ["card"]
    assert "payment_method_options" not in call.params


def test_starting_twice_gets_the_same_session_back(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request = _request()

    first = provider.create_payment(request)
    second = provider.create_payment(request)

    assert second == first
    assert len(fake.sessions) == 1
    keys = {c.headers["idempotency-key"] for c in fake.calls("POST", "/v1/checkout/sessions")}
    assert keys == {f"simrenew-checkout-{request.payment_id}"}
    other = provider.create_payment(_request())
    assert other.provider_ref != first.provider_ref


def test_a_refused_create_is_failed_with_stripes_code(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    # HK$1.00 is below Stripe's minimum charge for HKD.
    result = provider.create_payment(_request(amount_minor=100))

    assert result.state is PaymentState.FAILED
    assert result.failure_code == "amount_too_small"
    assert fake.sessions == {}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_on_create_is_a_provider_error(
    provider: StripeProvider, fake: FakeStripe, status: int
) -> None:
    fake.fail_next(status)
    with pytest.raises(ProviderError):
        provider.create_payment(_request())
    assert fake.sessions == {}


def test_a_non_json_gateway_error_is_a_provider_error(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    fake.fail_next(502, raw_body=b"<html><body>502 Bad Gateway</body></html>")
    with pytest.raises(ProviderError):
        provider.create_payment(_request())


def test_a_wrong_api_key_is_a_provider_error_not_a_decline(fake: FakeStripe) -> None:
    wrong = StripeProvider(
        "sk_test_wrong", [SECRET], fallback_return_url=FALLBACK_URL, api_base=fake.url
    )
    try:
        with pytest.raises(ProviderError):
            wrong.create_payment(_request())
    finally:
        wrong.close()
    assert fake.sessions == {}


def test_nothing_listening_is_a_provider_error(fake: FakeStripe) -> None:
    url = fake.url
    fake.stop()
    gone = StripeProvider(API_KEY, [SECRET], fallback_return_url=FALLBACK_URL, api_base=url)
    try:
        with pytest.raises(ProviderError):
            gone.create_payment(_request())
        with pytest.raises(ProviderError):
            gone.fetch_status("pay_x", "cs_test_x")
    finally:
        gone.close()


def test_a_time_out_after_stripe_acted_then_the_recheck_finds_the_payment(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request = _request()
    fake.hang_next(path_prefix="/v1/checkout/sessions")

    with pytest.raises(ProviderError):
        provider.create_payment(request)

    # Stripe made the session; we never heard of it.
    session = fake.session_for(request.payment_id)
    # Before anyone pays there is nothing to find by our payment id: no answer.
    with pytest.raises(ProviderError):
        provider.fetch_status(request.payment_id, None)
    # Starting again gets the same session back (same idempotency key), not a second one.
    again = provider.create_payment(request)
    assert again.provider_ref == session["id"]
    fake.pay(session["id"])

    status = provider.fetch_status(request.payment_id, None)

    assert status.state is PaymentState.SUCCEEDED
    assert status.provider_ref == session["id"]
    assert status.amount_minor == AMOUNT
    assert len(fake.sessions) == 1
    assert fake.succeeded_charges == 1


# --- fetch_status ----------------------------------------------------------------------------


def _act(fake: FakeStripe, session_id: str, action: str) -> None:
    if action == "pay":
        fake.pay(session_id)
    elif action == "decline":
        fake.decline(session_id)
    elif action == "decline_then_pay":
        fake.decline(session_id)
        fake.pay(session_id, "wechat_pay")
    elif action == "expire":
        fake.expire(session_id)
    elif action == "decline_then_expire":
        fake.decline(session_id)
        fake.expire(session_id)
    elif action == "pay_async":
        fake.pay_async(session_id)
    elif action == "async_succeeded":
        fake.pay_async(session_id)
        fake.settle_async(session_id, succeed=True)
    elif action == "async_failed":
        fake.pay_async(session_id)
        fake.settle_async(session_id, succeed=False)
    else:
        assert action == "none"


STATES = [
    ("none", PaymentState.PENDING, None),
    ("pay", PaymentState.SUCCEEDED, None),
    # A decline leaves the Checkout page open for another try: not final.
    ("decline", PaymentState.PENDING, None),
    ("decline_then_pay", PaymentState.SUCCEEDED, None),
    ("expire", PaymentState.CANCELLED, None),
    ("decline_then_expire", PaymentState.CANCELLED, None),
    ("pay_async", PaymentState.PENDING, None),
    ("async_succeeded", PaymentState.SUCCEEDED, None),
    ("async_failed", PaymentState.FAILED, "payment_method_provider_decline"),
]


@pytest.mark.parametrize(("action", "state", "failure"), STATES)
def test_fetch_status_by_session(
    provider: StripeProvider,
    fake: FakeStripe,
    action: str,
    state: PaymentState,
    failure: str | None,
) -> None:
    request, session_id = _started(provider, fake)
    _act(fake, session_id, action)

    result = provider.fetch_status(request.payment_id, session_id)

    assert (result.state, result.failure_code) == (state, failure)
    assert result.provider_ref == session_id
    assert result.amount_minor == AMOUNT


@pytest.mark.parametrize(
    ("action", "state", "failure"), [s for s in STATES if s[0] not in ("none", "expire")]
)
def test_fetch_status_by_payment_intent_and_by_search(
    provider: StripeProvider,
    fake: FakeStripe,
    action: str,
    state: PaymentState,
    failure: str | None,
) -> None:
    request, session_id = _started(provider, fake)
    _act(fake, session_id, action)
    intent_id = fake.sessions[session_id]["payment_intent"]
    assert intent_id is not None

    by_intent = provider.fetch_status(request.payment_id, intent_id)
    by_search = provider.fetch_status(request.payment_id, None)

    assert (by_intent.state, by_intent.failure_code) == (state, failure)
    assert by_search == by_intent
    (search,) = fake.calls("GET", "/v1/payment_intents/search")
    assert search.params["query"] == f"metadata['payment_id']:'{request.payment_id}'"


def test_a_failed_payment_intent_without_a_session_is_failed_with_its_code(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request, session_id = _started(provider, fake)
    fake.decline(session_id, code="card_declined")
    intent_id = fake.sessions.pop(session_id)["payment_intent"]

    result = provider.fetch_status(request.payment_id, intent_id)

    assert (result.state, result.failure_code) == (PaymentState.FAILED, "card_declined")
    assert result.provider_ref == intent_id


def test_search_that_has_not_caught_up_is_no_answer(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request, session_id = _started(provider, fake)
    fake.pay(session_id)
    fake.unsearchable.add(fake.sessions[session_id]["payment_intent"])

    with pytest.raises(ProviderError):
        provider.fetch_status(request.payment_id, None)


def test_a_session_of_another_payment_is_not_taken_for_ours(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    _, session_id = _started(provider, fake)
    fake.pay(session_id)

    with pytest.raises(ProviderError):
        provider.fetch_status(new_id("pay"), session_id)


@pytest.mark.parametrize("status", [404, 500, 503])
def test_fetch_status_errors_are_provider_errors(
    provider: StripeProvider, fake: FakeStripe, status: int
) -> None:
    request, session_id = _started(provider, fake)
    fake.fail_next(status, path_prefix="/v1/checkout/sessions/")
    with pytest.raises(ProviderError):
        provider.fetch_status(request.payment_id, session_id)
    with pytest.raises(ProviderError):
        provider.fetch_status(request.payment_id, "cs_test_unknown")


# --- refunds -------------------------------------------------------------------------------


def _paid(provider: StripeProvider, fake: FakeStripe) -> tuple[PaymentRequest, str, str]:
    request, session_id = _started(provider, fake)
    fake.pay(session_id)
    return request, session_id, fake.sessions[session_id]["payment_intent"]


@pytest.mark.parametrize("ref", ["session", "intent", "none"])
def test_refund_in_full(provider: StripeProvider, fake: FakeStripe, ref: str) -> None:
    request, session_id, intent_id = _paid(provider, fake)
    provider_ref = {"session": session_id, "intent": intent_id, "none": None}[ref]

    result = provider.refund(request.payment_id, provider_ref, AMOUNT, "HKD")

    assert result.succeeded
    assert result.provider_ref is not None and result.provider_ref.startswith("re_")
    (call,) = fake.calls("POST", "/v1/refunds")
    assert call.params["payment_intent"] == intent_id
    assert call.params["amount"] == "4800"
    assert call.params["metadata"] == {"payment_id": request.payment_id}
    assert call.headers["idempotency-key"] == f"simrenew-refund-{request.payment_id}-{AMOUNT}"


def test_a_repeated_refund_pays_out_once(provider: StripeProvider, fake: FakeStripe) -> None:
    request, session_id, _ = _paid(provider, fake)

    first = provider.refund(request.payment_id, session_id, AMOUNT, "HKD")
    second = provider.refund(request.payment_id, session_id, AMOUNT, "HKD")

    assert first == second
    assert first.succeeded
    assert len(fake.refunds) == 1


def test_a_refund_of_a_refunded_payment_is_done_already(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request, session_id, _ = _paid(provider, fake)
    assert provider.refund(request.payment_id, session_id, AMOUNT, "HKD").succeeded

    # Another amount is another idempotency key: Stripe answers charge_already_refunded.
    again = provider.refund(request.payment_id, session_id, 100, "HKD")

    assert again.succeeded
    assert len(fake.refunds) == 1


def test_a_refund_above_what_was_paid_is_refused(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request, session_id, _ = _paid(provider, fake)

    result = provider.refund(request.payment_id, session_id, AMOUNT + 1, "HKD")

    assert (result.succeeded, result.failure_code) == (False, "amount_too_large")
    assert fake.refunds == {}


def test_nothing_to_refund_before_the_buyer_paid(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request, session_id = _started(provider, fake)
    assert provider.refund(request.payment_id, session_id, AMOUNT, "HKD").failure_code == (
        "payment_not_found"
    )
    fake.decline(session_id)
    refused = provider.refund(request.payment_id, session_id, AMOUNT, "HKD")
    assert (refused.succeeded, refused.failure_code) == (False, "payment_intent_unexpected_state")


def test_a_refund_stripe_marks_failed_is_not_a_success(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    request, session_id, _ = _paid(provider, fake)
    fake.refund_status = "failed"

    result = provider.refund(request.payment_id, session_id, AMOUNT, "HKD")

    assert (result.succeeded, result.failure_code) == (False, "expired_or_canceled_card")


def test_a_pending_refund_is_accepted(provider: StripeProvider, fake: FakeStripe) -> None:
    request, session_id, _ = _paid(provider, fake)
    fake.refund_status = "pending"

    assert provider.refund(request.payment_id, session_id, AMOUNT, "HKD").succeeded


def test_a_5xx_on_refund_is_a_provider_error(provider: StripeProvider, fake: FakeStripe) -> None:
    request, session_id, _ = _paid(provider, fake)
    fake.fail_next(500, path_prefix="/v1/refunds")

    with pytest.raises(ProviderError):
        provider.refund(request.payment_id, session_id, AMOUNT, "HKD")
    assert fake.refunds == {}


# --- webhooks ------------------------------------------------------------------------------


def _now() -> datetime:
    # The SDK's verifier reads the wall clock, so ours is given the same time.
    return datetime.now(UTC)


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def _header(body: bytes, secret: str = SECRET, *, at: datetime | None = None) -> str:
    timestamp = int((at or _now()).timestamp())
    return str(stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp))


def _v1(body: bytes, secret: str, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _sdk_accepts(body: bytes, header: str, secrets: list[str]) -> bool:
    for secret in secrets:
        try:
            stripe.Webhook.construct_event(body, header, secret)
        except (stripe.SignatureVerificationError, ValueError):
            continue
        return True
    return False


def _ours_accepts(provider: StripeProvider, body: bytes, header: str) -> bool:
    try:
        provider.parse_callback({"Stripe-Signature": header}, body, _now())
    except SignatureInvalid:
        return False
    return True


EVENTS = [
    ("pay", "payment_intent.succeeded", PaymentState.SUCCEEDED, None, "pi_"),
    ("pay", "checkout.session.completed", PaymentState.SUCCEEDED, None, "cs_"),
    ("decline", "payment_intent.payment_failed", PaymentState.PENDING, "card_declined", "pi_"),
    ("pay_async", "checkout.session.completed", PaymentState.PENDING, None, "cs_"),
    (
        "async_succeeded",
        "checkout.session.async_payment_succeeded",
        PaymentState.SUCCEEDED,
        None,
        "cs_",
    ),
    (
        "async_failed",
        "checkout.session.async_payment_failed",
        PaymentState.FAILED,
        "async_payment_failed",
        "cs_",
    ),
    ("expire", "checkout.session.expired", PaymentState.CANCELLED, None, "cs_"),
]


def _events(fake: FakeStripe, session_id: str, action: str) -> list[dict[str, Any]]:
    if action == "async_succeeded":
        return fake.pay_async(session_id) + fake.settle_async(session_id, succeed=True)
    if action == "async_failed":
        return fake.pay_async(session_id) + fake.settle_async(session_id, succeed=False)
    buyer: dict[str, Callable[[str], list[dict[str, Any]]]] = {
        "pay": fake.pay,
        "decline": fake.decline,
        "pay_async": fake.pay_async,
        "expire": fake.expire,
    }
    return buyer[action](session_id)


@pytest.mark.parametrize(("action", "kind", "state", "failure", "ref_prefix"), EVENTS)
def test_callbacks_map_to_payment_events(
    provider: StripeProvider,
    fake: FakeStripe,
    action: str,
    kind: str,
    state: PaymentState,
    failure: str | None,
    ref_prefix: str,
) -> None:
    request, session_id = _started(provider, fake)
    events = [e for e in _events(fake, session_id, action) if e["type"] == kind]
    event = events[-1]
    body = _body(event)
    header = _header(body)
    assert _sdk_accepts(body, header, [SECRET])

    parsed = provider.parse_callback({"Stripe-Signature": header}, body, _now())

    assert parsed.provider == "stripe"
    assert parsed.event_id == event["id"]
    assert parsed.payment_id == request.payment_id
    assert (parsed.state, parsed.failure_code) == (state, failure)
    assert parsed.amount == Money(AMOUNT, "HKD")
    assert parsed.provider_ref is not None and parsed.provider_ref.startswith(ref_prefix)
    assert parsed.occurred_at == datetime.fromtimestamp(event["created"], UTC)


def test_a_redelivered_event_keeps_its_id(provider: StripeProvider, fake: FakeStripe) -> None:
    _, session_id = _started(provider, fake)
    body = _body(fake.pay(session_id)[1])
    now = _now()

    first = provider.parse_callback({"Stripe-Signature": _header(body, at=now)}, body, now)
    later = now + timedelta(minutes=30)
    again = provider.parse_callback(
        {"stripe-signature": _header(body, at=later)}, body, later
    )  # Stripe retries with a fresh timestamp and signature

    assert again == first


def test_a_forged_or_tampered_callback_is_refused(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    _, session_id = _started(provider, fake)
    body = _body(fake.pay(session_id)[1])
    forged = _header(body, "whsec_not_ours")
    tampered = body.replace(b'"paid"', b'"unpaid"')
    good = _header(body)

    for candidate_body, header in ((body, forged), (tampered, good)):
        with pytest.raises(SignatureInvalid):
            provider.parse_callback({"Stripe-Signature": header}, candidate_body, _now())
        assert not _sdk_accepts(candidate_body, header, [SECRET, OLD_SECRET])


def test_a_stale_callback_is_refused_and_one_within_tolerance_accepted(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    _, session_id = _started(provider, fake)
    body = _body(fake.pay(session_id)[1])
    now = _now()
    stale = _header(body, at=now - timedelta(seconds=310))
    recent = _header(body, at=now - timedelta(seconds=290))

    assert not _sdk_accepts(body, stale, [SECRET])
    assert not _ours_accepts(provider, body, stale)
    assert _sdk_accepts(body, recent, [SECRET])
    assert _ours_accepts(provider, body, recent)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        provider.parse_callback({"Stripe-Signature": stale}, body, now)


def test_a_callback_from_the_future_is_refused_unlike_the_sdk(
    provider: StripeProvider, fake: FakeStripe
) -> None:
    _, session_id = _started(provider, fake)
    body = _body(fake.pay(session_id)[1])
    ahead = _header(body, at=_now() + timedelta(seconds=600))

    assert _sdk_accepts(body, ahead, [SECRET])  # the SDK checks only the past
    assert not _ours_accepts(provider, body, ahead)


def test_secret_rotation_and_several_signatures(provider: StripeProvider, fake: FakeStripe) -> None:
    _, session_id = _started(provider, fake)
    body = _body(fake.pay(session_id)[1])
    t = int(time.time())
    cases = {
        # Signed with the previous secret only (still accepted during the roll).
        f"t={t},v1={_v1(body, OLD_SECRET, t)}": True,
        # One v1 per active secret, as Stripe sends while rolling.
        f"t={t},v1={_v1(body, 'whsec_other', t)},v1={_v1(body, SECRET, t)}": True,
        # A test-mode v0 decoy next to a good v1.
        f"t={t},v1={_v1(body, SECRET, t)},v0={_v1(body, 'x', t)}": True,
        # A valid HMAC under another scheme is not a v1 signature: no downgrade.
        f"t={t},v0={_v1(body, SECRET, t)}": False,
        f"t={t},v1={_v1(body, SECRET, t + 1)}": False,
    }
    # Our own signer (for local tools) writes what the SDK's verifier accepts.
    cases[signature_header([OLD_SECRET, SECRET], t, body)] = True
    for header, accepted in cases.items():
        assert _sdk_accepts(body, header, [SECRET, OLD_SECRET]) is accepted, header
        assert _ours_accepts(provider, body, header) is accepted, header
    assert _sdk_accepts(body, signature_header([SECRET], t, body), [SECRET])


def test_a_retired_secret_no_longer_signs(fake: FakeStripe) -> None:
    rotated = StripeProvider(API_KEY, [SECRET], fallback_return_url=FALLBACK_URL, api_base=fake.url)
    body = _body(fake.event("checkout.session.expired", {"id": "cs_test_x"}))
    try:
        assert not _ours_accepts(rotated, body, _header(body, OLD_SECRET))
    finally:
        rotated.close()


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=abc",
        "t=,v1=abc",
        "t=12x,v1=abc",
        "t=1,t=2,v1=abc",
        "garbage",
        "t=١٢٣,v1=abc",  # non-ASCII digits
    ],
)
def test_a_malformed_signature_header_is_refused(
    provider: StripeProvider, fake: FakeStripe, header: str
) -> None:
    body = _body(fake.event("checkout.session.expired", {"id": "cs_test_x"}))
    with pytest.raises(SignatureInvalid):
        provider.parse_callback({"Stripe-Signature": header}, body, _now())
    with pytest.raises(SignatureInvalid):
        provider.parse_callback({}, body, _now())


def _session_event(fake: FakeStripe, kind: str, **changes: Any) -> dict[str, Any]:
    session = {
        "id": "cs_test_x",
        "object": "checkout.session",
        "amount_total": AMOUNT,
        "currency": "hkd",
        "client_reference_id": "pay_x",
        "metadata": {"payment_id": "pay_x"},
        "payment_status": "paid",
        "status": "complete",
    }
    session.update(changes)
    return fake.event(kind, session)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"id": "evt_x", "type": "checkout.session.completed"}',
        b'\xff\xfe{"id": "evt_x"}',
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused(
    provider: StripeProvider, body: bytes
) -> None:
    t = int(time.time())
    header = f"t={t},v1={_v1(body, SECRET, t)}"
    with pytest.raises(SignatureInvalid):
        provider.parse_callback({"Stripe-Signature": header}, body, _now())


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        ("charge.succeeded", {}),  # not one we subscribe to
        ("checkout.session.completed", {"client_reference_id": None, "metadata": {}}),
        ("checkout.session.completed", {"currency": "usd"}),  # not a currency we sell in
        ("checkout.session.completed", {"amount_total": "4800"}),
        ("checkout.session.completed", {"payment_status": "no_payment_required"}),
    ],
)
def test_a_signed_event_we_cannot_use_is_refused(
    provider: StripeProvider, fake: FakeStripe, kind: str, changes: dict[str, Any]
) -> None:
    body = _body(_session_event(fake, kind, **changes))
    with pytest.raises(SignatureInvalid):
        provider.parse_callback({"Stripe-Signature": _header(body)}, body, _now())


def test_the_payment_id_may_come_from_metadata(provider: StripeProvider, fake: FakeStripe) -> None:
    body = _body(_session_event(fake, "checkout.session.completed", client_reference_id=None))
    event = provider.parse_callback({"Stripe-Signature": _header(body)}, body, _now())
    assert event.payment_id == "pay_x"
    assert event.amount == Money(AMOUNT, "HKD")
