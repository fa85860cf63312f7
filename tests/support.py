"""Test helpers: a clock the test moves, and shortcuts through the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from simrenew.bootstrap import App
from simrenew.domain.orders import Channel, Order
from simrenew.domain.payment_methods import PaymentMethod
from simrenew.domain.payments import EventOutcome, Payment
from simrenew.services.ordering import PlaceOrder, place_order
from simrenew.services.payments import handle_callback, start_payment

HKT = ZoneInfo("Asia/Hong_Kong")
# A Sunday morning in Hong Kong, inside the demo promotions' windows.
START = datetime(2026, 11, 22, 10, 0, tzinfo=HKT).astimezone(UTC)


@dataclass
class FixedClock:
    """Time stands still until the test moves it."""

    current: datetime = START
    tz: ZoneInfo = field(default=HKT)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current = self.current + delta

    def set_local(self, *args: int) -> None:
        self.current = datetime(*args, tzinfo=self.tz).astimezone(UTC)  # type: ignore[misc]


def order(
    app: App,
    card: str,
    offer: str,
    *,
    key: str | None = None,
    coupon: str | None = None,
    channel: Channel = Channel.WEB,
    actor: str = "test",
) -> Order:
    placed, _ = place_order(
        app.ctx, PlaceOrder(card, offer, channel, actor=actor, coupon=coupon, idempotency_key=key)
    )
    return placed


def pay(app: App, order_id: str, scenario: str = "succeed") -> tuple[Payment, list[EventOutcome]]:
    """Start a sandbox payment and play the buyer's side to the end."""
    payment = start_payment(app.ctx, order_id, "sandbox", actor="test", scenario=scenario)
    outcomes = []
    for callback in [*app.sandbox.complete(payment.id), *app.sandbox.settle(payment.id)]:
        outcomes.append(handle_callback(app.ctx, "sandbox", callback.headers, callback.body))
    return payment, outcomes


def renew(app: App, card: str, offer: str, **kwargs: str) -> Order:
    placed = order(app, card, offer, **kwargs)
    pay(app, placed.id)
    with app.uow(write=False) as uow:
        return uow.orders.get(placed.id)


def buyer_pays(app: App, payment_id: str) -> list[EventOutcome]:
    """The buyer pays on the sandbox's checkout page (and a processing payment settles);
    the callbacks arrive."""
    callbacks = [*app.sandbox.complete(payment_id), *app.sandbox.settle(payment_id)]
    return [handle_callback(app.ctx, "sandbox", c.headers, c.body) for c in callbacks]


def remember_card(
    app: App, subscriber_id: str, card: str, offer: str, scenario: str = "succeed"
) -> PaymentMethod:
    """Renew ``card`` on the sandbox's page with "remember this payment method" ticked
    for ``subscriber_id``; the outbox keeps the method. Returns the newest one."""
    placed = order(app, card, offer)
    payment = start_payment(
        app.ctx, placed.id, "sandbox", actor="test", scenario=scenario, save_for=subscriber_id
    )
    buyer_pays(app, payment.id)
    app.relay.drain()
    with app.uow(write=False) as uow:
        methods = uow.payment_methods.list_live(subscriber_id)
    assert methods, "no method was saved"
    return methods[0]
