"""API schemas for quick top-up, orders, payments and provider callbacks.

Amounts are integer minor units with their currency (never floats), plus a display
string. Out-models are built from service results by the ``from_*`` helpers, so the
routes stay one call long.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simrenew.domain.money import Money
from simrenew.domain.payments import Payment
from simrenew.services.order_status import OrderStatus, Receipt
from simrenew.services.ordering import Checkout
from simrenew.services.quoting import Quote

ORDER_ID_PATTERN = r"^ord_[0-9a-f]{36}$"
NUMBER_FIELD = Field(
    min_length=1,
    max_length=32,
    description="The card's number: +852 8 digits, +86 11 digits, or as usually typed.",
    examples=["+85251234567", "5123 4567"],
)
PAY_WITH_FIELD = Field(
    default="sandbox",
    pattern=r"^[a-z][a-z0-9_]{0,23}$",
    description="Payment provider; `sandbox` in embedded mode.",
    examples=["sandbox"],
)
EXAMPLE_ORDER_ID = "ord_019aa8e5d4400000a1b2c3d4e5f60718"
EXAMPLE_PAYMENT_ID = "pay_019aa8e5d4410000f1e2d3c4b5a69788"


class MoneyOut(BaseModel):
    amount_minor: int = Field(examples=[8800])
    currency: str = Field(examples=["HKD"])
    display: str = Field(examples=["HK$88.00"])

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        return cls(
            amount_minor=money.amount_minor, currency=money.currency, display=money.display()
        )


# --- quick top-up ----------------------------------------------------------------------


class QuickLookupIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"number": "+85251234567"}]})

    number: str = NUMBER_FIELD


class QuickOfferOut(BaseModel):
    code: str = Field(examples=["ONE2-M1"])
    kind: Literal["plan", "addon", "credit", "validity"]
    name: str = Field(description="In the caller's language.", examples=["30-day plan"])
    names: dict[str, str] = Field(
        description="The name in zh-Hant, zh-Hans and en.",
        examples=[{"zh-Hant": "30日計劃", "zh-Hans": "30日计划", "en": "30-day plan"}],
    )
    list_price: MoneyOut
    discount: MoneyOut
    price: MoneyOut = Field(description="What is charged: the list price after promotion.")
    promotions: list[str] = Field(examples=[["GBA2026"]])

    @classmethod
    def of(cls, quote: Quote, language: str) -> QuickOfferOut:
        offer, price = quote.offer, quote.price
        return cls(
            code=offer.code,
            kind=offer.kind.value,
            name=offer.name.get(language),
            names=offer.name.as_dict(),
            list_price=MoneyOut.of(price.list_price),
            discount=MoneyOut.of(price.discount),
            price=MoneyOut.of(price.price),
            promotions=list(price.promotion_codes),
        )


class QuickLookupOut(BaseModel):
    """Never the card's balance, validity or state: the payer may not be its owner."""

    number_masked: str = Field(examples=["+852****4567"])
    product_line: str = Field(
        description="In the caller's language.", examples=["One card, two numbers"]
    )
    offers: list[QuickOfferOut]


class QuickOrderIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"number": "+85251234567", "offer_code": "ONE2-M1", "pay_with": "sandbox"}]
        }
    )

    number: str = NUMBER_FIELD
    offer_code: str = Field(min_length=1, max_length=48, examples=["ONE2-M1"])
    coupon: str | None = Field(default=None, max_length=48, examples=["GBA2026"])
    pay_with: str = PAY_WITH_FIELD


class CheckoutOut(BaseModel):
    order_id: str = Field(examples=[EXAMPLE_ORDER_ID])
    state: str = Field(examples=["awaiting_payment"])
    list_price: MoneyOut
    discount: MoneyOut
    price: MoneyOut
    promotions: list[str] = Field(examples=[["GBA2026"]])
    expires_at: datetime
    payment_id: str | None = Field(examples=[EXAMPLE_PAYMENT_ID])
    checkout_url: str | None = Field(
        description="The provider's page to pay on; null when nothing is to be paid "
        "(a free order is fulfilled at once) or the provider could not be reached.",
        examples=[f"http://127.0.0.1:8000/sandbox/checkout/{EXAMPLE_PAYMENT_ID}?session=..."],
    )

    @classmethod
    def of(cls, placed: Checkout) -> CheckoutOut:
        order, payment = placed.order, placed.payment
        return cls(
            order_id=order.id,
            state=order.state.value,
            list_price=MoneyOut.of(order.list_price),
            discount=MoneyOut.of(order.discount),
            price=MoneyOut.of(order.price),
            promotions=list(order.promotions),
            expires_at=order.expires_at,
            payment_id=payment.id if payment else None,
            checkout_url=payment.checkout_url if payment else None,
        )


# --- orders ----------------------------------------------------------------------------


class PaymentOut(BaseModel):
    id: str = Field(examples=[EXAMPLE_PAYMENT_ID])
    provider: str = Field(examples=["sandbox"])
    state: Literal["pending", "unknown", "succeeded", "failed", "cancelled"]
    amount: MoneyOut
    failure_code: str | None = Field(default=None, examples=["card_declined"])

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            id=payment.id,
            provider=payment.provider,
            state=payment.state.value,
            amount=MoneyOut.of(payment.amount),
            failure_code=payment.failure_code,
        )


class ReceiptOut(BaseModel):
    receipt_number: str = Field(
        description="The number printed on the receipt and its PDF.",
        examples=["R2026-748BAEDA8B8A"],
    )
    order_id: str = Field(examples=[EXAMPLE_ORDER_ID])
    number_masked: str = Field(examples=["+852****4567"])
    offer_name: str = Field(description="In the caller's language.", examples=["30-day plan"])
    price: MoneyOut
    promotions: list[str]
    paid_at: datetime
    validity_end: date | None = Field(
        description="The card's validity end this order gave; null for data add-ons.",
        examples=["2026-12-22"],
    )


class OrderOut(BaseModel):
    """An order; its id is an unguessable capability, so no balance is ever shown."""

    id: str = Field(examples=[EXAMPLE_ORDER_ID])
    state: Literal[
        "awaiting_payment", "paid", "fulfilled", "cancelled", "expired", "refunding", "refunded"
    ]
    offer_code: str = Field(examples=["ONE2-M1"])
    offer_name: str = Field(description="In the caller's language.", examples=["30-day plan"])
    channel: str = Field(examples=["quick"])
    list_price: MoneyOut
    discount: MoneyOut
    price: MoneyOut
    promotions: list[str]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime = Field(description="Unpaid orders expire then.")
    payment: PaymentOut | None = Field(description="The latest payment attempt, if any.")
    receipt: ReceiptOut | None = Field(description="Once the order is fulfilled.")

    @classmethod
    def of(cls, status: OrderStatus, language: str) -> OrderOut:
        order = status.order
        return cls(
            id=order.id,
            state=order.state.value,
            offer_code=order.offer_code,
            offer_name=status.offer_name.get(language),
            channel=order.channel.value,
            list_price=MoneyOut.of(order.list_price),
            discount=MoneyOut.of(order.discount),
            price=MoneyOut.of(order.price),
            promotions=list(order.promotions),
            created_at=order.created_at,
            updated_at=order.updated_at,
            expires_at=order.expires_at,
            payment=PaymentOut.of(status.payment) if status.payment else None,
            receipt=_receipt(status.receipt, status, language) if status.receipt else None,
        )


def _receipt(receipt: Receipt, status: OrderStatus, language: str) -> ReceiptOut:
    return ReceiptOut(
        receipt_number=receipt.number,
        order_id=receipt.order_id,
        number_masked=receipt.number_masked,
        offer_name=receipt.offer_name.get(language),
        price=MoneyOut.of(status.order.price),
        promotions=list(status.order.promotions),
        paid_at=receipt.paid_at,
        validity_end=receipt.validity_end,
    )


class StartPaymentIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"pay_with": "sandbox"}]})

    pay_with: str = PAY_WITH_FIELD
    save_method: bool = Field(
        default=False,
        description="Keep the method the buyer pays with for later (auto-renew, "
        "one-tap renewals), for the logged-in subscriber: needs a session, and a "
        "provider that keeps methods (409 `method_cannot_be_saved` otherwise).",
        examples=[False],
    )


class PayWithSavedMethodIn(BaseModel):
    payment_method_id: str = Field(
        min_length=1,
        max_length=48,
        description="One of my saved payment methods (GET /api/v1/me/payment-methods).",
        examples=["pm_019aa8e5d4420000a1b2c3d4e5f60718"],
    )


class PaymentStartedOut(BaseModel):
    order_id: str = Field(examples=[EXAMPLE_ORDER_ID])
    payment_id: str = Field(examples=[EXAMPLE_PAYMENT_ID])
    state: Literal["pending", "unknown", "succeeded", "failed", "cancelled"]
    checkout_url: str | None = Field(
        examples=[f"http://127.0.0.1:8000/sandbox/checkout/{EXAMPLE_PAYMENT_ID}?session=..."]
    )


# --- provider callbacks ------------------------------------------------------------------


class WebhookOut(BaseModel):
    outcome: Literal["applied", "duplicate", "stale", "mismatch"] = Field(
        description="`applied` once; a replay is `duplicate`; an event that would move "
        "the payment backwards is kept but `stale`; a wrong amount is `mismatch`.",
        examples=["applied"],
    )
