"""The ``voucher`` payment method: prepaid voucher cards paid for in advance at a shop.

There is no remote provider: the buyer types the PIN on our own page and
``services/vouchers.redeem_voucher`` records the payment as ``succeeded`` in the
transaction that marks the voucher used. This module is the port's view of that, so
that the generic paths (checkout, the janitor's re-check, refunds, callbacks) treat
voucher payments like any other:

- ``create_payment``: ``pending`` with no checkout URL (the PIN page is ours);
- ``fetch_status``: what our ``vouchers`` table says: ``succeeded`` when a voucher
  paid this payment, else ``cancelled`` (no PIN was entered for it; a later PIN makes
  a new payment, so cancelling an abandoned one loses nothing);
- ``refund``: refused with ``manual_refund_required``: a used PIN cannot be given
  back, and a replacement voucher or cash is an operator's decision;
- ``parse_callback``: refused; nobody calls us back about a voucher.
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

NAME = "voucher"


class VoucherProvider:
    name = NAME

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        return ProviderResult(PaymentState.PENDING)

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        query = select(t.vouchers.c.serial).where(
            t.vouchers.c.payment_id == payment_id, t.vouchers.c.state == "redeemed"
        )
        try:
            with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
                serial = connection.scalar(query)
        except SQLAlchemyError as exc:
            raise ProviderError(f"voucher records unreadable: {type(exc).__name__}") from exc
        if serial is None:
            return ProviderResult(PaymentState.CANCELLED, failure_code="no_voucher_redeemed")
        return ProviderResult(PaymentState.SUCCEEDED, provider_ref=serial)

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        return RefundResult(False, failure_code="manual_refund_required")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        raise SignatureInvalid(reason="vouchers have no callbacks")
