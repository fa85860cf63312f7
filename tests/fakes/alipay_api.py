"""A fake of Alipay's open platform gateway (``/gateway.do``), for one or more apps,
served through ``httpx.MockTransport``; also the buyer's side (opening and paying a
checkout URL) and Alipay's signed asynchronous notifications.

Built from Alipay's documented formats, independently of ``simrenew.providers.alipay``
(nothing is imported from it), and every signature made or checked here goes through
the official ``alipay-sdk-python`` (``get_sign_content``, ``sign_with_rsa2``,
``verify_with_rsa``), so that the adapter is checked against Alipay's own code:

- common parameters and the RSA2 request signature
  https://opendocs.alipay.com/common/02kf5q
- ``alipay.trade.page.pay`` / ``alipay.trade.wap.pay`` (the signed redirect URL)
  https://opendocs.alipay.com/apis/api_1/alipay.trade.page.pay
  https://opendocs.alipay.com/apis/api_1/alipay.trade.wap.pay
- ``alipay.trade.query``, ``alipay.trade.refund``, ``alipay.trade.fastpay.refund.query``
  https://opendocs.alipay.com/apis/api_1/alipay.trade.query (and ``.refund``,
  ``.fastpay.refund.query``); answers ``{"<method>_response": {...}, "sign": "..."}``
  signed over the node's JSON text https://opendocs.alipay.com/open/200/106120;
  result codes https://opendocs.alipay.com/common/02km9f
- the asynchronous notification, signed over the sorted parameters without ``sign``
  and ``sign_type`` https://opendocs.alipay.com/open/270/105902

The fake checks what it is sent (app id, the signature with the app's public key,
charset, sign type, version, timestamp format, amounts as decimal strings of yuan,
product codes, out_request_no) and answers ``40002`` when something is off, as Alipay
would; what it found wrong is also listed in ``problems`` for the tests to assert on.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import rsa
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

GATEWAY_CN = "https://openapi.alipay.com/gateway.do"
BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$")
OUT_NO = re.compile(r"^[A-Za-z0-9_]{1,64}$")
PRODUCT_CODES = {
    "alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY",
    "alipay.trade.wap.pay": "QUICK_WAP_WAY",
}


# --- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    """An RSA key in the forms the Alipay console and SDKs use."""

    private_pkcs1_pem: str  # what alipay-sdk-python signs with
    private_pkcs8_pem: str
    private_pkcs1_b64: str  # the bare base64 the Alipay key tool prints
    private_pkcs8_b64: str
    public_pem: str
    public_b64: str


def new_key_pair() -> KeyPair:
    key = crypto_rsa.generate_private_key(public_exponent=65537, key_size=2048)
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    traditional = serialization.PrivateFormat.TraditionalOpenSSL
    pkcs8 = serialization.PrivateFormat.PKCS8
    spki = serialization.PublicFormat.SubjectPublicKeyInfo

    def b64(data: bytes) -> str:
        return "".join(
            line for line in data.decode().splitlines() if line and not line.startswith("-----")
        )

    public_pem = key.public_key().public_bytes(pem, spki)
    return KeyPair(
        private_pkcs1_pem=key.private_bytes(pem, traditional, none).decode(),
        private_pkcs8_pem=key.private_bytes(pem, pkcs8, none).decode(),
        private_pkcs1_b64=b64(key.private_bytes(pem, traditional, none)),
        private_pkcs8_b64=b64(key.private_bytes(pem, pkcs8, none)),
        public_pem=public_pem.decode(),
        public_b64=b64(public_pem),
    )


def sdk_sign(private_pkcs1_pem: str, params: dict[str, str], *, exclude: Sequence[str]) -> str:
    """Sign like Alipay: the official SDK over every non-empty parameter not excluded."""
    content = get_sign_content({k: v for k, v in params.items() if k not in exclude and v})
    return str(sign_with_rsa2(private_pkcs1_pem, content, "utf-8"))


def sdk_verify(public_pem: str, params: dict[str, str], *, exclude: Sequence[str]) -> bool:
    content = get_sign_content({k: v for k, v in params.items() if k not in exclude and v})
    try:
        return bool(verify_with_rsa(public_pem, content.encode("utf-8"), params.get("sign", "")))
    except (rsa.VerificationError, ValueError):
        return False


# --- the remote side's books -----------------------------------------------------------------


@dataclass(frozen=True)
class FakeApp:
    """A merchant app as Alipay knows it: its id and the public key it uploaded."""

    app_id: str
    public_pem: str


@dataclass
class Trade:
    app_id: str
    out_trade_no: str
    trade_no: str
    total_amount: str
    subject: str
    product_code: str
    notify_url: str
    status: str = "WAIT_BUYER_PAY"
    gmt_create: datetime | None = None
    gmt_payment: datetime | None = None
    gmt_close: datetime | None = None
    refunds: dict[str, str] = field(default_factory=dict)  # out_request_no -> amount


@dataclass(frozen=True)
class Notification:
    """An asynchronous notification as Alipay POSTs it to ``url``."""

    url: str
    params: dict[str, str]
    body: bytes
    headers: dict[str, str]


class GatewayRefused(Exception):
    """The gateway's page refuses the buyer (e.g. a trade already paid)."""

    def __init__(self, sub_code: str) -> None:
        super().__init__(sub_code)
        self.sub_code = sub_code


class FakeAlipayGateway:
    """Alipay's gateway at ``url`` for the given apps, signing with ``alipay_key``.

    ``faults`` are consumed one per API call: ``timeout`` (no answer, nothing done),
    ``timeout_after`` (done, then the answer is lost), ``connect``, ``500``,
    ``unsigned``, ``tampered`` (the node changed after signing), ``system_error``
    (a signed ``20000``)."""

    def __init__(
        self,
        *,
        alipay_key: KeyPair,
        apps: Sequence[FakeApp],
        now: Callable[[], datetime],
        url: str = GATEWAY_CN,
    ) -> None:
        self.url = url
        self._key = alipay_key
        self._apps = {app.app_id: app for app in apps}
        self._now = now
        self.trades: dict[tuple[str, str], Trade] = {}
        self.calls: list[dict[str, str]] = []  # every API call's parameters, merged
        self.charges: list[str] = []  # out_trade_no of every payment taken
        self.refunds: list[tuple[str, str, str]] = []  # (out_trade_no, out_request_no, amount)
        self.faults: list[str] = []
        self.problems: list[str] = []
        self.refund_refusal: str | None = None  # a sub_code to refuse refunds with
        self._trade_numbers = itertools.count(1)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _stamp(self, moment: datetime | None = None) -> str:
        return (moment or self._now()).astimezone(BEIJING).strftime(TIME_FORMAT)

    # --- HTTP --------------------------------------------------------------------------------

    def _handle(self, request: httpx.Request) -> httpx.Response:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "timeout":
            raise httpx.ReadTimeout("fake alipay: no answer", request=request)
        if fault == "connect":
            raise httpx.ConnectError("fake alipay: connection refused", request=request)
        if fault == "500":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        if (
            request.method != "POST"
            or f"{request.url.scheme}://{request.url.host}" + (request.url.path)
            != self.url.split("?")[0]
        ):
            self.problems.append(f"{request.method} {request.url} is not the gateway")
            return httpx.Response(404)
        timeout = request.extensions.get("timeout") or {}
        if not timeout or any(value is None for value in timeout.values()):
            self.problems.append(f"no time-out on the call: {timeout}")
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            self.problems.append("the body is not form-encoded")
        query, body = request.url.query.decode(), request.content.decode("utf-8")
        if fault == "system_error":
            # A signed 20000 before anything is done: the outcome is unknown to the caller.
            method = dict(parse_qsl(query)).get("method", "")
            answer = self._answer(
                method,
                {
                    "code": "20000",
                    "msg": "Service Currently Unavailable",
                    "sub_code": "isp.unknow-error",
                    "sub_msg": "系统繁忙",
                },
            )
        else:
            answer = self.handle_form(query, body)
        if fault == "timeout_after":
            raise httpx.ReadTimeout("fake alipay: answer lost after the work", request=request)
        if fault == "unsigned":
            answer = re.sub(rb',"sign":"[^"]*"', b"", answer)
        if fault == "tampered":
            answer = answer.replace(b'"code":"', b'"code":"9', 1)
        return httpx.Response(
            200, content=answer, headers={"Content-Type": "text/html;charset=utf-8"}
        )

    def handle_form(self, query: str, body: str) -> bytes:
        """One gateway call: the query string and form body as sent; the answer's bytes."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        self.calls.append(params)
        method = params.get("method", "")
        app = self._apps.get(params.get("app_id", ""))
        if app is None:
            return self._error("isv.invalid-app-id", "无效的AppID参数")
        if not sdk_verify(app.public_pem, params, exclude=("sign",)):
            self.problems.append(f"{method}: request signature does not verify")
            return self._error("isv.invalid-signature", "验签出错")
        problem = self._check_common(params)
        if problem:
            self.problems.append(f"{method}: {problem}")
            return self._error("isv.invalid-parameter", problem)
        try:
            biz = json.loads(params["biz_content"])
        except (KeyError, ValueError):
            self.problems.append(f"{method}: biz_content is not JSON")
            return self._error("isv.missing-biz-content", "biz_content 无效")
        handlers = {
            "alipay.trade.query": self._query,
            "alipay.trade.refund": self._refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
        }
        if method not in handlers:
            self.problems.append(f"unexpected method {method!r}")
            return self._error("isv.invalid-method", "不存在的方法名")
        return self._answer(method, handlers[method](app, biz))

    def _check_common(self, params: dict[str, str]) -> str | None:
        expected = {"charset": "utf-8", "sign_type": "RSA2", "version": "1.0", "format": "JSON"}
        for key, value in expected.items():
            if params.get(key, "").lower() != value.lower():
                return f"{key} is {params.get(key)!r}, expected {value}"
        try:
            datetime.strptime(params.get("timestamp", ""), TIME_FORMAT)
        except ValueError:
            return f"timestamp {params.get('timestamp')!r} is not yyyy-MM-dd HH:mm:ss"
        return None

    def _answer(self, method: str, node: dict[str, Any]) -> bytes:
        """``{"<method>_response": node, "sign": ...}``, signed over the node's text."""
        name = method.replace(".", "_") + "_response"
        text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        sign = sign_with_rsa2(self._key.private_pkcs1_pem, text, "utf-8")
        return f'{{"{name}":{text},"sign":"{sign}"}}'.encode()

    def _error(self, sub_code: str, sub_msg: str) -> bytes:
        # Gateway-level errors come as an unsigned error_response.
        node = {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code}
        node["sub_msg"] = sub_msg
        return json.dumps({"error_response": node}, ensure_ascii=False).encode()

    # --- the API -----------------------------------------------------------------------------

    def _business_failure(self, sub_code: str, sub_msg: str) -> dict[str, Any]:
        return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}

    def _query(self, app: FakeApp, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get((app.app_id, str(biz.get("out_trade_no"))))
        if trade is None:
            return self._business_failure("ACQ.TRADE_NOT_EXIST", "交易不存在")
        node: dict[str, Any] = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "159****5620",
            "trade_status": trade.status,
            "total_amount": trade.total_amount,
            "buyer_pay_amount": trade.total_amount if trade.gmt_payment else "0.00",
            "point_amount": "0.00",
            "invoice_amount": trade.total_amount if trade.gmt_payment else "0.00",
            "receipt_amount": trade.total_amount if trade.gmt_payment else "0.00",
            "buyer_user_id": "2088101117955611",
        }
        if trade.gmt_payment:
            node["send_pay_date"] = self._stamp(trade.gmt_payment)
            node["fund_bill_list"] = [
                {"fund_channel": "ALIPAYACCOUNT", "amount": trade.total_amount}
            ]
        return node

    def _refund(self, app: FakeApp, biz: dict[str, Any]) -> dict[str, Any]:
        amount, out_request_no = str(biz.get("refund_amount")), str(biz.get("out_request_no"))
        if not AMOUNT.match(amount):
            self.problems.append(f"refund_amount {amount!r} is not a decimal of yuan")
            return self._business_failure("ACQ.INVALID_PARAMETER", "参数无效")
        if not OUT_NO.match(out_request_no):
            self.problems.append(f"out_request_no {out_request_no!r} is not valid")
            return self._business_failure("ACQ.INVALID_PARAMETER", "参数无效")
        trade = self.trades.get((app.app_id, str(biz.get("out_trade_no"))))
        if trade is None:
            return self._business_failure("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if out_request_no in trade.refunds:
            if trade.refunds[out_request_no] != amount:
                return self._business_failure("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额不一致")
            # A repeated out_request_no refunds nothing more: fund_change N.
            return self._refund_node(trade, fund_change="N")
        if trade.status not in ("TRADE_SUCCESS",):
            return self._business_failure("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if self.refund_refusal:
            return self._business_failure(self.refund_refusal, "退款被拒绝")
        refunded = sum((Decimal(a) for a in trade.refunds.values()), Decimal(0))
        if refunded + Decimal(amount) > Decimal(trade.total_amount):
            return self._business_failure("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        trade.refunds[out_request_no] = amount
        self.refunds.append((trade.out_trade_no, out_request_no, amount))
        if refunded + Decimal(amount) == Decimal(trade.total_amount):
            trade.status, trade.gmt_close = "TRADE_CLOSED", self._now()
        return self._refund_node(trade, fund_change="Y")

    def _refund_node(self, trade: Trade, *, fund_change: str) -> dict[str, Any]:
        refunded = sum((Decimal(a) for a in trade.refunds.values()), Decimal(0))
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "159****5620",
            "fund_change": fund_change,
            "refund_fee": f"{refunded:.2f}",
            "gmt_refund_pay": self._stamp(),
        }

    def _refund_query(self, app: FakeApp, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get((app.app_id, str(biz.get("out_trade_no"))))
        out_request_no = str(biz.get("out_request_no"))
        if trade is None:
            return self._business_failure("ACQ.TRADE_NOT_EXIST", "交易不存在")
        node: dict[str, Any] = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": out_request_no,
        }
        if out_request_no in trade.refunds:
            # Found: the refund was made (refund_status is returned when it succeeded).
            node["total_amount"] = trade.total_amount
            node["refund_amount"] = trade.refunds[out_request_no]
            node["refund_status"] = "REFUND_SUCCESS"
        return node

    # --- the buyer's side --------------------------------------------------------------------

    def open_checkout(self, url: str) -> Trade:
        """The buyer's browser arrives with a checkout URL: the gateway checks it and
        files the trade (``WAIT_BUYER_PAY``). Raises ``GatewayRefused``."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}{parts.path}" != self.url:
            raise GatewayRefused("not this gateway")
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            raise GatewayRefused("repeated parameter")
        app = self._apps.get(params.get("app_id", ""))
        if app is None:
            raise GatewayRefused("isv.invalid-app-id")
        if not sdk_verify(app.public_pem, params, exclude=("sign",)):
            self.problems.append("checkout URL signature does not verify")
            raise GatewayRefused("isv.invalid-signature")
        problem = self._check_common(params)
        method = params.get("method", "")
        if problem is None and method not in PRODUCT_CODES:
            problem = f"method {method!r} is not a checkout"
        if problem is None and not params.get("notify_url"):
            problem = "no notify_url"
        biz = json.loads(params.get("biz_content") or "{}")
        if problem is None:
            problem = self._check_checkout(method, biz)
        if problem:
            self.problems.append(f"checkout: {problem}")
            raise GatewayRefused("isv.invalid-parameter")
        key = (app.app_id, biz["out_trade_no"])
        trade = self.trades.get(key)
        if trade is None:
            trade = Trade(
                app_id=app.app_id,
                out_trade_no=biz["out_trade_no"],
                trade_no=f"{self._now():%Y%m%d}2200140{next(self._trade_numbers):014d}",
                total_amount=biz["total_amount"],
                subject=biz["subject"],
                product_code=biz["product_code"],
                notify_url=params["notify_url"],
                gmt_create=self._now(),
            )
            self.trades[key] = trade
        elif (trade.total_amount, trade.subject) != (biz["total_amount"], biz["subject"]):
            raise GatewayRefused("ACQ.CONTEXT_INCONSISTENT")
        if trade.status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            raise GatewayRefused("ACQ.TRADE_HAS_SUCCESS")
        if trade.status == "TRADE_CLOSED":
            raise GatewayRefused("ACQ.TRADE_HAS_CLOSE")
        return trade

    def _check_checkout(self, method: str, biz: dict[str, Any]) -> str | None:
        if biz.get("product_code") != PRODUCT_CODES[method]:
            return f"product_code {biz.get('product_code')!r} for {method}"
        if not OUT_NO.match(str(biz.get("out_trade_no", ""))):
            return f"out_trade_no {biz.get('out_trade_no')!r}"
        amount = str(biz.get("total_amount", ""))
        if not AMOUNT.match(amount) or Decimal(amount) < Decimal("0.01"):
            return f"total_amount {amount!r} is not a decimal of yuan in [0.01, 100000000]"
        subject = str(biz.get("subject", ""))
        if not subject or len(subject) > 256 or any(c in subject for c in "/=&"):
            return f"subject {subject!r}"
        return None

    def pay(self, url: str) -> Notification:
        """The buyer pays on the checkout page: one charge, and the notification."""
        trade = self.open_checkout(url)
        trade.status, trade.gmt_payment = "TRADE_SUCCESS", self._now()
        self.charges.append(trade.out_trade_no)
        return self.notification(trade)

    def close(self, app_id: str, out_trade_no: str) -> Notification:
        """The unpaid trade times out."""
        trade = self.trades[(app_id, out_trade_no)]
        trade.status, trade.gmt_close = "TRADE_CLOSED", self._now()
        return self.notification(trade)

    def notification(
        self,
        trade: Trade,
        overrides: Mapping[str, str] | None = None,
        *,
        sign_with: KeyPair | None = None,
    ) -> Notification:
        """Alipay's notification of the trade's state, signed with Alipay's key (or
        ``sign_with``); ``overrides`` change or add parameters before signing."""
        params = {
            "notify_time": self._stamp(),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "auth_app_id": trade.app_id,
            "app_id": trade.app_id,
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_id": "2088102122524333",
            "seller_id": "2088101106499364",
            "trade_status": trade.status,
            "total_amount": trade.total_amount,
            "receipt_amount": trade.total_amount,
            "invoice_amount": trade.total_amount,
            "buyer_pay_amount": trade.total_amount,
            "point_amount": "0.00",
            "subject": trade.subject,
            "gmt_create": self._stamp(trade.gmt_create),
        }
        if trade.gmt_payment:
            params["gmt_payment"] = self._stamp(trade.gmt_payment)
            params["fund_bill_list"] = json.dumps(
                [{"amount": trade.total_amount, "fundChannel": "ALIPAYACCOUNT"}],
                separators=(",", ":"),
            )
        if trade.gmt_close:
            params["gmt_close"] = self._stamp(trade.gmt_close)
        params.update(overrides or {})
        key = sign_with or self._key
        params["sign"] = sdk_sign(key.private_pkcs1_pem, params, exclude=("sign", "sign_type"))
        return Notification(
            url=trade.notify_url,
            params=params,
            body=urlencode(params).encode(),
            headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        )

    def finish(self, app_id: str, out_trade_no: str) -> None:
        """The refund period ends: ``TRADE_FINISHED``."""
        self.trades[(app_id, out_trade_no)].status = "TRADE_FINISHED"
