"""Stripe: cards, Alipay and WeChat Pay through Stripe Checkout (a hosted payment page).

Our adapter over the official ``stripe`` SDK (``StripeClient``, which pins the API
version it was generated for: ``stripe._api_version._ApiVersion.CURRENT``). SDK types
and errors stay in this module; what leaves it is ``ProviderResult``, ``RefundResult``,
``PaymentEvent``, ``ProviderError`` and ``SignatureInvalid``.

Documented formats implemented here:

- Create a Checkout Session, ``mode=payment``, one ``price_data`` line item in minor
  units, ``client_reference_id`` and ``metadata[payment_id]`` = our payment id, also
  copied to the PaymentIntent with ``payment_intent_data[metadata]``:
  https://docs.stripe.com/api/checkout/sessions/create
  Payment methods are limited with ``allowed_payment_method_types``: API versions from
  2026-09-30 (endive) no longer take ``payment_method_types`` on create
  (https://docs.stripe.com/changelog/endive/2026-09-30/remove-payment-method-types-checkout-sessions).
  WeChat Pay in Checkout needs ``payment_method_options[wechat_pay][client]=web``:
  https://docs.stripe.com/payments/wechat-pay/accept-a-payment?payment-ui=checkout
- The Checkout Session object (``status`` open/complete/expired, ``payment_status``
  paid/unpaid) and its list filtered by ``payment_intent``:
  https://docs.stripe.com/api/checkout/sessions/object,
  https://docs.stripe.com/api/checkout/sessions/list
- The PaymentIntent object (``status``, ``last_payment_error.code``) and its search by
  metadata, ``metadata['payment_id']:'...'``:
  https://docs.stripe.com/api/payment_intents/object,
  https://docs.stripe.com/api/payment_intents/search, https://docs.stripe.com/search
- Refunds: https://docs.stripe.com/api/refunds/create, https://docs.stripe.com/api/refunds/object
- Idempotent requests (``Idempotency-Key``, a replay returns the first answer):
  https://docs.stripe.com/api/idempotent_requests
- Errors (HTTP status and ``error.type``/``error.code``): https://docs.stripe.com/api/errors
- Webhook signatures, verified here without the SDK: header
  ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``, ``v1`` =
  HMAC-SHA256(endpoint secret, ``"<t>.<raw body>"``), other schemes (``v0``) ignored,
  several ``v1`` during a secret roll: https://docs.stripe.com/webhooks#verify-manually
- Saved cards (``SavesPaymentMethods``). Saving during a Checkout payment:
  ``payment_intent_data[setup_future_usage]=off_session`` with ``customer`` (the
  subscriber's Stripe customer) or ``customer_creation=always``; Checkout then attaches
  the PaymentMethod to that customer:
  https://docs.stripe.com/payments/checkout/save-during-payment,
  https://docs.stripe.com/api/checkout/sessions/create. Only cards are offered when
  saving: Alipay is a single-use method (https://docs.stripe.com/payments/alipay) and
  Checkout's ``payment_method_options`` for Alipay and WeChat Pay take
  ``setup_future_usage=none`` only. The card is the PaymentIntent's ``payment_method``
  (``card.brand``, ``last4``, ``exp_month``, ``exp_year``, ``customer``):
  https://docs.stripe.com/api/payment_methods/object. Charging it with nobody present:
  PaymentIntent create with ``customer``, ``payment_method``, ``off_session=true``,
  ``confirm=true``; a decline or a bank asking for authentication is a 402
  ``card_error`` (``code``, ``decline_code``, ``payment_intent``):
  https://docs.stripe.com/payments/save-during-payment#charge-saved-payment-method,
  https://docs.stripe.com/api/payment_intents/create. Forgetting it: PaymentMethod
  detach, https://docs.stripe.com/api/payment_methods/detach.
- Events (``id``, ``type``, ``created``, ``data.object``):
  https://docs.stripe.com/api/events/object, https://docs.stripe.com/api/events/types,
  and which of them fulfil a Checkout order: https://docs.stripe.com/checkout/fulfillment

State mapping. A Checkout Session stays ``open`` after a declined attempt (the buyer may
try another card or wallet on the same page), so a decline on an open session is not
final: ``payment_intent.payment_failed`` and a PaymentIntent in
``requires_payment_method`` behind an open session are ``pending`` (with the decline
code), never ``failed``; ``failed`` is a session that completed and whose (asynchronous)
payment then failed, or a PaymentIntent with no session left to retry on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import stripe
from stripe.params import PaymentIntentCreateParams
from stripe.params.checkout import SessionCreateParams

from simrenew.domain.errors import DomainError, SignatureInvalid
from simrenew.domain.money import Money
from simrenew.domain.payments import PaymentEvent, PaymentState
from simrenew.ports import (
    PaymentRequest,
    ProviderError,
    ProviderResult,
    RefundResult,
    SavedMethodDetails,
    SavedMethodRef,
)

NAME: Final = "stripe"
SIGNATURE_HEADER: Final = "Stripe-Signature"
DEFAULT_API_BASE: Final = "https://api.stripe.com"
DEFAULT_PAYMENT_METHODS: Final = ("card", "alipay", "wechat_pay")
CURRENCIES: Final = ("HKD", "CNY")
FAILURE_CODE_LENGTH: Final = 64  # payments.failure_code is VARCHAR(64)
# The only method type we save: the only one Checkout can keep for off-session use
# among those we take (Alipay and WeChat Pay are single-use there).
SAVEABLE_METHOD: Final = "card"
# In the metadata of PaymentIntents made by ``charge_saved``: nobody is on a Checkout
# page to retry a decline, so their failures are final.
OFF_SESSION_KEY: Final = "off_session"

# Checkout's own locales for ours: Hong Kong Chinese, Simplified Chinese, English.
_LOCALES: Final = {"zh-Hant": "zh-HK", "zh-Hans": "zh", "en": "en"}

# Stripe objects as plain JSON-shaped dicts (``StripeObject.to_dict()``, or a webhook
# body): what this module reads, so that no SDK type travels further.
Obj = dict[str, Any]


# --- webhook signatures --------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` signature Stripe computes for ``body`` sent at ``timestamp``."""
    return hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """A ``Stripe-Signature`` value with one ``v1`` per secret, as Stripe sends while an
    endpoint's secret is being rolled."""
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets)])


def verify(
    header: str | None, body: bytes, secrets: Sequence[str], *, now: datetime, tolerance: int
) -> None:
    """Raise ``SignatureInvalid`` unless ``header`` signs ``body`` with one of ``secrets``
    at a time within ``tolerance`` seconds of ``now`` (either side: unlike the SDK, a
    timestamp from the future is refused too)."""
    if not header:
        raise SignatureInvalid(reason="missing Stripe-Signature header")
    timestamps: list[int] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and value.isascii():
            timestamps.append(int(value))
        elif key == "v1" and value:
            signatures.append(value)
        # Any other scheme (v0 is a test-mode decoy) is ignored: no downgrade.
    if len(timestamps) != 1 or not signatures:
        raise SignatureInvalid(reason="malformed Stripe-Signature header")
    timestamp = timestamps[0]
    if abs(int(now.timestamp()) - timestamp) > tolerance:
        raise SignatureInvalid(reason="timestamp outside tolerance")
    expected = [sign(secret, timestamp, body) for secret in secrets]
    # compare_digest over every pair: no early exit that would leak timing.
    matched = False
    for candidate in signatures:
        for good in expected:
            matched |= hmac.compare_digest(candidate.encode(), good.encode())
    if not matched:
        raise SignatureInvalid(reason="signature does not match")


# --- reading Stripe objects ---------------------------------------------------------------


def _code(text: str | None) -> str | None:
    return None if text is None else text[:FAILURE_CODE_LENGTH]


def _intent_failure(intent: Obj) -> str | None:
    """The code of the PaymentIntent's last failed attempt, if any."""
    error = intent.get("last_payment_error")
    if not error:
        return None
    return _code(error.get("code") or error.get("type") or "payment_failed")


def _off_session(intent: Obj) -> bool:
    return (intent.get("metadata") or {}).get(OFF_SESSION_KEY) == "true"


def _intent_result(intent: Obj) -> ProviderResult:
    """A PaymentIntent with no Checkout Session to retry on."""
    status = intent.get("status")
    ref = intent.get("id")
    if status == "requires_action" and _off_session(intent):
        # The bank wants the cardholder, who is not there: this charge cannot complete.
        return ProviderResult(
            PaymentState.FAILED,
            provider_ref=ref,
            failure_code=_intent_failure(intent) or "authentication_required",
        )
    if status == "succeeded":
        return ProviderResult(
            PaymentState.SUCCEEDED, provider_ref=ref, amount_minor=intent.get("amount_received")
        )
    if status == "canceled":
        return ProviderResult(PaymentState.CANCELLED, provider_ref=ref)
    failure = _intent_failure(intent)
    if status == "requires_payment_method" and failure is not None:
        return ProviderResult(PaymentState.FAILED, provider_ref=ref, failure_code=failure)
    return ProviderResult(PaymentState.PENDING, provider_ref=ref, amount_minor=intent.get("amount"))


def _session_result(session: Obj) -> ProviderResult:
    """A Checkout Session, its ``payment_intent`` expanded (or absent)."""
    expanded = session.get("payment_intent")
    # Not expanded (an id) or not made yet (None): the session's own fields decide.
    intent = expanded if isinstance(expanded, dict) else None
    ref = session.get("id")
    amount = session.get("amount_total")
    status = session.get("status")
    if (intent is not None and intent.get("status") == "succeeded") or (
        status == "complete" and session.get("payment_status") == "paid"
    ):
        return ProviderResult(PaymentState.SUCCEEDED, provider_ref=ref, amount_minor=amount)
    if status == "expired":
        return ProviderResult(PaymentState.CANCELLED, provider_ref=ref, amount_minor=amount)
    if status == "complete" and intent is not None:
        # Completed but unpaid: an asynchronous method still settling, or failed for good
        # (the page is gone, so there is no retry).
        failure = _intent_failure(intent)
        if intent.get("status") in ("requires_payment_method", "canceled") and failure:
            return ProviderResult(
                PaymentState.FAILED, provider_ref=ref, failure_code=failure, amount_minor=amount
            )
    # Open: the buyer is on the page, possibly after a decline they can retry.
    return ProviderResult(PaymentState.PENDING, provider_ref=ref, amount_minor=amount)


def _search_literal(value: str) -> str:
    """A quoted string for Stripe's search query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class StripeProvider:
    """Our adapter for Stripe Checkout. Thread-safe: the SDK's HTTP client keeps one
    connection pool per thread.

    ``fallback_return_url`` is where Checkout sends the buyer back when a payment
    request carries no return URL (the CLI's): Checkout requires one.
    """

    name = NAME

    def __init__(
        self,
        api_key: str,
        webhook_secrets: Sequence[str],
        *,
        fallback_return_url: str,
        payment_method_types: Sequence[str] = DEFAULT_PAYMENT_METHODS,
        api_base: str = DEFAULT_API_BASE,
        timeout_seconds: int = 10,
        tolerance_seconds: int = 300,
    ) -> None:
        if not api_key:
            raise ValueError("Stripe needs a secret API key")
        if not webhook_secrets:
            raise ValueError("Stripe needs at least one webhook signing secret")
        if not payment_method_types:
            raise ValueError("Stripe needs at least one payment method type")
        self._secrets = list(webhook_secrets)
        self._fallback_return_url = fallback_return_url
        self._methods = list(payment_method_types)
        self._tolerance = tolerance_seconds
        self._http = stripe.RequestsClient(timeout=timeout_seconds)
        # No SDK retries: a time-out must reach the caller as ProviderError at once
        # (the payment becomes "unknown" and is re-checked), not be retried blindly.
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=self._http,
        )

    def close(self) -> None:
        """Close the calling thread's pooled connection (the SDK pools per thread)."""
        self._http.close()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped

    # --- start ------------------------------------------------------------------------

    @staticmethod
    def idempotency_key(payment_id: str) -> str:
        """One Checkout Session per payment: a repeated start (the buyer pressing "pay"
        twice, a retry after a time-out) gets the first session back from Stripe."""
        return f"simrenew-checkout-{payment_id}"

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        if request.currency not in CURRENCIES:
            raise ValueError(f"Stripe: currency {request.currency!r} is not one we sell in")
        if request.amount_minor <= 0:
            raise ValueError("Stripe: the amount must be positive")
        return_url = request.return_url or self._fallback_return_url
        metadata = {"payment_id": request.payment_id, "order_id": request.order_id}
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": request.amount_minor,
                        "product_data": {"name": request.description[:250]},
                    },
                }
            ],
            "allowed_payment_method_types": list(self._methods),
            "client_reference_id": request.payment_id,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata, "description": request.description},
            "success_url": return_url,
            "cancel_url": return_url,
            "locale": _LOCALES.get(request.language, "auto"),
        }
        if request.save_method:
            self._save_during(params, request)
        elif "wechat_pay" in self._methods:
            params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
        try:
            session = self._client.v1.checkout.sessions.create(
                params, {"idempotency_key": self.idempotency_key(request.payment_id)}
            ).to_dict()
        except (stripe.CardError, stripe.InvalidRequestError) as exc:
            # Stripe looked at the request and said no: nothing was opened or charged.
            return ProviderResult(PaymentState.FAILED, failure_code=_code(exc.code or "refused"))
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}: {exc.user_message}") from exc
        result = _session_result(session)
        return ProviderResult(
            result.state,
            provider_ref=result.provider_ref,
            checkout_url=session.get("url"),
            amount_minor=result.amount_minor,
        )

    def _save_during(self, params: SessionCreateParams, request: PaymentRequest) -> None:
        """Make the Checkout Session keep the card for charges without the buyer."""
        if SAVEABLE_METHOD not in self._methods:
            raise ValueError("Stripe: saving needs cards, which this account does not take")
        params["allowed_payment_method_types"] = [SAVEABLE_METHOD]
        params["payment_intent_data"]["setup_future_usage"] = "off_session"
        if request.customer_ref:
            params["customer"] = request.customer_ref
        else:
            # A Customer to attach the card to: without one it cannot be reused.
            params["customer_creation"] = "always"

    # --- status -----------------------------------------------------------------------

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        try:
            if provider_ref and provider_ref.startswith("cs_"):
                session = self._client.v1.checkout.sessions.retrieve(
                    provider_ref, {"expand": ["payment_intent"]}
                ).to_dict()
                self._check_owner(session.get("client_reference_id"), payment_id)
                return _session_result(session)
            intent_id = provider_ref if provider_ref and provider_ref.startswith("pi_") else None
            if intent_id is None:
                intent_id = self._find_intent(payment_id)
            return self._intent_status(intent_id, payment_id)
        except stripe.StripeError as exc:
            # Even a 4xx here teaches nothing about the payment: keep it as it is.
            raise ProviderError(f"stripe: {type(exc).__name__}: {exc.user_message}") from exc

    @staticmethod
    def _check_owner(named: object, payment_id: str) -> None:
        if named != payment_id:
            raise ProviderError(f"stripe: the object found belongs to {named!r}, not {payment_id}")

    def _find_intent(self, payment_id: str) -> str:
        """The PaymentIntent made for ``payment_id`` (a succeeded one first). Search lags
        behind writes by up to a minute, so "none yet" is no answer: ProviderError."""
        found = self._client.v1.payment_intents.search(
            {"query": f"metadata['payment_id']:{_search_literal(payment_id)}", "limit": 10}
        )
        intents = [
            intent
            for intent in (found_intent.to_dict() for found_intent in found.data)
            if (intent.get("metadata") or {}).get("payment_id") == payment_id
        ]
        if not intents:
            raise ProviderError(f"stripe: no PaymentIntent found for {payment_id} yet")
        intents.sort(key=lambda i: (i.get("status") == "succeeded", i.get("created") or 0))
        return str(intents[-1]["id"])

    def _intent_status(self, intent_id: str, payment_id: str) -> ProviderResult:
        sessions = self._client.v1.checkout.sessions.list(
            {"payment_intent": intent_id, "expand": ["data.payment_intent"], "limit": 1}
        )
        if sessions.data:
            session = sessions.data[0].to_dict()
            self._check_owner(session.get("client_reference_id"), payment_id)
            return _session_result(session)
        intent = self._client.v1.payment_intents.retrieve(intent_id).to_dict()
        self._check_owner((intent.get("metadata") or {}).get("payment_id"), payment_id)
        return _intent_result(intent)

    # --- saved cards (``SavesPaymentMethods``) -----------------------------------------

    def saved_method(self, payment_id: str, provider_ref: str | None) -> SavedMethodDetails | None:
        try:
            intent = self._paid_intent(payment_id, provider_ref)
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}: {exc.user_message}") from exc
        if intent is None or intent.get("status") != "succeeded":
            return None
        method = intent.get("payment_method")
        if not isinstance(method, dict) or method.get("type") != SAVEABLE_METHOD:
            return None
        customer = method.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
        card = method.get(SAVEABLE_METHOD) or {}
        if not customer or not card:
            # Not attached to a Customer: Stripe will not charge it again.
            return None
        return SavedMethodDetails(
            token=str(method["id"]),
            customer_ref=str(customer),
            brand=str(card.get("brand") or "card").lower(),
            last4=card.get("last4"),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
        )

    def _paid_intent(self, payment_id: str, provider_ref: str | None) -> Obj | None:
        """The PaymentIntent of ``payment_id``, its ``payment_method`` expanded."""
        if provider_ref and provider_ref.startswith("cs_"):
            session = self._client.v1.checkout.sessions.retrieve(
                provider_ref, {"expand": ["payment_intent.payment_method"]}
            ).to_dict()
            self._check_owner(session.get("client_reference_id"), payment_id)
            intent = session.get("payment_intent")
            return intent if isinstance(intent, dict) else None
        intent_id = provider_ref if provider_ref and provider_ref.startswith("pi_") else None
        if intent_id is None:
            intent_id = self._find_intent(payment_id)
        found = self._client.v1.payment_intents.retrieve(
            intent_id, {"expand": ["payment_method"]}
        ).to_dict()
        self._check_owner((found.get("metadata") or {}).get("payment_id"), payment_id)
        return found

    @staticmethod
    def saved_idempotency_key(payment_id: str) -> str:
        """One off-session charge per payment: a retry after a time-out gets the first
        PaymentIntent (or decline) back from Stripe, never a second charge."""
        return f"simrenew-saved-{payment_id}"

    def charge_saved(self, request: PaymentRequest, method: SavedMethodRef) -> ProviderResult:
        if request.currency not in CURRENCIES:
            raise ValueError(f"Stripe: currency {request.currency!r} is not one we sell in")
        if request.amount_minor <= 0:
            raise ValueError("Stripe: the amount must be positive")
        params: PaymentIntentCreateParams = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "payment_method": method.token,
            "allowed_payment_method_types": [SAVEABLE_METHOD],
            "off_session": True,
            "confirm": True,
            "description": request.description,
            "metadata": {
                "payment_id": request.payment_id,
                "order_id": request.order_id,
                OFF_SESSION_KEY: "true",
            },
        }
        if method.customer_ref:
            params["customer"] = method.customer_ref
        try:
            intent = self._client.v1.payment_intents.create(
                params, {"idempotency_key": self.saved_idempotency_key(request.payment_id)}
            ).to_dict()
        except stripe.CardError as exc:
            # Declined, or the bank wants the cardholder (authentication_required):
            # final for a charge nobody is present to retry.
            error = exc.error
            code = (error.decline_code if error else None) or exc.code or "card_declined"
            intent_obj = error.payment_intent if error else None
            return ProviderResult(
                PaymentState.FAILED,
                provider_ref=None if intent_obj is None else str(intent_obj.id),
                failure_code=_code(code),
            )
        except stripe.InvalidRequestError as exc:
            # The method is gone (detached, another customer's): nothing was charged.
            return ProviderResult(PaymentState.FAILED, failure_code=_code(exc.code or "refused"))
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}: {exc.user_message}") from exc
        return _intent_result(intent)

    def forget_method(self, method: SavedMethodRef) -> None:
        try:
            self._client.v1.payment_methods.detach(method.token)
        except stripe.InvalidRequestError as exc:
            # "No such PaymentMethod" (404) or "not attached to a customer" (400): gone
            # already, as long as Stripe confirms it is not attached any more.
            if exc.http_status != 404 and self._still_attached(method.token):
                raise ProviderError(f"stripe: detach refused: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}: {exc.user_message}") from exc

    def _still_attached(self, token: str) -> bool:
        try:
            found = self._client.v1.payment_methods.retrieve(token).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return False
            raise
        return found.get("customer") is not None

    # --- refunds ----------------------------------------------------------------------

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        try:
            intent_id = self._refundable_intent(payment_id, provider_ref)
            if intent_id is None:
                return RefundResult(False, failure_code="payment_not_found")
            refund = self._client.v1.refunds.create(
                {
                    "payment_intent": intent_id,
                    "amount": amount_minor,
                    "metadata": {"payment_id": payment_id},
                },
                # Per payment and amount: a repeated refund (the outbox delivers at least
                # once) is answered from Stripe's first one, never paid out twice.
                {"idempotency_key": f"simrenew-refund-{payment_id}-{amount_minor}"},
            ).to_dict()
        except (stripe.CardError, stripe.InvalidRequestError) as exc:
            if exc.code == "charge_already_refunded":
                # Refunded already (after the 24 h idempotency window): the money is back.
                return RefundResult(True)
            return RefundResult(False, failure_code=_code(exc.code or "refused"))
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}: {exc.user_message}") from exc
        if refund.get("status") in ("failed", "canceled"):
            reason = refund.get("failure_reason") or str(refund.get("status"))
            return RefundResult(False, provider_ref=refund.get("id"), failure_code=_code(reason))
        # "pending" / "requires_action" are accepted refunds still on their way.
        return RefundResult(True, provider_ref=refund.get("id"))

    def _refundable_intent(self, payment_id: str, provider_ref: str | None) -> str | None:
        if provider_ref and provider_ref.startswith("pi_"):
            return provider_ref
        if provider_ref and provider_ref.startswith("cs_"):
            session = self._client.v1.checkout.sessions.retrieve(provider_ref).to_dict()
            self._check_owner(session.get("client_reference_id"), payment_id)
            intent = session.get("payment_intent")
            if intent is None:
                return None
            return intent if isinstance(intent, str) else str(intent["id"])
        return self._find_intent(payment_id)

    # --- callbacks --------------------------------------------------------------------

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        header = next(
            (v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None
        )
        verify(header, body, self._secrets, now=now, tolerance=self._tolerance)
        try:
            event = json.loads(body)
            kind = event["type"]
            obj = event["data"]["object"]
            if kind.startswith("checkout.session."):
                state, ref, amount, failure, payment_id = self._session_event(kind, obj)
            elif kind.startswith("payment_intent."):
                state, ref, amount, failure, payment_id = self._intent_event(kind, obj)
            else:
                raise SignatureInvalid(reason=f"unhandled Stripe event type {kind[:64]!r}")
            if not isinstance(payment_id, str) or not payment_id:
                raise SignatureInvalid(reason="Stripe event names no simrenew payment")
            created = event["created"]
            if isinstance(created, bool) or not isinstance(created, int):
                raise TypeError("created is not a unix time")
            return PaymentEvent(
                provider=NAME,
                event_id=str(event["id"]),
                payment_id=payment_id,
                state=state,
                occurred_at=datetime.fromtimestamp(created, UTC),
                amount=amount,
                provider_ref=ref,
                failure_code=failure,
            )
        except SignatureInvalid:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, DomainError) as exc:
            raise SignatureInvalid(reason="signed body is not a Stripe payment event") from exc

    @staticmethod
    def _money(amount: object, currency: object) -> Money:
        # An amount we cannot read is refused: a None would skip the amount check.
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError("amount is not integer minor units")
        if not isinstance(currency, str):
            raise TypeError("currency is not a string")
        return Money(amount, currency.upper())

    def _session_event(
        self, kind: str, session: Obj
    ) -> tuple[PaymentState, str | None, Money, str | None, object]:
        failure: str | None = None
        if kind == "checkout.session.completed":
            paid = session["payment_status"]
            if paid == "paid":
                state = PaymentState.SUCCEEDED
            elif paid == "unpaid":
                state = PaymentState.PENDING  # an asynchronous method is settling
            else:
                raise SignatureInvalid(reason=f"unexpected payment_status {str(paid)[:32]!r}")
        elif kind == "checkout.session.async_payment_succeeded":
            state = PaymentState.SUCCEEDED
        elif kind == "checkout.session.async_payment_failed":
            state, failure = PaymentState.FAILED, "async_payment_failed"
        elif kind == "checkout.session.expired":
            state = PaymentState.CANCELLED
        else:
            raise SignatureInvalid(reason=f"unhandled Stripe event type {kind[:64]!r}")
        payment_id = session.get("client_reference_id") or (session.get("metadata") or {}).get(
            "payment_id"
        )
        amount = self._money(session["amount_total"], session["currency"])
        return state, session.get("id"), amount, failure, payment_id

    def _intent_event(
        self, kind: str, intent: Obj
    ) -> tuple[PaymentState, str | None, Money, str | None, object]:
        failure: str | None = None
        if kind == "payment_intent.succeeded":
            state = PaymentState.SUCCEEDED
            amount = self._money(intent["amount_received"], intent["currency"])
        elif kind == "payment_intent.payment_failed":
            # The Checkout page stays open after a decline and the buyer may pay another
            # way: pending, with the decline code, not a final "failed". An off-session
            # charge has no page: its decline is final.
            state = PaymentState.FAILED if _off_session(intent) else PaymentState.PENDING
            failure = _intent_failure(intent) or "payment_failed"
            amount = self._money(intent["amount"], intent["currency"])
        else:
            raise SignatureInvalid(reason=f"unhandled Stripe event type {kind[:64]!r}")
        payment_id = (intent.get("metadata") or {}).get("payment_id")
        return state, intent.get("id"), amount, failure, payment_id
