"""Saved payment methods: a provider's reusable token for a subscriber's card or
wallet, kept so that auto-renew and one-tap renewals can charge without the buyer.

We keep the provider's token and what a person needs to tell two methods apart
(brand, last four digits, expiry, a masked wallet address), never a card number or
a CVV: the provider holds the card. A deleted method is kept (payments name it)
with ``deleted_at`` set, and is never charged again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    id: str
    subscriber_id: str
    provider: str
    token: str
    customer_ref: str | None
    brand: str
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    label: str | None
    created_at: datetime
    deleted_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        return self.deleted_at is None

    def expired_on(self, day: date) -> bool:
        """A card is good until the end of its expiry month; a wallet never expires."""
        if self.exp_month is None or self.exp_year is None:
            return False
        return (day.year, day.month) > (self.exp_year, self.exp_month)

    def describe(self) -> str:
        """How the method is shown to its owner: ``VISA •••• 4242``, a PayPal address."""
        if self.last4:
            return f"{self.brand.upper()} •••• {self.last4}"
        if self.label:
            return f"{self.brand.capitalize()} {self.label}"
        return self.brand.capitalize()


def mask_email(address: str) -> str:
    """``c***@example.com``: enough for its owner to recognise, no more."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"
