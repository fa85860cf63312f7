"""An order as its buyer follows it: state, payment, and the receipt once fulfilled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from simrenew.domain.cards import mask_number
from simrenew.domain.catalog import Texts
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.payments import Payment, PaymentState
from simrenew.services.context import Context
from simrenew.services.order_history import receipt_number

_RECEIPTED = (OrderState.FULFILLED,)


@dataclass(frozen=True, slots=True)
class Receipt:
    number: str  # R<year>-<...>: see order_history.receipt_number
    order_id: str
    number_masked: str
    offer_name: Texts
    paid_at: datetime  # when the money was taken (or the free order fulfilled)
    validity_end: date | None  # None when the offer does not move validity (add-ons)


@dataclass(frozen=True, slots=True)
class OrderStatus:
    order: Order
    offer_name: Texts
    payment: Payment | None  # the latest attempt
    receipt: Receipt | None  # once fulfilled


def order_status(ctx: Context, order_id: str) -> OrderStatus:
    """What ``order_id`` is doing; never the card's balance. Raises ``OrderNotFound``."""
    with ctx.uow(write=False) as uow:
        order = uow.orders.get(order_id)
        offer = uow.catalog.offer(order.offer_code, order.offer_version)
        payments = uow.payments.list_for_order(order.id)
        receipt = None
        if order.state in _RECEIPTED:
            card = uow.cards.get(order.card_id)
            paid = [p for p in payments if p.state is PaymentState.SUCCEEDED]
            period = next((p for p in uow.cards.periods(card.id) if p.order_id == order.id), None)
            paid_at = paid[0].updated_at if paid else order.created_at
            receipt = Receipt(
                number=receipt_number(order.id, paid_at, ctx.clock.tz),
                order_id=order.id,
                number_masked=mask_number(card.primary_number),
                offer_name=offer.name,
                paid_at=paid_at,
                validity_end=period.end if period else None,
            )
    return OrderStatus(order, offer.name, payments[-1] if payments else None, receipt)
