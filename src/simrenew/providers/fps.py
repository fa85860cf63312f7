"""FPS and bank transfer: the payer sends the money from their own bank, with our
reference in the remarks; we learn of it from our bank statement.

Hong Kong's Faster Payment System (FPS, operated by HKICL) moves Hong Kong dollars and
renminbi between banks and stored-value wallets, to a payee's FPS ID, phone number
or e-mail address, around the clock:
https://www.hkicl.com.hk/eng/fps/consumers/frequently_asked_questions.php
A plain bank transfer to the account number works the same way here. There is no
API to call and no callback to receive: a merchant without a bank's collection API
sees incoming transfers on its statement only. So, unlike the other providers:

- ``create_payment`` calls nobody. It hands out the payment's reference (``SR`` + 8
  + a check character, a function of our payment id, so that a retried start gives
  the same one: ``services/bank_statement.py``) and the address of our own
  instructions page, ``/pay/fps/{payment_id}`` (``web/pages/fps.py``): payee, exact
  amount, the reference to type in the remarks. The payment stays ``pending``.
- ``fetch_status`` is always ``pending``: only the statement knows. The janitor's
  re-checks therefore change nothing, and after its week of them the payment is
  flagged for manual review, as it should be.
- The statement is matched by ``simrenew reconcile bank FILE``
  (``services/reconciliation.py``), which applies a ``succeeded`` event per paying
  line through the same path as a provider callback.
- ``refund`` is not automatic: ``manual_refund_required``. The money goes back by a
  transfer a person makes (the refund is ``manual`` until its payout is recorded).
- ``parse_callback`` refuses everything: banks do not call us, so anything arriving
  at ``/webhooks/fps`` is forged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.payments import PaymentEvent, PaymentState
from simrenew.ports import PaymentRequest, ProviderResult, RefundResult
from simrenew.services.bank_statement import reference_for

NAME: Final = "fps"
CURRENCIES: Final = ("HKD", "CNY")  # FPS settles HKD and RMB
INSTRUCTIONS_PATH: Final = "/pay/fps/{payment_id}"


@dataclass(frozen=True, slots=True)
class Payee:
    """Whom the payer sends the money to, as the instructions page shows it."""

    fps_id: str  # the FPS identifier (7 to 9 digits), or the proxy the bank registered
    name: str  # the account name the payer's bank shows before they confirm
    bank_account: str  # free text: bank, branch and account number, for plain transfers


class FpsProvider:
    """Our adapter for payments by FPS or bank transfer. Holds no connection and no
    state: thread-safe, and nothing to close."""

    name = NAME

    def __init__(
        self,
        payee: Payee,
        *,
        instructions_base_url: str,
        currencies: Sequence[str] = CURRENCIES,
    ) -> None:
        if not payee.fps_id.strip():
            raise ValueError("FPS needs the payee's FPS ID")
        if not payee.name.strip():
            raise ValueError("FPS needs the payee's name")
        self.payee = payee
        self._base = instructions_base_url.rstrip("/")
        self._currencies = tuple(currencies)

    def instructions_url(self, payment_id: str) -> str:
        return self._base + INSTRUCTIONS_PATH.format(payment_id=payment_id)

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        if request.currency not in self._currencies:
            # Our own refusal, before the payer is sent anywhere: a decline, not an error.
            return ProviderResult(PaymentState.FAILED, failure_code="currency_not_accepted")
        if request.amount_minor <= 0:
            return ProviderResult(PaymentState.FAILED, failure_code="amount_not_positive")
        return ProviderResult(
            PaymentState.PENDING,
            provider_ref=reference_for(request.payment_id),
            checkout_url=self.instructions_url(request.payment_id),
        )

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        # Nobody to ask: a transfer is known from the bank statement only.
        return ProviderResult(
            PaymentState.PENDING, provider_ref=provider_ref or reference_for(payment_id)
        )

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        return RefundResult(False, failure_code="manual_refund_required")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        raise SignatureInvalid(
            reason="FPS and bank transfers have no callbacks; payments are matched from "
            "the bank statement (simrenew reconcile bank)"
        )
