"""API schemas for a logged-in subscriber's offers, quotes and orders."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from simrenew.services.quoting import Quote
from simrenew.web.schemas_orders import PAY_WITH_FIELD, QuickOfferOut

EXAMPLE_CARD_ID = "card_019aa8e5d4400000a1b2c3d4e5f607180000"
CARD_ID_FIELD = Field(min_length=1, max_length=48, examples=[EXAMPLE_CARD_ID])


class MyOfferOut(QuickOfferOut):
    """An offer for the subscriber's own card: unlike quick top-up, it may say what the
    card will look like afterwards, since the caller owns the card."""

    available: bool = Field(description="False when the renewal rules refuse it now.")
    refusal: str | None = Field(
        description="Why it cannot be bought now, in the caller's language when known.",
        examples=[None],
    )
    refusal_code: str | None = Field(examples=[None, "queue_limit_exceeded"])
    validity_end_after: date | None = Field(
        description="The card's last valid day (Hong Kong time) once this is paid.",
        examples=["2026-12-21"],
    )

    @classmethod
    def of_quote(cls, quote: Quote, language: str) -> MyOfferOut:
        base = QuickOfferOut.of(quote, language)
        return cls(
            **base.model_dump(),
            available=quote.available,
            refusal=quote.refusal.message if quote.refusal else None,
            refusal_code=quote.refusal.code if quote.refusal else None,
            validity_end_after=quote.validity_end_after,
        )


class MyOffersOut(BaseModel):
    card_id: str
    offers: list[MyOfferOut]


class QuoteIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"offer_code": "ONE2-M1", "coupon": "GBA2026"}]}
    )

    offer_code: str = Field(min_length=1, max_length=48, examples=["ONE2-M1"])
    coupon: str | None = Field(default=None, max_length=48, examples=["GBA2026"])


class MyOrderIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "card_id": EXAMPLE_CARD_ID,
                    "offer_code": "ONE2-M1",
                    "coupon": "GBA2026",
                    "pay_with": "sandbox",
                }
            ]
        }
    )

    card_id: str = CARD_ID_FIELD
    offer_code: str = Field(min_length=1, max_length=48, examples=["ONE2-M1"])
    coupon: str | None = Field(default=None, max_length=48, examples=["GBA2026"])
    pay_with: str = PAY_WITH_FIELD
    save_method: bool = Field(
        default=False,
        description="Keep the method I pay with for auto-renew and one-tap renewals "
        "(409 `method_cannot_be_saved` for a provider that keeps none).",
        examples=[False],
    )
