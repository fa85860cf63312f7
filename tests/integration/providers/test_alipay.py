"""The Alipay adapter (Alipay CN, and AlipayHK as a second instance) against a local
fake of Alipay's gateway (``tests/fakes/alipay_api.py``) that signs and verifies with
the official ``alipay-sdk-python``; plus direct cross-checks of our signing and
verification against that SDK, both ways."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradePagePayModel import AlipayTradePagePayModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.request.AlipayTradePagePayRequest import AlipayTradePagePayRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.response.AlipayTradeQueryResponse import AlipayTradeQueryResponse
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa

from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.payments import PaymentState
from simrenew.ports import PaymentProvider, PaymentRequest, ProviderError, RefundResult
from simrenew.providers.alipay import (
    CALLBACK_ACK,
    AlipayConfig,
    AlipayProvider,
    load_private_key,
    load_public_key,
    response_node,
    rsa2_sign,
    rsa2_verify,
    sign_content,
)
from tests.fakes.alipay_api import (
    FakeAlipayGateway,
    FakeApp,
    GatewayRefused,
    KeyPair,
    Notification,
    new_key_pair,
)
from tests.support import FixedClock

APP_ID = "2021000000000001"
HK_APP_ID = "2021000000000099"
HK_GATEWAY = "https://openapi.alipayhk.example/gateway.do"
NOTIFY_URL = "https://simrenew.example/webhooks/alipay"
HK_NOTIFY_URL = "https://simrenew.example/webhooks/alipayhk"
RETURN_URL = "https://simrenew.example/orders/ord_1/paid"
AMOUNT = 4800


@pytest.fixture(scope="module")
def keys() -> dict[str, KeyPair]:
    return {name: new_key_pair() for name in ("app", "alipay", "hk_app", "hk_alipay", "other")}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2025, 3, 1, 2, 30, tzinfo=UTC))


@pytest.fixture
def gateway(keys: dict[str, KeyPair], clock: FixedClock) -> FakeAlipayGateway:
    return FakeAlipayGateway(
        alipay_key=keys["alipay"], apps=[FakeApp(APP_ID, keys["app"].public_pem)], now=clock.now
    )


@pytest.fixture
def hk_gateway(keys: dict[str, KeyPair], clock: FixedClock) -> FakeAlipayGateway:
    return FakeAlipayGateway(
        alipay_key=keys["hk_alipay"],
        apps=[FakeApp(HK_APP_ID, keys["hk_app"].public_pem)],
        now=clock.now,
        url=HK_GATEWAY,
    )


def _config(keys: dict[str, KeyPair], **changes: object) -> AlipayConfig:
    config = AlipayConfig(
        app_id=APP_ID,
        app_private_key=keys["app"].private_pkcs8_pem,
        alipay_public_key=keys["alipay"].public_pem,
        notify_url=NOTIFY_URL,
    )
    return replace(config, **changes)  # type: ignore[arg-type]


def _provider(
    config: AlipayConfig, gateway: FakeAlipayGateway, clock: FixedClock
) -> AlipayProvider:
    client = httpx.Client(transport=gateway.transport())
    return AlipayProvider(config, client=client, now=clock.now)


@pytest.fixture
def alipay(
    keys: dict[str, KeyPair], gateway: FakeAlipayGateway, clock: FixedClock
) -> Iterator[AlipayProvider]:
    provider = _provider(_config(keys), gateway, clock)
    yield provider
    provider.close()
    assert gateway.problems == []


@pytest.fixture
def alipayhk(
    keys: dict[str, KeyPair], hk_gateway: FakeAlipayGateway, clock: FixedClock
) -> Iterator[AlipayProvider]:
    config = AlipayConfig(
        name="alipayhk",
        app_id=HK_APP_ID,
        app_private_key=keys["hk_app"].private_pkcs1_b64,  # the key tool's bare base64
        alipay_public_key=keys["hk_alipay"].public_b64,
        notify_url=HK_NOTIFY_URL,
        gateway_url=HK_GATEWAY,
        currency="HKD",
    )
    provider = _provider(config, hk_gateway, clock)
    yield provider
    provider.close()
    assert hk_gateway.problems == []


def _request(
    *,
    amount_minor: int = AMOUNT,
    currency: str = "CNY",
    scenario: str | None = None,
    return_url: str = RETURN_URL,
) -> PaymentRequest:
    return PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=amount_minor,
        currency=currency,
        description="ONE2-D7 ord_1 & more/less=",
        language="zh-Hans",
        return_url=return_url,
        scenario=scenario,
    )


def _url_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True))


def _start(provider: PaymentProvider, **kwargs: object) -> tuple[PaymentRequest, str]:
    request = _request(**kwargs)  # type: ignore[arg-type]
    result = provider.create_payment(request)
    assert result.state is PaymentState.PENDING
    assert result.checkout_url is not None
    return request, result.checkout_url


def _event_state(provider: PaymentProvider, note: Notification, now: datetime) -> PaymentState:
    return provider.parse_callback(note.headers, note.body, now).state


# --- create: the signed checkout URL -------------------------------------------------------


def test_create_builds_a_signed_page_pay_url_without_calling_alipay(
    alipay: AlipayProvider, gateway: FakeAlipayGateway
) -> None:
    request, url = _start(alipay)

    assert url.startswith("https://openapi.alipay.com/gateway.do?")
    params = _url_params(url)
    assert {k: params[k] for k in ("app_id", "method", "charset", "sign_type", "version")} == {
        "app_id": APP_ID,
        "method": "alipay.trade.page.pay",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "version": "1.0",
    }
    # 02:30 UTC is 10:30 in Beijing, the time Alipay expects.
    assert params["timestamp"] == "2025-03-01 10:30:00"
    assert (params["notify_url"], params["return_url"]) == (NOTIFY_URL, RETURN_URL)
    assert json.loads(params["biz_content"]) == {
        "out_trade_no": request.payment_id,
        "total_amount": "48.00",
        "subject": "ONE2-D7 ord_1   more less",
        "product_code": "FAST_INSTANT_TRADE_PAY",
    }
    # Nothing was sent: a redirect URL cannot time out or charge twice.
    assert gateway.calls == []
    # Alipay's gateway (checking with the official SDK) takes it.
    trade = gateway.open_checkout(url)
    assert (trade.out_trade_no, trade.total_amount, trade.status) == (
        request.payment_id,
        "48.00",
        "WAIT_BUYER_PAY",
    )


@pytest.mark.parametrize(
    ("amount_minor", "total_amount"),
    [(1, "0.01"), (10, "0.10"), (4800, "48.00"), (123456, "1234.56"), (9999999999, "99999999.99")],
)
def test_amounts_are_decimal_yuan_strings_from_minor_units(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, amount_minor: int, total_amount: str
) -> None:
    _, url = _start(alipay, amount_minor=amount_minor)
    assert json.loads(_url_params(url)["biz_content"])["total_amount"] == total_amount
    assert gateway.open_checkout(url).total_amount == total_amount


def test_wap_checkout_for_mobile(
    keys: dict[str, KeyPair], alipay: AlipayProvider, gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    _, url = _start(alipay, scenario="wap")
    params = _url_params(url)
    assert params["method"] == "alipay.trade.wap.pay"
    biz = json.loads(params["biz_content"])
    assert (biz["product_code"], biz["quit_url"]) == ("QUICK_WAP_WAY", RETURN_URL)
    assert gateway.open_checkout(url).product_code == "QUICK_WAP_WAY"

    # An instance configured for mobile uses wap by default, and page on request.
    mobile = _provider(_config(keys, product="wap"), gateway, clock)
    assert _url_params(_start(mobile)[1])["method"] == "alipay.trade.wap.pay"
    assert _url_params(_start(mobile, scenario="page")[1])["method"] == "alipay.trade.page.pay"


def test_a_sandbox_scenario_and_no_return_url_mean_the_default_checkout(
    alipay: AlipayProvider, gateway: FakeAlipayGateway
) -> None:
    _, url = _start(alipay, scenario="succeed", return_url="")
    params = _url_params(url)
    assert params["method"] == "alipay.trade.page.pay"
    assert "return_url" not in params  # empty parameters are neither sent nor signed
    gateway.open_checkout(url)


def test_hkd_is_refused_on_the_cny_gateway_before_anything_is_sent(
    alipay: AlipayProvider, gateway: FakeAlipayGateway
) -> None:
    result = alipay.create_payment(_request(currency="HKD"))
    assert (result.state, result.failure_code, result.checkout_url) == (
        PaymentState.FAILED,
        "currency_not_supported",
        None,
    )
    assert alipay.refund(new_id("pay"), None, AMOUNT, "HKD") == RefundResult(
        False, failure_code="currency_not_supported"
    )
    assert gateway.calls == []


def test_a_checkout_url_is_refused_if_tampered_with(
    alipay: AlipayProvider, gateway: FakeAlipayGateway
) -> None:
    _, url = _start(alipay)
    with pytest.raises(GatewayRefused) as refused:
        gateway.open_checkout(url.replace("48.00", "0.48"))
    assert refused.value.sub_code == "isv.invalid-signature"
    gateway.problems.clear()  # the fake noted the forgery, as it should


# --- fetch_status ---------------------------------------------------------------------------


def test_fetch_status_follows_the_trade_through_each_state(
    alipay: AlipayProvider, gateway: FakeAlipayGateway
) -> None:
    request, url = _start(alipay)
    # Not opened yet: Alipay does not know the trade (40004 ACQ.TRADE_NOT_EXIST).
    assert alipay.fetch_status(request.payment_id, None).state is PaymentState.PENDING
    assert gateway.calls[-1]["method"] == "alipay.trade.query"
    assert json.loads(gateway.calls[-1]["biz_content"]) == {"out_trade_no": request.payment_id}

    trade = gateway.open_checkout(url)
    waiting = alipay.fetch_status(request.payment_id, None)
    assert (waiting.state, waiting.provider_ref, waiting.amount_minor) == (
        PaymentState.PENDING,
        trade.trade_no,
        AMOUNT,
    )

    gateway.pay(url)
    paid = alipay.fetch_status(request.payment_id, None)
    assert (paid.state, paid.provider_ref, paid.amount_minor, paid.failure_code) == (
        PaymentState.SUCCEEDED,
        trade.trade_no,
        AMOUNT,
        None,
    )

    gateway.finish(APP_ID, request.payment_id)
    assert alipay.fetch_status(request.payment_id, None).state is PaymentState.SUCCEEDED


def test_fetch_status_of_a_closed_trade_is_cancelled(
    alipay: AlipayProvider, gateway: FakeAlipayGateway
) -> None:
    request, url = _start(alipay)
    gateway.open_checkout(url)
    gateway.close(APP_ID, request.payment_id)
    closed = alipay.fetch_status(request.payment_id, None)
    assert (closed.state, closed.failure_code, closed.amount_minor) == (
        PaymentState.CANCELLED,
        "trade_closed",
        AMOUNT,
    )


@pytest.mark.parametrize(
    "fault", ["timeout", "connect", "500", "unsigned", "tampered", "system_error"]
)
def test_fetch_status_without_a_trustworthy_answer_is_a_provider_error(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, fault: str
) -> None:
    request, url = _start(alipay)
    gateway.pay(url)
    gateway.faults.append(fault)
    with pytest.raises(ProviderError):
        alipay.fetch_status(request.payment_id, None)
    # The next answer is fine again.
    assert alipay.fetch_status(request.payment_id, None).state is PaymentState.SUCCEEDED


def test_an_answer_signed_with_another_key_is_a_provider_error(
    keys: dict[str, KeyPair], gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    provider = _provider(_config(keys, alipay_public_key=keys["other"].public_pem), gateway, clock)
    with pytest.raises(ProviderError, match="signature"):
        provider.fetch_status(new_id("pay"), None)


def test_a_request_signed_with_the_wrong_app_key_is_a_provider_error(
    keys: dict[str, KeyPair], gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    provider = _provider(
        _config(keys, app_private_key=keys["other"].private_pkcs8_pem), gateway, clock
    )
    # Alipay answers an unsigned error_response (isv.invalid-signature): not its word.
    with pytest.raises(ProviderError, match=r"unsigned answer 40002 isv\.invalid-signature"):
        provider.fetch_status(new_id("pay"), None)
    assert gateway.problems == ["alipay.trade.query: request signature does not verify"]


def test_timed_out_after_the_buyer_paid_then_the_recheck_finds_it_succeeded(
    alipay: AlipayProvider, gateway: FakeAlipayGateway
) -> None:
    # Creating the payment is a signed redirect URL, made locally: it cannot time out.
    # The time-out that matters is the one after Alipay took the money and the
    # notification was lost: the janitor's re-check must then find the payment.
    request, url = _start(alipay)
    gateway.pay(url)  # charged; the notification never arrives
    gateway.faults.append("timeout")
    with pytest.raises(ProviderError):
        alipay.fetch_status(request.payment_id, None)
    status = alipay.fetch_status(request.payment_id, None)
    assert (status.state, status.amount_minor) == (PaymentState.SUCCEEDED, AMOUNT)
    # The buyer coming back to the same checkout cannot pay twice.
    with pytest.raises(GatewayRefused, match=r"ACQ\.TRADE_HAS_SUCCESS"):
        gateway.pay(url)
    # Asking for the checkout again gives the same trade, not a second one.
    again = alipay.create_payment(replace(request))
    assert again.checkout_url is not None
    with pytest.raises(GatewayRefused, match=r"ACQ\.TRADE_HAS_SUCCESS"):
        gateway.pay(again.checkout_url)
    assert gateway.charges == [request.payment_id]


# --- refunds ---------------------------------------------------------------------------------


def _paid(alipay: AlipayProvider, gateway: FakeAlipayGateway) -> PaymentRequest:
    request, url = _start(alipay)
    gateway.pay(url)
    return request


def test_refund_ok(alipay: AlipayProvider, gateway: FakeAlipayGateway) -> None:
    request = _paid(alipay, gateway)
    result = alipay.refund(request.payment_id, None, AMOUNT, "CNY")
    assert result == RefundResult(True, provider_ref=f"{request.payment_id}_rf{AMOUNT}")
    assert gateway.refunds == [(request.payment_id, f"{request.payment_id}_rf{AMOUNT}", "48.00")]
    sent = json.loads(gateway.calls[-1]["biz_content"])
    assert sent == {
        "out_trade_no": request.payment_id,
        "refund_amount": "48.00",
        "out_request_no": f"{request.payment_id}_rf{AMOUNT}",
    }
    # A full refund closes the trade; the status of the payment itself stays paid.
    assert alipay.fetch_status(request.payment_id, None).state is PaymentState.CANCELLED


def test_refund_repeated_after_a_lost_answer_refunds_once(
    alipay: AlipayProvider, gateway: FakeAlipayGateway
) -> None:
    request = _paid(alipay, gateway)
    gateway.faults.append("timeout_after")  # refunded, then the answer is lost
    with pytest.raises(ProviderError):
        alipay.refund(request.payment_id, None, AMOUNT, "CNY")
    # The retry carries the same out_request_no; Alipay answers fund_change=N, and the
    # refund query confirms the first refund.
    assert alipay.refund(request.payment_id, None, AMOUNT, "CNY").succeeded
    assert [c["method"] for c in gateway.calls[-2:]] == [
        "alipay.trade.refund",
        "alipay.trade.fastpay.refund.query",
    ]
    assert len(gateway.refunds) == 1
    keys = {json.loads(c["biz_content"])["out_request_no"] for c in gateway.calls[-3:]}
    assert keys == {f"{request.payment_id}_rf{AMOUNT}"}


def test_refund_refused(alipay: AlipayProvider, gateway: FakeAlipayGateway) -> None:
    # Never paid: Alipay does not know the trade.
    assert alipay.refund(new_id("pay"), None, AMOUNT, "CNY") == RefundResult(
        False, failure_code="ACQ.TRADE_NOT_EXIST"
    )
    # Opened but unpaid.
    request, url = _start(alipay)
    gateway.open_checkout(url)
    assert alipay.refund(request.payment_id, None, AMOUNT, "CNY") == RefundResult(
        False, failure_code="ACQ.TRADE_STATUS_ERROR"
    )
    # More than was paid.
    paid = _paid(alipay, gateway)
    assert alipay.refund(paid.payment_id, None, AMOUNT + 1, "CNY") == RefundResult(
        False, failure_code="ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    )
    # The merchant's balance is short.
    gateway.refund_refusal = "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    assert alipay.refund(paid.payment_id, None, AMOUNT, "CNY") == RefundResult(
        False, failure_code="ACQ.SELLER_BALANCE_NOT_ENOUGH"
    )
    assert gateway.refunds == []


@pytest.mark.parametrize("fault", ["timeout", "500", "system_error", "unsigned", "tampered"])
def test_refund_without_an_answer_is_a_provider_error_and_retries_refund_once(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, fault: str
) -> None:
    request = _paid(alipay, gateway)
    gateway.faults.append(fault)
    with pytest.raises(ProviderError):
        alipay.refund(request.payment_id, None, AMOUNT, "CNY")
    # Whether or not that one went through, the retry ends with exactly one refund.
    assert alipay.refund(request.payment_id, None, AMOUNT, "CNY").succeeded
    assert len(gateway.refunds) == 1


# --- notifications ----------------------------------------------------------------------------


def test_callback_success(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    request, url = _start(alipay)
    note = gateway.pay(url)
    assert note.url == NOTIFY_URL
    event = alipay.parse_callback(note.headers, note.body, clock.now())
    assert (
        event.provider,
        event.event_id,
        event.payment_id,
        event.state,
        event.amount,
        event.provider_ref,
        event.failure_code,
        event.occurred_at,
    ) == (
        "alipay",
        note.params["notify_id"],
        request.payment_id,
        PaymentState.SUCCEEDED,
        Money(AMOUNT, "CNY"),
        note.params["trade_no"],
        None,
        clock.now(),
    )
    assert alipay.callback_ack == CALLBACK_ACK == "success"


def test_callback_trade_closed_is_cancelled(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    request, url = _start(alipay)
    gateway.open_checkout(url)
    clock.advance(timedelta(minutes=30))
    note = gateway.close(APP_ID, request.payment_id)
    event = alipay.parse_callback(note.headers, note.body, clock.now())
    assert (event.state, event.failure_code, event.occurred_at) == (
        PaymentState.CANCELLED,
        "trade_closed",
        clock.now(),
    )


def test_callback_wait_buyer_pay_and_trade_finished(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    request, url = _start(alipay)
    trade = gateway.open_checkout(url)
    assert _event_state(alipay, gateway.notification(trade), clock.now()) is PaymentState.PENDING
    gateway.pay(url)
    gateway.finish(APP_ID, request.payment_id)
    finished = gateway.notification(trade)
    assert _event_state(alipay, finished, clock.now()) is PaymentState.SUCCEEDED


def test_a_repeated_notification_has_the_same_event_id(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    _, url = _start(alipay)
    note = gateway.pay(url)
    first = alipay.parse_callback(note.headers, note.body, clock.now())
    clock.advance(timedelta(minutes=4))  # Alipay's first retry
    again = alipay.parse_callback(note.headers, note.body, clock.now())
    assert again.event_id == first.event_id == note.params["notify_id"]


def _paid_trade(alipay: AlipayProvider, gateway: FakeAlipayGateway) -> Notification:
    _, url = _start(alipay)
    return gateway.pay(url)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("other_key", "signature does not match"),
        ("amount_after_signing", "signature does not match"),
        ("status_after_signing", "signature does not match"),
        ("no_sign", "missing signature"),
        ("rsa1", "sign_type is not RSA2"),
        ("sign_not_base64", "signature does not match"),
    ],
)
def test_forged_callbacks_are_refused(
    keys: dict[str, KeyPair],
    alipay: AlipayProvider,
    gateway: FakeAlipayGateway,
    clock: FixedClock,
    change: str,
    reason: str,
) -> None:
    note = _paid_trade(alipay, gateway)
    trade = gateway.trades[(APP_ID, note.params["out_trade_no"])]
    params = dict(note.params)
    if change == "other_key":
        params = gateway.notification(trade, sign_with=keys["other"]).params
    elif change == "amount_after_signing":
        params["total_amount"] = "0.48"
    elif change == "status_after_signing":
        params["trade_status"] = "TRADE_CLOSED"
    elif change == "no_sign":
        del params["sign"]
    elif change == "rsa1":
        params["sign_type"] = "RSA"
    elif change == "sign_not_base64":
        params["sign"] = "not base64!"
    with pytest.raises(SignatureInvalid) as refused:
        alipay.parse_callback(note.headers, urlencode(params).encode(), clock.now())
    assert refused.value.params["reason"] == reason


def test_a_notification_for_another_app_is_refused(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    note = _paid_trade(alipay, gateway)
    trade = gateway.trades[(APP_ID, note.params["out_trade_no"])]
    other = gateway.notification(trade, {"app_id": "2021000000000777"})  # signed by Alipay
    with pytest.raises(SignatureInvalid, match="another Alipay app"):
        alipay.parse_callback(other.headers, other.body, clock.now())


def test_stale_and_future_notifications_are_refused(
    alipay: AlipayProvider, gateway: FakeAlipayGateway, clock: FixedClock
) -> None:
    note = _paid_trade(alipay, gateway)
    # Alipay retries for about 25 hours: the last retry is still taken.
    late = clock.now() + timedelta(hours=25)
    assert alipay.parse_callback(note.headers, note.body, late).state is PaymentState.SUCCEEDED
    with pytest.raises(SignatureInvalid, match="too old"):
        alipay.parse_callback(note.headers, note.body, clock.now() + timedelta(hours=27))
    with pytest.raises(SignatureInvalid, match="in the future"):
        alipay.parse_callback(note.headers, note.body, clock.now() - timedelta(minutes=10))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe not utf-8",
        b'{"trade_status": "TRADE_SUCCESS"}',
        b"a=1&a=2&sign=x&sign_type=RSA2",
        b"notify_id",
    ],
)
def test_malformed_bodies_are_refused(
    alipay: AlipayProvider, clock: FixedClock, body: bytes
) -> None:
    with pytest.raises(SignatureInvalid):
        alipay.parse_callback({}, body, clock.now())


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"trade_status": "TRADE_PENDING"}, "unknown trade_status 'TRADE_PENDING'"),
        ({"total_amount": "48.0001"}, "notification has a bad total_amount"),
        ({"total_amount": ""}, "notification has a bad total_amount"),
        ({"notify_time": "2025/03/01 10:30"}, "notification has a bad time"),
        ({"notify_id": ""}, "notification lacks notify_id or out_trade_no"),
    ],
)
def test_signed_but_unusable_notifications_are_refused(
    alipay: AlipayProvider,
    gateway: FakeAlipayGateway,
    clock: FixedClock,
    overrides: dict[str, str],
    reason: str,
) -> None:
    note = _paid_trade(alipay, gateway)
    trade = gateway.trades[(APP_ID, note.params["out_trade_no"])]
    odd = gateway.notification(trade, overrides)
    with pytest.raises(SignatureInvalid) as refused:
        alipay.parse_callback(odd.headers, odd.body, clock.now())
    assert refused.value.params["reason"] == reason


# --- AlipayHK: a second instance ----------------------------------------------------------------


def test_alipayhk_is_a_second_instance_with_its_own_app_keys_gateway_and_currency(
    alipay: AlipayProvider,
    alipayhk: AlipayProvider,
    gateway: FakeAlipayGateway,
    hk_gateway: FakeAlipayGateway,
    clock: FixedClock,
) -> None:
    assert alipayhk.name == "alipayhk"
    request, url = _start(alipayhk, currency="HKD", amount_minor=8800)
    assert url.startswith(f"{HK_GATEWAY}?")
    params = _url_params(url)
    assert (params["app_id"], params["notify_url"]) == (HK_APP_ID, HK_NOTIFY_URL)
    assert json.loads(params["biz_content"])["total_amount"] == "88.00"
    with pytest.raises(GatewayRefused):
        gateway.open_checkout(url)  # not Alipay CN's URL, nor its app

    note = hk_gateway.pay(url)
    event = alipayhk.parse_callback(note.headers, note.body, clock.now())
    assert (event.provider, event.state, event.amount) == (
        "alipayhk",
        PaymentState.SUCCEEDED,
        Money(8800, "HKD"),
    )
    status = alipayhk.fetch_status(request.payment_id, None)
    assert (status.state, status.amount_minor) == (PaymentState.SUCCEEDED, 8800)
    assert alipayhk.refund(request.payment_id, None, 8800, "HKD").succeeded

    # Each instance refuses the other's currency and the other's notifications.
    assert alipayhk.create_payment(_request(currency="CNY")).failure_code == (
        "currency_not_supported"
    )
    with pytest.raises(SignatureInvalid, match="signature does not match"):
        alipay.parse_callback(note.headers, note.body, clock.now())
    assert gateway.calls == []


# --- cross-checks with the official alipay-sdk-python -----------------------------------------

SAMPLE = {
    "app_id": APP_ID,
    "method": "alipay.trade.page.pay",
    "charset": "utf-8",
    "sign_type": "RSA2",
    "timestamp": "2025-03-01 10:30:00",
    "version": "1.0",
    "notify_url": NOTIFY_URL,
    "biz_content": json.dumps(
        {"out_trade_no": "pay_1", "total_amount": "48.00", "subject": '话费充值 ONE2+D7 "x"'},
        ensure_ascii=False,
        separators=(",", ":"),
    ),
}


def test_our_sign_content_is_the_sdks() -> None:
    assert sign_content(SAMPLE) == get_sign_content(SAMPLE)
    assert sign_content({**SAMPLE, "sign": "x"}) == get_sign_content(SAMPLE)
    # Empty values are left out (the SDK never gets any: its requests drop them).
    assert sign_content({**SAMPLE, "return_url": ""}) == get_sign_content(SAMPLE)


def test_our_signatures_are_the_sdks_and_each_verifies_the_other(
    keys: dict[str, KeyPair],
) -> None:
    content = sign_content(SAMPLE)
    ours = rsa2_sign(load_private_key(keys["app"].private_pkcs8_pem), content)
    theirs = sign_with_rsa2(keys["app"].private_pkcs1_pem, content, "utf-8")
    # PKCS#1 v1.5 signatures are deterministic: the very same bytes.
    assert ours == theirs
    assert verify_with_rsa(keys["app"].public_pem, content.encode(), ours)
    public = load_public_key(keys["app"].public_pem)
    assert rsa2_verify(public, content, theirs)
    assert not rsa2_verify(public, content.replace("48.00", "48.01"), theirs)
    assert not rsa2_verify(load_public_key(keys["other"].public_pem), content, theirs)


@pytest.mark.parametrize(
    "form", ["private_pkcs1_pem", "private_pkcs8_pem", "private_pkcs1_b64", "private_pkcs8_b64"]
)
def test_every_key_form_signs_the_same(keys: dict[str, KeyPair], form: str) -> None:
    content = sign_content(SAMPLE)
    expected = sign_with_rsa2(keys["app"].private_pkcs1_pem, content, "utf-8")
    assert rsa2_sign(load_private_key(getattr(keys["app"], form)), content) == expected
    assert rsa2_verify(load_public_key(keys["app"].public_b64), content, expected)


def test_keys_that_are_not_rsa_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="private key"):
        load_private_key("not a key")
    with pytest.raises(ValueError, match="public key"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")


def test_the_sdk_reads_the_fakes_answers_and_the_fake_takes_the_sdks_requests(
    keys: dict[str, KeyPair],
    alipay: AlipayProvider,
    gateway: FakeAlipayGateway,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What makes the fake worth testing against: Alipay's own client signs requests
    the fake accepts and verifies the fake's answers."""
    config = AlipayClientConfig()
    config.app_id = APP_ID
    config.app_private_key = keys["app"].private_pkcs1_pem
    config.alipay_public_key = keys["alipay"].public_pem
    sdk = DefaultAlipayClient(config)

    # The SDK's own HTTP client cannot reach a local port, so its POST is handed to the
    # fake's form handler (the same one our adapter reaches over httpx).
    def do_post(
        url: str, query_string: str, headers: object, params: dict[str, str], *_: object
    ) -> bytes:
        from alipay.aop.api.util.WebUtils import url_encode

        return gateway.handle_form(query_string, url_encode(params, "utf-8"))

    monkeypatch.setattr(importlib.import_module(DefaultAlipayClient.__module__), "do_post", do_post)

    # The SDK's checkout URL, paid at the fake; our adapter reads the notification.
    model = AlipayTradePagePayModel()
    model.out_trade_no = new_id("pay")
    model.total_amount = "48.00"
    model.subject = "ONE2-D7"
    model.product_code = "FAST_INSTANT_TRADE_PAY"
    page = AlipayTradePagePayRequest(biz_model=model)
    page.notify_url = NOTIFY_URL
    note = gateway.pay(sdk.page_execute(page, http_method="GET"))
    assert alipay.parse_callback(note.headers, note.body, clock.now()).state is (
        PaymentState.SUCCEEDED
    )

    # The SDK's query: the fake accepts its signature, the SDK verifies the answer.
    query = AlipayTradeQueryModel()
    query.out_trade_no = model.out_trade_no
    answer = AlipayTradeQueryResponse()
    answer.parse_response_content(sdk.execute(AlipayTradeQueryRequest(biz_model=query)))
    assert (answer.code, answer.trade_status, answer.total_amount) == (
        "10000",
        "TRADE_SUCCESS",
        "48.00",
    )
    # And ours agrees.
    assert alipay.fetch_status(model.out_trade_no, None).amount_minor == AMOUNT


# --- the response node, cut from the raw answer ----------------------------------------------


def test_the_response_node_is_cut_from_the_raw_text() -> None:
    node_text = '{"code":"10000","msg":"Success","subject":"a}\\"b{","x":{"y":[1,2]}}'
    raw, node, sign = response_node(
        f' {{ "sign" : "c2ln", "alipay_trade_query_response" : {node_text} }} ',
        "alipay_trade_query_response",
    )
    assert (raw, node["subject"], sign) == (node_text, 'a}"b{', "c2ln")
    raw, node, sign = response_node(
        '{"error_response":{"code":"40002"}}', "alipay_trade_query_response"
    )
    assert (raw, node, sign) == ('{"code":"40002"}', {"code": "40002"}, None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"alipay_trade_query_response":{},"alipay_trade_query_response":{},"sign":"x"}',
        '{"alipay_trade_query_response":{},"sign":"x"} trailing',
        '{"alipay_trade_query_response":"text","sign":"x"}',
        '{"sign":"x"}',
        '{"alipay_trade_query_response":{},"sign":1}',
        '{"alipay_trade_query_response":{} "sign":"x"}',
    ],
)
def test_malformed_answers_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        response_node(text, "alipay_trade_query_response")


def test_the_private_key_is_not_in_the_configs_repr(keys: dict[str, KeyPair]) -> None:
    config = _config(keys)
    assert keys["app"].private_pkcs8_b64[:40] not in repr(config)
    assert "app_private_key" not in repr(config)
