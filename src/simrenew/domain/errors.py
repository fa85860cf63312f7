"""Errors raised by the domain and the services.

Every error carries a stable ``code`` that callers can switch on and that the web
layer turns into problem+json; ``params`` hold the values a translated message needs.
The English ``message`` is for logs and the CLI.

    DomainError
    ├── InvalidInput            bad data from a caller or a file (422)
    │   ├── InvalidIccid, InvalidEid, InvalidNumber, InvalidMoney, CurrencyMismatch
    │   └── CatalogInvalid, CardsImportInvalid      (carry a list of located problems)
    ├── NotFound                card, offer, order, payment, promotion (404)
    ├── Conflict                the request is understood but the state forbids it (409)
    │   ├── IllegalTransition   a state change the table does not allow
    │   ├── CardNotRenewable    terminated or otherwise closed card
    │   ├── QueueLimitExceeded  more than 12 months queued
    │   ├── OrderLimitExceeded  per-order minimum / maximum or 30-day maximum
    │   ├── OfferNotAvailable   offer not sold to this card's product line
    │   ├── PromotionNotApplicable, CouponInvalid
    │   ├── IdempotencyKeyReused  same key, different request
    │   └── InsufficientBalance   a ledger debit would go below zero
    └── SignatureInvalid        a provider callback failed verification (400)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    code = "domain_error"
    status = 400
    template = "The request could not be completed."

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.params: Mapping[str, Any] = params
        self.message = message or self._format()
        super().__init__(self.message)

    def _format(self) -> str:
        try:
            return self.template.format(**self.params)
        except (KeyError, IndexError):
            return self.template


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422
    template = "The input is not valid."


class InvalidIccid(InvalidInput):
    code = "invalid_iccid"
    template = "ICCID {iccid!r} is not valid: {reason}."


class InvalidEid(InvalidInput):
    code = "invalid_eid"
    template = "EID {eid!r} is not valid: it must be 32 digits with valid check digits."


class InvalidNumber(InvalidInput):
    code = "invalid_number"
    template = "{number!r} is not a valid Hong Kong or Mainland China mobile number."


class InvalidMoney(InvalidInput):
    code = "invalid_money"
    template = "{value!r} is not a valid amount: {reason}."


class CurrencyMismatch(InvalidInput):
    code = "currency_mismatch"
    template = "Cannot combine {left} and {right}."


class LocatedProblem:
    """One problem in an imported file, with where it is."""

    __slots__ = ("location", "message")

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        self.message = message

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"

    def __repr__(self) -> str:
        return f"LocatedProblem({self.location!r}, {self.message!r})"


class ImportInvalid(InvalidInput):
    """A file import found problems; nothing was written."""

    code = "import_invalid"
    template = "{count} problem(s) found; nothing was imported."

    def __init__(self, problems: list[LocatedProblem]) -> None:
        self.problems = problems
        super().__init__(count=len(problems))


class CatalogInvalid(ImportInvalid):
    code = "catalog_invalid"


class CardsImportInvalid(ImportInvalid):
    code = "cards_import_invalid"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    template = "{what} {key!r} was not found."


class CardNotFound(NotFound):
    code = "card_not_found"
    template = "No card with number or ICCID {key!r}."


class OfferNotFound(NotFound):
    code = "offer_not_found"
    template = "No offer {key!r}."


class OrderNotFound(NotFound):
    code = "order_not_found"
    template = "No order {key!r}."


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    template = "No payment {key!r}."


class PaymentMethodNotFound(NotFound):
    code = "payment_method_not_found"
    template = "No saved payment method {key!r}."


class Conflict(DomainError):
    code = "conflict"
    status = 409
    template = "The request conflicts with the current state."


class IllegalTransition(Conflict):
    code = "illegal_transition"
    template = "{entity} cannot go from {current} to {target}."


class CardNotRenewable(Conflict):
    code = "card_not_renewable"
    template = "Card {card} is {state} and can no longer be renewed; a new card is needed."


class QueueLimitExceeded(Conflict):
    code = "queue_limit_exceeded"
    template = (
        "Renewing now would queue validity until {new_end}, beyond the limit of "
        "{limit_months} months after the current period ({limit_end})."
    )


class OrderLimitExceeded(Conflict):
    code = "order_limit_exceeded"
    template = "{reason}"


class OfferNotAvailable(Conflict):
    code = "offer_not_available"
    template = "Offer {offer} is not sold for this card."


class PromotionNotApplicable(Conflict):
    code = "promotion_not_applicable"
    template = "Promotion {promotion} does not apply: {reason}."


class CouponInvalid(Conflict):
    code = "coupon_invalid"
    template = "Coupon code {coupon!r} is not valid for this order."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    status = 422
    template = "Idempotency key {key!r} was already used for a different request."


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    template = "A request with idempotency key {key!r} is still being processed; retry."


class InsufficientBalance(Conflict):
    code = "insufficient_balance"
    template = "The balance is {balance}; cannot take {amount}."


class PaymentMismatch(Conflict):
    code = "payment_mismatch"
    template = "Provider reported {reported} for payment {payment}, expected {expected}."


class ProviderUnavailable(DomainError):
    code = "provider_unavailable"
    status = 503
    template = "Payment provider {provider} is not available: {reason}."


class SignatureInvalid(DomainError):
    code = "signature_invalid"
    status = 400
    template = "Callback rejected: {reason}."
