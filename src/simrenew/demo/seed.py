"""The demo: a realistic catalogue, demo cards with some history, and the four steps
walked for one card, each printed. Safe to run again on the same database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from importlib import resources

from rich.console import Console

from simrenew.bootstrap import App, build
from simrenew.db.migrate import upgrade
from simrenew.domain.catalog import BucketKind
from simrenew.domain.orders import Channel
from simrenew.ports import Clock
from simrenew.services.cards import CardView, import_cards, show_card
from simrenew.services.catalog import import_catalog
from simrenew.services.lifecycle import sweep_lifecycle
from simrenew.services.ordering import PlaceOrder, place_order
from simrenew.services.payments import handle_callback, start_payment
from simrenew.services.quoting import quote
from simrenew.services.usage import record_usage

DEMO_CARD = "+85291234567"  # an active card with history: the four steps are walked for it


@dataclass(frozen=True)
class ShiftedClock:
    """The system clock moved by ``offset``: used to give demo cards a past."""

    base: Clock
    offset: timedelta

    @property
    def tz(self) -> tzinfo:
        return self.base.tz

    def now(self) -> datetime:
        return self.base.now() + self.offset


def demo_text(name: str) -> str:
    return resources.files("simrenew.demo").joinpath(name).read_text(encoding="utf-8")


def renew_with_sandbox(app: App, card_key: str, offer: str, *, coupon: str | None = None) -> str:
    order, _ = place_order(
        app.ctx, PlaceOrder(card_key, offer, Channel.WEB, actor="demo", coupon=coupon)
    )
    payment = start_payment(app.ctx, order.id, "sandbox", actor="demo")
    for callback in app.sandbox.complete(payment.id):
        handle_callback(app.ctx, "sandbox", callback.headers, callback.body)
    return order.id


# (card, offer, days ago): each card's past, so that the demo shows every state.
HISTORY = [
    ("+85261234567", "ONE2-M1", 45),  # validity ran out ~two weeks ago: in grace
    ("+85291234567", "ONE2-M1", 12),
    ("+85291234567", "ONE2-ADD5G", 5),
    ("+85251234568", "ONE2-M3", 20),
]


def seed(app: App, console: Console) -> bool:
    """Schema, catalogue, cards and history; False if the demo data was already there."""
    upgrade(app.engine)
    summary = import_catalog(app.ctx, demo_text("catalog.yaml"))
    console.print(f"catalogue: {summary}")
    with app.uow(write=False) as uow:
        if uow.cards.find(DEMO_CARD) is not None:
            return False
    result = import_cards(app.ctx, demo_text("cards.csv"))
    console.print(f"cards: {result.imported} imported into stock")
    for card_key, offer, days_ago in HISTORY:
        past = build(
            app.settings,
            clock=ShiftedClock(app.ctx.clock, -timedelta(days=days_ago)),
            engine=app.engine,
        )
        renew_with_sandbox(past, card_key, offer)
        past.relay.drain()
    now = app.ctx.clock.now()
    for number, gigabytes in (("+85291234567", 3), ("+85251234568", 11)):
        for day in range(1, 4):
            record_usage(
                app.ctx,
                record_id=f"demo-{number}-{day}",
                card_key=number,
                zone="HK" if day % 2 else "CN",
                kind=BucketKind.DATA_MB,
                amount=gigabytes * 1024 // 3,
                at=now - timedelta(days=day),
            )
    swept = sweep_lifecycle(app.ctx)
    console.print(f"history: {len(HISTORY)} past renewals; {swept.to_grace} card(s) now in grace")
    return True


def run_demo(app: App, console: Console, print_card: Callable[[CardView], None]) -> None:
    seed(app, console)
    console.rule("1. check")
    print_card(show_card(app.ctx, DEMO_CARD))

    console.rule("2. choose")
    chosen = quote(app.ctx, DEMO_CARD, "ONE2-M1", coupon="GBA2026")
    console.print(
        f"{chosen.offer.code} {chosen.offer.name.en}: {chosen.price.list_price.display()} "
        f"→ {chosen.price.price.display()} "
        f"with {', '.join(chosen.price.promotion_codes) or 'no promotion'}; "
        f"valid until {chosen.validity_end_after} after payment"
    )

    console.rule("3. pay")
    order, _ = place_order(
        app.ctx, PlaceOrder(DEMO_CARD, "ONE2-M1", Channel.WEB, actor="demo", coupon="GBA2026")
    )
    payment = start_payment(app.ctx, order.id, "sandbox", actor="demo")
    console.print(
        f"order {order.id}: {order.price.display()}; sandbox checkout {payment.checkout_url}"
    )
    for callback in app.sandbox.complete(payment.id):
        outcome = handle_callback(app.ctx, "sandbox", callback.headers, callback.body)
        console.print(f"signed callback from the sandbox: {outcome.value}")

    console.rule("4. confirm")
    app.relay.drain()
    with app.uow(write=False) as uow:
        console.print(f"order {order.id} is {uow.orders.get(order.id).state.value}")
    for message in app.inbox.list(recipient=DEMO_CARD, limit=1):
        console.print(f"SMS to {message.recipient}: {message.body}")
    print_card(show_card(app.ctx, DEMO_CARD))
