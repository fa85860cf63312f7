"""A saved PayPal wallet through the whole flow, on SQLite and PostgreSQL: kept after a
purchase that asked for it, then charged for a renewal whose answer is lost. PayPal
cannot search its orders, so the janitor asks to charge again with the same
PayPal-Request-Id, which returns the first order: one capture, one fulfilment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from simrenew.bootstrap import App
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import PaymentState
from simrenew.providers.paypal import PayPalProvider
from simrenew.services import auth
from simrenew.services.context import Context
from simrenew.services.janitor import run_janitor
from simrenew.services.payment_methods import delete_method, list_methods
from simrenew.services.payments import pay_with_saved_method, recheck_payment, start_payment
from simrenew.worker.relay import OutboxRelay
from tests.fakes.paypal_api import API_BASE, FakePayPal, make_key
from tests.integration.services.test_auth import login
from tests.integration.services.test_janitor import fulfilments
from tests.support import FixedClock, order

CARD = "+85251234567"
OFFER = "ONE2-M1"


@pytest.fixture(scope="module")
def paypal_key() -> rsa.RSAPrivateKey:
    return make_key()


@dataclass
class WithPayPal:
    app: App
    ctx: Context
    relay: OutboxRelay
    fake: FakePayPal


@pytest.fixture
def paypal(app: App, clock: FixedClock, paypal_key: rsa.RSAPrivateKey) -> Iterator[WithPayPal]:
    fake = FakePayPal("AcClient", "EC-secret", "8PT597110X687430L", now=clock.now, key=paypal_key)
    provider = PayPalProvider(
        client_id="AcClient",
        client_secret="EC-secret",
        webhook_id="8PT597110X687430L",
        api_base=API_BASE,
        transport=fake.transport(),
    )
    ctx = replace(app.ctx, providers={**app.ctx.providers, "paypal": provider})
    yield WithPayPal(app, ctx, replace(app.relay, ctx=ctx), fake)
    provider.close()
    assert fake.problems == []


def order_state(app: App, order_id: str) -> OrderState:
    with app.uow(write=False) as uow:
        return uow.orders.get(order_id).state


def test_a_lost_answer_from_a_saved_wallet_charge_is_found_with_one_capture(
    paypal: WithPayPal, clock: FixedClock
) -> None:
    app, ctx, fake = paypal.app, paypal.ctx, paypal.fake
    who = auth.authenticate(app.ctx, login(app, CARD))

    first = order(app, CARD, OFFER)
    payment = start_payment(ctx, first.id, "paypal", actor="test", save_for=who.id)
    assert payment.provider_ref is not None
    fake.approve(payment.provider_ref, email="chan.tai.man@example.com")
    assert recheck_payment(ctx, payment.id).state is PaymentState.SUCCEEDED  # buyer is back
    paypal.relay.drain()
    [wallet] = list_methods(ctx, who)
    assert (wallet.provider, wallet.brand, wallet.label) == ("paypal", "paypal", "c***@example.com")

    renewal = order(app, CARD, OFFER)
    fake.fail_next("POST", r"^/v2/checkout/orders$", "timeout_after")
    charged = pay_with_saved_method(ctx, renewal.id, wallet.id, subscriber_id=who.id, actor="t")
    assert charged.state is PaymentState.UNKNOWN
    assert order_state(app, renewal.id) is OrderState.AWAITING_PAYMENT
    assert len(fake.charged(charged.id)) == 1  # PayPal took it; we never heard

    clock.advance(timedelta(minutes=5))
    run_janitor(ctx)
    with app.uow(write=False) as uow:
        found = uow.payments.get(charged.id)
    assert found.state is PaymentState.SUCCEEDED and found.provider_ref
    assert order_state(app, renewal.id) is OrderState.FULFILLED
    assert fulfilments(app, renewal.id) == 1
    assert len(fake.charged(charged.id)) == 1
    clock.advance(timedelta(hours=1))
    run_janitor(ctx)
    assert len(fake.charged(charged.id)) == 1 and fulfilments(app, renewal.id) == 1


def test_deleting_a_saved_wallet_deletes_the_payment_token_at_paypal(
    paypal: WithPayPal,
) -> None:
    app, ctx, fake = paypal.app, paypal.ctx, paypal.fake
    who = auth.authenticate(app.ctx, login(app, CARD))
    first = order(app, CARD, OFFER)
    payment = start_payment(ctx, first.id, "paypal", actor="test", save_for=who.id)
    assert payment.provider_ref is not None
    fake.approve(payment.provider_ref)
    recheck_payment(ctx, payment.id)
    paypal.relay.drain()
    [wallet] = list_methods(ctx, who)
    assert wallet.token in fake.vault_tokens
    delete_method(ctx, who, wallet.id)
    paypal.relay.drain()
    assert wallet.token not in fake.vault_tokens
