"""WeChat Pay API v3: Native (QR code) payments for Mainland and Hong Kong wallets.

The buyer scans a QR code that our pages draw from the ``code_url`` WeChat Pay
returns; WeChat Pay then POSTs an encrypted, signed notification to ``notify_url``.

Two account kinds share one signing scheme and differ in paths and a few fields
(``Region``):

- ``mainland`` (https://api.mch.weixin.qq.com), the merchant API for CNY:
  Native order  ``POST /v3/pay/transactions/native``
  (https://pay.weixin.qq.com/doc/v3/merchant/4012525095), order query
  ``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=``, refund
  ``POST /v3/refund/domestic/refunds``, platform certificates ``GET /v3/certificates``.
- ``global`` (https://apihk.mch.weixin.qq.com), the cross-border API that Hong Kong
  wallets and HKD pricing use: ``POST /v3/global/transactions/native`` (adds
  ``trade_type`` and ``merchant_category_code``), ``GET /v3/global/transactions/
  out-trade-no/{out_trade_no}?mchid=``, ``POST /v3/global/refunds``,
  ``GET /v3/global/certificates``
  (https://pay.weixin.qq.com/wiki/doc/api_external/en/apis/chapter3_2_1.shtml and
  https://pay.weixin.qq.com/wiki/doc/api_external/ch/apis/chapter3_1_3.shtml).

Formats implemented (APIv3 rules: "signature generation"
https://pay.weixin.qq.com/docs/merchant/development/interface-rules/signature-generation.html,
"signature verification" .../interface-rules/signature-verification.html, and for the
global API https://pay.weixin.qq.com/wiki/doc/api_external/en/wechatpay/wechatpay4_0.shtml
and https://pay.weixin.qq.com/doc/global/v3/zh/4012354982):

- Requests carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",
  signature="..",timestamp="..",serial_no=".."``; the signature is
  base64(SHA256withRSA(merchant private key,
  "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n")).
- Answers (2xx) and notifications are verified from ``Wechatpay-Timestamp``,
  ``Wechatpay-Nonce``, ``Wechatpay-Signature`` and ``Wechatpay-Serial`` over
  "TIMESTAMP\\nNONCE\\nBODY\\n" with the platform key that the serial names: a
  platform certificate (downloaded from the certificates endpoint, each encrypted
  with AEAD_AES_256_GCM under the APIv3 key, checked for its validity dates, cached
  by serial) or the newer "WeChat Pay public key" configured with its
  ``PUB_KEY_ID_...`` id. Unknown serials and timestamps more than five minutes off
  are refused; so are WeChat Pay's deliberate probe signatures.
- Notifications (https://pay.weixin.qq.com/docs/merchant/products/notification/
  introduction.html): ``{"id", "create_time", "event_type", "resource_type":
  "encrypt-resource", "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext",
  "nonce", "associated_data", "original_type"}}``; the resource decrypts, with the
  APIv3 key, to the transaction (``out_trade_no``, ``transaction_id``,
  ``trade_state``, ``amount`` {``total``, ``currency``}, ``success_time``). WeChat
  Pay sends the same notification again until it is answered 200/204 (4xx/5xx asks
  for a resend), so its ``id`` is the event id that de-duplicates.
- A 2xx answer without a valid signature is taken as forged (the global rules say
  so in as many words): a ``ProviderError``, never a result.

``out_trade_no`` is at most 32 characters of ``[0-9A-Za-z_*-]``; our payment ids
(``pay_`` and 36 hex digits) are longer, so they travel re-encoded in base 36
(``pay-`` and 28 characters) and are decoded back from every answer and notification.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from simrenew.domain.errors import InvalidMoney, SignatureInvalid
from simrenew.domain.money import Money
from simrenew.domain.payments import PaymentEvent, PaymentState
from simrenew.ports import PaymentRequest, ProviderError, ProviderResult, RefundResult

NAME = "wechatpay"
SCHEME = "WECHATPAY2-SHA256-RSA2048"
AEAD_ALGORITHM = "AEAD_AES_256_GCM"
MAINLAND_BASE_URL = "https://api.mch.weixin.qq.com"
GLOBAL_BASE_URL = "https://apihk.mch.weixin.qq.com"

# Wechatpay-* answer and notification headers.
TIMESTAMP_HEADER = "Wechatpay-Timestamp"
NONCE_HEADER = "Wechatpay-Nonce"
SIGNATURE_HEADER = "Wechatpay-Signature"
SERIAL_HEADER = "Wechatpay-Serial"
SIGNATURE_TYPE_HEADER = "Wechatpay-Signature-Type"

OUT_TRADE_NO_PREFIX = "pay-"
_PAYMENT_ID = re.compile(r"pay_([0-9a-f]{36})")
_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_*-]{6,32}")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_ENCODED_WIDTH = 28  # 36**28 > 16**36: 28 base-36 digits hold 36 hex digits
_CHINA = timezone(timedelta(hours=8))  # WeChat Pay writes times in Beijing time

# After a download that failed or did not know a serial, no other download for a
# minute: anyone can send callbacks naming made-up serials.
_MIN_REFRESH = timedelta(minutes=1)
# Platform certificates are rotated with overlap; re-reading them twice a day keeps a
# new one known before WeChat Pay starts signing with it.
_MAX_CERTIFICATE_AGE = timedelta(hours=12)

# What a query's trade_state means for us (query and notification resources alike).
_TRADE_STATES: dict[str, PaymentState] = {
    "SUCCESS": PaymentState.SUCCEEDED,
    # Paid, then (partly) refunded: the money was taken.
    "REFUND": PaymentState.SUCCEEDED,
    "NOTPAY": PaymentState.PENDING,
    "USERPAYING": PaymentState.PENDING,
    "ACCEPT": PaymentState.PENDING,
    "CLOSED": PaymentState.CANCELLED,
    "REVOKED": PaymentState.CANCELLED,
    "PAYERROR": PaymentState.FAILED,
}
# Error codes of a query for an order WeChat Pay never received.
_ORDER_NOT_FOUND = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"})
# Refusals of a repeated create whose order WeChat Pay already has (paid, closed, or
# "out_trade_no already used"): the order itself says what became of the payment.
_ORDER_DECIDED = frozenset(
    {"ORDERPAID", "ORDER_PAID", "ORDERCLOSED", "ORDER_CLOSED", "OUT_TRADE_NO_USED"}
)
# Refund statuses that mean "accepted": WeChat Pay completes refunds asynchronously.
_REFUND_ACCEPTED = frozenset({"SUCCESS", "PROCESSING"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Region(enum.StrEnum):
    """Which WeChat Pay API the merchant account lives on."""

    MAINLAND = "mainland"  # api.mch.weixin.qq.com, CNY
    GLOBAL = "global"  # apihk.mch.weixin.qq.com, cross-border (Hong Kong wallets, HKD)


@dataclass(frozen=True, slots=True)
class _Endpoints:
    native: str
    query: str  # with {out_trade_no}
    refund: str
    certificates: str
    currencies: frozenset[str]


_ENDPOINTS = {
    Region.MAINLAND: _Endpoints(
        native="/v3/pay/transactions/native",
        query="/v3/pay/transactions/out-trade-no/{out_trade_no}",
        refund="/v3/refund/domestic/refunds",
        certificates="/v3/certificates",
        currencies=frozenset({"CNY"}),
    ),
    Region.GLOBAL: _Endpoints(
        native="/v3/global/transactions/native",
        query="/v3/global/transactions/out-trade-no/{out_trade_no}",
        refund="/v3/global/refunds",
        certificates="/v3/global/certificates",
        currencies=frozenset({"HKD", "CNY"}),
    ),
}


# --- the documented primitives -----------------------------------------------------------


def request_message(method: str, url_path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """The string a request signature covers: five lines, each ending in ``\\n``;
    ``url_path`` is the path with its query string, without scheme and host."""
    head = f"{method}\n{url_path}\n{timestamp}\n{nonce}\n".encode()
    return head + body + b"\n"


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The string an answer's or notification's signature covers (three lines)."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def rsa_sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """base64(SHA256withRSA) of ``message``, as WeChat Pay signs and expects."""
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def authorization(
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    method: str,
    url_path: str,
    body: bytes,
    timestamp: int,
    nonce: str,
) -> str:
    """The ``Authorization`` header value of one request."""
    signature = rsa_sign(private_key, request_message(method, url_path, timestamp, nonce, body))
    return (
        f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def decrypt_resource(apiv3_key: bytes, nonce: str, ciphertext: str, associated_data: str) -> bytes:
    """AEAD_AES_256_GCM decryption of a notification resource or an encrypted
    certificate. Raises ``ValueError`` if it was not encrypted under ``apiv3_key``."""
    try:
        data = base64.b64decode(ciphertext, validate=True)
        return AESGCM(apiv3_key).decrypt(nonce.encode(), data, associated_data.encode())
    except (InvalidTag, binascii.Error) as exc:
        raise ValueError("resource does not decrypt with the APIv3 key") from exc


def out_trade_no_for(payment_id: str) -> str:
    """Our payment id as an ``out_trade_no`` (at most 32 characters)."""
    match = _PAYMENT_ID.fullmatch(payment_id)
    if match:
        number = int(match[1], 16)
        digits = []
        for _ in range(_ENCODED_WIDTH):
            number, digit = divmod(number, 36)
            digits.append(_BASE36[digit])
        return OUT_TRADE_NO_PREFIX + "".join(reversed(digits))
    if _OUT_TRADE_NO.fullmatch(payment_id) and not payment_id.startswith(OUT_TRADE_NO_PREFIX):
        return payment_id
    raise ValueError(f"payment id {payment_id!r} cannot be sent as a WeChat Pay out_trade_no")


def payment_id_for(out_trade_no: str) -> str:
    """The payment id an ``out_trade_no`` stands for (the inverse of ``out_trade_no_for``)."""
    encoded = out_trade_no[len(OUT_TRADE_NO_PREFIX) :]
    if (
        out_trade_no.startswith(OUT_TRADE_NO_PREFIX)
        and len(encoded) == _ENCODED_WIDTH
        and all(c in _BASE36 for c in encoded)
    ):
        number = int(encoded, 36)
        if number < 16**36:
            return f"pay_{number:036x}"
    return out_trade_no


def out_refund_no_for(payment_id: str) -> str:
    """One refund per payment, and the same one on every retry: WeChat Pay refunds an
    ``out_refund_no`` once however often it is sent."""
    return f"{payment_id}-refund"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_CHINA)
    return parsed.astimezone(UTC)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    # JSON true/false are ints to Python; an amount never is one.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Rejected(Exception):
    """A signature that does not verify; its ``reason`` is safe to show and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """The merchant API private key (``apiclient_key.pem``), PEM with or without its
    armour lines."""
    text = pem.strip()
    if "-----BEGIN" not in text:
        text = f"-----BEGIN PRIVATE KEY-----\n{text}\n-----END PRIVATE KEY-----"
    key = serialization.load_pem_private_key(text.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the WeChat Pay merchant key must be an RSA private key")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """The WeChat Pay public key (``pub_key.pem``), PEM with or without armour lines."""
    text = pem.strip()
    if "-----BEGIN" not in text:
        text = f"-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----"
    key = serialization.load_pem_public_key(text.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the WeChat Pay public key must be an RSA public key")
    return key


def verify_signature(
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance: int,
    key_for: Callable[[str], rsa.RSAPublicKey | None],
) -> None:
    """Raise ``_Rejected`` unless ``body`` is signed, per the ``Wechatpay-*`` headers,
    by the platform key ``key_for`` finds for ``Wechatpay-Serial``, at a time within
    ``tolerance`` seconds of ``now``."""
    timestamp = _header(headers, TIMESTAMP_HEADER)
    nonce = _header(headers, NONCE_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    serial = _header(headers, SERIAL_HEADER)
    if not (timestamp and nonce and signature and serial):
        raise _Rejected("missing signature headers")
    signature_type = _header(headers, SIGNATURE_TYPE_HEADER)
    if signature_type is not None and signature_type != SCHEME:
        raise _Rejected("unsupported signature type")
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise _Rejected("malformed timestamp")
    if abs(int(now.timestamp()) - int(timestamp)) > tolerance:
        raise _Rejected("timestamp outside tolerance")
    key = key_for(serial.strip())
    if key is None:
        raise _Rejected("unknown platform serial")
    try:
        # WeChat Pay's probe signatures ("WECHATPAY/SIGNTEST/...") fail here, as they
        # must: it checks that merchants do verify.
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, answer_message(timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, InvalidSignature):
        raise _Rejected("signature does not match") from None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    if not raw.strip():
        return {}  # 204 No Content
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ProviderError(f"wechatpay: {what}: answer is not JSON") from exc
    if not isinstance(data, dict):
        raise ProviderError(f"wechatpay: {what}: answer is not a JSON object")
    return data


# --- configuration -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeChatPayConfig:
    """A merchant account. ``merchant_private_key`` and ``apiv3_key`` are secrets and
    stay out of ``repr``."""

    mchid: str
    appid: str
    merchant_serial_no: str  # serial of the merchant API certificate
    merchant_private_key: str = field(repr=False)  # PEM
    apiv3_key: str = field(repr=False)  # 32 characters
    notify_url: str  # https, no query string: <public url>/webhooks/wechatpay
    region: Region = Region.MAINLAND
    base_url: str | None = None  # default: the region's API host
    merchant_category_code: str | None = None  # required by the global API
    platform_public_key: str | None = None  # PEM of the "WeChat Pay public key"
    platform_public_key_id: str | None = None  # its PUB_KEY_ID_...
    # Download platform certificates? Default: only when no public key is configured
    # (set both during WeChat Pay's migration from certificates to the public key).
    use_platform_certificates: bool | None = None
    timeout_seconds: int = 10
    tolerance_seconds: int = 300

    def validate(self) -> None:
        if not (self.mchid and self.appid and self.merchant_serial_no):
            raise ValueError("WeChat Pay needs mchid, appid and the merchant serial number")
        if len(self.apiv3_key.encode()) != 32:
            raise ValueError("the WeChat Pay APIv3 key must be 32 bytes")
        if not self.notify_url or urlsplit(self.notify_url).query:
            raise ValueError("the WeChat Pay notify_url must be set and carry no query string")
        if (self.platform_public_key is None) != (self.platform_public_key_id is None):
            raise ValueError("set both the WeChat Pay public key and its id, or neither")
        if self.region is Region.GLOBAL and not self.merchant_category_code:
            raise ValueError("the global WeChat Pay API needs merchant_category_code")
        if not self.certificates_enabled and self.platform_public_key is None:
            raise ValueError("WeChat Pay needs platform certificates or a public key")
        if self.timeout_seconds <= 0 or self.tolerance_seconds <= 0:
            raise ValueError("timeouts and tolerances are positive seconds")

    @property
    def certificates_enabled(self) -> bool:
        if self.use_platform_certificates is None:
            return self.platform_public_key is None
        return self.use_platform_certificates


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    data: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        code = self.data.get("code")
        return code if isinstance(code, str) and code else None

    def refusal(self) -> str:
        return (self.code or f"http_{self.status}")[:64]


@dataclass(frozen=True, slots=True)
class _Certificate:
    key: rsa.RSAPublicKey
    not_before: datetime
    not_after: datetime


# --- the adapter -------------------------------------------------------------------------


class WeChatPayProvider:
    """WeChat Pay Native payments behind ``ports.PaymentProvider``."""

    name = NAME

    def __init__(
        self,
        config: WeChatPayConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        config.validate()
        self._config = config
        self._endpoints = _ENDPOINTS[config.region]
        base = config.base_url or (
            GLOBAL_BASE_URL if config.region is Region.GLOBAL else MAINLAND_BASE_URL
        )
        self._base = base.rstrip("/")
        # The signature covers the path WeChat Pay sees, including a base URL's own
        # path (a forward proxy in front of the API, say).
        self._base_path = urlsplit(self._base).path
        self._private_key = load_private_key(config.merchant_private_key)
        self._apiv3_key = config.apiv3_key.encode()
        self._public_key = (
            load_public_key(config.platform_public_key) if config.platform_public_key else None
        )
        self._now = now
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(config.timeout_seconds),
            follow_redirects=False,
        )
        self._certificates: dict[int, _Certificate] = {}
        self._certificates_at: datetime | None = None
        self._refresh_tried_at: datetime | None = None
        self._certificates_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    # --- PaymentProvider --------------------------------------------------------------

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        if request.currency not in self._endpoints.currencies:
            return ProviderResult(PaymentState.FAILED, failure_code="currency_not_supported")
        body: dict[str, Any] = {
            "appid": self._config.appid,
            "mchid": self._config.mchid,
            "description": request.description[:127],
            "out_trade_no": out_trade_no_for(request.payment_id),
            "notify_url": self._config.notify_url,
            "amount": {"total": request.amount_minor, "currency": request.currency},
        }
        if self._config.region is Region.GLOBAL:
            body["trade_type"] = "NATIVE"
            body["merchant_category_code"] = self._config.merchant_category_code
        # No time_expire: a repeated create must carry the same parameters to get the
        # same code_url back instead of a "duplicate out_trade_no" refusal.
        answer = self._call("POST", self._endpoints.native, body=body)
        if answer.ok:
            code_url = answer.data.get("code_url")
            if not isinstance(code_url, str) or not code_url:
                raise ProviderError("wechatpay: the Native order answer has no code_url")
            # No provider reference yet: WeChat Pay files the order under our
            # out_trade_no; the transaction_id comes with the payment.
            return ProviderResult(PaymentState.PENDING, checkout_url=code_url)
        if answer.code in _ORDER_DECIDED:
            # A repeat for an order the buyer paid (or that closed) meanwhile: never a
            # second charge, and no "failed" for a payment that went through.
            status = self.fetch_status(request.payment_id, None)
            if status.state is not PaymentState.PENDING:
                return status
        return ProviderResult(PaymentState.FAILED, failure_code=answer.refusal())

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        out_trade_no = out_trade_no_for(payment_id)
        answer = self._query(out_trade_no)
        if answer is None:
            # WeChat Pay never got the order (the create call died on the way): the
            # buyer cannot have paid it.
            return ProviderResult(PaymentState.PENDING)
        data = answer.data
        if data.get("out_trade_no") != out_trade_no:
            raise ProviderError("wechatpay: the order query answered about another order")
        trade_state = _text(data.get("trade_state")) or ""
        state = _TRADE_STATES.get(trade_state, PaymentState.UNKNOWN)
        amount = data.get("amount")
        total = _int(amount.get("total")) if isinstance(amount, dict) else None
        transaction_id = data.get("transaction_id")
        return ProviderResult(
            state,
            provider_ref=_text(transaction_id),
            failure_code=(trade_state or "no_trade_state")[:64]
            if state in (PaymentState.FAILED, PaymentState.CANCELLED, PaymentState.UNKNOWN)
            else None,
            amount_minor=total,
        )

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        out_trade_no = out_trade_no_for(payment_id)
        # The refund request must state the order's total; the order itself says what
        # it is (a partial refund passes less than the total).
        order = self._query(out_trade_no)
        if order is None:
            return RefundResult(False, failure_code="ORDER_NOT_EXIST")
        if order.data.get("trade_state") not in ("SUCCESS", "REFUND"):
            return RefundResult(False, failure_code="not_paid")
        amount = order.data.get("amount")
        total = _int(amount.get("total")) if isinstance(amount, dict) else None
        if total is None:
            raise ProviderError("wechatpay: the order query answer has no amount")
        if isinstance(amount, dict) and amount.get("currency") not in (None, currency):
            return RefundResult(False, failure_code="currency_mismatch")
        body: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no_for(payment_id),
            "amount": {"refund": amount_minor, "total": total, "currency": currency},
        }
        if self._config.region is Region.GLOBAL:
            body = {"mchid": self._config.mchid, "appid": self._config.appid, **body}
        answer = self._call("POST", self._endpoints.refund, body=body)
        if not answer.ok:
            return RefundResult(False, failure_code=answer.refusal())
        status = answer.data.get("status")
        # The mainland API names the refund "refund_id", the global one "id".
        refund_id = answer.data.get("refund_id") or answer.data.get("id")
        reference = _text(refund_id)
        if status in _REFUND_ACCEPTED:
            return RefundResult(True, provider_ref=reference)
        # CLOSED (refused) or ABNORMAL (the buyer's account rejected it: an operator
        # resolves it on the merchant platform).
        return RefundResult(False, provider_ref=reference, failure_code=str(status)[:64])

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        try:
            verify_signature(
                headers,
                body,
                now=now,
                tolerance=self._config.tolerance_seconds,
                key_for=lambda serial: self._key_for(serial, now),
            )
        except _Rejected as exc:
            raise SignatureInvalid(reason=exc.reason) from None
        try:
            payload = json.loads(body)
            resource = payload["resource"]
            if payload.get("resource_type", "encrypt-resource") != "encrypt-resource":
                raise SignatureInvalid(reason="notification resource is not encrypted")
            if resource.get("algorithm") != AEAD_ALGORITHM:
                raise SignatureInvalid(reason="unsupported notification algorithm")
            plaintext = decrypt_resource(
                self._apiv3_key,
                str(resource["nonce"]),
                str(resource["ciphertext"]),
                str(resource.get("associated_data") or ""),
            )
            data = json.loads(plaintext)
            return self._event(payload, resource, data, now)
        except SignatureInvalid:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SignatureInvalid(reason="signed body is not a WeChat Pay notification") from exc

    # --- notifications ----------------------------------------------------------------

    def _event(
        self,
        payload: Mapping[str, Any],
        resource: Mapping[str, Any],
        data: Mapping[str, Any],
        now: datetime,
    ) -> PaymentEvent:
        mchid = data.get("mchid") or data.get("sp_mchid")
        if mchid is not None and mchid != self._config.mchid:
            raise SignatureInvalid(reason="notification is for another merchant")
        event_type = str(payload["event_type"])
        transaction_id = data.get("transaction_id")
        amount = data.get("amount") or {}
        if resource.get("original_type") == "refund" or event_type.startswith("REFUND."):
            # We ask for no refund notifications, but a refund implies the payment was
            # taken: say so, which changes nothing for a succeeded payment.
            state = PaymentState.SUCCEEDED
            money = None
            failure_code = None
        else:
            trade_state = data["trade_state"]
            if trade_state not in _TRADE_STATES:
                raise SignatureInvalid(reason=f"unknown trade_state {str(trade_state)[:32]}")
            state = _TRADE_STATES[trade_state]
            total = _int(amount["total"])
            if total is None:
                raise SignatureInvalid(reason="notification amount is not an integer")
            try:
                money = Money(total, str(amount["currency"]))
            except InvalidMoney as exc:
                raise SignatureInvalid(reason="notification currency is not ours") from exc
            failure_code = (
                str(trade_state) if state in (PaymentState.FAILED, PaymentState.CANCELLED) else None
            )
        occurred_at = (
            _parse_time(data.get("success_time")) or _parse_time(payload.get("create_time")) or now
        )
        return PaymentEvent(
            provider=NAME,
            event_id=str(payload["id"]),
            payment_id=payment_id_for(str(data["out_trade_no"])),
            state=state,
            occurred_at=occurred_at,
            amount=money,
            provider_ref=_text(transaction_id),
            failure_code=failure_code,
        )

    # --- HTTP ---------------------------------------------------------------------------

    def _query(self, out_trade_no: str) -> _Answer | None:
        """The order as WeChat Pay has it; None if it has none by that number."""
        path = self._endpoints.query.format(out_trade_no=quote(out_trade_no, safe=""))
        answer = self._call("GET", path, query={"mchid": self._config.mchid})
        if answer.status == 404 and answer.code in _ORDER_NOT_FOUND:
            return None
        if not answer.ok:
            raise ProviderError(f"wechatpay: order query refused: {answer.refusal()}")
        return answer

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Sign and send one request. Raises ``ProviderError`` when WeChat Pay cannot
        be reached, times out or fails (5xx, 429)."""
        path_with_query = path + (f"?{urlencode(query)}" if query else "")
        # The exact bytes sent are the bytes signed.
        payload = (
            b""
            if body is None
            else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        )
        timestamp = int(self._now().timestamp())
        nonce = secrets.token_hex(16).upper()
        headers = {
            "Authorization": authorization(
                mchid=self._config.mchid,
                serial_no=self._config.merchant_serial_no,
                private_key=self._private_key,
                method=method,
                url_path=self._base_path + path_with_query,
                body=payload,
                timestamp=timestamp,
                nonce=nonce,
            ),
            "Accept": "application/json",
            "User-Agent": "simrenew-wechatpay/1",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._config.platform_public_key_id:
            # Names the key we verify with, so that WeChat Pay signs its answer with the
            # public key rather than a platform certificate.
            headers[SERIAL_HEADER] = self._config.platform_public_key_id
        try:
            response = self._client.request(
                method, self._base + path_with_query, content=payload or None, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"wechatpay: {method} {path}: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise ProviderError(f"wechatpay: {method} {path}: HTTP {response.status_code}")
        return response

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> _Answer:
        """One request whose 2xx answer must carry a valid WeChat Pay signature
        (``ProviderError`` otherwise); 2xx and 4xx answers are returned."""
        response = self._send(method, path, query=query, body=body)
        raw = response.content
        if 200 <= response.status_code < 300:
            now = self._now()
            try:
                verify_signature(
                    response.headers,
                    raw,
                    now=now,
                    tolerance=self._config.tolerance_seconds,
                    key_for=lambda serial: self._key_for(serial, now),
                )
            except _Rejected as exc:
                raise ProviderError(f"wechatpay: answer rejected: {exc.reason}") from None
        return _Answer(response.status_code, _json_object(raw, f"{method} {path}"))

    # --- platform keys -----------------------------------------------------------------

    def _key_for(self, serial: str, now: datetime) -> rsa.RSAPublicKey | None:
        """The platform key ``serial`` names, valid at ``now``; None if there is none
        (after one certificate download, at most once a minute)."""
        if self._public_key is not None and serial == self._config.platform_public_key_id:
            return self._public_key
        if not self._config.certificates_enabled:
            return None
        try:
            number = int(serial, 16)
        except ValueError:
            return None
        with self._certificates_lock:
            stale = (
                self._certificates_at is None or now - self._certificates_at > _MAX_CERTIFICATE_AGE
            )
            may_retry = (
                self._refresh_tried_at is None or now - self._refresh_tried_at >= _MIN_REFRESH
            )
            if (stale or number not in self._certificates) and may_retry:
                try:
                    self._certificates = self._download_certificates(now)
                    self._certificates_at = now
                except ProviderError:
                    # Keep the certificates we have: an unknown serial stays unknown,
                    # the signature is refused, and WeChat Pay sends its notification
                    # again later.
                    self._refresh_tried_at = now
                else:
                    if number not in self._certificates:
                        self._refresh_tried_at = now
            certificate = self._certificates.get(number)
        if certificate is None or not certificate.not_before <= now <= certificate.not_after:
            return None
        return certificate.key

    def _download_certificates(self, now: datetime) -> dict[int, _Certificate]:
        """The platform certificates, decrypted with the APIv3 key and checked."""
        path = self._endpoints.certificates
        response = self._send("GET", path)
        if not 200 <= response.status_code < 300:
            raise ProviderError(f"wechatpay: GET {path}: HTTP {response.status_code}")
        entries = _json_object(response.content, f"GET {path}").get("data")
        if not isinstance(entries, list):
            raise ProviderError("wechatpay: the certificate list has no data")
        found = dict(filter(None, (self._certificate(entry, now) for entry in entries)))
        if not found:
            raise ProviderError("wechatpay: no valid platform certificate in the list")

        def signer(serial: str) -> rsa.RSAPublicKey | None:
            if self._public_key is not None and serial == self._config.platform_public_key_id:
                return self._public_key
            try:
                certificate = found.get(int(serial, 16))
            except ValueError:
                return None
            return certificate.key if certificate else None

        # The list is signed with one of the certificates in it; what vouches for them
        # is the APIv3 key that decrypted them.
        try:
            verify_signature(
                response.headers,
                response.content,
                now=now,
                tolerance=self._config.tolerance_seconds,
                key_for=signer,
            )
        except _Rejected as exc:
            raise ProviderError(f"wechatpay: certificate list rejected: {exc.reason}") from None
        return found

    def _certificate(self, entry: object, now: datetime) -> tuple[int, _Certificate] | None:
        """One decrypted certificate, or None if it is unusable or not valid now."""
        if not isinstance(entry, dict):
            return None
        encrypted = entry.get("encrypt_certificate")
        if not isinstance(encrypted, dict) or encrypted.get("algorithm") != AEAD_ALGORITHM:
            return None
        try:
            pem = decrypt_resource(
                self._apiv3_key,
                str(encrypted["nonce"]),
                str(encrypted["ciphertext"]),
                str(encrypted.get("associated_data") or ""),
            )
            certificate = x509.load_pem_x509_certificate(pem)
            serial = int(str(entry["serial_no"]), 16)
        except (ValueError, KeyError):
            return None
        key = certificate.public_key()
        if serial != certificate.serial_number or not isinstance(key, rsa.RSAPublicKey):
            return None
        not_before = certificate.not_valid_before_utc
        not_after = certificate.not_valid_after_utc
        if not not_before <= now <= not_after:
            return None
        return serial, _Certificate(key, not_before, not_after)
