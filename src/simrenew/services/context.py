"""What every use case is given: the unit-of-work factory, the clock, the payment
providers and the operator's policy. Built by ``simrenew.bootstrap``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from simrenew.domain.errors import ProviderUnavailable
from simrenew.domain.vouchers import VoucherPolicy
from simrenew.ports import (
    AuthConfig,
    Clock,
    PaymentProvider,
    ReminderCalendar,
    UnitOfWorkFactory,
)


@dataclass(frozen=True)
class Context:
    uow: UnitOfWorkFactory
    clock: Clock
    providers: Mapping[str, PaymentProvider] = field(default_factory=dict)
    brand: str = "simrenew"
    official_domain: str = "simrenew.example.hk"
    order_ttl: timedelta = timedelta(minutes=30)
    # Login codes and sessions (services/auth.py); None where no login is offered.
    auth: AuthConfig | None = None
    # Voucher PIN hashing and redemption limits (services/vouchers.py).
    vouchers: VoucherPolicy | None = None
    # The .ics that reminder e-mails carry (services/reminders.py); None: no attachment.
    calendar: ReminderCalendar | None = None

    def provider(self, name: str) -> PaymentProvider:
        try:
            return self.providers[name]
        except KeyError:
            raise ProviderUnavailable(provider=name, reason="not configured") from None
