"""PayPal Checkout through the Orders v2 REST API, called with httpx.

What it implements, from PayPal's documentation:

- OAuth 2.0 client credentials: ``POST /v1/oauth2/token`` with HTTP Basic
  ``client_id:secret`` and ``grant_type=client_credentials``; the bearer token is kept
  until shortly before its ``expires_in``.
  https://developer.paypal.com/api/rest/authentication/
- Create order: ``POST /v2/checkout/orders``, ``intent: CAPTURE``, one purchase unit
  whose ``custom_id`` and ``invoice_id`` are our payment id, ``amount.value`` a decimal
  string, ``payment_source.paypal.experience_context`` with ``return_url`` /
  ``cancel_url``; the buyer is sent to the ``payer-action`` (or legacy ``approve``)
  link. https://developer.paypal.com/docs/api/orders/v2/#orders_create
- Show order / capture order: ``GET /v2/checkout/orders/{id}``,
  ``POST /v2/checkout/orders/{id}/capture``.
  https://developer.paypal.com/docs/api/orders/v2/#orders_capture
- Refund captured payment: ``POST /v2/payments/captures/{capture_id}/refund``.
  https://developer.paypal.com/docs/api/payments/v2/#captures_refund
- Idempotency: every POST carries ``PayPal-Request-Id`` derived from our payment id, so
  a retry after a time-out returns the first outcome instead of a second order,
  capture or refund (kept 6 hours for orders, 45 days for refunds).
  https://developer.paypal.com/reference/guidelines/idempotency/
- Webhooks: headers ``PAYPAL-TRANSMISSION-ID``, ``-TIME``, ``-SIG``,
  ``PAYPAL-CERT-URL``, ``PAYPAL-AUTH-ALGO``. Verified offline (the default): the
  signature is SHA256withRSA over ``<transmission id>|<transmission time>|<webhook
  id>|<CRC32 of the raw body, unsigned decimal>`` with the certificate at the cert URL
  (as PayPal's own SDKs do); or, with ``verification="api"``, by
  ``POST /v1/notifications/verify-webhook-signature`` (``verification_status:
  SUCCESS``). https://developer.paypal.com/api/rest/webhooks/rest/ and
  https://developer.paypal.com/docs/api/webhooks/v1/#verify-webhook-signature_post
  Events: ``CHECKOUT.ORDER.APPROVED`` (pending: approved, awaiting capture),
  ``PAYMENT.CAPTURE.COMPLETED`` / ``PENDING`` / ``DENIED`` / ``DECLINED``.
  https://developer.paypal.com/api/rest/webhooks/event-names/

Where the capture happens: in ``fetch_status``. An order the buyer has approved is
captured there (``PayPal-Request-Id: <payment id>-capture``, so two re-checks never
capture twice), and the capture's outcome is the payment's. Nothing is charged
until we capture, so a payment is never ``succeeded`` on an approval alone. Whoever
learns of an approval (the buyer's return to ``return_url``, a
``CHECKOUT.ORDER.APPROVED`` webhook, the janitor) should therefore re-check the
payment; ``parse_callback`` itself only verifies and maps, it never calls PayPal to
change anything.

``provider_ref`` is always the PayPal order id (never the capture id): it is what a
re-check needs, and a refund finds the capture through it.

Saved PayPal wallets (``SavesPaymentMethods``), from "Save PayPal with the Orders API"
(https://developer.paypal.com/docs/checkout/save-payment-methods/during-purchase/orders-api/paypal/,
https://developer.paypal.com/api/orders-v2/save-with-purchase/paypal):

- saving with the purchase: ``payment_source.paypal.attributes.vault`` =
  ``{store_in_vault: ON_SUCCESS, usage_type: MERCHANT, customer_type: CONSUMER}``, and
  ``attributes.customer.id`` for a payer PayPal already knows as our customer; once the
  order is captured, ``payment_source.paypal.attributes.vault`` has the ``id`` (the
  payment token), ``customer.id`` and ``status: VAULTED``. A vault still ``APPROVED``
  has no id yet (PayPal saves it a little later): ``saved_method`` says so with
  ``ProviderError``, to be asked again.
- charging it with nobody present: an order with ``payment_source.paypal.vault_id``
  and ``stored_credential`` (merchant-initiated, subsequent), intent ``CAPTURE``;
  PayPal answers it ``COMPLETED`` with its capture at once (an ``APPROVED`` answer is
  captured here). The vault id: https://developer.paypal.com/api/orders/v2/definitions/vault_id,
  order statuses: https://developer.paypal.com/api/orders/v2/definitions/order_status
- forgetting it: ``DELETE /v3/vault/payment-tokens/{id}`` (204; 404 once gone),
  https://developer.paypal.com/docs/api/payment-tokens/v3/#payment-tokens_delete

A saved-wallet charge whose answer was lost cannot be found by ``fetch_status``
without its order id (Orders v2 has no search). Repeating ``charge_saved`` with the
same request can: its ``PayPal-Request-Id`` returns the first order, never a second
charge; and PayPal's ``PAYMENT.CAPTURE.*`` webhooks name the payment (``custom_id``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from simrenew.domain.errors import InvalidMoney, SignatureInvalid
from simrenew.domain.money import MINOR_DIGITS, Money
from simrenew.domain.payments import PaymentEvent, PaymentState
from simrenew.ports import (
    PaymentRequest,
    ProviderError,
    ProviderResult,
    RefundResult,
    SavedMethodDetails,
    SavedMethodRef,
)

log = logging.getLogger(__name__)

NAME = "paypal"
LIVE_API = "https://api-m.paypal.com"
SANDBOX_API = "https://api-m.sandbox.paypal.com"
# Where PayPal serves its webhook-signing certificates. A certificate is fetched only
# from these hosts over HTTPS: the cert URL comes in the (unauthenticated) request,
# and fetching whatever it names would let anyone sign with their own key.
CERT_HOSTS = frozenset(
    {"api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"}
)
CERT_PATH_PREFIX = "/v1/notifications/certs/"
CERT_NAME_SUFFIX = ".paypal.com"  # the signing certificate's CN, as PayPal's SDKs check
AUTH_ALGO = "SHA256withRSA"
MAX_CACHED_CERTS = 16
# A token is renewed this long before PayPal says it expires, so that a request never
# leaves with a token that dies on the way.
TOKEN_MARGIN_SECONDS = 120
MAX_DESCRIPTION = 127  # purchase_units[].description is cut by PayPal past this
MAX_LABEL = 64  # payment_methods.label is VARCHAR(64)
# Save the payer's wallet with this purchase, for charges we start later.
VAULT_ATTRIBUTES = {
    "store_in_vault": "ON_SUCCESS",
    "usage_type": "MERCHANT",
    "customer_type": "CONSUMER",
}
# A charge of a saved wallet is ours, one of a series, with the payer away.
STORED_CREDENTIAL = {
    "payment_initiator": "MERCHANT",
    "usage": "SUBSEQUENT",
    "usage_pattern": "RECURRING_PREPAID",
}

HEADER_TRANSMISSION_ID = "paypal-transmission-id"
HEADER_TRANSMISSION_TIME = "paypal-transmission-time"
HEADER_TRANSMISSION_SIG = "paypal-transmission-sig"
HEADER_CERT_URL = "paypal-cert-url"
HEADER_AUTH_ALGO = "paypal-auth-algo"

# Our languages → PayPal's BCP 47 locales for its pages.
LOCALES = {"zh-Hant": "zh-HK", "zh-Hans": "zh-CN", "en": "en-US"}

_PENDING_ORDER = frozenset({"CREATED", "SAVED", "PAYER_ACTION_REQUIRED"})
_CAPTURE_STATES = {
    "COMPLETED": PaymentState.SUCCEEDED,
    # Refunded later: the payment itself succeeded; the refund is tracked apart.
    "PARTIALLY_REFUNDED": PaymentState.SUCCEEDED,
    "REFUNDED": PaymentState.SUCCEEDED,
    "PENDING": PaymentState.PENDING,
    "DECLINED": PaymentState.FAILED,
    "FAILED": PaymentState.FAILED,
}
_EVENT_STATES = {
    "CHECKOUT.ORDER.APPROVED": PaymentState.PENDING,
    "PAYMENT.CAPTURE.PENDING": PaymentState.PENDING,
    "PAYMENT.CAPTURE.COMPLETED": PaymentState.SUCCEEDED,
    "PAYMENT.CAPTURE.DENIED": PaymentState.FAILED,
    "PAYMENT.CAPTURE.DECLINED": PaymentState.FAILED,
}
# Capture refusals that are the buyer's or PayPal's final word on this order. Any other
# 4xx on a capture is not taken as a decline: a second capture racing the first (same
# PayPal-Request-Id) may be refused while the first goes through, and a payment marked
# failed could never become succeeded again. Those stay unknown and are re-checked.
_CAPTURE_DECLINES = frozenset(
    {
        "INSTRUMENT_DECLINED",
        "TRANSACTION_REFUSED",
        "PAYER_CANNOT_PAY",
        "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
        "PAYER_ACCOUNT_RESTRICTED",
        "PAYEE_ACCOUNT_RESTRICTED",
        "PAYEE_BLOCKED_TRANSACTION",
        "COMPLIANCE_VIOLATION",
        "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
        "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING",
    }
)
# Refusals to create an order that mean "another request with this id is in flight",
# not "no": the first request's answer decides.
_CREATE_RETRYABLE = frozenset({"DUPLICATE_REQUEST_ID", "PAYPAL_REQUEST_ID_PREVIOUSLY_USED"})

_ISSUE = re.compile(r"^[A-Z0-9_]{1,60}$")


def to_value(amount_minor: int, currency: str) -> str:
    """Integer minor units → PayPal's ``amount.value`` (``4800`` HKD → ``"48.00"``)."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor < 0:
        raise ValueError(f"amount must be a non-negative integer, got {amount_minor!r}")
    digits = MINOR_DIGITS[currency]
    whole, fraction = divmod(amount_minor, 10**digits)
    return f"{whole}.{fraction:0{digits}d}" if digits else str(whole)


def from_amount(amount: Mapping[str, Any]) -> Money:
    """PayPal's ``{currency_code, value}`` → Money; raises ``InvalidMoney``, ``KeyError``,
    ``TypeError``."""
    value = amount["value"]
    # PayPal sends amounts as decimal strings; a JSON number is not one of its amounts
    # (and would have been read as binary floating point).
    if not isinstance(value, str):
        raise TypeError(f"amount value is not a decimal string: {value!r}")
    return Money.parse(value, str(amount["currency_code"]))


def signed_message(
    transmission_id: str, transmission_time: str, webhook_id: str, body: bytes
) -> bytes:
    """What PayPal signs for a webhook delivery."""
    # zlib.crc32 is unsigned in Python 3: the decimal form PayPal's SDKs compute.
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body)}".encode()


def _parse_time(text: str) -> datetime:
    """An RFC 3339 time from PayPal as aware UTC; raises ``ValueError``."""
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        raise ValueError(f"time without offset: {text!r}")
    return parsed.astimezone(UTC)


def _link(resource: Mapping[str, Any], *rels: str) -> str | None:
    links = {str(link.get("rel")): link.get("href") for link in resource.get("links") or ()}
    for rel in rels:
        if links.get(rel):
            return str(links[rel])
    return None


def _issue(response: httpx.Response) -> str:
    """The first ``details[].issue`` (or the error ``name``) of a PayPal error body."""
    try:
        body = response.json()
        details = body.get("details") or []
        issue = str(details[0].get("issue") if details else body.get("name") or "")
    except (ValueError, AttributeError, TypeError, IndexError):
        issue = ""
    return issue if _ISSUE.match(issue) else f"HTTP_{response.status_code}"


def mask_email(address: str) -> str:
    """``chan.tai.man@example.com`` → ``c***@example.com``: enough for the payer to
    recognise the wallet, not enough to mail them."""
    local, at, domain = address.partition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"[:MAX_LABEL]


def _first_unit(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    units = resource["purchase_units"]
    if not units:
        raise KeyError("purchase_units")
    unit: Mapping[str, Any] = units[0]
    return unit


class PayPalProvider:
    """Our adapter for PayPal Checkout (Orders v2); one instance per process, thread-safe.

    ``transport`` is for tests (an ``httpx.MockTransport``); ``monotonic_ns`` paces the
    token cache.
    """

    name = NAME

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        webhook_id: str,
        api_base: str = SANDBOX_API,
        verification: str = "offline",
        timeout_seconds: int = 15,
        tolerance_seconds: int = 600,
        brand_name: str | None = None,
        cert_hosts: frozenset[str] = CERT_HOSTS,
        transport: httpx.BaseTransport | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if verification not in ("offline", "api"):
            raise ValueError("verification must be 'offline' or 'api'")
        if not (client_id and client_secret and webhook_id):
            raise ValueError("PayPal needs a client id, a secret and a webhook id")
        self._client_id = client_id
        self._client_secret = client_secret
        self._webhook_id = webhook_id
        self._verification = verification
        self._tolerance = timedelta(seconds=tolerance_seconds)
        self._brand_name = brand_name
        self._cert_hosts = cert_hosts
        self._monotonic_ns = monotonic_ns
        self._client = httpx.Client(
            base_url=api_base.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            follow_redirects=False,
        )
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_ns = 0
        self._certs_lock = threading.Lock()
        self._certs: dict[str, x509.Certificate] = {}

    def close(self) -> None:
        self._client.close()

    # --- HTTP -----------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderError(f"paypal: {method} {_path(url)} timed out") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"paypal: {method} {_path(url)} failed: {type(exc).__name__}"
            ) from exc

    def _access_token(self) -> str:
        # One token for every thread; the lock also keeps a burst of requests from
        # fetching a token each.
        with self._token_lock:
            now = self._monotonic_ns()
            if self._token is not None and now < self._token_expires_ns:
                return self._token
            response = self._send(
                "POST",
                "/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
            )
            if response.status_code != 200:
                raise ProviderError(f"paypal: token request refused (HTTP {response.status_code})")
            try:
                body = response.json()
                token = str(body["access_token"])
                lifetime = int(body["expires_in"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ProviderError("paypal: token answer is not JSON with a token") from exc
            self._token = token
            self._token_expires_ns = now + max(lifetime - TOKEN_MARGIN_SECONDS, 0) * 10**9
            return token

    def _forget_token(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _api(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_auth: bool = True,
    ) -> httpx.Response:
        """Call the REST API. 5xx, 429, time-outs and unreachable → ``ProviderError``;
        other answers are the caller's to read."""
        token = self._access_token()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            # The full order in every answer: its status and captures are what we map.
            "Prefer": "return=representation",
        }
        if request_id is not None:
            headers["PayPal-Request-Id"] = request_id
        if body is None:
            response = self._send(method, path, headers=headers)
        else:
            response = self._send(method, path, headers=headers, json=body)
        if response.status_code == 401 and retry_auth:
            # Revoked or expired early: one fresh token, one more try (the same
            # PayPal-Request-Id keeps the retry harmless).
            self._forget_token(token)
            return self._api(method, path, body=body, request_id=request_id, retry_auth=False)
        if response.status_code >= 500 or response.status_code in (401, 403, 408, 409, 429):
            debug_id = response.headers.get("PayPal-Debug-Id", "-")
            log.warning(
                "paypal %s %s: HTTP %s (debug id %s)",
                method,
                path,
                response.status_code,
                debug_id,
            )
            raise ProviderError(
                f"paypal: {method} {path} answered HTTP {response.status_code} ({debug_id})"
            )
        return response

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError("paypal: answer is not JSON") from exc
        if not isinstance(body, dict):
            raise ProviderError("paypal: answer is not a JSON object")
        return body

    # --- payments -----------------------------------------------------------------

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        wallet: dict[str, Any] = {"experience_context": self._experience(request)}
        if request.save_method:
            attributes: dict[str, Any] = {"vault": dict(VAULT_ATTRIBUTES)}
            if request.customer_ref:
                attributes["customer"] = {"id": request.customer_ref}
            wallet["attributes"] = attributes
        body = {
            "intent": "CAPTURE",
            "purchase_units": [self._purchase_unit(request)],
            "payment_source": {"paypal": wallet},
        }
        # The payment id as the key: "Pay" pressed twice, or a retry after a time-out,
        # gets the same order and approval link back, never a second order.
        response = self._api(
            "POST", "/v2/checkout/orders", body=body, request_id=request.payment_id
        )
        if response.status_code in (400, 404, 422):
            issue = _issue(response)
            if issue in _CREATE_RETRYABLE:
                raise ProviderError(f"paypal: order creation busy ({issue})")
            # Nothing exists at PayPal to charge: a plain refusal.
            return ProviderResult(PaymentState.FAILED, failure_code=issue.lower())
        if response.status_code not in (200, 201):
            raise ProviderError(f"paypal: create order answered HTTP {response.status_code}")
        return self._order_result(request.payment_id, self._json(response))

    def _experience(self, request: PaymentRequest) -> dict[str, Any]:
        experience: dict[str, Any] = {
            "locale": LOCALES.get(request.language, "en-US"),
            # Top-ups are digital: no address to ask for.
            "shipping_preference": "NO_SHIPPING",
            # We capture as soon as the buyer approves, so PayPal's button says so.
            "user_action": "PAY_NOW",
            # No eCheck: a top-up should not wait days for money to clear.
            "payment_method_preference": "IMMEDIATE_PAYMENT_REQUIRED",
        }
        if request.return_url:
            # Cancelling lands on the same result page, which shows the payment as it
            # stands; PayPal appends ?token=<order id> to both.
            experience["return_url"] = request.return_url
            experience["cancel_url"] = request.return_url
        if self._brand_name:
            experience["brand_name"] = self._brand_name
        return experience

    @staticmethod
    def _purchase_unit(request: PaymentRequest) -> dict[str, Any]:
        return {
            "reference_id": request.order_id,
            "custom_id": request.payment_id,
            # Unique per PayPal order, as PayPal recommends: one payment, one order.
            "invoice_id": request.payment_id,
            "description": request.description[:MAX_DESCRIPTION],
            "amount": {
                "currency_code": request.currency,
                "value": to_value(request.amount_minor, request.currency),
            },
        }

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        if not provider_ref:
            # The create call never told us an order id. Nobody else learned it either,
            # so no buyer can approve that order and nothing can be captured on it: the
            # attempt is abandoned. (A re-check must not run while the create call is
            # still in flight: the janitor only looks at payments older than a time-out.)
            return ProviderResult(PaymentState.CANCELLED, failure_code="paypal_order_unknown")
        order = self._get_order(provider_ref)
        if order is None:
            return ProviderResult(
                PaymentState.CANCELLED, provider_ref=provider_ref, failure_code="order_not_found"
            )
        return self._order_result(payment_id, order)

    def _get_order(self, order_id: str) -> dict[str, Any] | None:
        response = self._api("GET", f"/v2/checkout/orders/{quote(order_id, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(f"paypal: show order answered HTTP {response.status_code}")
        return self._json(response)

    def _order_result(
        self, payment_id: str, order: Mapping[str, Any], *, may_capture: bool = True
    ) -> ProviderResult:
        try:
            order_id = str(order["id"])
            status = str(order["status"])
            unit = _first_unit(order)
            if unit.get("custom_id") not in (None, payment_id):
                # Never let another payment's order decide this one.
                raise ProviderError(f"paypal: order {order_id} belongs to another payment")
            amount = from_amount(unit["amount"]).amount_minor
        except (KeyError, TypeError, ValueError, InvalidMoney) as exc:
            raise ProviderError("paypal: order answer is not an order") from exc
        if status in _PENDING_ORDER:
            return ProviderResult(
                PaymentState.PENDING,
                provider_ref=order_id,
                checkout_url=_link(order, "payer-action", "approve"),
                amount_minor=amount,
            )
        if status == "APPROVED" and may_capture:
            return self._capture(payment_id, order_id)
        if status == "APPROVED":
            return ProviderResult(PaymentState.PENDING, provider_ref=order_id, amount_minor=amount)
        if status == "COMPLETED":
            return self._captured(order_id, unit)
        if status == "VOIDED":
            return ProviderResult(
                PaymentState.CANCELLED, provider_ref=order_id, failure_code="order_voided"
            )
        raise ProviderError(f"paypal: order {order_id} has an unknown status {status!r}")

    def _capture(self, payment_id: str, order_id: str) -> ProviderResult:
        response = self._api(
            "POST",
            f"/v2/checkout/orders/{quote(order_id, safe='')}/capture",
            body={},
            request_id=f"{payment_id}-capture",
        )
        if response.status_code in (200, 201):
            return self._order_result(payment_id, self._json(response), may_capture=False)
        issue = _issue(response)
        if response.status_code == 422 and issue == "ORDER_ALREADY_CAPTURED":
            # Another re-check (or an earlier request id that has since expired) got
            # there first: the order says how that went.
            order = self._get_order(order_id)
            if order is None:
                raise ProviderError(f"paypal: captured order {order_id} vanished")
            return self._order_result(payment_id, order, may_capture=False)
        if response.status_code == 422 and issue == "ORDER_NOT_APPROVED":
            return ProviderResult(PaymentState.PENDING, provider_ref=order_id)
        if response.status_code == 422 and issue == "ORDER_EXPIRED":
            return ProviderResult(
                PaymentState.CANCELLED, provider_ref=order_id, failure_code="order_expired"
            )
        if response.status_code == 422 and issue in _CAPTURE_DECLINES:
            return ProviderResult(
                PaymentState.FAILED, provider_ref=order_id, failure_code=issue.lower()
            )
        raise ProviderError(f"paypal: capture of {order_id} answered {issue}")

    @staticmethod
    def _captured(order_id: str, unit: Mapping[str, Any]) -> ProviderResult:
        try:
            captures = (unit.get("payments") or {}).get("captures") or []
            capture = captures[-1]
            status = str(capture["status"])
            state = _CAPTURE_STATES[status]
            amount = from_amount(capture["amount"]).amount_minor
            reason = (capture.get("status_details") or {}).get("reason")
        except (KeyError, TypeError, ValueError, IndexError, InvalidMoney) as exc:
            raise ProviderError(
                f"paypal: completed order {order_id} has no readable capture"
            ) from exc
        failure = None
        if state is PaymentState.FAILED:
            failure = str(reason).lower() if reason else f"capture_{status.lower()}"
        return ProviderResult(
            state, provider_ref=order_id, failure_code=failure, amount_minor=amount
        )

    # --- saved wallets (``SavesPaymentMethods``) -------------------------------------

    def saved_method(self, payment_id: str, provider_ref: str | None) -> SavedMethodDetails | None:
        if not provider_ref:
            return None
        order = self._get_order(provider_ref)
        if order is None:
            return None
        try:
            unit = _first_unit(order)
            wallet = (order.get("payment_source") or {}).get("paypal") or {}
            vault = (wallet.get("attributes") or {}).get("vault") or {}
            email = wallet.get("email_address") or (order.get("payer") or {}).get("email_address")
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProviderError("paypal: order answer is not an order") from exc
        if unit.get("custom_id") not in (None, payment_id):
            raise ProviderError(f"paypal: order {provider_ref} belongs to another payment")
        if order.get("status") != "COMPLETED" or not vault:
            return None
        if not vault.get("id"):
            if vault.get("status") in ("APPROVED", "CREATED"):
                # Captured, the wallet not saved yet: PayPal finishes that shortly after.
                raise ProviderError(f"paypal: the wallet of order {provider_ref} is not saved yet")
            return None
        customer = (vault.get("customer") or {}).get("id")
        return SavedMethodDetails(
            token=str(vault["id"]),
            customer_ref=None if customer is None else str(customer),
            brand=NAME,
            label=mask_email(str(email)) if email else None,
        )

    def charge_saved(self, request: PaymentRequest, method: SavedMethodRef) -> ProviderResult:
        body = {
            "intent": "CAPTURE",
            "purchase_units": [self._purchase_unit(request)],
            "payment_source": {
                "paypal": {"vault_id": method.token, "stored_credential": dict(STORED_CREDENTIAL)}
            },
        }
        # Its own request id (not the checkout's): a retry after a time-out gets the
        # first order back, and so learns how the one charge went.
        response = self._api(
            "POST",
            "/v2/checkout/orders",
            body=body,
            request_id=f"{request.payment_id}-vault",
        )
        if response.status_code in (400, 404, 422):
            issue = _issue(response)
            if issue in _CREATE_RETRYABLE:
                raise ProviderError(f"paypal: saved-wallet charge busy ({issue})")
            # Declined, or the token is gone: no order was made, nothing charged.
            return ProviderResult(PaymentState.FAILED, failure_code=issue.lower())
        if response.status_code not in (200, 201):
            raise ProviderError(f"paypal: create order answered HTTP {response.status_code}")
        result = self._order_result(request.payment_id, self._json(response))
        if result.state is PaymentState.PENDING and result.checkout_url is not None:
            # PayPal wants the payer, who is not here: this charge cannot go through.
            return ProviderResult(
                PaymentState.FAILED,
                provider_ref=result.provider_ref,
                failure_code="payer_action_required",
            )
        return result

    def forget_method(self, method: SavedMethodRef) -> None:
        response = self._api("DELETE", f"/v3/vault/payment-tokens/{quote(method.token, safe='')}")
        if response.status_code in (200, 204, 404):
            return  # deleted now, or before
        raise ProviderError(f"paypal: deleting a payment token answered {_issue(response)}")

    # --- refunds ----------------------------------------------------------------------

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        if not provider_ref:
            return RefundResult(False, failure_code="no_paypal_order")
        order = self._get_order(provider_ref)
        if order is None:
            return RefundResult(False, failure_code="order_not_found")
        try:
            captures = (_first_unit(order).get("payments") or {}).get("captures") or []
            capture_id = str(captures[-1]["id"]) if captures else None
        except (KeyError, TypeError) as exc:
            raise ProviderError("paypal: order answer is not an order") from exc
        if capture_id is None:
            return RefundResult(False, failure_code="not_captured")
        # One refund per payment (we only ever refund in full): a retry returns it.
        response = self._api(
            "POST",
            f"/v2/payments/captures/{quote(capture_id, safe='')}/refund",
            body={
                "amount": {"currency_code": currency, "value": to_value(amount_minor, currency)},
                "custom_id": payment_id,
            },
            request_id=f"{payment_id}-refund",
        )
        if response.status_code in (200, 201):
            refund = self._json(response)
            status = str(refund.get("status"))
            if status in ("COMPLETED", "PENDING"):
                # PENDING: accepted, PayPal completes it (e.g. once the payee's balance
                # covers it); there is nothing more for us to do.
                return RefundResult(True, provider_ref=str(refund.get("id")))
            return RefundResult(False, failure_code=f"refund_{status.lower()}")
        issue = _issue(response)
        if issue == "CAPTURE_FULLY_REFUNDED":
            # The money is back with the buyer already (e.g. refunded by hand).
            return RefundResult(True)
        if response.status_code in (400, 404, 422):
            return RefundResult(False, failure_code=issue.lower())
        raise ProviderError(f"paypal: refund answered HTTP {response.status_code}")

    # --- webhooks -------------------------------------------------------------------

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        lowered = {key.lower(): value for key, value in headers.items()}
        self._verify(lowered, body, now)
        try:
            event = json.loads(body)
            event_type = str(event["event_type"])
            state = _EVENT_STATES.get(event_type)
            if state is None:
                raise SignatureInvalid(reason=f"unhandled PayPal event type {event_type[:64]}")
            resource = event["resource"]
            if event_type.startswith("CHECKOUT.ORDER."):
                unit = _first_unit(resource)
                payment_id, amount = unit.get("custom_id"), unit["amount"]
                provider_ref = resource.get("id")
                failure = None
            else:
                payment_id, amount = resource.get("custom_id"), resource["amount"]
                related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
                provider_ref = related.get("order_id")
                reason = (resource.get("status_details") or {}).get("reason")
                failure = None
                if state is PaymentState.FAILED:
                    failure = (
                        str(reason).lower() if reason else event_type.rsplit(".", 1)[-1].lower()
                    )
            if not payment_id:
                raise SignatureInvalid(reason="PayPal event names no simrenew payment")
            return PaymentEvent(
                provider=NAME,
                event_id=str(event["id"]),
                payment_id=str(payment_id),
                state=state,
                occurred_at=_parse_time(str(event["create_time"])),
                amount=from_amount(amount),
                provider_ref=None if provider_ref is None else str(provider_ref),
                failure_code=failure,
            )
        except (ValueError, KeyError, TypeError, AttributeError, InvalidMoney) as exc:
            raise SignatureInvalid(reason="signed body is not a PayPal event") from exc

    def _verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        transmission_id = headers.get(HEADER_TRANSMISSION_ID, "")
        transmission_time = headers.get(HEADER_TRANSMISSION_TIME, "")
        signature = headers.get(HEADER_TRANSMISSION_SIG, "")
        cert_url = headers.get(HEADER_CERT_URL, "")
        auth_algo = headers.get(HEADER_AUTH_ALGO, "")
        if not (transmission_id and transmission_time and signature and cert_url and auth_algo):
            raise SignatureInvalid(reason="missing PayPal transmission headers")
        try:
            sent = _parse_time(transmission_time)
        except ValueError as exc:
            raise SignatureInvalid(reason="malformed PayPal transmission time") from exc
        # The time is part of what is signed, so a replayed delivery cannot refresh it.
        if abs(now - sent) > self._tolerance:
            raise SignatureInvalid(reason="transmission time outside tolerance")
        if self._verification == "api":
            self._verify_with_api(
                transmission_id, transmission_time, signature, cert_url, auth_algo, body
            )
            return
        if auth_algo != AUTH_ALGO:
            raise SignatureInvalid(reason="unsupported PayPal signature algorithm")
        certificate = self._certificate(cert_url, now)
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureInvalid(reason="signature is not base64") from exc
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureInvalid(reason="PayPal certificate key is not RSA")
        message = signed_message(transmission_id, transmission_time, self._webhook_id, body)
        try:
            key.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise SignatureInvalid(reason="signature does not match") from exc

    def _certificate(self, cert_url: str, now: datetime) -> x509.Certificate:
        """The signing certificate at ``cert_url``: from an allowed PayPal host only,
        fetched once, checked on every use (name, validity)."""
        parts = urlsplit(cert_url)
        if (
            parts.scheme != "https"
            or parts.hostname not in self._cert_hosts
            or parts.port not in (None, 443)
            or parts.username is not None
            or not parts.path.startswith(CERT_PATH_PREFIX)
            or ".." in parts.path
        ):
            raise SignatureInvalid(reason="certificate URL is not PayPal's")
        with self._certs_lock:
            certificate = self._certs.get(cert_url)
        if certificate is None:
            # No credentials go with it: the certificate is public.
            response = self._send("GET", cert_url, headers={"Accept": "*/*"})
            if response.status_code >= 500 or response.status_code == 429:
                raise ProviderError(
                    f"paypal: certificate fetch answered HTTP {response.status_code}"
                )
            if response.status_code != 200:
                raise SignatureInvalid(reason="PayPal has no such certificate")
            try:
                # The first certificate in the PEM is the signer; any others are its chain.
                certificate = x509.load_pem_x509_certificates(response.content)[0]
            except (ValueError, IndexError) as exc:
                raise SignatureInvalid(reason="certificate is not PEM") from exc
            with self._certs_lock:
                if len(self._certs) >= MAX_CACHED_CERTS:
                    self._certs.pop(next(iter(self._certs)))
                self._certs[cert_url] = certificate
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(names[0].value).lower() if names else ""
        if not common_name.endswith(CERT_NAME_SUFFIX):
            raise SignatureInvalid(reason="certificate is not issued to PayPal")
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise SignatureInvalid(reason="PayPal certificate is not valid now")
        return certificate

    def _verify_with_api(
        self,
        transmission_id: str,
        transmission_time: str,
        signature: str,
        cert_url: str,
        auth_algo: str,
        body: bytes,
    ) -> None:
        try:
            event = json.loads(body)
        except ValueError as exc:
            raise SignatureInvalid(reason="body is not JSON") from exc
        response = self._api(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            body={
                "auth_algo": auth_algo,
                "cert_url": cert_url,
                "transmission_id": transmission_id,
                "transmission_sig": signature,
                "transmission_time": transmission_time,
                "webhook_id": self._webhook_id,
                "webhook_event": event,
            },
        )
        if response.status_code != 200:
            raise SignatureInvalid(reason=f"PayPal refused to verify ({_issue(response)})")
        if self._json(response).get("verification_status") != "SUCCESS":
            raise SignatureInvalid(reason="PayPal says the signature does not match")


def _path(url: str) -> str:
    """A URL without its query, for messages."""
    return urlsplit(url).path or url
