"""The ``cash`` payment method: cash handed over at a shop or airport counter.

There is no remote provider: an agent records the cash with
``services/cash.record_cash_payment``, which stores the payment as ``succeeded`` with
a receipt in one transaction. This module is the port's view of that, so that the
generic paths (checkout, the janitor's re-check, refunds, callbacks) treat cash
payments like any other:

- ``create_payment``: ``pending`` with no checkout URL ("pay at the counter");
- ``fetch_status``: what our ``cash_receipts`` table says: ``succeeded`` when cash
  was taken for this payment, else ``cancelled`` (the counter makes a new payment
  when the buyer turns up, so cancelling an abandoned one loses nothing);
- ``refund``: refused with ``manual_refund_required``: cash goes back over a
  counter, by a person, not by an API call;
- ``parse_callback``: refused; nobody calls us back about cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from simrenew.db import tables as t
from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.payments import PaymentEvent, PaymentState
from simrenew.ports import PaymentRequest, ProviderError, ProviderResult, RefundResult

NAME = "cash"


class CashProvider:
    name = NAME

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        return ProviderResult(PaymentState.PENDING)

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        query = select(t.cash_receipts.c.id).where(t.cash_receipts.c.payment_id == payment_id)
        try:
            with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
                receipt = connection.scalar(query)
        except SQLAlchemyError as exc:
            raise ProviderError(f"cash records unreadable: {type(exc).__name__}") from exc
        if receipt is None:
            return ProviderResult(PaymentState.CANCELLED, failure_code="no_cash_taken")
        return ProviderResult(PaymentState.SUCCEEDED, provider_ref=receipt)

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        return RefundResult(False, failure_code="manual_refund_required")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        raise SignatureInvalid(reason="cash payments have no callbacks")
