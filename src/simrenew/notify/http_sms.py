"""SMS over a generic JSON HTTP gateway (httpx).

Sending: ``POST <url>`` with ``Authorization: Bearer <token>``, ``Idempotency-Key:
<our message id>`` and the JSON body

    {"to": "+85291234567", "text": "...", "reference": "<our message id>"}

A 2xx answer means the gateway took the message; its JSON body may name the
gateway's own id as ``{"id": "..."}``. The gateway splits and encodes long or
Chinese texts itself.

Errors, as the outbox understands them:

    DeliveryError                 try again later: 408, 429, any 5xx, a timeout,
     │                            a refused or dropped connection, and 401/403:
     │                            a wrong or expired token is a fault of ours that
     │                            an operator fixes, and dead-lettering every
     │                            message meanwhile would be worse than retrying
     └── PermanentDeliveryError   retrying cannot help: any other 4xx (a bad
                                  number, a refused text)

Delivery receipts: the gateway ``POST``s to our callback URL the JSON body

    {"id": "<gateway id>", "reference": "<our message id>",
     "status": "delivered" | "failed" | "expired" | "rejected" | "deleted"
               | "accepted" | "enroute" | "unknown",
     "error": "<gateway error code>" or null,
     "done_at": "<ISO 8601 with offset>" or null}

signed with ``X-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the
token>``. ``handle_receipt`` checks the signature, parses the body and hands a
``DeliveryReceipt`` to the ``DeliveryStatusSink``; it raises ``ReceiptRejected``
for a bad signature (``ReceiptSignatureInvalid``) or body (answer 4xx: the gateway
must not retry it) and lets the sink's own errors through (answer 5xx: the gateway retries later).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from simrenew.ports import (
    DeliveryError,
    DeliveryReceipt,
    DeliveryStatus,
    DeliveryStatusSink,
    PermanentDeliveryError,
)

if TYPE_CHECKING:
    from simrenew.config import Settings

log = logging.getLogger(__name__)

CHANNEL = "http"
SIGNATURE_HEADER = "X-Signature"
_RETRYABLE_4XX = frozenset({401, 403, 408, 429})
_STATUSES = {
    "delivered": DeliveryStatus.DELIVERED,
    "failed": DeliveryStatus.UNDELIVERABLE,
    "undeliverable": DeliveryStatus.UNDELIVERABLE,
    "expired": DeliveryStatus.EXPIRED,
    "rejected": DeliveryStatus.REJECTED,
    "deleted": DeliveryStatus.DELETED,
    "accepted": DeliveryStatus.ACCEPTED,
    "enroute": DeliveryStatus.ENROUTE,
    "unknown": DeliveryStatus.UNKNOWN,
}


class ReceiptRejected(ValueError):
    """A receipt callback that is not signed with our token or cannot be read."""


class ReceiptSignatureInvalid(ReceiptRejected):
    """A receipt callback whose ``X-Signature`` is missing or not made with our token."""


def sign(token: str, body: bytes) -> str:
    """The ``X-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


class HttpSmsSender:
    """An ``SmsSender`` that posts each message to one HTTP gateway.

    The token appears in no message, error or ``repr``. ``transport`` is the test
    seam (``httpx.MockTransport``); ``close`` releases the connection pool.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        receipts: DeliveryStatusSink | None = None,
        timeout: timedelta = timedelta(seconds=10),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the SMS gateway URL must be http(s)")
        self.url = url
        self._token = token
        self._receipts = receipts
        self._client = httpx.Client(timeout=timeout.total_seconds(), transport=transport)

    @classmethod
    def from_settings(
        cls, settings: Settings, receipts: DeliveryStatusSink | None = None
    ) -> HttpSmsSender:
        if not (settings.http_sms_url and settings.http_sms_token):
            raise ValueError("http_sms_url and http_sms_token must be set")
        return cls(
            settings.http_sms_url, settings.http_sms_token.get_secret_value(), receipts=receipts
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def close(self) -> None:
        self._client.close()

    def send_sms(self, to: str, text: str, *, message_id: str) -> None:
        where = f"SMS gateway {self.url}"
        try:
            response = self._client.post(
                self.url,
                json={"to": to, "text": text, "reference": message_id},
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Idempotency-Key": message_id,
                },
            )
        except httpx.HTTPError as exc:
            # Timeouts, refused and dropped connections; httpx's texts carry no headers.
            raise DeliveryError(f"{where} unreachable: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            provider_id = _gateway_id(response)
            if provider_id and self._receipts is not None:
                self._receipts.record_submission(message_id, provider_id, CHANNEL)
            return
        error = f"{where} answered {response.status_code}: {response.text[:200]}"
        if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_4XX:
            raise PermanentDeliveryError(error)
        raise DeliveryError(error)

    def handle_receipt(self, headers: Mapping[str, str], body: bytes) -> DeliveryReceipt:
        """Check, parse and record one receipt callback; returns what was recorded."""
        signature = {name.lower(): value for name, value in headers.items()}.get(
            SIGNATURE_HEADER.lower(), ""
        )
        if not hmac.compare_digest(signature.encode(), sign(self._token, body).encode()):
            raise ReceiptSignatureInvalid("receipt signature does not match")
        receipt = parse_receipt(body)
        if self._receipts is None:
            log.info(
                "SMS %s (%s): %s", receipt.message_id, receipt.provider_message_id, receipt.status
            )
        else:
            self._receipts.record_receipt(receipt)
        return receipt


def parse_receipt(body: bytes) -> DeliveryReceipt:
    """A receipt callback body (see the module docstring); raises ``ReceiptRejected``."""
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReceiptRejected(f"receipt is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ReceiptRejected("receipt is not a JSON object")
    provider_id, reference = data.get("id"), data.get("reference")
    if not isinstance(provider_id, str) or not provider_id:
        raise ReceiptRejected("receipt has no gateway id")
    if reference is not None and not isinstance(reference, str):
        raise ReceiptRejected("receipt reference is not a string")
    status = _STATUSES.get(str(data.get("status", "")).lower())
    if status is None:
        raise ReceiptRejected(f"receipt status {data.get('status')!r} is not known")
    error = data.get("error")
    return DeliveryReceipt(
        channel=CHANNEL,
        provider_message_id=provider_id,
        message_id=reference or None,
        status=status,
        error_code=str(error) if error not in (None, "") else None,
        done_at=_instant(data.get("done_at")),
    )


def _instant(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ReceiptRejected(f"receipt done_at {value!r} is not ISO 8601") from exc
    if moment.tzinfo is None:
        raise ReceiptRejected(f"receipt done_at {value!r} has no UTC offset")
    return moment.astimezone(UTC)


def _gateway_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    provider_id = data.get("id") if isinstance(data, dict) else None
    return str(provider_id) if provider_id not in (None, "") else None
