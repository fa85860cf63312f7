"""The WeChat Pay API v3 adapter against a local fake of WeChat Pay
(``tests.fakes.wechatpay_api``), which checks the signatures and fields we send and
answers, signs and encrypts as the documentation says.

Where the community ``wechatpayv3`` package is installed, it cross-checks our request
signatures and the fake's notifications (signature and AEAD_AES_256_GCM resource);
those tests are skipped without it. simrenew itself does not use it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from simrenew.bootstrap import App
from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import EventOutcome, PaymentState
from simrenew.ports import PaymentProvider, PaymentRequest, ProviderError, RefundResult
from simrenew.providers.wechatpay import (
    Region,
    WeChatPayConfig,
    WeChatPayProvider,
    decrypt_resource,
    out_refund_no_for,
    out_trade_no_for,
    payment_id_for,
    request_message,
)
from simrenew.services.context import Context
from simrenew.services.payments import handle_callback, recheck_payment, start_payment
from tests.fakes.wechatpay_api import (
    APIV3_KEY,
    APPID,
    MCHID,
    MERCHANT_SERIAL,
    FakeWeChatPay,
    Notification,
    private_pem,
    public_pem,
    rsa_key,
    sign,
)
from tests.support import FixedClock, order

NOTIFY_URL = "https://simrenew.example.hk/webhooks/wechatpay"
BASE_URL = "https://wechatpay.test"
MCC = "4814"  # telecommunication services
CARD = "+85251234567"  # ONE2 card in stock in the demo data; ONE2-D7 costs HK$48.00


def _make(
    clock: FixedClock,
    *,
    region: str = "mainland",
    mode: str = "public_key",
    **config: object,
) -> tuple[WeChatPayProvider, FakeWeChatPay]:
    """Our adapter wired to a fake WeChat Pay. ``mode``: how WeChat Pay's answers are
    verified, with the "WeChat Pay public key" or with downloaded platform certificates."""
    fake = FakeWeChatPay(
        now=clock.now,
        region=region,
        signer="public_key" if mode == "public_key" else "certificate",
    )
    settings = WeChatPayConfig(
        mchid=MCHID,
        appid=APPID,
        merchant_serial_no=MERCHANT_SERIAL,
        merchant_private_key=private_pem(rsa_key("merchant")),
        apiv3_key=APIV3_KEY,
        notify_url=NOTIFY_URL,
        region=Region(region),
        base_url=BASE_URL,
        merchant_category_code=MCC if region == "global" else None,
        platform_public_key=public_pem(fake.public_key) if mode == "public_key" else None,
        platform_public_key_id=fake.public_key_id if mode == "public_key" else None,
    )
    settings = replace(settings, **config)  # type: ignore[arg-type]
    return WeChatPayProvider(settings, transport=fake.transport(), now=clock.now), fake


def _request(*, amount_minor: int = 4800, currency: str = "CNY") -> PaymentRequest:
    return PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=amount_minor,
        currency=currency,
        description="ONE2-D7 ord_0123",
        language="zh-Hant",
        return_url="",
    )


def _started(provider: WeChatPayProvider, fake: FakeWeChatPay, **kwargs: object) -> str:
    """A Native order placed with the fake; returns its out_trade_no."""
    request = _request(**kwargs)  # type: ignore[arg-type]
    assert provider.create_payment(request).state is PaymentState.PENDING
    return out_trade_no_for(request.payment_id)


def _lowercased(notification: Notification) -> dict[str, str]:
    # What the web route hands over: Starlette lower-cases header names.
    return {k.lower(): v for k, v in notification.headers.items()}


# --- the documented formats --------------------------------------------------------------


def test_the_request_signature_string_is_the_documented_five_lines() -> None:
    # The worked example of the "signature generation" page (GET /v3/certificates).
    assert request_message(
        "GET", "/v3/certificates", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", b""
    ) == (b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n")


def test_payment_ids_travel_as_32_character_out_trade_nos_and_come_back() -> None:
    for _ in range(200):
        payment_id = new_id("pay")
        out_trade_no = out_trade_no_for(payment_id)
        assert len(out_trade_no) <= 32 and out_trade_no.replace("-", "").isalnum()
        assert payment_id_for(out_trade_no) == payment_id
    assert out_trade_no_for("pay_" + "0" * 36) == "pay-" + "0" * 28
    assert payment_id_for(out_trade_no_for("pay_" + "f" * 36)) == "pay_" + "f" * 36
    # Ids that already fit travel as they are; ids that cannot fit are refused.
    assert out_trade_no_for("legacy_12345") == "legacy_12345"
    assert payment_id_for("legacy_12345") == "legacy_12345"
    with pytest.raises(ValueError):
        out_trade_no_for("x" * 33)
    with pytest.raises(ValueError):
        out_trade_no_for("pay-looks-encoded")
    assert len(out_refund_no_for(new_id("pay"))) <= 64


def test_misconfiguration_is_refused_at_start(clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="APIv3 key"):
        _make(clock, apiv3_key="too short")
    with pytest.raises(ValueError, match="merchant_category_code"):
        _make(clock, region="global", merchant_category_code=None)
    with pytest.raises(ValueError, match="query string"):
        _make(clock, notify_url=NOTIFY_URL + "?x=1")
    with pytest.raises(ValueError, match="both"):
        _make(clock, platform_public_key_id=None)
    # The secrets never show in a repr (logs, tracebacks).
    provider, _ = _make(clock)
    assert APIV3_KEY not in repr(provider._config)
    assert "PRIVATE KEY" not in repr(provider._config)


# --- create ------------------------------------------------------------------------------


def test_create_sends_a_signed_native_order_and_returns_the_code_url(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    request = _request(amount_minor=4800)

    result = provider.create_payment(request)

    assert result.state is PaymentState.PENDING
    assert result.provider_ref is None
    assert result.checkout_url is not None
    assert result.checkout_url.startswith("weixin://wxpay/bizpayurl?pr=")
    (call,) = fake.calls("native")
    assert call.authorized, "the fake could not verify our Authorization header"
    assert call.raw_path == "/v3/pay/transactions/native"
    assert call.json() == {
        "appid": APPID,
        "mchid": MCHID,
        "description": "ONE2-D7 ord_0123",
        "out_trade_no": out_trade_no_for(request.payment_id),
        "notify_url": NOTIFY_URL,
        "amount": {"total": 4800, "currency": "CNY"},  # fen, an integer
    }
    authorization = call.headers["Authorization"]
    assert authorization.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="')
    assert f'serial_no="{MERCHANT_SERIAL}"' in authorization
    assert f'timestamp="{int(clock.now().timestamp())}"' in authorization
    # The answer is verified with the public key that this request names.
    assert call.headers["Wechatpay-Serial"] == fake.public_key_id


def test_our_request_signature_matches_the_wechatpayv3_package(clock: FixedClock) -> None:
    utils = pytest.importorskip("wechatpayv3.utils")
    provider, fake = _make(clock)
    provider.create_payment(_request())
    (call,) = fake.calls("native")
    fields = dict(
        part.split("=", 1) for part in call.headers["Authorization"].split(" ", 1)[1].split(",")
    )
    fields = {k: v.strip('"') for k, v in fields.items()}
    sign_str = (
        f"POST\n{call.raw_path}\n{fields['timestamp']}\n{fields['nonce_str']}\n"
        f"{call.body.decode()}\n"
    )
    # PKCS#1 v1.5 signatures are deterministic: the package must produce ours exactly.
    assert utils.rsa_sign(rsa_key("merchant"), sign_str) == fields["signature"]


def test_the_fake_refuses_a_request_signed_with_another_key(clock: FixedClock) -> None:
    provider, fake = _make(clock, merchant_private_key=private_pem(rsa_key("attacker")))
    # 401 SIGN_ERROR is WeChat Pay refusing the request: a clear "no", not an outage.
    result = provider.create_payment(_request())
    assert (result.state, result.failure_code) == (PaymentState.FAILED, "SIGN_ERROR")
    assert fake.orders == {}


def test_pressing_pay_again_gets_the_same_code_and_no_second_order(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    request = _request()

    first = provider.create_payment(request)
    again = provider.create_payment(request)

    assert again.checkout_url == first.checkout_url
    assert list(fake.orders) == [out_trade_no_for(request.payment_id)]


def test_a_repeat_for_an_order_wechat_pay_has_decided_reports_its_state(
    clock: FixedClock,
) -> None:
    provider, fake = _make(clock)
    request = _request()
    provider.create_payment(request)
    fake.set_state(out_trade_no_for(request.payment_id), "CLOSED")

    closed = provider.create_payment(request)  # the fake answers 400 ORDER_CLOSED

    assert (closed.state, closed.failure_code) == (PaymentState.CANCELLED, "CLOSED")
    # The same out_trade_no with other parameters is refused, and stays a refusal
    # while the first order is unpaid.
    other = _request(amount_minor=100)
    provider.create_payment(other)
    refused = provider.create_payment(replace(other, amount_minor=200))
    assert (refused.state, refused.failure_code) == (PaymentState.FAILED, "OUT_TRADE_NO_USED")
    assert len(fake.orders) == 2


def test_the_global_api_for_hong_kong_wallets(clock: FixedClock) -> None:
    provider, fake = _make(clock, region="global")
    request = _request(amount_minor=4800, currency="HKD")

    result = provider.create_payment(request)

    assert result.state is PaymentState.PENDING and result.checkout_url
    (call,) = fake.calls("native")
    assert call.authorized
    assert call.raw_path == "/v3/global/transactions/native"
    body = call.json()
    assert (body["trade_type"], body["merchant_category_code"]) == ("NATIVE", MCC)
    assert body["amount"] == {"total": 4800, "currency": "HKD"}
    out_trade_no = out_trade_no_for(request.payment_id)
    fake.pay(out_trade_no)
    status = provider.fetch_status(request.payment_id, None)
    assert (status.state, status.amount_minor) == (PaymentState.SUCCEEDED, 4800)
    assert fake.calls("query")[-1].raw_path == (
        f"/v3/global/transactions/out-trade-no/{out_trade_no}?mchid={MCHID}"
    )


def test_a_currency_the_account_cannot_take_is_failed_without_a_call(clock: FixedClock) -> None:
    provider, fake = _make(clock)  # mainland: CNY only
    result = provider.create_payment(_request(currency="HKD"))
    assert (result.state, result.failure_code) == (PaymentState.FAILED, "currency_not_supported")
    assert fake.requests == []


def test_a_refused_order_is_failed_with_wechat_pays_code(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    result = provider.create_payment(_request(amount_minor=0))  # the fake wants total >= 1
    assert (result.state, result.failure_code) == (PaymentState.FAILED, "PARAM_ERROR")
    fake.fail("native", "refuse:NOAUTH:403")
    result = provider.create_payment(_request())
    assert (result.state, result.failure_code) == (PaymentState.FAILED, "NOAUTH")


# --- outages and answers that cannot be trusted ------------------------------------------


@pytest.mark.parametrize("kind", ["timeout_before", "timeout_after", "http_500", "http_429"])
def test_an_outage_is_a_provider_error_never_a_failure(clock: FixedClock, kind: str) -> None:
    provider, fake = _make(clock)
    fake.fail("native", kind)
    with pytest.raises(ProviderError):
        provider.create_payment(_request())


@pytest.mark.parametrize("kind", ["bad_signature", "stale_signature", "unsigned"])
def test_an_answer_without_a_valid_signature_is_not_believed(clock: FixedClock, kind: str) -> None:
    provider, fake = _make(clock)
    out_trade_no = _started(provider, fake)
    fake.pay(out_trade_no)
    fake.fail("query", kind)
    with pytest.raises(ProviderError, match="answer rejected"):
        provider.fetch_status(payment_id_for(out_trade_no), None)
    # The same question with a proper answer is believed.
    assert provider.fetch_status(payment_id_for(out_trade_no), None).state is (
        PaymentState.SUCCEEDED
    )


def test_a_time_out_after_the_buyer_paid_is_found_by_the_recheck_and_charged_once(
    clock: FixedClock,
) -> None:
    provider, fake = _make(clock)
    request = _request()
    out_trade_no = out_trade_no_for(request.payment_id)
    fake.fail("native", "timeout_after")

    with pytest.raises(ProviderError):
        provider.create_payment(request)
    # WeChat Pay took the order; the buyer paid its code (shown on another device).
    fake.pay(out_trade_no)

    status = provider.fetch_status(request.payment_id, None)
    assert (status.state, status.amount_minor) == (PaymentState.SUCCEEDED, 4800)
    assert status.provider_ref == fake.orders[out_trade_no].transaction_id
    # Asking to pay again learns it is paid instead of charging again.
    again = provider.create_payment(request)
    assert again.state is PaymentState.SUCCEEDED
    assert list(fake.orders) == [out_trade_no]
    assert fake.charges == {out_trade_no: 1}


# --- fetch_status ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trade_state", "expected", "failure_code"),
    [
        ("SUCCESS", PaymentState.SUCCEEDED, None),
        ("REFUND", PaymentState.SUCCEEDED, None),
        ("NOTPAY", PaymentState.PENDING, None),
        ("USERPAYING", PaymentState.PENDING, None),
        ("CLOSED", PaymentState.CANCELLED, "CLOSED"),
        ("REVOKED", PaymentState.CANCELLED, "REVOKED"),
        ("PAYERROR", PaymentState.FAILED, "PAYERROR"),
    ],
)
def test_fetch_status_maps_each_trade_state(
    clock: FixedClock, trade_state: str, expected: PaymentState, failure_code: str | None
) -> None:
    provider, fake = _make(clock)
    out_trade_no = _started(provider, fake, amount_minor=1999)
    fake.set_state(out_trade_no, trade_state)

    result = provider.fetch_status(payment_id_for(out_trade_no), None)

    assert (result.state, result.failure_code, result.amount_minor) == (
        expected,
        failure_code,
        1999,
    )
    (query,) = fake.calls("query")
    assert query.authorized
    assert query.raw_path == f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={MCHID}"


def test_an_order_wechat_pay_never_received_is_still_pending(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    result = provider.fetch_status(new_id("pay"), None)
    assert result.state is PaymentState.PENDING
    assert fake.calls("query")[0].authorized


def test_fetch_status_outages_are_provider_errors(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    fake.fail("query", "http_500")
    with pytest.raises(ProviderError):
        provider.fetch_status(new_id("pay"), None)
    fake.fail("query", "refuse:SIGN_ERROR:401")  # cannot ask: the state stays unknown
    with pytest.raises(ProviderError):
        provider.fetch_status(new_id("pay"), None)


# --- refund ------------------------------------------------------------------------------


def test_a_refund_is_accepted_once_however_often_it_is_asked(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    out_trade_no = _started(provider, fake, amount_minor=4800)
    fake.pay(out_trade_no)
    payment_id = payment_id_for(out_trade_no)

    first = provider.refund(payment_id, None, 4800, "CNY")
    again = provider.refund(payment_id, None, 4800, "CNY")

    assert first.succeeded and first.provider_ref and first.provider_ref.startswith("5030")
    assert again == first
    (refund,) = fake.refunds.values()
    assert refund["out_refund_no"] == out_refund_no_for(payment_id)
    assert (refund["amount"]["refund"], refund["amount"]["total"]) == (4800, 4800)
    assert fake.orders[out_trade_no].refunded == 4800
    assert all(call.authorized for call in fake.calls("refund"))
    assert fake.calls("refund")[0].raw_path == "/v3/refund/domestic/refunds"


def test_a_partial_refund_states_the_orders_total(clock: FixedClock) -> None:
    provider, fake = _make(clock, region="global")
    out_trade_no = _started(provider, fake, amount_minor=4800, currency="HKD")
    fake.pay(out_trade_no)

    result = provider.refund(payment_id_for(out_trade_no), None, 1000, "HKD")

    assert result.succeeded
    body = fake.calls("refund")[0].json()
    assert body["amount"] == {"refund": 1000, "total": 4800, "currency": "HKD"}
    assert (body["mchid"], body["appid"]) == (MCHID, APPID)  # the global API wants both


def test_a_refused_refund_is_not_succeeded(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    unpaid = _started(provider, fake)
    assert provider.refund(payment_id_for(unpaid), None, 4800, "CNY") == RefundResult(
        False, failure_code="not_paid"
    )
    assert provider.refund(new_id("pay"), None, 4800, "CNY") == RefundResult(
        False, failure_code="ORDER_NOT_EXIST"
    )
    paid = _started(provider, fake)
    fake.pay(paid)
    fake.balance_insufficient = True
    assert provider.refund(payment_id_for(paid), None, 4800, "CNY") == RefundResult(
        False, failure_code="NOT_ENOUGH"
    )
    assert fake.refunds == {}
    fake.fail("refund", "http_500")
    fake.balance_insufficient = False
    with pytest.raises(ProviderError):
        provider.refund(payment_id_for(paid), None, 4800, "CNY")


# --- notifications -----------------------------------------------------------------------


def test_a_success_notification_is_verified_decrypted_and_mapped(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    request = _request(amount_minor=4800)
    provider.create_payment(request)
    clock.advance(timedelta(seconds=30))
    notification = fake.pay(out_trade_no_for(request.payment_id))

    event = provider.parse_callback(_lowercased(notification), notification.body, clock.now())

    envelope = json.loads(notification.body)
    assert out_trade_no_for(request.payment_id).encode() not in notification.body  # encrypted
    assert (event.provider, event.event_id, event.payment_id, event.state) == (
        "wechatpay",
        envelope["id"],
        request.payment_id,
        PaymentState.SUCCEEDED,
    )
    assert event.amount == Money(4800, "CNY")
    assert event.provider_ref == fake.orders[out_trade_no_for(request.payment_id)].transaction_id
    assert event.occurred_at == clock.now()
    assert event.occurred_at.tzinfo is not None
    assert event.failure_code is None


def test_the_wechatpayv3_package_reads_the_same_notification(clock: FixedClock) -> None:
    core_module = pytest.importorskip("wechatpayv3.core")
    provider, fake = _make(clock)
    out_trade_no = _started(provider, fake)
    notification = fake.pay(out_trade_no)
    sdk = core_module.Core(
        mchid=MCHID,
        cert_serial_no=MERCHANT_SERIAL,
        private_key=private_pem(rsa_key("merchant")),
        apiv3_key=APIV3_KEY,
        public_key=public_pem(fake.public_key),
        public_key_id=fake.public_key_id,
    )

    theirs = sdk.callback(notification.headers, notification.body)
    ours = provider.parse_callback(notification.headers, notification.body, clock.now())

    assert theirs is not None, "wechatpayv3 rejected the fake's notification"
    assert theirs["id"] == ours.event_id
    assert theirs["resource"]["out_trade_no"] == out_trade_no_for(ours.payment_id)
    assert theirs["resource"]["amount"]["total"] == ours.amount.amount_minor  # type: ignore[union-attr]
    forged = notification.body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.FORGED!"')
    assert sdk.callback(notification.headers, forged) is None
    with pytest.raises(SignatureInvalid):
        provider.parse_callback(notification.headers, forged, clock.now())


@pytest.mark.parametrize(
    ("trade_state", "expected"),
    [("PAYERROR", PaymentState.FAILED), ("CLOSED", PaymentState.CANCELLED)],
)
def test_a_notification_of_a_failed_or_closed_order(
    clock: FixedClock, trade_state: str, expected: PaymentState
) -> None:
    provider, fake = _make(clock)
    out_trade_no = _started(provider, fake)
    order_ = fake.set_state(out_trade_no, trade_state)
    notification = fake.notification(order_, event_type="TRANSACTION.FAIL")

    event = provider.parse_callback(notification.headers, notification.body, clock.now())

    assert (event.state, event.failure_code) == (expected, trade_state)


def test_a_resent_notification_keeps_its_event_id(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    out_trade_no = _started(provider, fake)
    fake.pay(out_trade_no)
    order_ = fake.orders[out_trade_no]
    first = fake.notification(order_, notification_id="EV-2018022511223320873")
    clock.advance(timedelta(seconds=15))  # WeChat Pay's first retry interval
    resent = fake.notification(order_, notification_id="EV-2018022511223320873")

    events = [
        provider.parse_callback(n.headers, n.body, clock.now()) for n in (first, resent, first)
    ]

    assert {e.event_id for e in events} == {"EV-2018022511223320873"}
    assert {e.payment_id for e in events} == {payment_id_for(out_trade_no)}


def _tampered(notification: Notification, **headers: str) -> dict[str, str]:
    return {**notification.headers, **headers}


def test_forged_notifications_are_refused(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    out_trade_no = _started(provider, fake, amount_minor=4800)
    genuine = fake.pay(out_trade_no)
    now = clock.now()
    timestamp, nonce = genuine.headers["Wechatpay-Timestamp"], genuine.headers["Wechatpay-Nonce"]

    def refused(headers: dict[str, str], body: bytes, reason: str) -> None:
        with pytest.raises(SignatureInvalid, match=reason):
            provider.parse_callback(headers, body, now)

    # Another body under the genuine signature.
    refused(genuine.headers, genuine.body.replace(b"EV-", b"EV-X"), "does not match")
    # Signed by someone else's key, naming WeChat Pay's serial.
    forged = sign(rsa_key("attacker"), f"{timestamp}\n{nonce}\n{genuine.body.decode()}\n")
    refused(_tampered(genuine, **{"Wechatpay-Signature": forged}), genuine.body, "not match")
    # WeChat Pay's own probe: a signature that is deliberately wrong.
    probe = {"Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + forged[19:]}
    refused(_tampered(genuine, **probe), genuine.body, "does not match")
    # A serial we do not know.
    refused(_tampered(genuine, **{"Wechatpay-Serial": "PUB_KEY_ID_0000"}), genuine.body, "serial")
    # No signature at all, or another scheme.
    unsigned = {k: v for k, v in genuine.headers.items() if k != "Wechatpay-Signature"}
    refused(unsigned, genuine.body, "missing")
    sm2 = {"Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}
    refused(_tampered(genuine, **sm2), genuine.body, "signature type")
    # The genuine one passes.
    assert provider.parse_callback(genuine.headers, genuine.body, now).state is (
        PaymentState.SUCCEEDED
    )


def test_a_stale_or_future_notification_is_refused(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    notification = fake.pay(_started(provider, fake))
    sent = clock.now()

    for late in (timedelta(minutes=5), timedelta(minutes=-5)):
        event = provider.parse_callback(notification.headers, notification.body, sent + late)
        assert event.state is PaymentState.SUCCEEDED
    for replay in (timedelta(minutes=5, seconds=1), timedelta(minutes=-6)):
        with pytest.raises(SignatureInvalid, match="tolerance"):
            provider.parse_callback(notification.headers, notification.body, sent + replay)


def test_a_signed_but_malformed_body_is_refused(clock: FixedClock) -> None:
    provider, fake = _make(clock)
    out_trade_no = _started(provider, fake)
    fake.pay(out_trade_no)
    order_ = fake.orders[out_trade_no]

    def signed(body: bytes) -> Notification:
        return Notification(fake.signed_headers(body, use_public_key=True), body)

    cases = [
        signed(b"not json"),
        signed(b"[]"),
        signed(json.dumps({"id": "EV-1", "event_type": "TRANSACTION.SUCCESS"}).encode()),
        # Encrypted with a key that is not our APIv3 key.
        fake.notification(order_, apiv3_key="b" * 32),
        # A resource whose amount is not an integer, or in a currency we do not sell in.
        fake.notification(order_, resource={**fake.transaction(order_), "amount": {"total": "48"}}),
        fake.notification(
            order_,
            resource={**fake.transaction(order_), "amount": {"total": 4800, "currency": "USD"}},
        ),
        fake.notification(order_, resource={**fake.transaction(order_), "mchid": "1234567890"}),
    ]
    for case in cases:
        with pytest.raises(SignatureInvalid):
            provider.parse_callback(case.headers, case.body, clock.now())


# --- platform certificates ---------------------------------------------------------------


def test_platform_certificates_are_downloaded_decrypted_and_cached(clock: FixedClock) -> None:
    provider, fake = _make(clock, mode="certificates")
    out_trade_no = _started(provider, fake)
    notification = fake.pay(out_trade_no)

    provider.fetch_status(payment_id_for(out_trade_no), None)
    event = provider.parse_callback(notification.headers, notification.body, clock.now())

    assert event.state is PaymentState.SUCCEEDED
    assert notification.headers["Wechatpay-Serial"] == fake.certificates[0].serial
    (download,) = fake.calls("certificates")
    assert download.authorized and download.raw_path == "/v3/certificates"
    assert "Wechatpay-Serial" not in fake.calls("native")[0].headers


def test_a_rotated_certificate_is_fetched_once_and_a_made_up_serial_is_not_a_flood(
    clock: FixedClock,
) -> None:
    provider, fake = _make(clock, mode="certificates")
    out_trade_no = _started(provider, fake)
    assert len(fake.calls("certificates")) == 1
    fake.rotate(rsa_key("platform-2"))  # WeChat Pay signs with a new certificate

    notification = fake.pay(out_trade_no)
    event = provider.parse_callback(notification.headers, notification.body, clock.now())

    assert event.state is PaymentState.SUCCEEDED
    assert len(fake.calls("certificates")) == 2
    made_up = _tampered(notification, **{"Wechatpay-Serial": "7A1B2C3D4E5F"})
    for _ in range(5):
        with pytest.raises(SignatureInvalid, match="serial"):
            provider.parse_callback(made_up, notification.body, clock.now())
    assert len(fake.calls("certificates")) == 3  # one look, then none for a minute
    clock.advance(timedelta(minutes=1))
    with pytest.raises(SignatureInvalid, match="serial"):
        provider.parse_callback(made_up, notification.body, clock.now())
    assert len(fake.calls("certificates")) == 4


def test_an_expired_platform_certificate_is_not_trusted(clock: FixedClock) -> None:
    provider, fake = _make(clock, mode="certificates")
    fake.certificates = []
    fake.rotate(rsa_key("platform-1"), not_before=datetime(2020, 1, 1, tzinfo=UTC), days=365)

    with pytest.raises(ProviderError, match="answer rejected: unknown platform serial"):
        provider.create_payment(_request())

    (download,) = fake.calls("certificates")  # it looked, and found nothing valid
    assert download.authorized


def test_the_certificate_list_decrypts_like_the_wechatpayv3_package(clock: FixedClock) -> None:
    utils = pytest.importorskip("wechatpayv3.utils")
    _, fake = _make(clock, mode="certificates")
    answer = fake._certificates(httpx.Request("GET", BASE_URL), b"")[1]
    assert answer is not None
    encrypted = answer["data"][0]["encrypt_certificate"]
    ours = decrypt_resource(
        APIV3_KEY.encode(),
        encrypted["nonce"],
        encrypted["ciphertext"],
        encrypted["associated_data"],
    )
    theirs = utils.aes_decrypt(
        encrypted["nonce"], encrypted["ciphertext"], encrypted["associated_data"], APIV3_KEY
    )
    assert ours.decode() == theirs == fake.certificates[0].pem.decode()


# --- through the payment services ---------------------------------------------------------


def _with_wechatpay(app: App, provider: PaymentProvider) -> Context:
    return replace(app.ctx, providers={**app.ctx.providers, "wechatpay": provider})


def _order_state(app: App, order_id: str) -> OrderState:
    with app.uow(write=False) as uow:
        return uow.orders.get(order_id).state


def test_a_hong_kong_wallet_pays_an_order_and_a_resent_notification_is_a_duplicate(
    app: App, clock: FixedClock
) -> None:
    provider, fake = _make(clock, region="global")
    ctx = _with_wechatpay(app, provider)
    placed = order(app, CARD, "ONE2-D7")

    payment = start_payment(ctx, placed.id, "wechatpay", actor="test")

    assert payment.state is PaymentState.PENDING
    assert payment.checkout_url and payment.checkout_url.startswith("weixin://wxpay/")
    notification = fake.pay(out_trade_no_for(payment.id))
    headers = _lowercased(notification)
    assert handle_callback(ctx, "wechatpay", headers, notification.body) is (EventOutcome.APPLIED)
    assert handle_callback(ctx, "wechatpay", headers, notification.body) is (EventOutcome.DUPLICATE)
    assert _order_state(app, placed.id) is OrderState.FULFILLED
    with app.uow(write=False) as uow:
        stored = uow.payments.get(payment.id)
    assert stored.state is PaymentState.SUCCEEDED
    assert stored.provider_ref == fake.orders[out_trade_no_for(payment.id)].transaction_id


def test_a_lost_answer_leaves_the_payment_unknown_until_the_recheck_finds_it_paid(
    app: App, clock: FixedClock
) -> None:
    provider, fake = _make(clock, region="global")
    ctx = _with_wechatpay(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    fake.fail("native", "timeout_after")

    payment = start_payment(ctx, placed.id, "wechatpay", actor="test")

    assert payment.state is PaymentState.UNKNOWN
    assert _order_state(app, placed.id) is OrderState.AWAITING_PAYMENT
    out_trade_no = out_trade_no_for(payment.id)
    fake.pay(out_trade_no)
    assert recheck_payment(ctx, payment.id).state is PaymentState.SUCCEEDED
    assert _order_state(app, placed.id) is OrderState.FULFILLED
    assert fake.charges == {out_trade_no: 1}
    assert list(fake.orders) == [out_trade_no]
