"""A fake of PayPal's REST API (sandbox host), served through ``httpx.MockTransport``.

Built from PayPal's documented formats, independently of ``simrenew.providers.paypal``
(nothing is imported from it), so that the adapter is checked against the documents
rather than against itself:

- ``POST /v1/oauth2/token`` (Basic client id:secret, ``grant_type=client_credentials``)
  https://developer.paypal.com/api/rest/authentication/
- ``POST /v2/checkout/orders``, ``GET /v2/checkout/orders/{id}``,
  ``POST /v2/checkout/orders/{id}/capture`` https://developer.paypal.com/docs/api/orders/v2/
- ``POST /v2/payments/captures/{id}/refund`` https://developer.paypal.com/docs/api/payments/v2/
- ``PayPal-Request-Id`` idempotency: a repeated id returns the first answer
  https://developer.paypal.com/reference/guidelines/idempotency/
- saving the PayPal wallet with a purchase (``payment_source.paypal.attributes.vault``,
  ``attributes.customer.id``; the vault ``id`` / ``customer.id`` / ``status: VAULTED`` in
  the captured order), charging it (``payment_source.paypal.vault_id``: the order
  completes and is captured at once) and ``DELETE /v3/vault/payment-tokens/{id}``
  https://developer.paypal.com/docs/checkout/save-payment-methods/during-purchase/orders-api/paypal/
  https://developer.paypal.com/docs/api/payment-tokens/v3/
- webhooks signed SHA256withRSA over ``id|time|webhook_id|crc32(body)``, the
  certificate served from ``https://api.sandbox.paypal.com/v1/notifications/certs/...``,
  and ``POST /v1/notifications/verify-webhook-signature``
  https://developer.paypal.com/api/rest/webhooks/rest/

The fake checks what it is sent (credentials, bearer token, request ids, amounts as
decimal strings) and answers 400/401 when something is off, as PayPal would; anything
it finds wrong is also listed in ``problems`` for the tests to assert on.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

API_HOST = "api-m.sandbox.paypal.com"
API_BASE = f"https://{API_HOST}"
CERT_HOST = "api.sandbox.paypal.com"
CERT_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-fake0001"
CERT_URL = f"https://{CERT_HOST}{CERT_PATH}"
SIGNER_NAME = "messageverificationcerts.sandbox.paypal.com"
AUTH_ALGO = "SHA256withRSA"
_VALUE = re.compile(r"^(0|[1-9][0-9]{0,9})\.[0-9]{2}$")  # HKD and CNY: two decimals


def make_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(
    key: rsa.RSAPrivateKey,
    *,
    common_name: str = SIGNER_NAME,
    not_before: datetime,
    not_after: datetime,
) -> bytes:
    """A self-signed certificate as PEM, standing in for PayPal's signing certificate."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _error(status: int, name: str, issue: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "name": name,
        "message": "fake PayPal refused the request",
        "debug_id": secrets.token_hex(6),
    }
    if issue:
        body["details"] = [{"issue": issue, "description": issue.lower().replace("_", " ")}]
    return httpx.Response(status, json=body, headers={"PayPal-Debug-Id": body["debug_id"]})


def _minor(value: str) -> int:
    whole, _, cents = value.partition(".")
    return int(whole) * 100 + int(cents)


def _value(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Delivery:
    """A webhook as PayPal would POST it."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str  # timeout_before | timeout_after | stale_approved | 500 | 503 | 429


@dataclass
class FakePayPal:
    client_id: str
    client_secret: str
    webhook_id: str
    now: Callable[[], datetime]
    key: rsa.RSAPrivateKey = field(default_factory=make_key)
    token_lifetime: int = 32400
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    cert_fetches: int = 0
    requests: list[httpx.Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    certs: dict[str, bytes] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)  # experience contexts
    _replies: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _funding: dict[str, str] = field(default_factory=dict)
    _faults: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # Saved wallets: payment token id → {"customer_id", "email", "payer_id"}.
    vault_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    # How a charge of a saved wallet goes, per token: "ok" (default), "decline",
    # "pending", "instrument_declined", "payer_action" (PayPal wants the payer).
    vault_outcomes: dict[str, str] = field(default_factory=dict)
    # True: a captured order's wallet is saved a little later (vault status APPROVED).
    vault_later: bool = False
    _vault_asks: dict[str, dict[str, Any]] = field(default_factory=dict)
    _payers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.now()
        self.certs[CERT_PATH] = make_cert(
            self.key, not_before=now - timedelta(days=30), not_after=now + timedelta(days=365)
        )

    # --- wiring -------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail_next(self, method: str, path: str, kind: str) -> None:
        """The next ``method`` request whose path matches ``path`` (a regex) fails:
        ``timeout_before`` (never reaches PayPal), ``timeout_after`` (PayPal acts, the
        answer is lost), ``stale_approved`` (a GET shows the order as still approved),
        or an HTTP status such as ``500`` / ``429``."""
        self._faults.append(Fault(method, re.compile(path), kind))

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}{secrets.token_hex(6).upper()}"[:17]

    # --- the buyer and the merchant dashboard ----------------------------------------

    def approve(
        self, order_id: str, funding: str = "ok", *, email: str = "chan.tai.man@example.com"
    ) -> None:
        """The buyer approves on PayPal's page. ``funding`` decides the capture: ``ok``,
        ``decline`` (capture DECLINED), ``pending`` (capture PENDING),
        ``instrument_declined`` (capture refused with 422 INSTRUMENT_DECLINED)."""
        order = self.orders[order_id]
        assert order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"), order["status"]
        order["status"] = "APPROVED"
        self._funding[order_id] = funding
        self._payers[order_id] = email

    def void(self, order_id: str) -> None:
        self.orders[order_id]["status"] = "VOIDED"

    def order_for(self, payment_id: str) -> dict[str, Any]:
        (order,) = [
            o for o in self.orders.values() if o["purchase_units"][0]["custom_id"] == payment_id
        ]
        return order

    def charged(self, payment_id: str) -> list[dict[str, Any]]:
        """Completed captures for our payment: what the buyer was charged."""
        return [
            c
            for c in self.captures.values()
            if c["custom_id"] == payment_id
            and c["status"] in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")
        ]

    # --- webhooks -----------------------------------------------------------------------

    def sign(
        self,
        body: bytes,
        *,
        transmission_id: str | None = None,
        transmission_time: datetime | None = None,
        key: rsa.RSAPrivateKey | None = None,
        webhook_id: str | None = None,
        cert_url: str = CERT_URL,
        auth_algo: str = AUTH_ALGO,
    ) -> Delivery:
        """Sign ``body`` as PayPal does. Deliveries signed with PayPal's own key for
        the registered webhook are remembered, for verify-webhook-signature."""
        transmission_id = transmission_id or str(uuid.uuid4())
        sent = _time(transmission_time or self.now())
        webhook = webhook_id or self.webhook_id
        crc = binascii.crc32(body) & 0xFFFFFFFF
        message = "|".join([transmission_id, sent, webhook, str(crc)]).encode("utf-8")
        signature = (key or self.key).sign(message, padding.PKCS1v15(), hashes.SHA256())
        delivery = Delivery(
            {
                "Content-Type": "application/json",
                "PAYPAL-TRANSMISSION-ID": transmission_id,
                "PAYPAL-TRANSMISSION-TIME": sent,
                "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
                "PAYPAL-CERT-URL": cert_url,
                "PAYPAL-AUTH-ALGO": auth_algo,
                "User-Agent": "PayPal/AUHD-214.0-58791455",
            },
            body,
        )
        if key is None and webhook_id is None:
            self.deliveries[transmission_id] = delivery
        return delivery

    def event_body(
        self, event_type: str, resource: dict[str, Any], *, event_id: str | None = None
    ) -> bytes:
        resource_type = "checkout-order" if event_type.startswith("CHECKOUT.") else "capture"
        event = {
            "id": event_id or f"WH-{secrets.token_hex(8).upper()}-{secrets.token_hex(8).upper()}",
            "event_version": "1.0",
            "create_time": _time(self.now()),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": f"fake {event_type}",
            "resource": resource,
            "links": [],
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def capture_resource(self, capture_id: str) -> dict[str, Any]:
        capture = dict(self.captures[capture_id])
        order_id = capture.pop("order_id")
        capture["supplementary_data"] = {"related_ids": {"order_id": order_id}}
        return capture

    # --- HTTP -----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        for fault in list(self._faults):
            if fault.method == request.method and fault.path.search(path):
                self._faults.remove(fault)
                if fault.kind == "timeout_before":
                    raise httpx.ConnectTimeout("fake: connect timed out", request=request)
                if fault.kind == "timeout_after":
                    self._route(request)  # PayPal did it; the answer never arrives
                    raise httpx.ReadTimeout("fake: read timed out", request=request)
                if fault.kind == "stale_approved":
                    # A read served from a replica that has not seen the capture yet.
                    order = json.loads(self._route(request).content)
                    order["status"] = "APPROVED"
                    order["purchase_units"][0].pop("payments", None)
                    return httpx.Response(200, json=order)
                return _error(int(fault.kind), "INTERNAL_SERVER_ERROR")
        return self._route(request)

    def _route(self, request: httpx.Request) -> httpx.Response:
        host, path, method = request.url.host, request.url.path, request.method
        if request.url.scheme != "https":
            self.problems.append(f"plain HTTP: {request.url}")
        if host == CERT_HOST and method == "GET" and path in self.certs:
            if "authorization" in request.headers:
                self.problems.append("credentials sent with the certificate fetch")
            self.cert_fetches += 1
            return httpx.Response(
                200, content=self.certs[path], headers={"Content-Type": "application/x-pem-file"}
            )
        if host != API_HOST:
            self.problems.append(f"unexpected host: {request.url}")
            return _error(404, "RESOURCE_NOT_FOUND")
        if path == "/v1/oauth2/token" and method == "POST":
            return self._token(request)
        if not self._authorised(request):
            return httpx.Response(
                401,
                json={
                    "error": "invalid_token",
                    "error_description": "Token signature verification failed",
                },
            )
        if method == "POST" and path == "/v2/checkout/orders":
            return self._idempotent(request, "create", self._create_order)
        match = re.fullmatch(r"/v2/checkout/orders/([A-Z0-9]+)(/capture)?", path)
        if match and method == "GET" and not match[2]:
            order = self.orders.get(match[1])
            return (
                httpx.Response(200, json=order)
                if order
                else _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            )
        if match and method == "POST" and match[2]:
            order_id = match[1]
            return self._idempotent(request, "capture", lambda r: self._capture(r, order_id))
        refund = re.fullmatch(r"/v2/payments/captures/([A-Z0-9]+)/refund", path)
        if refund and method == "POST":
            capture_id = refund[1]
            return self._idempotent(request, "refund", lambda r: self._refund(r, capture_id))
        if method == "POST" and path == "/v1/notifications/verify-webhook-signature":
            return self._verify_webhook(request)
        token = re.fullmatch(r"/v3/vault/payment-tokens/([A-Za-z0-9_-]+)", path)
        if token and method == "DELETE":
            if self.vault_tokens.pop(token[1], None) is None:
                return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            return httpx.Response(204)
        self.problems.append(f"unexpected call: {method} {path}")
        return _error(404, "RESOURCE_NOT_FOUND")

    def _token(self, request: httpx.Request) -> httpx.Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return httpx.Response(
                401,
                json={
                    "error": "invalid_client",
                    "error_description": "Client Authentication failed",
                },
            )
        if (
            not request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            )
            or request.content != b"grant_type=client_credentials"
        ):
            self.problems.append(f"token request body: {request.content!r}")
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        self.token_requests += 1
        token = f"A21AA{secrets.token_urlsafe(24)}"
        self.tokens.add(token)
        return httpx.Response(
            200,
            json={
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_lifetime,
                "nonce": f"{_time(self.now())}{secrets.token_hex(8)}",
            },
        )

    def _authorised(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.tokens

    def _idempotent(
        self,
        request: httpx.Request,
        scope: str,
        handler: Callable[[httpx.Request], tuple[int, dict[str, Any]]],
    ) -> httpx.Response:
        request_id = request.headers.get("paypal-request-id")
        if not request_id:
            self.problems.append(f"{scope} without PayPal-Request-Id")
            return _error(400, "INVALID_REQUEST", "MISSING_REQUEST_ID")
        key = (scope, request_id)
        if key in self._replies:
            status, body = self._replies[key]
            # The same request again: the latest state of what the first one did.
            if scope in ("create", "capture") and "id" in body and body["id"] in self.orders:
                body = self.orders[body["id"]]
                status = 200
            return httpx.Response(status, json=body)
        try:
            payload = json.loads(request.content or b"null")
        except ValueError:
            self.problems.append(f"{scope}: body is not JSON")
            return _error(400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON")
        if not isinstance(payload, dict):
            self.problems.append(f"{scope}: body is not an object")
            return _error(400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON")
        status, body = handler(request)
        if status < 500:
            self._replies[key] = (status, body)
        return httpx.Response(status, json=body)

    def _bad(self, problem: str, issue: str) -> tuple[int, dict[str, Any]]:
        self.problems.append(problem)
        return 400, {"name": "INVALID_REQUEST", "details": [{"issue": issue}]}

    def _create_order(self, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        payload = json.loads(request.content)
        if payload.get("intent") != "CAPTURE":
            return self._bad(f"intent {payload.get('intent')!r}", "INVALID_PARAMETER_VALUE")
        units = payload.get("purchase_units")
        if not isinstance(units, list) or len(units) != 1:
            return self._bad("expected exactly one purchase unit", "INVALID_ARRAY_MAX_ITEMS")
        unit = units[0]
        amount = unit.get("amount") or {}
        value, currency = amount.get("value"), amount.get("currency_code")
        if currency not in ("HKD", "CNY"):
            return self._bad(f"currency {currency!r}", "CURRENCY_NOT_SUPPORTED")
        if not isinstance(value, str) or not _VALUE.match(value):
            return self._bad(
                f"amount value {value!r} is not a 2-decimal string", "DECIMAL_PRECISION"
            )
        if _minor(value) == 0:
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "AMOUNT_MUST_BE_POSITIVE"}],
            }
        if not unit.get("custom_id") or len(unit["custom_id"]) > 127:
            return self._bad("custom_id missing or too long", "INVALID_STRING_LENGTH")
        if len(unit.get("invoice_id") or "") > 127 or len(unit.get("description") or "") > 127:
            return self._bad("invoice_id or description too long", "INVALID_STRING_LENGTH")
        wallet = (payload.get("payment_source") or {}).get("paypal")
        if wallet is not None and "vault_id" in wallet:
            return self._charge_vault(unit, currency, value, wallet)
        vault_ask = ((wallet or {}).get("attributes") or {}).get("vault")
        if vault_ask is not None and (
            vault_ask.get("store_in_vault") != "ON_SUCCESS"
            or vault_ask.get("usage_type") not in ("MERCHANT", "PLATFORM")
            or vault_ask.get("customer_type", "CONSUMER") not in ("CONSUMER", "BUSINESS")
        ):
            return self._bad(f"vault attributes {vault_ask!r}", "INVALID_PARAMETER_VALUE")
        context = (
            (wallet or {}).get("experience_context") or payload.get("application_context") or {}
        )
        for url_field in ("return_url", "cancel_url"):
            if url_field in context and not str(context[url_field]).startswith(
                ("https://", "http://")
            ):
                return self._bad(f"{url_field} {context[url_field]!r}", "INVALID_PARAMETER_SYNTAX")
        order_id = self._new_id("5O")
        now = _time(self.now())
        order: dict[str, Any] = {
            "id": order_id,
            "intent": "CAPTURE",
            "status": "PAYER_ACTION_REQUIRED" if wallet is not None else "CREATED",
            "purchase_units": [
                {
                    "reference_id": unit.get("reference_id", "default"),
                    "amount": {"currency_code": currency, "value": value},
                    "payee": {"merchant_id": "FAKEMERCHANT01"},
                    "description": unit.get("description"),
                    "custom_id": unit["custom_id"],
                    "invoice_id": unit.get("invoice_id"),
                }
            ],
            "create_time": now,
            "links": [
                {
                    "href": f"{API_BASE}/v2/checkout/orders/{order_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}",
                    "rel": "payer-action" if wallet is not None else "approve",
                    "method": "GET",
                },
            ],
        }
        if wallet is not None:
            order["payment_source"] = {"paypal": {}}
        self.orders[order_id] = order
        self.contexts[order_id] = context
        if vault_ask is not None:
            customer = ((wallet or {}).get("attributes") or {}).get("customer") or {}
            self._vault_asks[order_id] = {"customer_id": customer.get("id")}
        return 201, order

    def _charge_vault(
        self, unit: dict[str, Any], currency: str, value: str, wallet: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """An order paid with a saved wallet: no payer, completed and captured at once."""
        saved = self.vault_tokens.get(wallet["vault_id"])
        if saved is None:
            return 404, {
                "name": "RESOURCE_NOT_FOUND",
                "details": [{"issue": "INVALID_RESOURCE_ID"}],
            }
        outcome = self.vault_outcomes.get(wallet["vault_id"], "ok")
        if outcome == "instrument_declined":
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "INSTRUMENT_DECLINED"}],
            }
        order_id = self._new_id("5O")
        order: dict[str, Any] = {
            "id": order_id,
            "intent": "CAPTURE",
            "status": "APPROVED",
            "payment_source": {
                "paypal": {"email_address": saved["email"], "account_id": saved["payer_id"]}
            },
            "purchase_units": [
                {
                    "reference_id": unit.get("reference_id", "default"),
                    "amount": {"currency_code": currency, "value": value},
                    "payee": {"merchant_id": "FAKEMERCHANT01"},
                    "description": unit.get("description"),
                    "custom_id": unit["custom_id"],
                    "invoice_id": unit.get("invoice_id"),
                }
            ],
            "create_time": _time(self.now()),
            "links": [
                {
                    "href": f"{API_BASE}/v2/checkout/orders/{order_id}",
                    "rel": "self",
                    "method": "GET",
                }
            ],
        }
        self.orders[order_id] = order
        if outcome == "payer_action":
            order["status"] = "PAYER_ACTION_REQUIRED"
            order["links"].append(
                {
                    "href": f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}",
                    "rel": "payer-action",
                    "method": "GET",
                }
            )
            return 201, order
        self._funding[order_id] = outcome
        return self._capture_now(order_id)

    def _capture(self, request: httpx.Request, order_id: str) -> tuple[int, dict[str, Any]]:
        return self._capture_now(order_id)

    def _capture_now(self, order_id: str) -> tuple[int, dict[str, Any]]:
        order = self.orders.get(order_id)
        if order is None:
            return 404, {
                "name": "RESOURCE_NOT_FOUND",
                "details": [{"issue": "INVALID_RESOURCE_ID"}],
            }
        if order["status"] == "COMPLETED":
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "ORDER_ALREADY_CAPTURED"}],
            }
        if order["status"] != "APPROVED":
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "ORDER_NOT_APPROVED"}],
            }
        funding = self._funding.get(order_id, "ok")
        if funding == "instrument_declined":
            # The buyer must choose another funding source on PayPal's page.
            order["status"] = "PAYER_ACTION_REQUIRED"
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "INSTRUMENT_DECLINED"}],
            }
        unit = order["purchase_units"][0]
        capture_id = self._new_id("3C")
        status = {"ok": "COMPLETED", "decline": "DECLINED", "pending": "PENDING"}[funding]
        capture: dict[str, Any] = {
            "id": capture_id,
            "status": status,
            "amount": dict(unit["amount"]),
            "final_capture": True,
            "custom_id": unit["custom_id"],
            "invoice_id": unit.get("invoice_id"),
            "create_time": _time(self.now()),
            "update_time": _time(self.now()),
            "links": [
                {
                    "href": f"{API_BASE}/v2/payments/captures/{capture_id}",
                    "rel": "self",
                    "method": "GET",
                },
            ],
        }
        if status == "PENDING":
            capture["status_details"] = {"reason": "PENDING_REVIEW"}
        self.captures[capture_id] = {**capture, "order_id": order_id}
        unit["payments"] = {"captures": [capture]}
        order["status"] = "COMPLETED"
        if order_id in self._vault_asks and status == "COMPLETED":
            self._vault(order, self._vault_asks[order_id].get("customer_id"))
        return 201, order

    def _vault(self, order: dict[str, Any], customer_id: str | None) -> None:
        """Save the payer's wallet, as PayPal does once an order asking for it is
        captured; the vault shows in the order's ``payment_source.paypal.attributes``."""
        email = self._payers.get(order["id"], "chan.tai.man@example.com")
        payer_id = f"PAYER{secrets.token_hex(4).upper()}"
        order["payment_source"]["paypal"].update(email_address=email, account_id=payer_id)
        order["payer"] = {"email_address": email, "payer_id": payer_id}
        up = {"href": f"{API_BASE}/v2/checkout/orders/{order['id']}", "rel": "up", "method": "GET"}
        if self.vault_later:
            vault: dict[str, Any] = {"status": "APPROVED", "links": [up]}
        else:
            token = secrets.token_hex(4)
            customer = customer_id or str(next(self._ids) + 208743000)
            self.vault_tokens[token] = {
                "customer_id": customer,
                "email": email,
                "payer_id": payer_id,
            }
            href = f"{API_BASE}/v3/vault/payment-tokens/{token}"
            vault = {
                "id": token,
                "status": "VAULTED",
                "customer": {"id": customer},
                "links": [
                    {"href": href, "rel": "self", "method": "GET"},
                    {"href": href, "rel": "delete", "method": "DELETE"},
                    up,
                ],
            }
        order["payment_source"]["paypal"]["attributes"] = {"vault": vault}

    def _refund(self, request: httpx.Request, capture_id: str) -> tuple[int, dict[str, Any]]:
        capture = self.captures.get(capture_id)
        if capture is None:
            return 404, {
                "name": "RESOURCE_NOT_FOUND",
                "details": [{"issue": "INVALID_RESOURCE_ID"}],
            }
        payload = json.loads(request.content)
        refunded = sum(r["minor"] for r in self.refunds.values() if r["capture_id"] == capture_id)
        total = _minor(capture["amount"]["value"])
        if capture["status"] == "REFUNDED" or refunded >= total:
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "CAPTURE_FULLY_REFUNDED"}],
            }
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "TRANSACTION_REFUSED"}],
            }
        amount = payload.get("amount") or capture["amount"]
        value = amount.get("value")
        if not isinstance(value, str) or not _VALUE.match(value):
            return self._bad(
                f"refund value {value!r} is not a 2-decimal string", "DECIMAL_PRECISION"
            )
        if amount.get("currency_code") != capture["amount"]["currency_code"]:
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "REFUND_CURRENCY_MISMATCH"}],
            }
        if _minor(value) > total - refunded:
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "REFUND_AMOUNT_EXCEEDED"}],
            }
        refund_id = self._new_id("1R")
        self.refunds[refund_id] = {
            "capture_id": capture_id,
            "minor": _minor(value),
            "custom_id": payload.get("custom_id"),
        }
        done = refunded + _minor(value)
        capture["status"] = "REFUNDED" if done == total else "PARTIALLY_REFUNDED"
        return 201, {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": {"currency_code": amount["currency_code"], "value": _value(_minor(value))},
            "links": [
                {
                    "href": f"{API_BASE}/v2/payments/refunds/{refund_id}",
                    "rel": "self",
                    "method": "GET",
                }
            ],
        }

    def _verify_webhook(self, request: httpx.Request) -> httpx.Response:
        """PayPal knows what it sent: SUCCESS only for one of its own deliveries, quoted
        back exactly (headers, the webhook id, and the event)."""
        payload = json.loads(request.content)
        required = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
            "webhook_event",
        )
        if any(name not in payload for name in required):
            self.problems.append("verify-webhook-signature without every field")
            return _error(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER")
        delivery = self.deliveries.get(payload["transmission_id"])
        ok = (
            delivery is not None
            and payload["webhook_id"] == self.webhook_id
            and payload["transmission_sig"] == delivery.headers["PAYPAL-TRANSMISSION-SIG"]
            and payload["transmission_time"] == delivery.headers["PAYPAL-TRANSMISSION-TIME"]
            and payload["cert_url"] == delivery.headers["PAYPAL-CERT-URL"]
            and payload["auth_algo"] == delivery.headers["PAYPAL-AUTH-ALGO"]
            and payload["webhook_event"] == json.loads(delivery.body)
        )
        return httpx.Response(200, json={"verification_status": "SUCCESS" if ok else "FAILURE"})
