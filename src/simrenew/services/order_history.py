"""A logged-in subscriber's orders across all their cards, and the receipt of each
fulfilled one.

Ownership is the binding of a card to the account: every order of a bound card is the
subscriber's (including a quick top-up someone paid for them), and an order of any
other card is answered exactly like an order that does not exist (``OrderNotFound``),
so that an order id cannot be probed through these pages.

Receipt numbers are derived, not stored: ``R`` + the Hong Kong year in which the order
was paid + ``-`` + the last 12 characters of the order id, upper-cased, e.g.
``R2026-3F9A1C07B2E4`` (the spec's ``R2026-000123`` shape). Why this choice:

- stable: it depends only on the order id and the payment time, and the payment of a
  fulfilled order is final, so the PDF, the history and the CSV always agree, and no
  counter row has to be locked by every fulfilment;
- human-friendly: short enough to read out over the phone, and the year tells a
  bookkeeper where to file it;
- unique enough: the tail of an order id is random (48 of its 80 random bits, see
  ``domain.ids``); at a million orders a year the chance that any two receipts of that
  year share a number is about 0.2 %, and the order id on the receipt tells them apart.
  Ten characters would have made that more than a third.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from simrenew.domain.accounts import Subscriber
from simrenew.domain.cards import Card, mask_number
from simrenew.domain.catalog import Offer, Texts
from simrenew.domain.errors import OrderNotFound
from simrenew.domain.money import Money
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.payments import Payment, PaymentState
from simrenew.ports import UnitOfWork
from simrenew.services.context import Context

RECEIPT_TAIL = 12
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One order as the history shows it."""

    order: Order
    number_masked: str
    offer_name: Texts
    receipt_number: str | None  # only fulfilled orders have a receipt

    @property
    def id(self) -> str:
        return self.order.id

    @property
    def card_id(self) -> str:
        return self.order.card_id

    @property
    def created_at(self) -> datetime:
        return self.order.created_at

    @property
    def state(self) -> OrderState:
        return self.order.state

    @property
    def price(self) -> Money:
        return self.order.price


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """What a receipt says about one fulfilled order; texts in every language."""

    receipt_number: str
    order_id: str
    issued_at: datetime  # when the order was fulfilled: the same receipt every time
    number_masked: str
    offer_name: Texts
    list_price: Money
    discount: Money
    price: Money
    promotions: tuple[str, ...]
    payment_method: str | None  # the provider's name; None when there was nothing to pay
    paid_at: datetime
    validity_end: date | None  # None when the offer does not move validity (add-ons)


def receipt_number(order_id: str, paid_at: datetime, tz: tzinfo) -> str:
    """The receipt number of an order paid at ``paid_at`` (see the module docstring)."""
    return f"R{paid_at.astimezone(tz).year}-{order_id[-RECEIPT_TAIL:].upper()}"


def _paid_at(order: Order, payment: Payment | None) -> datetime:
    """When the money was taken; a free order was paid (and fulfilled) when placed."""
    return payment.updated_at if payment is not None else order.created_at


def _my_cards(uow: UnitOfWork, subscriber: Subscriber) -> dict[str, Card]:
    return {
        bound.card_id: uow.cards.get(bound.card_id)
        for bound in uow.accounts.bound_cards(subscriber.id)
    }


def list_my_orders(
    ctx: Context, subscriber: Subscriber, *, limit: int, before: str | None = None
) -> list[OrderLine]:
    """The subscriber's orders on all their cards, newest first, at most ``limit``
    (capped at ``MAX_PAGE``). ``before`` is the id of the last order of the previous
    page. Raises ``OrderNotFound`` when ``before`` is not one of their orders."""
    limit = max(1, min(limit, MAX_PAGE))
    with ctx.uow(write=False) as uow:
        cards = _my_cards(uow, subscriber)
        cursor = None
        if before is not None:
            last = _my_order(uow, cards, before)
            cursor = (last.created_at, last.id)
        orders = uow.orders.list_for_cards(list(cards), limit=limit, before=cursor)
        fulfilled = [o.id for o in orders if o.state is OrderState.FULFILLED]
        payments: dict[str, Payment] = {}
        for payment in uow.payments.list_succeeded_for_orders(fulfilled):
            payments.setdefault(payment.order_id, payment)
        offers: dict[tuple[str, int], Offer] = {}
        lines = []
        for order in orders:
            key = (order.offer_code, order.offer_version)
            if key not in offers:
                offers[key] = uow.catalog.offer(order.offer_code, order.offer_version)
            number = None
            if order.state is OrderState.FULFILLED:
                paid_at = _paid_at(order, payments.get(order.id))
                number = receipt_number(order.id, paid_at, ctx.clock.tz)
            lines.append(
                OrderLine(
                    order=order,
                    number_masked=mask_number(cards[order.card_id].primary_number),
                    offer_name=offers[key].name,
                    receipt_number=number,
                )
            )
    return lines


def _my_order(uow: UnitOfWork, cards: dict[str, Card], order_id: str) -> Order:
    order = uow.orders.get(order_id)
    if order.card_id not in cards:
        # Someone else's order is answered like no order: the id's existence stays hidden.
        raise OrderNotFound(key=order_id)
    return order


def my_receipt(ctx: Context, subscriber: Subscriber, order_id: str) -> ReceiptData:
    """The receipt of one of the subscriber's fulfilled orders. Raises
    ``OrderNotFound`` for an order that is not theirs, or not fulfilled (no receipt
    until the plan is on the card; none once refunded)."""
    with ctx.uow(write=False) as uow:
        order = _my_order(uow, _my_cards(uow, subscriber), order_id)
        if order.state is not OrderState.FULFILLED:
            raise OrderNotFound(key=order_id)
        card = uow.cards.get(order.card_id)
        offer = uow.catalog.offer(order.offer_code, order.offer_version)
        paid = [
            p for p in uow.payments.list_for_order(order.id) if p.state is PaymentState.SUCCEEDED
        ]
        payment = paid[0] if paid else None
        period = next((p for p in uow.cards.periods(card.id) if p.order_id == order.id), None)
    paid_at = _paid_at(order, payment)
    return ReceiptData(
        receipt_number=receipt_number(order.id, paid_at, ctx.clock.tz),
        order_id=order.id,
        issued_at=order.updated_at,
        number_masked=mask_number(card.primary_number),
        offer_name=offer.name,
        list_price=order.list_price,
        discount=order.discount,
        price=order.price,
        promotions=order.promotions,
        payment_method=payment.provider if payment is not None else None,
        paid_at=paid_at,
        validity_end=period.end if period is not None else None,
    )
