"""Every online payment provider through the same order flow, with the faults that
matter, on SQLite and PostgreSQL: the happy path; the money taken and then our call
timed out (the janitor finds it five minutes later and the order is fulfilled once,
also when the lost notification arrives at that same moment); a 5xx on start
(``unknown``, never ``failed``, and a retry that checks first and charges once).

Each provider is a small adapter (``Harness``) over its local fake in ``tests/fakes``
(the sandbox plays its own remote side): how the buyer pays there, the signed
notification the provider sends, how many charges it holds, and how its faults are
injected. The flow is written once, in the tests at the bottom. Outcomes are read
from the database (order, payments, fulfilments, validity periods, outbox) and from
the fake's books, not from return values alone.

Where a provider's start only opens a hosted checkout (Stripe Checkout, Alipay page
pay, WeChat Pay Native), nothing is charged by a call of ours; "charged, then our call
timed out" is then its documented equivalent: the buyer pays on the provider's page,
the notification is lost, and our status query on the buyer's return times out.
PayPal charges when we capture, and the sandbox's ``unknown`` scenario charges on
start: for those the charge itself is what times out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any, ClassVar, Protocol

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import ColumnElement, Table, func, select

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.outbox import OutboxKind
from simrenew.domain.payments import EventOutcome, Payment, PaymentEvent, PaymentState
from simrenew.ports import (
    PaymentProvider,
    PaymentRequest,
    ProviderError,
    ProviderResult,
    RefundResult,
)
from simrenew.providers.alipay import AlipayConfig, AlipayProvider
from simrenew.providers.paypal import PayPalProvider
from simrenew.providers.stripe import StripeProvider
from simrenew.providers.wechatpay import (
    Region,
    WeChatPayConfig,
    WeChatPayProvider,
    out_trade_no_for,
)
from simrenew.services.context import Context
from simrenew.services.janitor import JanitorResult, run_janitor
from simrenew.services.payments import handle_callback, recheck_payment, start_payment
from tests.fakes import alipay_api, paypal_api, stripe_api, wechatpay_api
from tests.support import FixedClock, order

HKD_CARD = "+85251234567"  # ONE2 (HKD), in stock; ONE2-D7 costs HK$48.00
CNY_CARD = "+8613612345678"  # GBATRAVEL (CNY), in stock; GBATRAVEL-D7 costs ¥58.00
RETURN_URL = "https://simrenew.example.hk/orders/{order_id}/result"
WEBHOOKS = "https://simrenew.example.hk/webhooks/"
SANDBOX_SECRET = "test-secret-new"  # the first of the app fixture's sandbox secrets
STRIPE_SECRET = "whsec_faults_0123456789abcdef"
FIVE_MINUTES = timedelta(minutes=5)


@dataclass(frozen=True)
class Delivery:
    """A provider's callback as our webhook route receives it."""

    headers: Mapping[str, str]
    body: bytes


def hmac_signature(secret: str, at: datetime, body: bytes) -> str:
    """``t=<unix>,v1=<hex>`` with ``v1`` = HMAC-SHA256(secret, ``"<t>.<body>"``): Stripe's
    documented scheme (https://docs.stripe.com/webhooks#verify-manually), which the
    sandbox's callbacks follow too."""
    timestamp = int(at.timestamp())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


# --- the providers ------------------------------------------------------------------------


class Harness:
    """One provider wired to its fake, and the buyer's and the provider's side of it.

    ``after_timeout`` and ``after_5xx`` are what our side knows after each fault: the
    money may have been taken, so never ``failed``; a re-check that gets no answer
    leaves a payment as it was (``pending``), a start that gets none makes it
    ``unknown``."""

    name: ClassVar[str]
    card: ClassVar[str] = HKD_CARD
    offer: ClassVar[str] = "ONE2-D7"
    after_timeout: ClassVar[PaymentState] = PaymentState.PENDING
    after_5xx: ClassVar[PaymentState] = PaymentState.UNKNOWN
    # PayPal: an approval charges nothing; our capture, when the buyer is back, does.
    captures_on_return: ClassVar[bool] = False

    def __init__(self, app: App, clock: FixedClock, provider: PaymentProvider) -> None:
        self.app = app
        self.clock = clock
        self.provider = provider
        self.ctx: Context = replace(app.ctx, providers={**app.ctx.providers, self.name: provider})
        self._sent: dict[str, Any] = {}  # the success notification per payment, once made

    def close(self) -> None:
        close = getattr(self.provider, "close", None)
        if callable(close):
            close()

    def deliver(self, delivery: Delivery) -> EventOutcome:
        # Header names lower-cased, as the web route hands them over.
        headers = {k.lower(): v for k, v in delivery.headers.items()}
        return handle_callback(self.ctx, self.name, headers, delivery.body)

    def start(self, order_id: str) -> Payment:
        return start_payment(self.ctx, order_id, self.name, actor="buyer", return_url=RETURN_URL)

    # What each provider says for itself.

    def buyer_pays(self, payment: Payment) -> list[Delivery]:
        """The buyer pays on the provider's page; the callbacks the provider then sends."""
        raise NotImplementedError

    def success_notification(self, payment: Payment) -> Delivery:
        """The provider's notification that ``payment`` succeeded, signed now; the same
        event (same id) each time, as a provider's redelivery is."""
        raise NotImplementedError

    def charges(self) -> int:
        """Payments the provider holds as taken."""
        raise NotImplementedError

    def time_out_next_status_query(self) -> None:
        raise NotImplementedError

    def answer_next_start_with_5xx(self) -> None:
        raise NotImplementedError

    # The two faults, with defaults for a hosted checkout.

    def charge_then_time_out(self, order_id: str) -> Payment:
        """Hosted checkout: the buyer pays on the provider's page, the notification is
        lost, and our status query when the buyer comes back times out."""
        payment = self.start(order_id)
        self.buyer_pays(payment)  # ... and none of it reaches us
        self.time_out_next_status_query()
        return recheck_payment(self.ctx, payment.id)  # what the result page does

    def start_with_5xx(self, order_id: str) -> Payment:
        """The provider answers the start call with a 5xx."""
        self.answer_next_start_with_5xx()
        return self.start(order_id)


@dataclass
class SandboxWithFaults:
    """The sandbox provider, whose next start can be made to fail as a 5xx does
    (``ProviderError`` before anything is opened): its remote side is in-process, so
    the fault goes in at the adapter's edge."""

    inner: PaymentProvider
    fail_next_create: bool = False
    name: str = field(default="sandbox", init=False)

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        if self.fail_next_create:
            self.fail_next_create = False
            raise ProviderError("sandbox: HTTP 503 Service Unavailable")
        return self.inner.create_payment(request)

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        return self.inner.fetch_status(payment_id, provider_ref)

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        return self.inner.refund(payment_id, provider_ref, amount_minor, currency)

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        return self.inner.parse_callback(headers, body, now)


class Sandbox(Harness):
    name = "sandbox"
    after_timeout = PaymentState.UNKNOWN

    def __init__(self, app: App, clock: FixedClock) -> None:
        self.faulty = SandboxWithFaults(app.ctx.provider("sandbox"))
        super().__init__(app, clock, self.faulty)

    def buyer_pays(self, payment: Payment) -> list[Delivery]:
        callbacks = [Delivery(c.headers, c.body) for c in self.app.sandbox.complete(payment.id)]
        self._sent[payment.id] = callbacks[-1].body
        return callbacks

    def success_notification(self, payment: Payment) -> Delivery:
        if payment.id not in self._sent:
            event = {
                "id": f"evt_late_{payment.id}",
                "type": "payment.succeeded",
                "created": int(self.clock.now().timestamp()),
                "data": {
                    "payment_id": payment.id,
                    "provider_ref": f"sbx_{payment.id}",
                    "amount_minor": payment.amount.amount_minor,
                    "currency": payment.amount.currency,
                    "failure_code": None,
                },
            }
            self._sent[payment.id] = json.dumps(event).encode()
        body = self._sent[payment.id]
        signature = hmac_signature(SANDBOX_SECRET, self.clock.now(), body)
        return Delivery({"Sandbox-Signature": signature}, body)

    def charges(self) -> int:
        return count(self.app, t.sandbox_charges, t.sandbox_charges.c.status == "succeeded")

    def charge_then_time_out(self, order_id: str) -> Payment:
        """The sandbox's ``unknown`` scenario: the start call takes the money, then
        times out."""
        return start_payment(self.ctx, order_id, self.name, actor="buyer", scenario="unknown")

    def answer_next_start_with_5xx(self) -> None:
        self.faulty.fail_next_create = True


class Stripe(Harness):
    """Stripe Checkout against ``FakeStripe`` over HTTP, through the official SDK."""

    name = "stripe"

    def __init__(self, app: App, clock: FixedClock) -> None:
        self.fake = stripe_api.FakeStripe().start()
        provider = StripeProvider(
            stripe_api.API_KEY,
            [STRIPE_SECRET],
            fallback_return_url="https://simrenew.example.hk/",
            api_base=self.fake.url,
            timeout_seconds=1,  # the time-out test waits this long
        )
        super().__init__(app, clock, provider)

    def close(self) -> None:
        super().close()
        self.fake.stop()
        assert not self.fake.errors, self.fake.errors

    def _signed(self, event: dict[str, Any]) -> Delivery:
        body = json.dumps(event).encode()
        signature = hmac_signature(STRIPE_SECRET, self.clock.now(), body)
        return Delivery({"Stripe-Signature": signature, "Content-Type": "application/json"}, body)

    def buyer_pays(self, payment: Payment) -> list[Delivery]:
        events = self.fake.pay(self.fake.session_for(payment.id)["id"])
        # Checkout's own fulfilment event: https://docs.stripe.com/checkout/fulfillment
        (self._sent[payment.id],) = [e for e in events if e["type"] == "checkout.session.completed"]
        return [self._signed(event) for event in events]

    def success_notification(self, payment: Payment) -> Delivery:
        return self._signed(self._sent[payment.id])  # Stripe re-signs each retry

    def charges(self) -> int:
        return self.fake.succeeded_charges

    def time_out_next_status_query(self) -> None:
        # Stripe answers, but not within our time-out.
        self.fake.hang_next(path_prefix="/v1/checkout/sessions/")

    def answer_next_start_with_5xx(self) -> None:
        self.fake.fail_next(503, path_prefix="/v1/checkout/sessions")


@cache
def paypal_key() -> rsa.RSAPrivateKey:
    return paypal_api.make_key()


class PayPal(Harness):
    """PayPal Orders v2 against ``FakePayPal`` (an ``httpx.MockTransport``)."""

    name = "paypal"
    captures_on_return = True

    def __init__(self, app: App, clock: FixedClock) -> None:
        ids = ("AcFaultsClientId", "EC-faults-secret", "WH-FAULTS-0001")
        self.fake = paypal_api.FakePayPal(*ids, now=clock.now, key=paypal_key())
        provider = PayPalProvider(
            client_id=ids[0],
            client_secret=ids[1],
            webhook_id=ids[2],
            api_base=paypal_api.API_BASE,
            transport=self.fake.transport(),
        )
        super().__init__(app, clock, provider)

    def close(self) -> None:
        super().close()
        assert self.fake.problems == []

    def _signed(self, body: bytes) -> Delivery:
        delivery = self.fake.sign(body)  # a new transmission each time, the same event
        return Delivery(delivery.headers, delivery.body)

    def buyer_pays(self, payment: Payment) -> list[Delivery]:
        self.fake.approve(self.fake.order_for(payment.id)["id"])
        approved = self.fake.event_body("CHECKOUT.ORDER.APPROVED", self.fake.order_for(payment.id))
        return [self._signed(approved)]

    def success_notification(self, payment: Payment) -> Delivery:
        if payment.id not in self._sent:
            unit = self.fake.order_for(payment.id)["purchase_units"][0]
            (capture,) = unit["payments"]["captures"]
            resource = self.fake.capture_resource(capture["id"])
            self._sent[payment.id] = self.fake.event_body("PAYMENT.CAPTURE.COMPLETED", resource)
        return self._signed(self._sent[payment.id])

    def charges(self) -> int:
        return sum(1 for c in self.fake.captures.values() if c["status"] == "COMPLETED")

    def charge_then_time_out(self, order_id: str) -> Payment:
        """The buyer approves; our capture on the buyer's return is carried out by
        PayPal, and its answer is lost."""
        payment = self.start(order_id)
        for delivery in self.buyer_pays(payment):
            assert self.deliver(delivery) is EventOutcome.STALE  # an approval moves nothing
        self.fake.fail_next("POST", r"/capture$", "timeout_after")
        return recheck_payment(self.ctx, payment.id)

    def answer_next_start_with_5xx(self) -> None:
        self.fake.fail_next("POST", r"^/v2/checkout/orders$", "503")


@cache
def alipay_keys(name: str) -> tuple[alipay_api.KeyPair, alipay_api.KeyPair]:
    """(our app's key pair, Alipay's key pair) for one Alipay app."""
    return alipay_api.new_key_pair(), alipay_api.new_key_pair()


class Alipay(Harness):
    """Alipay CN (CNY) and AlipayHK (HKD): one adapter, two configured instances, each
    against its own ``FakeAlipayGateway``."""

    gateway_url: ClassVar[str]
    app_id: ClassVar[str]
    currency: ClassVar[str]

    def __init__(self, app: App, clock: FixedClock) -> None:
        ours, theirs = alipay_keys(self.name)
        self.gateway = alipay_api.FakeAlipayGateway(
            alipay_key=theirs,
            apps=[alipay_api.FakeApp(self.app_id, ours.public_pem)],
            now=clock.now,
            url=self.gateway_url,
        )
        config = AlipayConfig(
            app_id=self.app_id,
            app_private_key=ours.private_pkcs8_pem,
            alipay_public_key=theirs.public_pem,
            notify_url=WEBHOOKS + self.name,
            name=self.name,
            gateway_url=self.gateway_url,
            currency=self.currency,
        )
        client = httpx.Client(transport=self.gateway.transport())
        super().__init__(app, clock, AlipayProvider(config, client=client, now=clock.now))

    def close(self) -> None:
        super().close()
        assert self.gateway.problems == []

    def buyer_pays(self, payment: Payment) -> list[Delivery]:
        assert payment.checkout_url is not None
        notification = self.gateway.pay(payment.checkout_url)
        self._sent[payment.id] = notification  # Alipay resends it with its notify_id
        return [Delivery(notification.headers, notification.body)]

    def success_notification(self, payment: Payment) -> Delivery:
        notification = self._sent[payment.id]
        return Delivery(notification.headers, notification.body)

    def charges(self) -> int:
        return len(self.gateway.charges)

    def time_out_next_status_query(self) -> None:
        self.gateway.faults.append("timeout")

    def start_with_5xx(self, order_id: str) -> Payment:
        """Alipay's start calls nobody (the checkout is a signed redirect), so there is
        no start call to fail: the gateway's 502 comes on our status query when the
        buyer is back. The payment stays ``pending``, never ``failed``."""
        payment = self.start(order_id)
        self.gateway.faults.append("500")
        return recheck_payment(self.ctx, payment.id)


class AlipayCN(Alipay):
    name = "alipay"
    card = CNY_CARD
    offer = "GBATRAVEL-D7"
    after_5xx = PaymentState.PENDING
    gateway_url = alipay_api.GATEWAY_CN
    app_id = "2021000000000001"
    currency = "CNY"


class AlipayHK(Alipay):
    name = "alipayhk"
    after_5xx = PaymentState.PENDING
    gateway_url = "https://openapi.alipayhk.example/gateway.do"
    app_id = "2021000000000099"
    currency = "HKD"


class WeChatPay(Harness):
    """WeChat Pay Native against ``FakeWeChatPay``: the mainland API (CNY) or the
    global one (HKD wallets), configured under the one name ``wechatpay``."""

    name = "wechatpay"
    region: ClassVar[Region]

    def __init__(self, app: App, clock: FixedClock) -> None:
        self.fake = wechatpay_api.FakeWeChatPay(
            now=clock.now, region=self.region.value, signer="public_key"
        )
        config = WeChatPayConfig(
            mchid=wechatpay_api.MCHID,
            appid=wechatpay_api.APPID,
            merchant_serial_no=wechatpay_api.MERCHANT_SERIAL,
            merchant_private_key=wechatpay_api.private_pem(wechatpay_api.rsa_key("merchant")),
            apiv3_key=wechatpay_api.APIV3_KEY,
            notify_url=WEBHOOKS + "wechatpay",
            region=self.region,
            base_url="https://wechatpay.test",
            merchant_category_code="4814" if self.region is Region.GLOBAL else None,
            platform_public_key=wechatpay_api.public_pem(self.fake.public_key),
            platform_public_key_id=self.fake.public_key_id,
        )
        provider = WeChatPayProvider(config, transport=self.fake.transport(), now=clock.now)
        super().__init__(app, clock, provider)

    def buyer_pays(self, payment: Payment) -> list[Delivery]:
        notification = self.fake.pay(out_trade_no_for(payment.id))
        self._sent[payment.id] = json.loads(notification.body)["id"]
        return [Delivery(notification.headers, notification.body)]

    def success_notification(self, payment: Payment) -> Delivery:
        paid = self.fake.orders[out_trade_no_for(payment.id)]
        # WeChat Pay resends the same notification id until it is acknowledged.
        notification = self.fake.notification(paid, notification_id=self._sent[payment.id])
        return Delivery(notification.headers, notification.body)

    def charges(self) -> int:
        return sum(self.fake.charges.values())

    def time_out_next_status_query(self) -> None:
        self.fake.fail("query", "timeout_after")

    def answer_next_start_with_5xx(self) -> None:
        self.fake.fail("native", "http_500")


class WeChatPayMainland(WeChatPay):
    region = Region.MAINLAND
    card = CNY_CARD
    offer = "GBATRAVEL-D7"


class WeChatPayGlobal(WeChatPay):
    region = Region.GLOBAL


PROVIDERS: dict[str, Callable[[App, FixedClock], Harness]] = {
    "sandbox": Sandbox,
    "stripe": Stripe,
    "paypal": PayPal,
    "alipay": AlipayCN,
    "alipayhk": AlipayHK,
    "wechatpay-mainland": WeChatPayMainland,
    "wechatpay-global": WeChatPayGlobal,
}


@pytest.fixture(params=list(PROVIDERS))
def online(request: pytest.FixtureRequest, app: App, clock: FixedClock) -> Iterator[Harness]:
    harness = PROVIDERS[request.param](app, clock)
    yield harness
    harness.close()


# --- reading the outcome --------------------------------------------------------------------


class Collector(Protocol):
    """A payment method as the outcome checks see it (``Harness`` here, and the
    in-house methods of ``test_provider_order_flow``)."""

    app: App

    def charges(self) -> int: ...


def count(app: App, table: Table, *where: ColumnElement[bool]) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def stored(app: App, payment_id: str) -> Payment:
    with app.uow(write=False) as uow:
        return uow.payments.get(payment_id)


def books(harness: Collector, placed: Order) -> tuple[object, ...]:
    """Everything a repeat could change: the order, its payments, its fulfilments and
    validity periods, the outbox, and the provider's charges."""
    app = harness.app
    with app.uow(write=False) as uow:
        state = uow.orders.get(placed.id).state
        payments = sorted(
            (p.id, p.state, p.provider_ref) for p in uow.payments.list_for_order(placed.id)
        )
        periods = [p for p in uow.cards.periods(placed.card_id) if p.order_id == placed.id]
    return (
        state,
        payments,
        count(app, t.fulfilments, t.fulfilments.c.order_id == placed.id),
        [(p.start, p.end, p.offer_code) for p in periods],
        count(app, t.outbox),
        harness.charges(),
    )


def assert_fulfilled_once(harness: Collector, placed: Order, payment_id: str) -> None:
    """``placed`` was paid by ``payment_id`` alone, fulfilled once, the card got the
    offer's validity, the provider holds one charge and nothing is being refunded."""
    app = harness.app
    with app.uow(write=False) as uow:
        assert uow.orders.get(placed.id).state is OrderState.FULFILLED
        succeeded = [
            p.id
            for p in uow.payments.list_for_order(placed.id)
            if p.state is PaymentState.SUCCEEDED
        ]
        periods = [
            p.offer_code for p in uow.cards.periods(placed.card_id) if p.order_id == placed.id
        ]
    assert succeeded == [payment_id]
    assert periods == [placed.offer_code]
    assert count(app, t.fulfilments, t.fulfilments.c.order_id == placed.id) == 1
    assert count(app, t.outbox, t.outbox.c.kind == OutboxKind.REFUND.value) == 0
    assert harness.charges() == 1


def assert_not_fulfilled(harness: Collector, placed: Order) -> None:
    with harness.app.uow(write=False) as uow:
        assert uow.orders.get(placed.id).state is OrderState.AWAITING_PAYMENT
    assert count(harness.app, t.fulfilments, t.fulfilments.c.order_id == placed.id) == 0


# --- the flow, once for every provider --------------------------------------------------------


def test_the_buyer_pays_and_the_order_is_fulfilled_once(online: Harness) -> None:
    placed = order(online.app, online.card, online.offer)
    payment = online.start(placed.id)
    assert payment.state is PaymentState.PENDING and payment.checkout_url

    outcomes = [online.deliver(delivery) for delivery in online.buyer_pays(payment)]

    if online.captures_on_return:
        # An approval charges nothing and moves nothing; the buyer is back, we capture.
        assert outcomes == [EventOutcome.STALE]
        assert online.charges() == 0
        recheck_payment(online.ctx, payment.id)
    else:
        assert outcomes[0] is EventOutcome.APPLIED
        assert set(outcomes[1:]) <= {EventOutcome.STALE}
    assert_fulfilled_once(online, placed, payment.id)
    before = books(online, placed)

    # The provider sends its success again (it did not hear our answer): nothing moves.
    again = [online.deliver(online.success_notification(payment)) for _ in range(2)]

    first = EventOutcome.STALE if online.captures_on_return else EventOutcome.DUPLICATE
    assert again == [first, EventOutcome.DUPLICATE]
    assert books(online, placed) == before


def test_charged_then_timed_out_the_janitor_finds_the_money_and_fulfils_once(
    online: Harness,
) -> None:
    placed = order(online.app, online.card, online.offer)

    payment = online.charge_then_time_out(placed.id)

    assert payment.state is online.after_timeout
    assert stored(online.app, payment.id).state is online.after_timeout
    assert_not_fulfilled(online, placed)
    assert online.charges() == 1  # the provider has the money; we do not know it yet

    online.clock.advance(FIVE_MINUTES)
    swept = run_janitor(online.ctx)

    assert (swept.checked, swept.resolved) == (1, 1)
    assert stored(online.app, payment.id).state is PaymentState.SUCCEEDED
    assert_fulfilled_once(online, placed, payment.id)
    before = books(online, placed)

    assert run_janitor(online.ctx) == JanitorResult()  # nothing left to check
    late = [online.deliver(online.success_notification(payment)) for _ in range(2)]

    assert late == [EventOutcome.STALE, EventOutcome.DUPLICATE]
    assert books(online, placed) == before


def test_the_janitor_and_the_late_notification_at_the_same_moment_fulfil_once(
    online: Harness,
) -> None:
    placed = order(online.app, online.card, online.offer)
    payment = online.charge_then_time_out(placed.id)
    online.clock.advance(FIVE_MINUTES)
    late = online.success_notification(payment)
    barrier = threading.Barrier(2)
    delivered: list[EventOutcome] = []

    def provider_calls_back() -> None:
        barrier.wait(timeout=10)
        delivered.append(online.deliver(late))

    # The janitor runs here, in the test's thread: the providers' HTTP clients keep
    # per-thread connections that only the calling thread closes.
    thread = threading.Thread(target=provider_calls_back, name="late-notification")
    thread.start()
    barrier.wait(timeout=10)
    swept = run_janitor(online.ctx)
    thread.join(timeout=30)

    (outcome,) = delivered
    assert swept.errors == 0
    # One of the two made the payment succeed; the other found it done.
    assert outcome in (EventOutcome.APPLIED, EventOutcome.STALE)
    assert outcome is EventOutcome.APPLIED or swept.resolved == 1
    assert_fulfilled_once(online, placed, payment.id)


def test_a_5xx_on_start_is_never_failed_and_the_retry_checks_first_and_charges_once(
    online: Harness,
) -> None:
    placed = order(online.app, online.card, online.offer)

    first = online.start_with_5xx(placed.id)

    assert first.state is online.after_5xx
    assert online.charges() == 0
    assert_not_fulfilled(online, placed)
    checks = stored(online.app, first.id).rechecks

    retry = online.start(placed.id)  # the buyer presses "pay" again

    assert retry.state is PaymentState.PENDING and retry.checkout_url
    if first.state is PaymentState.UNKNOWN:
        # It may have taken the money: asked about before anything else is done.
        assert stored(online.app, first.id).rechecks == checks + 1
    else:
        assert retry.id == first.id  # still pending: the same payment, the same checkout
    for delivery in online.buyer_pays(retry):
        online.deliver(delivery)
    if online.captures_on_return:
        recheck_payment(online.ctx, retry.id)
    assert_fulfilled_once(online, placed, retry.id)
    before = books(online, placed)

    # Whatever the first attempt left open, the janitor's re-check of it charges nothing.
    online.clock.advance(FIVE_MINUTES)
    run_janitor(online.ctx)
    assert books(online, placed) == before
