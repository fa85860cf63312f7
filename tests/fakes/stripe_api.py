"""A local stand-in for the parts of Stripe's v1 API that simrenew uses, served over
HTTP on 127.0.0.1 so that the official SDK talks to it unchanged (its API base is the
only thing pointed elsewhere).

Built from Stripe's documented formats, not from our adapter:

- requests: form-encoded bodies with bracketed keys (``a[b][0][c]=v``), the secret key
  as ``Authorization: Bearer sk_...``, ``Stripe-Version``, ``Idempotency-Key``
  (https://docs.stripe.com/api/authentication, https://docs.stripe.com/api/idempotent_requests);
  a replay with the same key and parameters answers the first result again with
  ``Idempotent-Replayed: true``, other parameters are an ``idempotency_error``;
- errors: ``{"error": {"type", "code", "message", "param"}}`` with 400 / 401 / 402 /
  404 / 5xx (https://docs.stripe.com/api/errors, https://docs.stripe.com/error-codes);
- Checkout Sessions: create / retrieve (``expand[]``) / list by ``payment_intent``
  (https://docs.stripe.com/api/checkout/sessions); ``payment_method_types`` is refused
  on create as on API versions from 2026-09-30 (endive), ``allowed_payment_method_types``
  taken instead; WeChat Pay requires ``payment_method_options[wechat_pay][client]``;
- PaymentIntents: retrieve, search with ``metadata['key']:'value'``
  (https://docs.stripe.com/api/payment_intents, https://docs.stripe.com/search);
- Refunds: create (https://docs.stripe.com/api/refunds/create);
- saved cards: Checkout Sessions with ``payment_intent_data[setup_future_usage]`` and
  ``customer`` / ``customer_creation`` attach the card's PaymentMethod to a Customer
  when paid (https://docs.stripe.com/payments/checkout/save-during-payment); PaymentIntent
  create with ``payment_method``, ``customer``, ``off_session``, ``confirm`` charges it,
  a decline being a 402 ``card_error`` carrying the PaymentIntent
  (https://docs.stripe.com/api/payment_intents/create,
  https://docs.stripe.com/declines/codes); PaymentMethods retrieve / detach
  (https://docs.stripe.com/api/payment_methods);
- Events as webhooks deliver them (https://docs.stripe.com/api/events/object).

The tests play the buyer through ``pay``, ``decline``, ``pay_async``, ``settle_async``
and ``expire``, which change the fake's books as Checkout would and return the events
Stripe would send. ``fail_next`` and ``hang_next`` inject a 5xx and an answer that never
comes (the request is carried out, the response is held back until ``stop``).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Obj = dict[str, Any]

API_KEY = "sk_test_simrenew_fake"
PAYMENT_METHODS = ("card", "alipay", "wechat_pay")
CURRENCIES = ("hkd", "cny", "usd")
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
MINIMUM_AMOUNT = {"hkd": 400, "usd": 50}
LOCALES = ("auto", "en", "zh", "zh-HK", "zh-TW")
_KEY_PART = re.compile(r"\[([^\]]*)\]")
_SEARCH = re.compile(r"^metadata\['(?P<key>[A-Za-z0-9_]+)'\]:'(?P<value>(?:[^'\\]|\\.)*)'$")


class ApiError(Exception):
    """An error answer, in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Obj = {"error": {"type": type_, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: Obj


@dataclass
class _Injected:
    kind: str  # "fail" or "hang"
    path_prefix: str
    status: int = 500
    raw_body: bytes | None = None


@dataclass
class FakeStripe:
    api_key: str = API_KEY
    now: Callable[[], int] = field(default=lambda: int(time.time()))

    sessions: dict[str, Obj] = field(default_factory=dict)
    intents: dict[str, Obj] = field(default_factory=dict)
    refunds: dict[str, Obj] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    # PaymentIntents the search index has not caught up with yet (search lags writes).
    unsearchable: set[str] = field(default_factory=set)
    refund_status: str = "succeeded"
    payment_methods: dict[str, Obj] = field(default_factory=dict)
    customers: dict[str, Obj] = field(default_factory=dict)
    # What an off-session charge of a PaymentMethod does: "succeed" (default),
    # "decline", "authentication_required" or "processing".
    card_outcomes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._idempotency: dict[str, tuple[str, int, bytes]] = {}
        self._intent_data: dict[str, Obj] = {}
        self._injected: list[_Injected] = []
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- running ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        fake = self

        class Handler(_Handler):
            stripe = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll so that stop() returns at once rather than after half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # let held-back answers go (to closed sockets)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # --- what the tests arrange and inspect --------------------------------------------

    def fail_next(
        self, status: int = 500, *, path_prefix: str = "/", raw_body: bytes | None = None
    ) -> None:
        """The next matching request fails with ``status`` before anything is done."""
        self._injected.append(_Injected("fail", path_prefix, status, raw_body))

    def hang_next(self, *, path_prefix: str = "/") -> None:
        """The next matching request is carried out, but its answer is held back."""
        self._injected.append(_Injected("hang", path_prefix))

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        with self._lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    @property
    def succeeded_charges(self) -> int:
        with self._lock:
            return sum(1 for i in self.intents.values() if i["status"] == "succeeded")

    def session_for(self, payment_id: str) -> Obj:
        with self._lock:
            (session,) = [
                s for s in self.sessions.values() if s["client_reference_id"] == payment_id
            ]
            return session

    # --- the buyer on the Checkout page, and what Stripe sends afterwards --------------

    def event(self, type_: str, obj: Obj) -> Obj:
        return {
            "id": self._id("evt"),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": self.now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }

    def pay(
        self,
        session_id: str,
        method: str = "card",
        *,
        brand: str = "visa",
        last4: str = "4242",
        exp: tuple[int, int] = (12, 2029),
    ) -> list[Obj]:
        with self._lock:
            session = self._open(session_id)
            intent = self._intent_for(session, method)
            self._pay_with(session, intent, method, brand, last4, exp)
            intent.update(status="succeeded", amount_received=intent["amount"])
            intent["last_payment_error"] = None
            intent["latest_charge"] = self._id("ch")
            session.update(status="complete", payment_status="paid")
            return [
                self.event("payment_intent.succeeded", intent),
                self.event("checkout.session.completed", session),
            ]

    def decline(
        self, session_id: str, code: str = "card_declined", decline_code: str = "generic_decline"
    ) -> list[Obj]:
        """A declined attempt: the session stays open for another try."""
        with self._lock:
            session = self._open(session_id)
            intent = self._intent_for(session, "card")
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": "Your card was declined.",
            }
            return [self.event("payment_intent.payment_failed", intent)]

    def pay_async(self, session_id: str, method: str = "alipay") -> list[Obj]:
        """The buyer finishes on the page but the money settles later."""
        with self._lock:
            session = self._open(session_id)
            intent = self._intent_for(session, method)
            intent["status"] = "processing"
            session.update(status="complete", payment_status="unpaid")
            return [self.event("checkout.session.completed", session)]

    def settle_async(self, session_id: str, *, succeed: bool) -> list[Obj]:
        with self._lock:
            session = self.sessions[session_id]
            intent = self.intents[session["payment_intent"]]
            assert intent["status"] == "processing"
            if succeed:
                intent.update(status="succeeded", amount_received=intent["amount"])
                session["payment_status"] = "paid"
                return [
                    self.event("payment_intent.succeeded", intent),
                    self.event("checkout.session.async_payment_succeeded", session),
                ]
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": "payment_method_provider_decline",
                "message": "The payment was declined by the provider.",
            }
            return [
                self.event("payment_intent.payment_failed", intent),
                self.event("checkout.session.async_payment_failed", session),
            ]

    def expire(self, session_id: str) -> list[Obj]:
        with self._lock:
            session = self._open(session_id)
            session["status"] = "expired"
            if session["payment_intent"]:
                self.intents[session["payment_intent"]]["status"] = "canceled"
            return [self.event("checkout.session.expired", session)]

    def _pay_with(
        self, session: Obj, intent: Obj, method: str, brand: str, last4: str, exp: tuple[int, int]
    ) -> None:
        """The PaymentMethod the buyer paid with, attached to the session's Customer
        (given, or made by ``customer_creation=always``) when the card is to be saved."""
        saving = bool(self._intent_data[session["id"]].get("setup_future_usage"))
        customer = session.get("customer")
        if customer is None and session.get("customer_creation") == "always":
            customer = self._id("cus")
            self.customers[customer] = {"id": customer, "object": "customer"}
            session["customer"] = customer
        payment_method: Obj = {
            "id": self._id("pm"),
            "object": "payment_method",
            "type": method,
            "customer": customer if saving and method == "card" else None,
            "created": self.now(),
            "livemode": False,
        }
        if method == "card":
            payment_method["card"] = {
                "brand": brand,
                "last4": last4,
                "exp_month": exp[0],
                "exp_year": exp[1],
                "funding": "credit",
                "country": "HK",
            }
        self.payment_methods[payment_method["id"]] = payment_method
        intent["payment_method"] = payment_method["id"]
        intent["customer"] = customer

    def _open(self, session_id: str) -> Obj:
        session = self.sessions[session_id]
        assert session["status"] == "open", f"session is {session['status']}"
        return session

    def _intent_for(self, session: Obj, method: str) -> Obj:
        """The session's PaymentIntent, made on the first attempt and reused on retries."""
        if session["payment_intent"]:
            intent = self.intents[session["payment_intent"]]
            intent["payment_method_types"] = [method]
            return intent
        data = self._intent_data[session["id"]]
        intent = {
            "id": self._id("pi"),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0,
            "currency": session["currency"],
            "created": self.now(),
            "description": data.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(data.get("metadata") or {}),
            "payment_method_types": [method],
            "status": "requires_payment_method",
        }
        if data.get("setup_future_usage"):
            intent["setup_future_usage"] = data["setup_future_usage"]
        self.intents[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
        return intent

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):024d}"

    # --- the API -------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        split = urlsplit(target)
        path = split.path
        if method == "POST":
            if headers.get("content-type") != "application/x-www-form-urlencoded":
                raise ApiError(400, "Stripe takes form-encoded bodies.")
            params = decode_form(body.decode())
        else:
            params = decode_form(split.query)
        with self._lock:
            self.requests.append(Recorded(method, path, headers, params))
            injected = next((i for i in self._injected if path.startswith(i.path_prefix)), None)
            if injected is not None:
                self._injected.remove(injected)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            raise ApiError(401, "Invalid API Key provided.")
        if not headers.get("stripe-version"):
            raise ApiError(400, "No Stripe-Version header.")
        if injected is not None and injected.kind == "fail":
            raw = injected.raw_body
            if raw is None:
                raw = json.dumps(
                    {"error": {"type": "api_error", "message": "An unknown error occurred."}}
                ).encode()
            return Answer(injected.status, raw)
        answer = self._idempotent(method, path, headers, params)
        return dataclasses.replace(answer, hold=injected is not None and injected.kind == "hang")

    def _idempotent(self, method: str, path: str, headers: dict[str, str], params: Obj) -> Answer:
        key = headers.get("idempotency-key")
        if method != "POST" or not key:
            return self._route(method, path, params)
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        with self._lock:
            stored = self._idempotency.get(key)
            if stored is not None:
                if stored[0] != fingerprint:
                    raise ApiError(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                        type_="idempotency_error",
                    )
                return Answer(stored[1], stored[2], replayed=True)
            answer = self._route(method, path, params)
            # Only results of requests that ran are kept (a validation error is not).
            self._idempotency[key] = (fingerprint, answer.status, answer.body)
            return answer

    def _route(self, method: str, path: str, params: Obj) -> Answer:
        with self._lock:
            if method == "POST" and path == "/v1/checkout/sessions":
                return Answer.of(self._create_session(params))
            if method == "GET" and path == "/v1/checkout/sessions":
                return Answer.of(self._list_sessions(params))
            if method == "GET" and path.startswith("/v1/checkout/sessions/"):
                session = self._find(self.sessions, path.rsplit("/", 1)[1], "checkout.session")
                return Answer.of(self._expand(session, params.get("expand") or [], ""))
            if method == "GET" and path == "/v1/payment_intents/search":
                return Answer.of(self._search_intents(params))
            if method == "GET" and path.startswith("/v1/payment_intents/"):
                intent = self._find(self.intents, path.rsplit("/", 1)[1], "payment_intent")
                return Answer.of(self._expand_method(intent, params.get("expand") or [], ""))
            if method == "POST" and path == "/v1/payment_intents":
                return self._create_intent(params)
            detach = re.fullmatch(r"/v1/payment_methods/([^/]+)/detach", path)
            if method == "POST" and detach:
                return Answer.of(self._detach(detach[1]))
            if method == "GET" and path.startswith("/v1/payment_methods/"):
                found = self._find(self.payment_methods, path.rsplit("/", 1)[1], "payment_method")
                return Answer.of(copy.deepcopy(found))
            if method == "POST" and path == "/v1/refunds":
                return Answer.of(self._create_refund(params))
        raise ApiError(404, f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def _find(books: dict[str, Obj], object_id: str, kind: str) -> Obj:
        if object_id not in books:
            raise ApiError(
                404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id"
            )
        return books[object_id]

    def _expand(self, obj: Obj, expand: list[str], prefix: str) -> Obj:
        out = copy.deepcopy(obj)
        nested = f"{prefix}payment_intent.payment_method"
        if (f"{prefix}payment_intent" in expand or nested in expand) and out.get("payment_intent"):
            out["payment_intent"] = self._expand_method(
                self.intents[out["payment_intent"]], expand, f"{prefix}payment_intent."
            )
        return out

    def _expand_method(self, intent: Obj, expand: list[str], prefix: str) -> Obj:
        out = copy.deepcopy(intent)
        if f"{prefix}payment_method" in expand and out.get("payment_method"):
            out["payment_method"] = copy.deepcopy(self.payment_methods[out["payment_method"]])
        return out

    def _create_session(self, params: Obj) -> Obj:
        if "payment_method_types" in params:
            # Removed from Checkout Session creation in 2026-09-30.endive.
            raise ApiError(
                400,
                "Received unknown parameter: payment_method_types",
                code="parameter_unknown",
                param="payment_method_types",
            )
        if params.get("mode") != "payment":
            raise ApiError(400, "This fake only knows mode=payment.", param="mode")
        if not params.get("success_url"):
            raise ApiError(
                400, "Missing required param: success_url.", code="parameter_missing",
                param="success_url",
            )  # fmt: skip
        items = params.get("line_items")
        if not isinstance(items, list) or len(items) != 1:
            raise ApiError(400, "This fake takes exactly one line item.", param="line_items")
        item = items[0]
        price = item.get("price_data") or {}
        currency = price.get("currency")
        if item.get("quantity") != "1":
            raise ApiError(400, "Quantity must be 1 here.", param="line_items[0][quantity]")
        if currency not in CURRENCIES:
            raise ApiError(
                400, f"Invalid currency: {currency}.", code="parameter_invalid_string",
                param="line_items[0][price_data][currency]",
            )  # fmt: skip
        amount_text = price.get("unit_amount", "")
        if not isinstance(amount_text, str) or not amount_text.isdigit():
            raise ApiError(
                400, "Invalid integer: unit_amount.", code="parameter_invalid_integer",
                param="line_items[0][price_data][unit_amount]",
            )  # fmt: skip
        amount = int(amount_text)
        if amount < MINIMUM_AMOUNT.get(currency, 1):
            raise ApiError(
                400, "Amount must be at least the minimum charge amount.",
                code="amount_too_small", param="line_items[0][price_data][unit_amount]",
            )  # fmt: skip
        if not (price.get("product_data") or {}).get("name"):
            raise ApiError(
                400, "Missing required param: product_data[name].", code="parameter_missing",
                param="line_items[0][price_data][product_data][name]",
            )  # fmt: skip
        methods = params.get("allowed_payment_method_types") or list(PAYMENT_METHODS)
        unknown = [m for m in methods if m not in PAYMENT_METHODS]
        if unknown:
            raise ApiError(
                400, f"Unknown payment method type {unknown[0]}.",
                code="parameter_invalid_string", param="allowed_payment_method_types",
            )  # fmt: skip
        options = params.get("payment_method_options") or {}
        if "wechat_pay" in methods and (options.get("wechat_pay") or {}).get("client") not in (
            "web",
            "ios",
            "android",
        ):
            raise ApiError(
                400, "payment_method_options[wechat_pay][client] is required for WeChat Pay.",
                code="parameter_missing", param="payment_method_options[wechat_pay][client]",
            )  # fmt: skip
        if params.get("locale", "auto") not in LOCALES:
            raise ApiError(400, "Invalid locale.", code="parameter_invalid_string", param="locale")
        intent_data = params.get("payment_intent_data") or {}
        future = intent_data.get("setup_future_usage")
        if future is not None and future not in ("on_session", "off_session"):
            raise ApiError(
                400, "Invalid setup_future_usage.", code="parameter_invalid_string",
                param="payment_intent_data[setup_future_usage]",
            )  # fmt: skip
        single_use = [m for m in methods if m != "card"]
        if future is not None and single_use:
            # Checkout's Alipay and WeChat Pay options take setup_future_usage=none only.
            raise ApiError(
                400, f"The payment method type {single_use[0]} cannot be set up for future use.",
                param="payment_intent_data[setup_future_usage]",
            )  # fmt: skip
        if "customer" in params and "customer_creation" in params:
            raise ApiError(
                400, "You may only specify one of these parameters: customer, customer_creation.",
                param="customer_creation",
            )  # fmt: skip
        if params.get("customer_creation") not in (None, "always", "if_required"):
            raise ApiError(400, "Invalid customer_creation.", param="customer_creation")
        customer = params.get("customer")
        if customer is not None and customer not in self.customers:
            raise ApiError(
                400, f"No such customer: '{customer}'", code="resource_missing", param="customer"
            )
        for name in ("metadata",):
            for key, value in (params.get(name) or {}).items():
                if len(key) > 40 or not isinstance(value, str) or len(value) > 500:
                    raise ApiError(400, "Invalid metadata.", param=f"{name}[{key}]")
        now = self.now()
        session_id = self._id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": dict(params.get("metadata") or {}),
            "mode": "payment",
            "payment_intent": None,
            "payment_method_options": options,
            "payment_method_types": list(methods),
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "ui_mode": "hosted_page",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        if customer is not None or "customer_creation" in params:
            session["customer"] = customer
            session["customer_creation"] = params.get("customer_creation")
        self.sessions[session_id] = session
        self._intent_data[session_id] = dict(params.get("payment_intent_data") or {})
        return copy.deepcopy(session)

    def _list_sessions(self, params: Obj) -> Obj:
        found = [
            self._expand(s, params.get("expand") or [], "data.")
            for s in self.sessions.values()
            if params.get("payment_intent") in (None, s["payment_intent"])
        ]
        limit = int(params.get("limit", "10"))
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": "/v1/checkout/sessions",
        }

    def _search_intents(self, params: Obj) -> Obj:
        match = _SEARCH.match(params.get("query", ""))
        if match is None:
            raise ApiError(400, "This fake searches only metadata['key']:'value'.", param="query")
        value = re.sub(r"\\(.)", r"\1", match["value"])
        found = [
            copy.deepcopy(i)
            for i in self.intents.values()
            if i["metadata"].get(match["key"]) == value and i["id"] not in self.unsearchable
        ]
        return {
            "object": "search_result",
            "data": found[: int(params.get("limit", "10"))],
            "has_more": False,
            "next_page": None,
            "url": "/v1/payment_intents/search",
        }

    def _create_intent(self, params: Obj) -> Answer:
        """A PaymentIntent confirmed at once on a saved card, with nobody present."""
        if params.get("confirm") != "true" or params.get("off_session") != "true":
            raise ApiError(400, "This fake only charges saved cards off-session.", param="confirm")
        currency = params.get("currency")
        if currency not in CURRENCIES:
            raise ApiError(400, f"Invalid currency: {currency}.", param="currency")
        amount_text = params.get("amount", "")
        if not isinstance(amount_text, str) or not amount_text.isdigit():
            raise ApiError(400, "Invalid integer: amount.", param="amount")
        amount = int(amount_text)
        if amount < MINIMUM_AMOUNT.get(currency, 1):
            raise ApiError(400, "Amount too small.", code="amount_too_small", param="amount")
        allowed = params.get("allowed_payment_method_types") or ["card"]
        if "payment_method_types" in params or allowed != ["card"]:
            raise ApiError(400, "This fake charges cards only.", param="payment_method_types")
        pm_id = params.get("payment_method", "")
        payment_method = self._find(self.payment_methods, pm_id, "payment_method")
        if payment_method["customer"] is None:
            raise ApiError(
                400,
                "The provided PaymentMethod was previously used with a PaymentIntent without "
                "Customer attachment, shared with a connected account without Customer "
                "attachment, or was detached from a Customer. It may not be used again.",
                param="payment_method",
            )
        if params.get("customer") != payment_method["customer"]:
            raise ApiError(
                400, "The provided PaymentMethod does not belong to the Customer.",
                param="customer",
            )  # fmt: skip
        intent = {
            "id": self._id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "created": self.now(),
            "customer": payment_method["customer"],
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "payment_method": pm_id,
            "payment_method_types": ["card"],
            "status": "requires_payment_method",
        }
        self.intents[intent["id"]] = intent
        outcome = self.card_outcomes.get(pm_id, "succeed")
        if outcome == "succeed":
            intent.update(status="succeeded", amount_received=amount, latest_charge=self._id("ch"))
            return Answer.of(copy.deepcopy(intent))
        if outcome == "processing":
            intent["status"] = "processing"
            return Answer.of(copy.deepcopy(intent))
        code, decline, message = {
            "decline": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
            "authentication_required": (
                "authentication_required",
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
            ),
        }[outcome]
        error = {"type": "card_error", "code": code, "decline_code": decline, "message": message}
        intent["last_payment_error"] = dict(error)
        # A failed confirmation is a 402 whose error carries the PaymentIntent; Stripe
        # keeps it as the answer to this idempotency key.
        body = {"error": {**error, "payment_intent": copy.deepcopy(intent)}}
        return Answer(402, json.dumps(body).encode())

    def _detach(self, pm_id: str) -> Obj:
        payment_method = self._find(self.payment_methods, pm_id, "payment_method")
        if payment_method["customer"] is None:
            raise ApiError(
                400,
                "The payment method you provided is not attached to a customer so detachment "
                "is impossible.",
            )
        payment_method["customer"] = None
        return copy.deepcopy(payment_method)

    def _create_refund(self, params: Obj) -> Obj:
        intent_id = params.get("payment_intent")
        if not intent_id or intent_id not in self.intents:
            raise ApiError(
                400, f"No such payment_intent: '{intent_id}'", code="resource_missing",
                param="payment_intent",
            )  # fmt: skip
        intent = self.intents[intent_id]
        if intent["status"] != "succeeded":
            raise ApiError(
                400, "This PaymentIntent does not have a successful charge to refund.",
                code="payment_intent_unexpected_state", param="payment_intent",
            )  # fmt: skip
        refunded = sum(
            r["amount"]
            for r in self.refunds.values()
            if r["payment_intent"] == intent_id and r["status"] in ("succeeded", "pending")
        )
        remaining = intent["amount_received"] - refunded
        if remaining <= 0:
            raise ApiError(
                400, f"Charge {intent['latest_charge']} has already been refunded.",
                code="charge_already_refunded",
            )  # fmt: skip
        amount = int(params.get("amount", str(remaining)))
        if amount > remaining:
            raise ApiError(
                400, "Refund amount is greater than unrefunded amount on charge.",
                code="amount_too_large", param="amount",
            )  # fmt: skip
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "created": self.now(),
            "currency": intent["currency"],
            "failure_reason": "expired_or_canceled_card"
            if self.refund_status == "failed"
            else None,
            "metadata": dict(params.get("metadata") or {}),
            "payment_intent": intent_id,
            "status": self.refund_status,
        }
        self.refunds[refund["id"]] = refund
        return copy.deepcopy(refund)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    replayed: bool = False
    hold: bool = False

    @classmethod
    def of(cls, obj: Obj) -> Answer:
        return cls(200, json.dumps(obj).encode())


def decode_form(text: str) -> Obj:
    """``a[b][0][c]=v`` pairs into nested dicts and lists, as Stripe reads them."""
    root: Obj = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        name, _, rest = key.partition("[")
        parts = [name, *_KEY_PART.findall("[" + rest)] if rest else [name]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part if part else str(len(node)), {})
        last = parts[-1]
        node[last if last else str(len(node))] = value
    listed: Obj = _listify(root)
    return listed


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


class _Handler(BaseHTTPRequestHandler):
    stripe: FakeStripe

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        fake = self.stripe
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                answer = fake.handle(method, self.path, headers, body)
            except ApiError as exc:
                answer = Answer(exc.status, json.dumps(exc.body).encode())
            if answer.hold:
                # Carried out; the caller is left waiting until the fake stops.
                fake._release.wait(timeout=30)
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Request-Id", f"req_{id(answer):x}")
            if answer.replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a time-out): as with the real service
        except Exception as exc:  # a bug in the fake: reported by the test fixture
            fake.errors.append(exc)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def running(fake: FakeStripe) -> Iterator[FakeStripe]:
    """For a fixture: ``yield from running(FakeStripe())``."""
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
        assert not fake.errors, fake.errors
