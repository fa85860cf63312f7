"""Orders: what a buyer asked for, at which price, through which channel."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from simrenew.domain.catalog import Allowance
from simrenew.domain.errors import IllegalTransition
from simrenew.domain.money import Money


class OrderState(enum.StrEnum):
    """An order's life.

    ``awaiting_payment`` → ``paid`` → ``fulfilled``; ``cancelled`` by the buyer,
    ``expired`` when unpaid past its deadline. A payment that still succeeds on a
    cancelled or expired order moves it to ``paid`` (money is never ignored);
    ``refunding`` while a refund is with the provider, then ``refunded``.
    ``OrderState.check`` raises ``IllegalTransition`` for any move not in the table.
    """

    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDING = "refunding"
    REFUNDED = "refunded"

    @staticmethod
    def check(current: OrderState, target: OrderState) -> None:
        if target not in ORDER_TRANSITIONS[current]:
            raise IllegalTransition(entity="order", current=current.value, target=target.value)


ORDER_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.AWAITING_PAYMENT: frozenset(
        {OrderState.PAID, OrderState.CANCELLED, OrderState.EXPIRED}
    ),
    OrderState.CANCELLED: frozenset({OrderState.PAID}),
    OrderState.EXPIRED: frozenset({OrderState.PAID}),
    OrderState.PAID: frozenset({OrderState.FULFILLED, OrderState.REFUNDING}),
    OrderState.FULFILLED: frozenset({OrderState.REFUNDING}),
    OrderState.REFUNDING: frozenset({OrderState.REFUNDED}),
    OrderState.REFUNDED: frozenset(),
}


class Channel(enum.StrEnum):
    WEB = "web"
    APP = "app"
    QUICK = "quick"  # quick top-up without login
    AGENT = "agent"  # shop / counter staff, and the operator CLI
    KIOSK = "kiosk"
    PARTNER = "partner"
    AUTO_RENEW = "auto_renew"


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    card_id: str
    offer_code: str
    offer_version: int
    channel: Channel
    actor: str
    state: OrderState
    list_price: Money
    discount: Money
    price: Money
    promotions: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None
    bonus: tuple[Allowance, ...] = ()

    def move_to(self, target: OrderState, at: datetime) -> Order:
        OrderState.check(self.state, target)
        return replace(self, state=target, updated_at=at)
