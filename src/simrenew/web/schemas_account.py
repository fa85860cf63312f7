"""Request and response bodies of the login and account API (``...In`` / ``...Out``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from simrenew.domain.accounts import AutoRenewSetting
from simrenew.domain.cards import Card
from simrenew.domain.payment_methods import PaymentMethod
from simrenew.services.auth import AccountPreferences, CodeSent
from simrenew.services.auto_renew import LastTry
from simrenew.services.cards import CardView

Language = Literal["zh-Hant", "zh-Hans", "en"]


# --- login ----------------------------------------------------------------------------


class CodeRequestIn(BaseModel):
    phone: str = Field(
        min_length=1,
        max_length=32,
        description="Mobile number: E.164, or 8 digits (Hong Kong), or 11 digits from 1 "
        "(Mainland).",
        examples=["+85251234567"],
    )


class CodeSentOut(BaseModel):
    """The same for every number, whether or not it has an account."""

    status: Literal["code_sent"] = "code_sent"
    expires_in: int = Field(description="Seconds the code stays valid.", examples=[300])
    resend_after: int = Field(description="Seconds before another code can be sent.", examples=[60])

    @classmethod
    def of(cls, sent: CodeSent) -> CodeSentOut:
        return cls(expires_in=sent.expires_in, resend_after=sent.resend_after)


class SessionIn(BaseModel):
    phone: str = Field(min_length=1, max_length=32, examples=["+85251234567"])
    code: str = Field(min_length=1, max_length=16, examples=["123456"])


class SessionOut(BaseModel):
    token: str = Field(
        description="Bearer token for apps (Authorization: Bearer ...). Shown once.",
        examples=["sJ3p1c0mVhQm0XK3qk6v7QwYV5m9dXbq2N8pQ1Zr4aE"],
    )
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime = Field(
        description="Absolute end of the session; it also ends after 15 idle minutes.",
        examples=["2026-11-22T10:00:00Z"],
    )


# --- cards ----------------------------------------------------------------------------


class CardOut(BaseModel):
    id: str = Field(examples=["card_0192b7c3d4e5f6a7b8c9d0e1f2a3b4c5"])
    iccid: str = Field(examples=["8985201260001000018"])
    primary_number: str = Field(examples=["+85251234567"])
    second_number: str | None = Field(default=None, examples=["+8613812345678"])
    product_line: str = Field(examples=["ONE2"])
    state: Literal["in_stock", "active", "grace", "terminated"]
    validity_end: date | None = Field(default=None, examples=["2026-12-21"])

    @classmethod
    def of(cls, card: Card) -> CardOut:
        return cls(
            id=card.id,
            iccid=card.iccid,
            primary_number=card.primary_number,
            second_number=card.second_number,
            product_line=card.product_line,
            state=card.state.value,
            validity_end=card.validity_end,
        )


class MoneyOut(BaseModel):
    amount_minor: int = Field(examples=[5000])
    currency: str = Field(examples=["HKD"])


class AllowanceOut(BaseModel):
    zone: str = Field(examples=["GBA"])
    kind: Literal["data_mb", "voice_min", "sms"]
    used: int = Field(examples=[1024])
    left: int = Field(examples=[9216])
    valid_until: datetime = Field(description="When the earliest of these allowances ends.")


class PeriodOut(BaseModel):
    start: date
    end: date
    offer_code: str = Field(examples=["ONE2-M1"])
    current: bool = Field(description="True for the running period, False for queued ones.")


class CardDetailOut(CardOut):
    balance: MoneyOut
    days_left: int | None = Field(default=None, examples=[29])
    allowances: list[AllowanceOut]
    periods: list[PeriodOut]

    @classmethod
    def of_view(cls, view: CardView) -> CardDetailOut:
        grouped: dict[tuple[str, str], AllowanceOut] = {}
        for bucket in view.buckets:
            key = (bucket.zone, bucket.kind.value)
            seen = grouped.get(key)
            if seen is None:
                grouped[key] = AllowanceOut(
                    zone=bucket.zone,
                    kind=bucket.kind.value,
                    used=bucket.used,
                    left=bucket.left,
                    valid_until=bucket.valid_until,
                )
            else:
                seen.used += bucket.used
                seen.left += bucket.left
                seen.valid_until = min(seen.valid_until, bucket.valid_until)
        today = view.as_of.date()
        return cls(
            **CardOut.of(view.card).model_dump(),
            balance=MoneyOut(
                amount_minor=view.balance.amount_minor, currency=view.balance.currency
            ),
            days_left=view.days_left,
            allowances=sorted(grouped.values(), key=lambda a: (a.zone, a.kind)),
            periods=[
                PeriodOut(
                    start=p.start, end=p.end, offer_code=p.offer_code, current=p.contains(today)
                )
                for p in view.periods
            ],
        )


class BindCardIn(BaseModel):
    number: str = Field(
        min_length=1,
        max_length=32,
        description="One of the card's numbers (the code goes to it) or its ICCID (the code "
        "goes to its primary number).",
        examples=["+85261234567"],
    )


class BindCardConfirmIn(BindCardIn):
    code: str = Field(min_length=1, max_length=16, examples=["123456"])


# --- settings -------------------------------------------------------------------------


class ChannelsModel(BaseModel):
    sms: bool = True
    email: bool = True
    in_app: bool = True


class PreferencesIn(BaseModel):
    language: Language = Field(examples=["en"])
    email: str | None = Field(
        default=None,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        examples=["chan.taiman@example.com.hk"],
    )
    channels: ChannelsModel = Field(default_factory=ChannelsModel)
    reminders: bool = Field(default=True, description="Expiry and low-data reminders.")
    marketing: bool = False


class PreferencesOut(PreferencesIn):
    security_messages: Literal[True] = Field(
        default=True, description="Login and binding codes are always sent; no opt-out."
    )

    @classmethod
    def of(cls, prefs: AccountPreferences) -> PreferencesOut:
        n = prefs.notifications
        return cls(
            language=prefs.language,  # type: ignore[arg-type]
            email=prefs.email,
            channels=ChannelsModel(sms=n.sms, email=n.email, in_app=n.in_app),
            reminders=n.reminders,
            marketing=n.marketing,
        )


class AutoRenewIn(BaseModel):
    enabled: bool = Field(examples=[True])
    offer_code: str | None = Field(
        default=None, max_length=48, description="Required when enabled.", examples=["ONE2-M1"]
    )
    payment_token_id: str | None = Field(
        default=None,
        max_length=128,
        description="The id of one of my saved payment methods (GET "
        "/api/v1/me/payment-methods) to charge; required when enabled.",
        examples=["pm_019aa8e5d4420000a1b2c3d4e5f60718"],
    )


class AutoRenewTryOut(BaseModel):
    at: datetime
    order_id: str
    result: Literal["renewed", "failed", "in_progress"]
    failure_code: str | None = Field(examples=["card_declined"])


class AutoRenewOut(AutoRenewIn):
    card_id: str
    updated_at: datetime
    last_try: AutoRenewTryOut | None = Field(
        description="The newest automatic try: tries run 24 h, 12 h and 2 h before the "
        "validity ends and 1 day into grace; after the last failed one auto-renew is off."
    )

    @classmethod
    def of(cls, setting: AutoRenewSetting, last: LastTry | None = None) -> AutoRenewOut:
        return cls(
            card_id=setting.card_id,
            enabled=setting.enabled,
            offer_code=setting.offer_code,
            payment_token_id=setting.payment_token_id,
            updated_at=setting.updated_at,
            last_try=(
                AutoRenewTryOut(
                    at=last.at,
                    order_id=last.order_id,
                    result=last.result,
                    failure_code=last.failure_code,
                )
                if last
                else None
            ),
        )


class PaymentMethodOut(BaseModel):
    """A saved method as its owner sees it: never a card number, only what tells
    two methods apart."""

    id: str = Field(examples=["pm_019aa8e5d4420000a1b2c3d4e5f60718"])
    provider: str = Field(examples=["stripe"])
    brand: str = Field(examples=["visa"])
    last4: str | None = Field(examples=["4242"])
    exp_month: int | None = Field(examples=[12])
    exp_year: int | None = Field(examples=[2028])
    label: str | None = Field(description="e.g. a masked PayPal address", examples=[None])
    description: str = Field(examples=["VISA •••• 4242"])
    expired: bool = Field(examples=[False])
    created_at: datetime

    @classmethod
    def of(cls, method: PaymentMethod, today: date) -> PaymentMethodOut:
        return cls(
            id=method.id,
            provider=method.provider,
            brand=method.brand,
            last4=method.last4,
            exp_month=method.exp_month,
            exp_year=method.exp_year,
            label=method.label,
            description=method.describe(),
            expired=method.expired_on(today),
            created_at=method.created_at,
        )


class AntiPhishingWordIn(BaseModel):
    word: str | None = Field(
        max_length=20,
        description="2-20 letters or digits shown in every message we send; null clears it.",
        examples=["龍貓"],
    )


class AntiPhishingWordOut(BaseModel):
    word: str | None = Field(examples=["龍貓"])
