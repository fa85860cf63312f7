"""A stand-in for the generic JSON SMS gateway of ``simrenew.notify.http_sms``, served
through ``httpx.MockTransport``.

It implements the API as that module's docstring documents it, as a gateway would:

- ``POST /v1/sms`` with ``Authorization: Bearer <token>`` (else 401) and a JSON
  body ``{"to", "text", "reference"}``; ``to`` must be ``+`` and 8-15 digits (else
  422), ``text`` a non-empty string (else 400); a repeated ``Idempotency-Key``
  answers the first message's id again and sends nothing new;
- ``202 {"id": "gw-000001", "status": "accepted"}`` on success;
- ``fail_next(status)`` or ``fail_next(timeout=True)`` injects one error answer
  or one read timeout;
- ``receipt(...)`` builds the signed callback the gateway would POST back.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import httpx

TOKEN = "gw-test-token-0123456789"
URL = "https://sms-gateway.example.net/v1/sms"
_NUMBER = re.compile(r"^\+[0-9]{8,15}$")


@dataclass(frozen=True)
class SentSms:
    to: str
    text: str
    reference: str
    gateway_id: str


class FakeSmsGateway:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.requests: list[httpx.Request] = []
        self.sent: list[SentSms] = []
        self._by_key: dict[str, str] = {}
        self._failures: list[int | None] = []  # None: a read timeout
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def fail_next(self, status: int = 503, *, timeout: bool = False) -> None:
        self._failures.append(None if timeout else status)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            if request.method != "POST" or request.url.path != "/v1/sms":
                return _problem(404, "not found")
            if self._failures:
                failure = self._failures.pop(0)
                if failure is None:
                    raise httpx.ReadTimeout("timed out", request=request)
                return _problem(failure, "injected failure")
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return _problem(401, "bad token")
            try:
                body: Any = json.loads(request.content)
            except ValueError:
                return _problem(400, "body is not JSON")
            to, text = body.get("to"), body.get("text")
            reference = body.get("reference")
            if not isinstance(to, str) or not _NUMBER.match(to):
                return _problem(422, f"invalid number {to!r}")
            if not isinstance(text, str) or not text or not isinstance(reference, str):
                return _problem(400, "text and reference are required")
            key = request.headers.get("Idempotency-Key") or reference
            if key in self._by_key:
                return httpx.Response(202, json={"id": self._by_key[key], "status": "accepted"})
            gateway_id = f"gw-{next(self._ids):06d}"
            self._by_key[key] = gateway_id
            self.sent.append(SentSms(to, text, reference, gateway_id))
            return httpx.Response(202, json={"id": gateway_id, "status": "accepted"})

    def receipt(
        self,
        sms: SentSms,
        status: str = "delivered",
        *,
        error: str | None = None,
        done_at: str | None = "2026-03-01T12:05:30+08:00",
        token: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of the receipt callback for ``sms``, signed as documented."""
        body = json.dumps(
            {
                "id": sms.gateway_id,
                "reference": sms.reference,
                "status": status,
                "error": error,
                "done_at": done_at,
            }
        ).encode()
        key = (token or self.token).encode()
        signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "X-Signature": signature}, body


def _problem(status: int, detail: str) -> httpx.Response:
    return httpx.Response(status, json={"error": detail})
