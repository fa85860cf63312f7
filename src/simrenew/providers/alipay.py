"""Alipay (支付宝) direct, through Alipay's open platform gateway: Alipay CN, and
AlipayHK as a second configured instance of the same adapter (its own app id, keys,
gateway URL and currency).

Documented formats implemented (Alipay open platform, opendocs.alipay.com):

- Common request parameters and the RSA2 signature, "自行实现签名"
  (https://opendocs.alipay.com/common/02kf5q): ``app_id, method, format=JSON,
  charset=utf-8, sign_type=RSA2, timestamp`` (Beijing time, ``yyyy-MM-dd HH:mm:ss``),
  ``version=1.0``, ``notify_url``, ``return_url``, ``biz_content`` (JSON); ``sign`` =
  base64(SHA256withRSA(app private key, the ``key=value`` pairs of every non-empty
  parameter but ``sign``, sorted by key, joined with ``&``, values not URL-encoded)).
- Starting a payment: ``alipay.trade.page.pay`` (desktop, product code
  ``FAST_INSTANT_TRADE_PAY``, https://opendocs.alipay.com/apis/api_1/alipay.trade.page.pay)
  and ``alipay.trade.wap.pay`` (mobile, ``QUICK_WAP_WAY``,
  https://opendocs.alipay.com/apis/api_1/alipay.trade.wap.pay). Both are browser
  redirects: the checkout URL is the signed GET URL of the gateway, built here without
  any network call (what the official SDKs' ``page_execute(..., "GET")`` does).
  ``out_trade_no`` is our payment id; ``total_amount`` is a decimal string in yuan
  (or HK dollars) made from integer minor units.
- ``alipay.trade.query`` (https://opendocs.alipay.com/apis/api_1/alipay.trade.query),
  ``alipay.trade.refund`` (https://opendocs.alipay.com/apis/api_1/alipay.trade.refund)
  and, when a refund answers ``fund_change=N``, ``alipay.trade.fastpay.refund.query``
  (https://opendocs.alipay.com/apis/api_1/alipay.trade.fastpay.refund.query) to
  confirm it, as the refund documentation asks. Each is a signed form POST; the answer
  ``{"<method>_response": {...}, "sign": "..."}`` is verified over the raw JSON text of
  the response node with the Alipay public key ("同步验签",
  https://opendocs.alipay.com/open/200/106120); result codes ``10000`` success,
  ``20000`` service unavailable, ``40004`` business failure with a ``sub_code``
  (https://opendocs.alipay.com/common/02km9f).
- The asynchronous notification (https://opendocs.alipay.com/open/270/105902 for page
  pay, https://opendocs.alipay.com/open/203/105286 for wap pay): a form POST, verified
  with the Alipay public key over the sorted ``key=value`` pairs of every non-empty
  parameter but ``sign`` and ``sign_type``, then checked to be for our ``app_id``. Our
  endpoint must answer the plain text ``success`` (``CALLBACK_ACK``), or Alipay sends
  it again for about 25 hours (4m, 10m, 10m, 1h, 2h, 6h, 15h), keeping its
  ``notify_id``, which is therefore the event id.

Trade states: ``WAIT_BUYER_PAY`` → pending, ``TRADE_SUCCESS`` / ``TRADE_FINISHED`` →
succeeded, ``TRADE_CLOSED`` → cancelled (Alipay has no "declined": an unpaid trade
closes at its timeout). A query for a trade Alipay does not know yet (``40004
ACQ.TRADE_NOT_EXIST``: the buyer has not opened the checkout) is pending.

Currencies: ``alipay.trade.page.pay`` and ``alipay.trade.wap.pay`` take no currency
field (in the request models of alipay-sdk-python 3.7, ``trans_currency`` /
``settle_currency`` belong to the face-to-face ``alipay.trade.pay`` only), so an amount
is always in the gateway's own currency. An
instance serves exactly one currency (``AlipayConfig.currency``: ``CNY`` for Alipay
CN, ``HKD`` for an AlipayHK instance); a payment or refund in another currency is
refused with ``failure_code="currency_not_supported"`` before anything is sent.

AlipayHK is served by the same code with its own ``AlipayConfig`` (app id, keys,
gateway URL, ``currency="HKD"``, provider name). The AlipayHK merchant documentation
found describes the older cross-border MAPI (``service=create_forex_trade``,
``payment_inst=ALIPAYHK``, https://docs.antom.com/ac/hkapi/create_forex_trade), not these
open platform methods: that the AlipayHK account answers them must be confirmed.

Only the public-key mode is implemented (not the public-key-certificate mode with
``app_cert_sn`` / ``alipay_root_cert_sn``), and no content encryption (``encrypt_type``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simrenew.domain.errors import InvalidMoney, SignatureInvalid
from simrenew.domain.money import Money
from simrenew.domain.payments import PaymentEvent, PaymentState
from simrenew.ports import PaymentRequest, ProviderError, ProviderResult, RefundResult

GATEWAY_CN = "https://openapi.alipay.com/gateway.do"
# Alipay's timestamps (requests, notify_time, gmt_*) are Beijing time without an offset;
# China has no daylight saving time, so a fixed offset is exact.
BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CHARSET = "utf-8"
SIGN_TYPE = "RSA2"
CALLBACK_ACK = "success"  # the plain-text body Alipay needs, or it sends the notification again

# flavour -> (method, product code)
PRODUCTS: dict[str, tuple[str, str]] = {
    "page": ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    "wap": ("alipay.trade.wap.pay", "QUICK_WAP_WAY"),
}
TRADE_STATES: dict[str, PaymentState] = {
    "WAIT_BUYER_PAY": PaymentState.PENDING,
    "TRADE_SUCCESS": PaymentState.SUCCEEDED,
    "TRADE_FINISHED": PaymentState.SUCCEEDED,
    "TRADE_CLOSED": PaymentState.CANCELLED,
}
CODE_SUCCESS = "10000"
CODE_BUSINESS_FAILED = "40004"
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"

# out_trade_no / out_request_no: at most 64 letters, digits and underscores.
_OUT_NO = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# subject: "/", "=" and "&" are not allowed; at most 256 characters.
_SUBJECT_FORBIDDEN = str.maketrans({"/": " ", "=": " ", "&": " "})
_JSON_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- keys and signatures ----------------------------------------------------------------


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """The app private key as PEM (PKCS#1 or PKCS#8), or the bare base64 DER that
    Alipay's key tool prints."""
    data = text.strip()
    try:
        if data.startswith("-----"):
            key = serialization.load_pem_private_key(data.encode(), password=None)
        else:
            key = serialization.load_der_private_key(base64.b64decode(data), password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError("the Alipay app private key is not an RSA private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the Alipay app private key is not an RSA private key")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """The Alipay public key as PEM, or the bare base64 DER shown in Alipay's console."""
    data = text.strip()
    try:
        if data.startswith("-----"):
            key = serialization.load_pem_public_key(data.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(data))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError("the Alipay public key is not an RSA public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the Alipay public key is not an RSA public key")
    return key


def sign_content(params: Mapping[str, str], *, exclude: tuple[str, ...] = ("sign",)) -> str:
    """The string to sign: ``k=v`` of every non-empty parameter not excluded, sorted by
    key, joined with ``&``; values as they are, not URL-encoded."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k])


def rsa2_sign(key: rsa.RSAPrivateKey, content: str) -> str:
    signature = key.sign(content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(key: rsa.RSAPublicKey, content: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _skip_ws(text: str, i: int) -> int:
    match = _JSON_WS.match(text, i)
    return match.end() if match else i


def response_node(text: str, node_name: str) -> tuple[str, dict[str, Any], str | None]:
    """Split a gateway answer into the raw JSON text of its response node (what the
    ``sign`` covers, byte for byte), that node parsed, and the ``sign``.

    The node is ``node_name`` or, for gateway-level errors, ``error_response``. The raw
    text is cut out by parsing the top-level object, not by searching for braces, so
    braces or keys inside string values cannot move the cut. Raises ``ValueError``."""
    spans: dict[str, tuple[int, int, Any]] = {}
    i = _skip_ws(text, 0)
    if text[i : i + 1] != "{":
        raise ValueError("the answer is not a JSON object")
    i = _skip_ws(text, i + 1)
    while text[i : i + 1] != "}":
        key, i = _DECODER.raw_decode(text, i)
        if not isinstance(key, str) or key in spans:
            raise ValueError("the answer has a bad or repeated key")
        i = _skip_ws(text, i)
        if text[i : i + 1] != ":":
            raise ValueError("the answer is not a JSON object")
        start = _skip_ws(text, i + 1)
        value, i = _DECODER.raw_decode(text, start)
        spans[key] = (start, i, value)
        i = _skip_ws(text, i)
        if text[i : i + 1] == ",":
            i = _skip_ws(text, i + 1)
        elif text[i : i + 1] != "}":
            raise ValueError("the answer is not a JSON object")
    if text[i + 1 :].strip():
        raise ValueError("the answer has trailing data")
    name = node_name if node_name in spans else "error_response"
    if name not in spans or not isinstance(spans[name][2], dict):
        raise ValueError(f"the answer has no {node_name}")
    start, end, node = spans[name]
    sign = spans["sign"][2] if "sign" in spans else None
    if sign is not None and not isinstance(sign, str):
        raise ValueError("the answer's sign is not a string")
    return text[start:end], node, sign


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlipayConfig:
    """One Alipay app: Alipay CN, or AlipayHK as a second instance."""

    app_id: str
    app_private_key: str = field(repr=False)  # secret: PEM or bare base64
    alipay_public_key: str  # Alipay's public key for this app (not secret)
    notify_url: str  # our /webhooks/<name> URL, absolute
    name: str = "alipay"  # the provider name payments are filed under
    gateway_url: str = GATEWAY_CN
    currency: str = "CNY"  # the one currency this gateway prices in
    product: str = "page"  # default checkout: "page" (desktop) or "wap" (mobile)
    timeout_seconds: int = 10
    # Alipay retries a notification for about 25 hours; older ones are refused.
    callback_max_age_seconds: int = 26 * 3600
    callback_max_skew_seconds: int = 300  # how far in the future a notify_time may be


# --- the adapter ----------------------------------------------------------------------------


class AlipayProvider:
    """Our adapter for one Alipay app (see the module docstring for the formats).

    ``request.scenario`` may be ``"page"`` or ``"wap"`` to choose the desktop or the
    mobile checkout; anything else (the CLI passes the sandbox's ``succeed``) means the
    configured default.
    """

    callback_ack = CALLBACK_ACK
    callback_ack_media_type = "text/plain"

    def __init__(
        self,
        config: AlipayConfig,
        *,
        client: httpx.Client | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if config.product not in PRODUCTS:
            raise ValueError(f"alipay product must be one of {', '.join(PRODUCTS)}")
        if config.timeout_seconds <= 0:
            raise ValueError("alipay timeout_seconds must be positive")
        self.name = config.name
        self._config = config
        self._private_key = load_private_key(config.app_private_key)
        self._public_key = load_public_key(config.alipay_public_key)
        self._timeout = httpx.Timeout(config.timeout_seconds)
        self._client = client or httpx.Client(timeout=self._timeout)
        self._now = now

    def close(self) -> None:
        self._client.close()

    # --- requests -------------------------------------------------------------------------

    def _signed(
        self, method: str, biz: Mapping[str, str], *, notify: bool, return_url: str = ""
    ) -> dict[str, str]:
        params = {
            "app_id": self._config.app_id,
            "method": method,
            "format": "JSON",
            "charset": CHARSET,
            "sign_type": SIGN_TYPE,
            "timestamp": self._now().astimezone(BEIJING).strftime(TIME_FORMAT),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        if notify:
            params["notify_url"] = self._config.notify_url
        if return_url:
            params["return_url"] = return_url
        params["sign"] = rsa2_sign(self._private_key, sign_content(params))
        return params

    def _call(self, method: str, biz: Mapping[str, str]) -> dict[str, Any]:
        """POST a signed request; the verified response node. ``ProviderError`` when
        there is no trustworthy answer (time-out, network, 5xx, unsigned or forged)."""
        params = self._signed(method, biz, notify=False)
        # As the official SDKs do: the common parameters in the query string, the
        # business content in the form body.
        body = {"biz_content": params.pop("biz_content")}
        try:
            response = self._client.post(
                self._config.gateway_url,
                params=params,
                data=body,
                headers={"Content-Type": f"application/x-www-form-urlencoded;charset={CHARSET}"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{self.name}: {method} timed out") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.name}: {method} failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderError(f"{self.name}: {method} answered HTTP {response.status_code}")
        try:
            raw, node, sign = response_node(
                response.content.decode(CHARSET), method.replace(".", "_") + "_response"
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProviderError(f"{self.name}: {method} answer is malformed") from exc
        if sign is None:
            # Gateway-level errors (bad app id, our signature refused) come unsigned;
            # nothing unsigned is taken as the provider's word.
            raise ProviderError(
                f"{self.name}: {method} unsigned answer {node.get('code')} {node.get('sub_code')}"
            )
        if not rsa2_verify(self._public_key, raw, sign):
            raise ProviderError(f"{self.name}: {method} answer signature does not verify")
        return node

    def _money(self, text: object) -> Money:
        if not isinstance(text, str):
            raise InvalidMoney(value=text, reason="amount missing")
        return Money.parse(text, self._config.currency)

    def _check_currency(self, node: Mapping[str, Any]) -> None:
        # Amounts are in the trade's currency; a trade priced in another one (a
        # cross-border contract) cannot be compared with ours.
        trans_currency = node.get("trans_currency")
        if trans_currency and trans_currency != self._config.currency:
            raise ProviderError(f"{self.name}: trade is in {trans_currency}")

    # --- the port ----------------------------------------------------------------------------

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        if request.currency != self._config.currency:
            return ProviderResult(PaymentState.FAILED, failure_code="currency_not_supported")
        if request.amount_minor <= 0:
            return ProviderResult(PaymentState.FAILED, failure_code="invalid_amount")
        if not _OUT_NO.match(request.payment_id):
            raise ValueError(f"payment id {request.payment_id!r} cannot be an out_trade_no")
        flavour = self._config.product
        if request.scenario in PRODUCTS:
            flavour = str(request.scenario)
        method, product_code = PRODUCTS[flavour]
        biz = {
            "out_trade_no": request.payment_id,
            "total_amount": Money(request.amount_minor, request.currency).decimal_str(),
            "subject": request.description.translate(_SUBJECT_FORBIDDEN).strip()[:256]
            or request.payment_id,
            "product_code": product_code,
        }
        if flavour == "wap" and request.return_url:
            biz["quit_url"] = request.return_url  # where the buyer lands if they give up
        params = self._signed(method, biz, notify=True, return_url=request.return_url)
        # No network call: the buyer's browser takes the signed request to the gateway,
        # and Alipay files the trade under out_trade_no = our payment id.
        return ProviderResult(
            PaymentState.PENDING, checkout_url=f"{self._config.gateway_url}?{urlencode(params)}"
        )

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        node = self._call("alipay.trade.query", {"out_trade_no": payment_id})
        code, sub_code = node.get("code"), node.get("sub_code")
        if code == CODE_BUSINESS_FAILED and sub_code == TRADE_NOT_EXIST:
            # Page and wap trades exist at Alipay only once the buyer opens the checkout.
            return ProviderResult(PaymentState.PENDING)
        if code != CODE_SUCCESS:
            raise ProviderError(f"{self.name}: query answered {code} {sub_code}")
        if node.get("out_trade_no", payment_id) != payment_id:
            raise ProviderError(f"{self.name}: query answered for another trade")
        status = str(node.get("trade_status"))
        if status not in TRADE_STATES:
            raise ProviderError(f"{self.name}: unknown trade_status {status!r}")
        self._check_currency(node)
        try:
            amount = self._money(node.get("total_amount")).amount_minor
        except InvalidMoney as exc:
            raise ProviderError(f"{self.name}: query answered a bad total_amount") from exc
        trade_no = node.get("trade_no")
        return ProviderResult(
            TRADE_STATES[status],
            provider_ref=str(trade_no) if trade_no else None,
            failure_code="trade_closed" if status == "TRADE_CLOSED" else None,
            amount_minor=amount,
        )

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        if currency != self._config.currency:
            return RefundResult(False, failure_code="currency_not_supported")
        # The same refund always carries the same out_request_no, so a retry after a
        # lost answer is recognised by Alipay and never refunds twice; the amount is in
        # it because one out_request_no may not be reused for a different amount.
        out_request_no = f"{payment_id}_rf{amount_minor}"
        if not _OUT_NO.match(out_request_no):
            raise ValueError(f"payment id {payment_id!r} cannot make an out_request_no")
        amount = Money(amount_minor, currency).decimal_str()
        node = self._call(
            "alipay.trade.refund",
            {"out_trade_no": payment_id, "refund_amount": amount, "out_request_no": out_request_no},
        )
        code, sub_code = node.get("code"), node.get("sub_code")
        if code == CODE_BUSINESS_FAILED:
            return RefundResult(False, failure_code=str(sub_code or "refund_refused"))
        if code != CODE_SUCCESS:
            # 20000 and the like: the outcome is unknown; retried with the same key.
            raise ProviderError(f"{self.name}: refund answered {code} {sub_code}")
        if node.get("fund_change") == "Y":
            return RefundResult(True, provider_ref=out_request_no)
        # fund_change N (e.g. a repeat of a refund already made): the documented way to
        # know is the refund query.
        return self._confirm_refund(payment_id, out_request_no, amount)

    def _confirm_refund(self, payment_id: str, out_request_no: str, amount: str) -> RefundResult:
        node = self._call(
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": payment_id, "out_request_no": out_request_no},
        )
        code, sub_code = node.get("code"), node.get("sub_code")
        if code == CODE_BUSINESS_FAILED:
            return RefundResult(False, failure_code=str(sub_code or "refund_refused"))
        if (
            code == CODE_SUCCESS
            and node.get("refund_amount") == amount
            and node.get("refund_status") in (None, "", "REFUND_SUCCESS")
        ):
            return RefundResult(True, provider_ref=out_request_no)
        raise ProviderError(f"{self.name}: refund {out_request_no} not confirmed yet")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        params = self._verified_notification(body)
        if params.get("app_id") != self._config.app_id:
            raise SignatureInvalid(reason="notification is for another Alipay app")
        notify_time = _beijing_time(params.get("notify_time"))
        if now - notify_time > timedelta(seconds=self._config.callback_max_age_seconds):
            raise SignatureInvalid(reason="notify_time is too old")
        if notify_time - now > timedelta(seconds=self._config.callback_max_skew_seconds):
            raise SignatureInvalid(reason="notify_time is in the future")
        status = params.get("trade_status", "")
        if status not in TRADE_STATES:
            raise SignatureInvalid(reason=f"unknown trade_status {status!r}")
        notify_id, payment_id = params.get("notify_id"), params.get("out_trade_no")
        if not notify_id or not payment_id:
            raise SignatureInvalid(reason="notification lacks notify_id or out_trade_no")
        try:
            amount = self._money(params.get("total_amount"))
        except InvalidMoney as exc:
            raise SignatureInvalid(reason="notification has a bad total_amount") from exc
        when = params.get("gmt_payment" if status != "TRADE_CLOSED" else "gmt_close")
        occurred_at = _beijing_time(when) if when else notify_time
        return PaymentEvent(
            provider=self.name,
            # Alipay's retries of one notification keep its notify_id.
            event_id=notify_id,
            payment_id=payment_id,
            state=TRADE_STATES[status],
            occurred_at=occurred_at,
            amount=amount,
            provider_ref=params.get("trade_no") or None,
            failure_code="trade_closed" if status == "TRADE_CLOSED" else None,
        )

    def _verified_notification(self, body: bytes) -> dict[str, str]:
        try:
            pairs = parse_qsl(body.decode(CHARSET), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise SignatureInvalid(reason="notification is not a form") from exc
        params = dict(pairs)
        if len(params) != len(pairs):
            raise SignatureInvalid(reason="notification repeats a parameter")
        signature = params.get("sign")
        if not signature:
            raise SignatureInvalid(reason="missing signature")
        if params.get("sign_type") != SIGN_TYPE:
            raise SignatureInvalid(reason="sign_type is not RSA2")
        content = sign_content(params, exclude=("sign", "sign_type"))
        if not rsa2_verify(self._public_key, content, signature):
            raise SignatureInvalid(reason="signature does not match")
        return params


def _beijing_time(text: str | None) -> datetime:
    try:
        return datetime.strptime(text or "", TIME_FORMAT).replace(tzinfo=BEIJING).astimezone(UTC)
    except ValueError as exc:
        raise SignatureInvalid(reason="notification has a bad time") from exc
