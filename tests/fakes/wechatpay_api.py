"""A local WeChat Pay API v3 for tests, built from the documented formats.

It is WeChat Pay's side of the wire, written apart from ``simrenew.providers.wechatpay``
(with ``cryptography`` directly) so that the two can disagree:

- it checks every request's ``Authorization: WECHATPAY2-SHA256-RSA2048 ...`` header
  against the merchant's public key over "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n"
  (with the exact path bytes received), the merchant id and serial, a five-minute
  window and fresh nonces, and answers 401 SIGN_ERROR otherwise;
- it signs its answers and notifications over "TIMESTAMP\\nNONCE\\nBODY\\n" with a
  platform certificate's key (``Wechatpay-Serial`` = the certificate's serial in hex)
  or with the "WeChat Pay public key" (``PUB_KEY_ID_...``);
- it serves the mainland paths (``/v3/pay/transactions/native``,
  ``/v3/pay/transactions/out-trade-no/{}``, ``/v3/refund/domestic/refunds``,
  ``/v3/certificates``) or the global ones (``/v3/global/...``), validates the fields
  the documentation makes required, keeps orders and refunds by ``out_trade_no`` and
  ``out_refund_no`` (idempotent, as documented), and encrypts certificates and
  notification resources with AEAD_AES_256_GCM under the APIv3 key.

Business error codes the fake answers with (from the documented code tables):
400 PARAM_ERROR, 401 SIGN_ERROR, 403 ORDERPAID, 400 ORDER_CLOSED, 403 OUT_TRADE_NO_USED,
404 ORDER_NOT_EXIST, 404 RESOURCE_NOT_EXISTS, 403 NOT_ENOUGH, 500 SYSTEM_ERROR,
429 FREQUENCY_LIMITED.

``fail(route, kind)`` queues a fault for the next request to a route ("native",
"query", "refund", "certificates"): ``timeout_before`` (nothing reaches the fake),
``timeout_after`` (the fake acts, the answer is lost), ``http_500``, ``http_429``,
``bad_signature`` (signed by another key under the right serial), ``stale_signature``
(signed ten minutes ago), ``unsigned``, or ``refuse:CODE:STATUS``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

CHINA = timezone(timedelta(hours=8))
MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "444F4864EA9B34415F1B6E2B4D3E6B5AC1D9FF00"
APIV3_KEY = "a12d3924fd499edac8a5efc5a7f1c0b9"  # 32 bytes
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092025010100112233440000"
_AUTH = re.compile(r'(\w+)="([^"]*)"')
_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_*-]{6,32}")
_OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_*|@-]{1,64}")


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """A 2048-bit key per name, made once per test run (key generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(
        key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()


def encrypt(apiv3_key: str, plaintext: bytes, associated_data: str) -> dict[str, str]:
    """An AEAD_AES_256_GCM object as WeChat Pay sends them (12-character nonce)."""
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), plaintext, associated_data.encode()
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": nonce,
        "associated_data": associated_data,
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(CHINA).isoformat(timespec="seconds")


@dataclass
class PlatformCertificate:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "X")

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def make_certificate(
    key: rsa.RSAPrivateKey, *, not_before: datetime, not_after: datetime
) -> PlatformCertificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return PlatformCertificate(key, certificate)


@dataclass
class Order:
    out_trade_no: str
    body: dict[str, Any]
    code_url: str
    trade_state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None
    refunded: int = 0

    @property
    def total(self) -> int:
        return int(self.body["amount"]["total"])

    @property
    def currency(self) -> str:
        return str(self.body["amount"]["currency"])


@dataclass
class Recorded:
    method: str
    route: str
    raw_path: str
    headers: httpx.Headers
    body: bytes
    authorized: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Notification:
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeWeChatPay:
    """The remote side; ``transport()`` plugs it into the provider's HTTP client."""

    now: Callable[[], datetime]
    region: str = "mainland"
    mchid: str = MCHID
    appid: str = APPID
    merchant_serial: str = MERCHANT_SERIAL
    merchant_key: rsa.RSAPublicKey = field(default_factory=lambda: rsa_key("merchant").public_key())
    apiv3_key: str = APIV3_KEY
    # "certificate": sign with the newest platform certificate; "public_key": with the
    # WeChat Pay public key. A request naming the public key id gets the public key.
    signer: str = "certificate"
    public_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa_key("wechatpay-public"))
    public_key_id: str = PUBLIC_KEY_ID
    certificates: list[PlatformCertificate] = field(default_factory=list)
    orders: dict[str, Order] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=dict)
    charges: Counter[str] = field(default_factory=Counter)
    balance_insufficient: bool = False
    _nonces: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.certificates:
            self.rotate(rsa_key("platform-1"))

    # --- set-up ---------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def rotate(
        self, key: rsa.RSAPrivateKey, *, not_before: datetime | None = None, days: int = 1825
    ) -> PlatformCertificate:
        """Issue a new platform certificate and sign with it from now on."""
        start = not_before or self.now() - timedelta(days=1)
        certificate = make_certificate(
            key, not_before=start, not_after=start + timedelta(days=days)
        )
        self.certificates.append(certificate)
        return certificate

    def fail(self, route: str, kind: str) -> None:
        self.faults.setdefault(route, []).append(kind)

    def paths(self) -> dict[str, str]:
        if self.region == "global":
            return {
                "native": "/v3/global/transactions/native",
                "query": "/v3/global/transactions/out-trade-no/",
                "refund": "/v3/global/refunds",
                "certificates": "/v3/global/certificates",
            }
        return {
            "native": "/v3/pay/transactions/native",
            "query": "/v3/pay/transactions/out-trade-no/",
            "refund": "/v3/refund/domestic/refunds",
            "certificates": "/v3/certificates",
        }

    def calls(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    # --- the buyer --------------------------------------------------------------------

    def pay(self, out_trade_no: str) -> Notification:
        """The buyer scans the code and pays; returns WeChat Pay's notification."""
        order = self.orders[out_trade_no]
        assert order.trade_state in ("NOTPAY", "USERPAYING"), order.trade_state
        order.trade_state = "SUCCESS"
        order.transaction_id = "4200" + secrets.token_hex(14)[:28]
        order.success_time = self.now()
        self.charges[out_trade_no] += 1
        return self.notification(order)

    def set_state(self, out_trade_no: str, trade_state: str) -> Order:
        order = self.orders[out_trade_no]
        order.trade_state = trade_state
        if trade_state in ("SUCCESS", "REFUND") and order.transaction_id is None:
            order.transaction_id = "4200" + secrets.token_hex(14)[:28]
            order.success_time = self.now()
            self.charges[out_trade_no] += 1
        return order

    # --- notifications ----------------------------------------------------------------

    def transaction(self, order: Order) -> dict[str, Any]:
        """The transaction resource (the order query answer and the decrypted
        notification resource share it)."""
        data: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_type": "NATIVE",
            "trade_state": order.trade_state,
            "trade_state_desc": {
                "SUCCESS": "支付成功",
                "NOTPAY": "未支付",
                "CLOSED": "已关闭",
                "PAYERROR": "支付失败",
            }.get(order.trade_state, order.trade_state),
            "amount": {"total": order.total, "currency": order.currency},
        }
        if order.transaction_id:
            data["transaction_id"] = order.transaction_id
            data["bank_type"] = "OTHERS"
            data["payer"] = {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
            data["amount"].update(payer_total=order.total, payer_currency="CNY")
        if order.success_time:
            data["success_time"] = rfc3339(order.success_time)
        return data

    def notification(
        self,
        order: Order,
        *,
        event_type: str = "TRANSACTION.SUCCESS",
        notification_id: str | None = None,
        resource: dict[str, Any] | None = None,
        apiv3_key: str | None = None,
    ) -> Notification:
        plaintext = json.dumps(resource or self.transaction(order), ensure_ascii=False).encode()
        envelope = {
            "id": notification_id or f"EV-{secrets.token_hex(10)}",
            "create_time": rfc3339(self.now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                **encrypt(apiv3_key or self.apiv3_key, plaintext, "transaction"),
            },
        }
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return Notification(
            self.signed_headers(body, use_public_key=self.signer == "public_key"), body
        )

    def signed_headers(
        self,
        body: bytes,
        *,
        use_public_key: bool,
        key: rsa.RSAPrivateKey | None = None,
        serial: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, str]:
        timestamp = str(int((at or self.now()).timestamp()))
        nonce = secrets.token_hex(16)
        if use_public_key:
            signing_key, signing_serial = self.public_key, self.public_key_id
        else:
            newest = self.certificates[-1]
            signing_key, signing_serial = newest.key, newest.serial
        signature = sign(key or signing_key, f"{timestamp}\n{nonce}\n{body.decode()}\n")
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial or signing_serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Content-Type": "application/json",
        }

    # --- the API ------------------------------------------------------------------------

    def _route(self, request: httpx.Request) -> str:
        path = request.url.path
        paths = self.paths()
        if request.method == "POST" and path == paths["native"]:
            return "native"
        if request.method == "GET" and path.startswith(paths["query"]):
            return "query"
        if request.method == "POST" and path == paths["refund"]:
            return "refund"
        if request.method == "GET" and path == paths["certificates"]:
            return "certificates"
        return "unknown"

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = self._route(request)
        body = request.read()
        raw_path = request.url.raw_path.decode()
        authorized = self._authorized(request, raw_path, body)
        self.requests.append(
            Recorded(request.method, route, raw_path, request.headers, body, authorized)
        )
        fault = self.faults.get(route, []).pop(0) if self.faults.get(route) else None
        if fault == "timeout_before":
            raise httpx.ConnectTimeout("connect timed out", request=request)
        if fault == "http_500":
            return self._error(500, "SYSTEM_ERROR", "系统错误")
        if fault == "http_429":
            return self._error(429, "FREQUENCY_LIMITED", "频率超限")
        if fault and fault.startswith("refuse:"):
            _, code, status = fault.split(":")
            return self._error(int(status), code, "refused by the test")
        if not authorized:
            return self._error(401, "SIGN_ERROR", "签名错误")
        if route == "unknown":
            return self._error(404, "RESOURCE_NOT_EXISTS", "资源不存在")
        status, data = getattr(self, f"_{route}")(request, body)
        if fault == "timeout_after":
            raise httpx.ReadTimeout("read timed out", request=request)
        return self._answer(request, status, data, fault)

    def _authorized(self, request: httpx.Request, raw_path: str, body: bytes) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return False
        fields = dict(_AUTH.findall(rest))
        if fields.get("mchid") != self.mchid or fields.get("serial_no") != self.merchant_serial:
            return False
        timestamp, nonce = fields.get("timestamp", ""), fields.get("nonce_str", "")
        if not timestamp.isdigit() or abs(int(self.now().timestamp()) - int(timestamp)) > 300:
            return False
        if not nonce or nonce in self._nonces:
            return False
        message = f"{request.method}\n{raw_path}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"
        try:
            self.merchant_key.verify(
                base64.b64decode(fields.get("signature", "")),
                message,
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return False
        self._nonces.add(nonce)
        return request.headers.get("Accept") == "application/json" and bool(
            request.headers.get("User-Agent")
        )

    def _answer(
        self, request: httpx.Request, status: int, data: dict[str, Any] | None, fault: str | None
    ) -> httpx.Response:
        body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode()
        if status >= 300 or fault == "unsigned":
            headers = {"Content-Type": "application/json"}
        else:
            use_public_key = (
                self.signer == "public_key"
                or request.headers.get("Wechatpay-Serial") == self.public_key_id
            )
            headers = self.signed_headers(
                body,
                use_public_key=use_public_key,
                key=rsa_key("attacker") if fault == "bad_signature" else None,
                at=self.now() - timedelta(minutes=10) if fault == "stale_signature" else None,
            )
        headers["Request-ID"] = secrets.token_hex(16)
        return httpx.Response(status, content=body, headers=headers)

    @staticmethod
    def _error(status: int, code: str, message: str) -> httpx.Response:
        return httpx.Response(status, json={"code": code, "message": message})

    # --- routes: (status, JSON) ---------------------------------------------------------

    def _native(self, request: httpx.Request, body: bytes) -> tuple[int, dict[str, Any] | None]:
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"code": "PARAM_ERROR", "message": "body is not JSON"}
        problem = self._check_order(request, data)
        if problem:
            return 400, {"code": "PARAM_ERROR", "message": problem}
        existing = self.orders.get(data["out_trade_no"])
        if existing is not None:
            if existing.trade_state in ("SUCCESS", "REFUND"):
                return 403, {"code": "ORDERPAID", "message": "订单已支付"}
            if existing.trade_state in ("CLOSED", "REVOKED"):
                return 400, {"code": "ORDER_CLOSED", "message": "订单已关闭"}
            if existing.body != data:
                return 403, {"code": "OUT_TRADE_NO_USED", "message": "商户订单号重复"}
            return 200, {"code_url": existing.code_url}
        order = Order(
            data["out_trade_no"],
            data,
            f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}",
        )
        self.orders[order.out_trade_no] = order
        return 200, {"code_url": order.code_url}

    def _check_order(self, request: httpx.Request, data: Any) -> str | None:
        if request.headers.get("Content-Type") != "application/json":
            return "Content-Type must be application/json"
        if not isinstance(data, dict):
            return "body is not an object"
        allowed = {
            "appid",
            "mchid",
            "description",
            "out_trade_no",
            "time_expire",
            "attach",
            "notify_url",
            "goods_tag",
            "support_fapiao",
            "amount",
            "detail",
            "scene_info",
            "settle_info",
        }
        if self.region == "global":
            allowed |= {"trade_type", "merchant_category_code"}
            if data.get("trade_type") != "NATIVE":
                return "trade_type must be NATIVE"
            if not re.fullmatch(r"[0-9]{4}", str(data.get("merchant_category_code", ""))):
                return "merchant_category_code is required"
        if set(data) - allowed:
            return f"unknown fields {sorted(set(data) - allowed)}"
        if data.get("appid") != self.appid or data.get("mchid") != self.mchid:
            return "appid / mchid"
        description = data.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 127:
            return "description"
        if not _OUT_TRADE_NO.fullmatch(str(data.get("out_trade_no", ""))):
            return "out_trade_no: 6-32 of [0-9A-Za-z_-*]"
        notify_url = data.get("notify_url")
        if not isinstance(notify_url, str) or not notify_url.startswith("https://"):
            return "notify_url must be https"
        if "?" in notify_url:
            return "notify_url must not carry a query string"
        amount = data.get("amount")
        if not isinstance(amount, dict):
            return "amount"
        total = amount.get("total")
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            return "amount.total must be a positive integer (fen / cents)"
        currencies = {"HKD", "CNY"} if self.region == "global" else {"CNY"}
        if amount.get("currency") not in currencies:
            return "amount.currency"
        return None

    def _query(self, request: httpx.Request, body: bytes) -> tuple[int, dict[str, Any] | None]:
        if parse_qs(request.url.query.decode()) != {"mchid": [self.mchid]}:
            return 400, {"code": "PARAM_ERROR", "message": "mchid is required"}
        out_trade_no = request.url.path.rsplit("/", 1)[-1]
        order = self.orders.get(out_trade_no)
        if order is None:
            return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
        return 200, self.transaction(order)

    def _refund(self, request: httpx.Request, body: bytes) -> tuple[int, dict[str, Any] | None]:
        data = json.loads(body)
        if self.region == "global" and (
            data.get("mchid") != self.mchid or data.get("appid") != self.appid
        ):
            return 400, {"code": "PARAM_ERROR", "message": "mchid / appid"}
        out_refund_no = str(data.get("out_refund_no", ""))
        if not _OUT_REFUND_NO.fullmatch(out_refund_no):
            return 400, {"code": "PARAM_ERROR", "message": "out_refund_no"}
        if out_refund_no in self.refunds:
            return 200, self.refunds[out_refund_no]  # the same refund, not a second one
        order = self.orders.get(str(data.get("out_trade_no")))
        if order is None:
            return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"}
        amount = data.get("amount") or {}
        refund = amount.get("refund")
        if (
            amount.get("total") != order.total
            or amount.get("currency") != order.currency
            or not isinstance(refund, int)
            or not 1 <= refund <= order.total - order.refunded
        ):
            return 400, {"code": "PARAM_ERROR", "message": "amount"}
        if order.trade_state not in ("SUCCESS", "REFUND"):
            return 400, {"code": "INVALID_REQUEST", "message": "订单状态不正确"}
        if self.balance_insufficient:
            return 403, {"code": "NOT_ENOUGH", "message": "基本账户余额不足"}
        order.refunded += refund
        order.trade_state = "REFUND"
        refund_id = "5030" + secrets.token_hex(14)[:28]
        answer = {
            "out_refund_no": out_refund_no,
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "channel": "ORIGINAL",
            "create_time": rfc3339(self.now()),
            "status": "PROCESSING",
            "amount": {
                "total": order.total,
                "refund": refund,
                "payer_total": order.total,
                "payer_refund": refund,
                "currency": order.currency,
            },
        }
        # The mainland API calls the refund "refund_id", the global one "id".
        answer["id" if self.region == "global" else "refund_id"] = refund_id
        self.refunds[out_refund_no] = answer
        return 200, answer

    def _certificates(
        self, request: httpx.Request, body: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        return 200, {
            "data": [
                {
                    "serial_no": c.serial,
                    "effective_time": rfc3339(c.certificate.not_valid_before_utc),
                    "expire_time": rfc3339(c.certificate.not_valid_after_utc),
                    "encrypt_certificate": encrypt(self.apiv3_key, c.pem, "certificate"),
                }
                for c in self.certificates
            ]
        }
