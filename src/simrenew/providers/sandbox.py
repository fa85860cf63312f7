"""The sandbox provider: the embedded default, shaped like a hosted-checkout provider.

It plays both sides so that simrenew can be tried and tested with no account
anywhere:

- ``SandboxProvider`` is our adapter, like any other provider module: it starts a
  payment (a checkout URL), asks for its status, refunds, and verifies callbacks.
- ``SandboxGateway`` is the "remote" service: it keeps its own charges (in the
  ``sandbox_charges`` table, apart from ours), and when the buyer acts on the
  checkout page it produces signed callbacks, as a real provider would POST them.

Callbacks are signed like Stripe's: header ``Sandbox-Signature: t=<unix>,v1=<hex>``
with ``HMAC-SHA256(secret, "<t>.<body>")``. Several ``v1`` values may be sent and
several secrets accepted, so a secret can be rotated without dropping callbacks;
a timestamp more than ``tolerance`` seconds away is refused (replays).

Scenarios (chosen when the payment starts; the default is ``succeed``):

``succeed``               the buyer pays: ``payment.succeeded``
``decline``               the card is declined: ``payment.failed`` (card_declined)
``pending_then_succeed``  ``payment.processing`` first, ``payment.succeeded`` on settle
``unknown``               the start call times out *after* charging: our side records
                          ``unknown``; a status re-check finds it succeeded

Saved methods ("cards on file", ``SavesPaymentMethods``). A payment started with
``save_method`` that the buyer pays on the checkout page leaves a method in the
sandbox's ``sandbox_methods``, filed under the request's ``customer_ref`` or a new
``sbx_cus_...`` customer. Its token, ``sbx_pm_...``, is a MAC of the payment id, so the
gateway finds the method a payment saved without a column linking the two. A later
``charge_saved`` runs the scenario the method was saved with (``unknown``: the charge
is taken and the answer lost) and lands in ``sandbox_charges`` like any other charge,
so status checks, settling and refunds work unchanged; a detached method is declined
with ``method_detached``. Only the test card's last four digits are kept, never a
card number.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection, Engine, select, update

from simrenew.db import tables as t
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.ids import new_id
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

NAME = "sandbox"
SIGNATURE_HEADER = "Sandbox-Signature"
SCENARIOS = ("succeed", "decline", "pending_then_succeed", "unknown")
MAX_REMEMBERED_SESSIONS = 10_000
METHOD_PREFIX: Final = "sbx_pm_"
CUSTOMER_PREFIX: Final = "sbx_cus_"
# The sandbox's one test card ends like Stripe's 4242 4242 4242 4242; only these four
# digits are ever kept.
CARD_LAST4: Final = "4242"
CARD_BRAND: Final = "sandbox"
CARD_YEARS: Final = 3  # a saved test card expires this many years after it was saved

_EVENT_STATES = {
    "payment.succeeded": PaymentState.SUCCEEDED,
    "payment.failed": PaymentState.FAILED,
    "payment.processing": PaymentState.PENDING,
}
_STATUS_STATES = {
    "processing": PaymentState.PENDING,
    "succeeded": PaymentState.SUCCEEDED,
    "refunded": PaymentState.SUCCEEDED,
    "failed": PaymentState.FAILED,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _mac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets)])


def verify(
    header: str | None, body: bytes, secrets: Sequence[str], *, now: datetime, tolerance: int
) -> None:
    """Raise ``SignatureInvalid`` unless ``header`` signs ``body`` with one of ``secrets``
    at a time within ``tolerance`` seconds of ``now``."""
    if not header:
        raise SignatureInvalid(reason="missing signature")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureInvalid(reason="malformed signature header")
    if abs(now.timestamp() - timestamp) > tolerance:
        raise SignatureInvalid(reason="timestamp outside tolerance")
    expected = [sign(secret, timestamp, body) for secret in secrets]
    # compare_digest against every pair: no early exit that would leak timing.
    matched = False
    for candidate in signatures:
        for good in expected:
            matched |= hmac.compare_digest(candidate, good)
    if not matched:
        raise SignatureInvalid(reason="signature does not match")


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback as the provider would POST it."""

    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """What the sandbox's hosted page needs to take a payment, carried in its URL."""

    payment_id: str
    amount_minor: int
    currency: str
    scenario: str
    return_url: str = ""  # where the hosted page sends the buyer back, as real ones do
    save_method: bool = False  # keep the buyer's card on file once paid
    customer_ref: str | None = None  # the sandbox customer to file it under


class SandboxGateway:
    """The remote side: the sandbox's checkout sessions, its charges and its signed
    callbacks.

    A checkout session is stateless, as many hosted pages are: its details travel in
    a signed token in the checkout URL, and the gateway also remembers the sessions it
    opened in this process for the in-process buyer (CLI, tests, demo). A charge row
    is written once, when the buyer decides, so that opening a checkout costs no
    database write.
    """

    def __init__(
        self, engine: Engine, secrets: Sequence[str], *, now: Callable[[], datetime] = _utc_now
    ) -> None:
        if not secrets:
            raise ValueError("the sandbox needs at least one signing secret")
        self._engine = engine
        self._secrets = list(secrets)
        self._now = now
        self._sessions: dict[str, CheckoutSession] = {}
        self._sessions_lock = threading.Lock()

    def dispose(self) -> None:
        self._engine.dispose()

    # --- checkout sessions ----------------------------------------------------------

    def open_checkout(self, request: PaymentRequest, scenario: str) -> str:
        """Open a checkout; returns its session token."""
        session = CheckoutSession(
            request.payment_id,
            request.amount_minor,
            request.currency,
            scenario,
            request.return_url,
            request.save_method,
            request.customer_ref,
        )
        with self._sessions_lock:
            if len(self._sessions) >= MAX_REMEMBERED_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[session.payment_id] = session
        body = base64.urlsafe_b64encode(
            json.dumps(
                [
                    session.payment_id,
                    session.amount_minor,
                    session.currency,
                    scenario,
                    session.return_url,
                    int(session.save_method),
                    session.customer_ref or "",
                ],
                separators=(",", ":"),
            ).encode()
        ).decode()
        return f"{body}.{_mac(self._secrets[0], body)}"

    def session(self, token: str) -> CheckoutSession:
        """The session a checkout URL carries; raises ``SignatureInvalid`` if forged."""
        body, _, mac = token.partition(".")
        expected = [_mac(secret, body) for secret in self._secrets]
        if not any(hmac.compare_digest(mac, good) for good in expected):
            raise SignatureInvalid(reason="checkout session is not the sandbox's")
        fields = json.loads(base64.urlsafe_b64decode(body))
        payment_id, amount_minor, currency, scenario = fields[:4]
        # Sessions signed before return URLs were carried have four fields.
        return_url = str(fields[4]) if len(fields) > 4 else ""
        # ... and those signed before methods could be saved, five.
        save_method = bool(fields[5]) if len(fields) > 5 else False
        customer_ref = str(fields[6]) if len(fields) > 6 and fields[6] else None
        return CheckoutSession(
            str(payment_id),
            int(amount_minor),
            str(currency),
            str(scenario),
            return_url,
            save_method,
            customer_ref,
        )

    # --- charges -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction on the sandbox's books. They stand for a remote provider's
        ledger, not ours, so they are not worth a disk flush: on PostgreSQL the commit
        does not wait for the WAL flush (``synchronous_commit = off``: a crash may lose
        the last sandbox charges, never corrupt anything, and never touch our data)."""
        with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
            yield connection

    def record_charge(self, session: CheckoutSession, status: str) -> bool:
        """Write the charge once; False if this checkout was already decided."""
        now = self._now()
        with self._write() as connection:
            return insert_ignoring_duplicates(
                connection,
                t.sandbox_charges,
                {
                    "payment_id": session.payment_id,
                    "scenario": session.scenario,
                    "status": status,
                    "amount_minor": session.amount_minor,
                    "currency": session.currency,
                    "created_at": now,
                    "updated_at": now,
                },
            )

    def charge(self, payment_id: str) -> Mapping[str, object] | None:
        with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            row = connection.execute(
                select(t.sandbox_charges).where(t.sandbox_charges.c.payment_id == payment_id)
            ).first()
        return None if row is None else dict(row._mapping)

    def _set_status(
        self, payment_id: str, status: str, *, expected: str
    ) -> Mapping[str, object] | None:
        """Move a charge from ``expected`` to ``status``; None if another request moved
        it first."""
        with self._write() as connection:
            row = connection.execute(
                update(t.sandbox_charges)
                .where(
                    t.sandbox_charges.c.payment_id == payment_id,
                    t.sandbox_charges.c.status == expected,
                )
                .values(status=status, updated_at=self._now())
                .returning(*t.sandbox_charges.c)
            ).first()
        return None if row is None else dict(row._mapping)

    def complete(
        self,
        payment_id: str,
        *,
        action: str | None = None,
        session: CheckoutSession | None = None,
    ) -> list[Callback]:
        """The buyer acts on the checkout page: ``pay`` or ``decline`` (default: what
        the scenario says). Returns the callbacks the provider sends; none if the
        checkout was already decided (a buyer cannot pay one checkout twice). Raises
        ``ProviderError`` for a checkout this sandbox never opened."""
        with self._sessions_lock:
            session = session or self._sessions.pop(payment_id, None)
        if session is None:
            if self.charge(payment_id) is not None:
                return []
            raise ProviderError(f"sandbox: no checkout for {payment_id}")
        chosen = action or ("decline" if session.scenario == "decline" else "pay")
        if chosen == "decline":
            status, event, failure = "failed", "payment.failed", "card_declined"
        elif session.scenario == "pending_then_succeed":
            status, event, failure = "processing", "payment.processing", None
        else:
            status, event, failure = "succeeded", "payment.succeeded", None
        if not self.record_charge(session, status):
            return []
        if session.save_method and status != "failed":
            self.save_method(session, session.customer_ref)
        charge = {
            "payment_id": session.payment_id,
            "amount_minor": session.amount_minor,
            "currency": session.currency,
        }
        return [self._callback(charge, event, failure_code=failure)]

    # --- saved methods -----------------------------------------------------------------

    def _method_token(self, secret: str, payment_id: str) -> str:
        return METHOD_PREFIX + _mac(secret, f"method:{payment_id}")[:24]

    def save_method(self, session: CheckoutSession, customer_ref: str | None) -> None:
        """Keep the card a checkout was paid with, under ``customer_ref`` or a new
        customer; once per payment."""
        customer = customer_ref or (
            CUSTOMER_PREFIX + _mac(self._secrets[0], f"customer:{session.payment_id}")[:16]
        )
        with self._write() as connection:
            insert_ignoring_duplicates(
                connection,
                t.sandbox_methods,
                {
                    "token": self._method_token(self._secrets[0], session.payment_id),
                    "customer_ref": customer,
                    "scenario": session.scenario,
                    "created_at": self._now(),
                    "detached_at": None,
                },
            )

    def method(self, token: str) -> Mapping[str, object] | None:
        with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            row = connection.execute(
                select(t.sandbox_methods).where(t.sandbox_methods.c.token == token)
            ).first()
        return None if row is None else dict(row._mapping)

    def method_saved_by(self, payment_id: str) -> Mapping[str, object] | None:
        """The method ``payment_id`` saved, if any (under any of the secrets, so that a
        method saved before a secret was rotated is still found)."""
        tokens = [self._method_token(secret, payment_id) for secret in self._secrets]
        with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            row = connection.execute(
                select(t.sandbox_methods).where(t.sandbox_methods.c.token.in_(tokens))
            ).first()
        return None if row is None else dict(row._mapping)

    def detach(self, token: str) -> None:
        """Take a method off file; detaching twice, or a method never saved, is fine."""
        with self._write() as connection:
            connection.execute(
                update(t.sandbox_methods)
                .where(
                    t.sandbox_methods.c.token == token, t.sandbox_methods.c.detached_at.is_(None)
                )
                .values(detached_at=self._now())
            )

    def charge_method(
        self, request: PaymentRequest, method: SavedMethodRef
    ) -> tuple[str, str | None]:
        """Charge a saved method with no buyer present, once per payment id: the
        charge's status and failure code. A repeat answers what the first did.
        Raises ``ProviderError`` where the method's scenario is ``unknown`` (the charge
        is taken, the answer lost)."""
        existing = self.charge(request.payment_id)
        if existing is not None:
            return self._saved_outcome(existing)
        row = self.method(method.token)
        if row is None or (
            method.customer_ref is not None and row["customer_ref"] != method.customer_ref
        ):
            # Nothing is charged, so nothing is written: a repeat finds the same.
            return "failed", "method_not_found"
        if row["detached_at"] is not None:
            return "failed", "method_detached"
        scenario = str(row["scenario"])
        status = {"decline": "failed", "pending_then_succeed": "processing"}.get(
            scenario, "succeeded"
        )
        session = CheckoutSession(
            request.payment_id, request.amount_minor, request.currency, scenario
        )
        if not self.record_charge(session, status):
            # A concurrent request for the same payment was first: its charge stands.
            charged = self.charge(request.payment_id)
            assert charged is not None  # charges are never deleted
            return self._saved_outcome(charged)
        if scenario == "unknown":
            raise ProviderError("sandbox: simulated time-out after the saved card was charged")
        return status, "card_declined" if status == "failed" else None

    @staticmethod
    def _saved_outcome(charge: Mapping[str, object]) -> tuple[str, str | None]:
        status = str(charge["status"])
        return status, "card_declined" if status == "failed" else None

    def settle(self, payment_id: str) -> list[Callback]:
        """A processing payment clears (the second half of ``pending_then_succeed``)."""
        charge = self._set_status(payment_id, "succeeded", expected="processing")
        return [] if charge is None else [self._callback(charge, "payment.succeeded")]

    def refund(self, payment_id: str) -> bool:
        """True once the charge is refunded (again True on a repeat: refunds are
        idempotent at the provider)."""
        charge = self.charge(payment_id)
        if charge is None:
            return False
        return (
            charge["status"] == "refunded"
            or self._set_status(payment_id, "refunded", expected="succeeded") is not None
        )

    def _callback(
        self, charge: Mapping[str, object], event_type: str, *, failure_code: str | None = None
    ) -> Callback:
        now = self._now()
        body = json.dumps(
            {
                "id": new_id("evt"),
                "type": event_type,
                "created": int(now.timestamp()),
                "data": {
                    "payment_id": charge["payment_id"],
                    "provider_ref": f"sbx_{charge['payment_id']}",
                    "amount_minor": charge["amount_minor"],
                    "currency": charge["currency"],
                    "failure_code": failure_code,
                },
            },
            separators=(",", ":"),
        ).encode()
        header = signature_header(self._secrets[:1], int(now.timestamp()), body)
        return Callback({SIGNATURE_HEADER: header, "Content-Type": "application/json"}, body)


class SandboxProvider:
    """Our adapter for the sandbox, the same shape as every real provider module."""

    name = NAME

    def __init__(
        self,
        gateway: SandboxGateway,
        secrets: Sequence[str],
        *,
        checkout_base_url: str,
        tolerance_seconds: int = 300,
    ) -> None:
        self._gateway = gateway
        self._secrets = list(secrets)
        self._base = checkout_base_url.rstrip("/")
        self._tolerance = tolerance_seconds

    def checkout_url(self, payment_id: str, session: str) -> str:
        return f"{self._base}/sandbox/checkout/{payment_id}?session={session}"

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        scenario = request.scenario or "succeed"
        if scenario not in SCENARIOS:
            raise ValueError(
                f"unknown sandbox scenario {scenario!r}; one of {', '.join(SCENARIOS)}"
            )
        if scenario == "unknown":
            # The charge goes through at the provider, and then the answer is lost.
            session = CheckoutSession(
                request.payment_id, request.amount_minor, request.currency, scenario
            )
            self._gateway.record_charge(session, "succeeded")
            if request.save_method:
                # ... and the card was kept with it, as with a paid checkout.
                self._gateway.save_method(session, request.customer_ref)
            raise ProviderError("sandbox: simulated time-out after the charge was taken")
        token = self._gateway.open_checkout(request, scenario)
        # No provider reference yet: the sandbox files the charge under our payment id,
        # and its callbacks carry the reference.
        return ProviderResult(
            PaymentState.PENDING, checkout_url=self.checkout_url(request.payment_id, token)
        )

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        charge = self._gateway.charge(payment_id)
        if charge is None:
            # The buyer has not acted on the checkout page: nothing is charged yet.
            return ProviderResult(PaymentState.PENDING)
        return ProviderResult(
            _STATUS_STATES[str(charge["status"])],
            provider_ref=f"sbx_{payment_id}",
            amount_minor=int(str(charge["amount_minor"])),
        )

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        if self._gateway.refund(payment_id):
            return RefundResult(True, provider_ref=f"sbxr_{payment_id}")
        return RefundResult(False, failure_code="not_refundable")

    # --- saved methods (``SavesPaymentMethods``) ------------------------------------

    def saved_method(self, payment_id: str, provider_ref: str | None) -> SavedMethodDetails | None:
        row = self._gateway.method_saved_by(payment_id)
        if row is None or row["detached_at"] is not None:
            return None
        saved = row["created_at"]
        assert isinstance(saved, datetime)
        return SavedMethodDetails(
            token=str(row["token"]),
            customer_ref=str(row["customer_ref"]),
            brand=CARD_BRAND,
            last4=CARD_LAST4,
            exp_month=saved.month,
            exp_year=saved.year + CARD_YEARS,
        )

    def charge_saved(self, request: PaymentRequest, method: SavedMethodRef) -> ProviderResult:
        status, failure = self._gateway.charge_method(request, method)
        return ProviderResult(
            _STATUS_STATES[status],
            provider_ref=f"sbx_{request.payment_id}",
            failure_code=failure,
            amount_minor=request.amount_minor,
        )

    def forget_method(self, method: SavedMethodRef) -> None:
        self._gateway.detach(method.token)

    # --- callbacks ----------------------------------------------------------------------

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        header = next(
            (v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None
        )
        verify(header, body, self._secrets, now=now, tolerance=self._tolerance)
        try:
            payload = json.loads(body)
            data = payload["data"]
            state = _EVENT_STATES[payload["type"]]
            return PaymentEvent(
                provider=NAME,
                event_id=str(payload["id"]),
                payment_id=str(data["payment_id"]),
                state=state,
                occurred_at=datetime.fromtimestamp(int(payload["created"]), UTC),
                amount=Money(int(data["amount_minor"]), str(data["currency"])),
                provider_ref=data.get("provider_ref"),
                failure_code=data.get("failure_code"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureInvalid(reason="signed body is not a sandbox event") from exc
