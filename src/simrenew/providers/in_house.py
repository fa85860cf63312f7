"""What the payment methods we settle ourselves (cash, vouchers) share: no remote
provider, so the port's view is read from our own records.

- ``create_payment``: ``pending`` with no checkout URL (paid at a counter or by PIN);
- ``fetch_status``: ``succeeded`` when our records show the payment settled (with the
  record's reference), else ``cancelled`` (an abandoned attempt; a new payment is made
  when the buyer comes back, so cancelling it loses nothing);
- ``refund``: refused with ``manual_refund_required``: a person gives the money back;
- ``parse_callback``: refused; nobody calls us back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Engine, Select
from sqlalchemy.exc import SQLAlchemyError

from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.payments import PaymentEvent, PaymentState
from simrenew.ports import PaymentRequest, ProviderError, ProviderResult, RefundResult


class InHouseProvider(ABC):
    """Subclasses name themselves and say which record settles a payment."""

    name: str
    not_settled_code: str  # failure code of an attempt our records never settled

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @abstractmethod
    def settled_reference(self, payment_id: str) -> Select[str]:
        """The query for the reference of the record that settled ``payment_id``."""

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        return ProviderResult(PaymentState.PENDING)

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        try:
            with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
                reference = connection.scalar(self.settled_reference(payment_id))
        except SQLAlchemyError as exc:
            raise ProviderError(f"{self.name} records unreadable: {type(exc).__name__}") from exc
        if reference is None:
            return ProviderResult(PaymentState.CANCELLED, failure_code=self.not_settled_code)
        return ProviderResult(PaymentState.SUCCEEDED, provider_ref=reference)

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        return RefundResult(False, failure_code="manual_refund_required")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        raise SignatureInvalid(reason=f"{self.name} payments have no callbacks")
