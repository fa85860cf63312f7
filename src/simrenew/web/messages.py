"""Error titles and messages in zh-Hant, zh-Hans and en, by stable problem code.

A code missing here falls back to the English message the domain error carries, so
an untranslated error is still explained, never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# code → language → (title, detail template using the error's params)
MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    # --- vouchers -------------------------------------------------------------------------
    "voucher_pin_malformed": {
        "zh-Hant": ("禮券密碼無效", "禮券密碼是 16 位數字。"),
        "zh-Hans": ("预付券密码无效", "预付券密码是 16 位数字。"),
        "en": ("Voucher PIN malformed", "A voucher PIN is 16 digits."),
    },
    "voucher_pin_invalid": {
        "zh-Hant": ("禮券密碼錯誤", "禮券密碼不正確。"),
        "zh-Hans": ("预付券密码错误", "预付券密码不正确。"),
        "en": ("Voucher PIN wrong", "The voucher PIN is wrong."),
    },
    "voucher_used": {
        "zh-Hant": ("禮券已使用", "此禮券已經使用過。"),
        "zh-Hans": ("预付券已使用", "此预付券已经使用过。"),
        "en": ("Voucher used", "This voucher was already used."),
    },
    "voucher_void": {
        "zh-Hant": ("禮券已取消", "此禮券已被取消，不能使用。"),
        "zh-Hans": ("预付券已取消", "此预付券已被取消，不能使用。"),
        "en": ("Voucher cancelled", "This voucher has been cancelled and cannot be used."),
    },
    "voucher_expired": {
        "zh-Hant": ("禮券已過期", "此禮券已於 {expired_on} 過期。"),
        "zh-Hans": ("预付券已过期", "此预付券已于 {expired_on} 过期。"),
        "en": ("Voucher expired", "This voucher expired on {expired_on}."),
    },
    "voucher_currency_mismatch": {
        "zh-Hant": ("貨幣不符", "此禮券以 {voucher_currency} 計算，訂單以 {order_currency} 計算。"),
        "zh-Hans": (
            "货币不符",
            "此预付券以 {voucher_currency} 计算，订单以 {order_currency} 计算。",
        ),
        "en": (
            "Currency mismatch",
            "This voucher is in {voucher_currency}; the order is in {order_currency}.",
        ),
    },
    "voucher_value_too_small": {
        "zh-Hant": ("禮券面值不足", "此禮券面值 {value}，訂單金額為 {price}。"),
        "zh-Hans": ("预付券面值不足", "此预付券面值 {value}，订单金额为 {price}。"),
        "en": ("Voucher too small", "This voucher is worth {value}; the order costs {price}."),
    },
    "voucher_offer_mismatch": {
        "zh-Hant": ("禮券不適用", "此禮券只適用於 {voucher_offer}，不適用於 {order_offer}。"),
        "zh-Hans": ("预付券不适用", "此预付券只适用于 {voucher_offer}，不适用于 {order_offer}。"),
        "en": (
            "Voucher not for this plan",
            "This voucher pays for {voucher_offer} only, not {order_offer}.",
        ),
    },
    "voucher_locked": {
        "zh-Hant": ("暫時鎖定", "此號碼輸入錯誤禮券密碼太多次，請於 {retry_after} 秒後再試。"),
        "zh-Hans": ("暂时锁定", "此号码输入错误预付券密码太多次，请于 {retry_after} 秒后再试。"),
        "en": (
            "Locked for a while",
            "Too many wrong voucher PINs for this number; retry in {retry_after} seconds.",
        ),
    },
    "voucher_rate_limited": {
        "zh-Hant": ("嘗試次數過多", "禮券嘗試次數過多，請於 {retry_after} 秒後再試。"),
        "zh-Hans": ("尝试次数过多", "预付券尝试次数过多，请于 {retry_after} 秒后再试。"),
        "en": (
            "Too many attempts",
            "Too many voucher attempts; retry in {retry_after} seconds.",
        ),
    },
    "validation_error": {
        "zh-Hant": ("輸入無效", "請求內容有誤：{errors}"),
        "zh-Hans": ("输入无效", "请求内容有误：{errors}"),
        "en": ("Invalid input", "The request is not valid: {errors}"),
    },
    "not_found": {
        "zh-Hant": ("找不到", "找不到所要求的資源。"),
        "zh-Hans": ("找不到", "找不到所请求的资源。"),
        "en": ("Not found", "The requested resource does not exist."),
    },
    "method_not_allowed": {
        "zh-Hant": ("不支援此方法", "此資源不支援這個 HTTP 方法。"),
        "zh-Hans": ("不支持此方法", "此资源不支持这个 HTTP 方法。"),
        "en": ("Method not allowed", "This resource does not support that HTTP method."),
    },
    "internal_error": {
        "zh-Hant": ("系統錯誤", "系統暫時未能處理請求，請稍後再試。參考編號：{request_id}"),
        "zh-Hans": ("系统错误", "系统暂时未能处理请求，请稍后再试。参考编号：{request_id}"),
        "en": (
            "Internal error",
            "We could not handle the request; please try again later. Reference: {request_id}",
        ),
    },
    # --- quick top-up, orders, payments, idempotency, callbacks ---------------------------
    "card_not_found": {
        "zh-Hant": ("找不到此卡", "找不到號碼或 ICCID 為 {key} 的卡。"),
        "zh-Hans": ("找不到此卡", "找不到号码或 ICCID 为 {key} 的卡。"),
        "en": ("Card not found", "No card with number or ICCID {key}."),
    },
    "card_not_renewable": {
        "zh-Hant": ("此卡無法續期", "號碼 {card} 的卡已停用，不能再續期；請購買新卡。"),
        "zh-Hans": ("此卡无法续期", "号码 {card} 的卡已停用，不能再续期；请购买新卡。"),
        "en": (
            "Card cannot be renewed",
            "The card of {card} is closed and can no longer be renewed; a new card is needed.",
        ),
    },
    "offer_not_found": {
        "zh-Hant": ("找不到此方案", "沒有方案 {key}。"),
        "zh-Hans": ("找不到此方案", "没有方案 {key}。"),
        "en": ("Offer not found", "No offer {key}."),
    },
    "offer_not_available": {
        "zh-Hant": ("此方案不適用", "方案 {offer} 不適用於這張卡。"),
        "zh-Hans": ("此方案不适用", "方案 {offer} 不适用于这张卡。"),
        "en": ("Offer not available", "Offer {offer} is not sold for this card."),
    },
    "payment_method_not_found": {
        "zh-Hant": ("找不到付款方式", "找不到已儲存的付款方式 {key}。"),
        "zh-Hans": ("找不到付款方式", "找不到已保存的付款方式 {key}。"),
        "en": ("Payment method not found", "No saved payment method {key}."),
    },
    "payment_method_unusable": {
        "zh-Hant": ("付款方式無法使用", "已儲存的付款方式 {method} 無法扣款：{reason}。"),
        "zh-Hans": ("付款方式无法使用", "已保存的付款方式 {method} 无法扣款：{reason}。"),
        "en": (
            "Payment method cannot be used",
            "The saved payment method {method} cannot be charged: {reason}.",
        ),
    },
    "method_cannot_be_saved": {
        "zh-Hant": ("無法儲存付款方式", "以 {provider} 付款無法儲存作日後使用。"),
        "zh-Hans": ("无法保存付款方式", "使用 {provider} 付款无法保存供日后使用。"),
        "en": ("Method cannot be saved", "Payments with {provider} cannot be kept for later."),
    },
    "order_not_found": {
        "zh-Hant": ("找不到訂單", "沒有訂單 {key}。"),
        "zh-Hans": ("找不到订单", "没有订单 {key}。"),
        "en": ("Order not found", "No order {key}."),
    },
    "payment_not_found": {
        "zh-Hant": ("找不到付款", "沒有付款紀錄 {key}。"),
        "zh-Hans": ("找不到付款", "没有付款记录 {key}。"),
        "en": ("Payment not found", "No payment {key}."),
    },
    "order_not_payable": {
        "zh-Hant": ("訂單無法付款", "訂單 {order} 的狀態為 {state}，不能付款。"),
        "zh-Hans": ("订单无法付款", "订单 {order} 的状态为 {state}，不能付款。"),
        "en": ("Order cannot be paid", "Order {order} is {state} and cannot be paid."),
    },
    "order_limit_exceeded": {
        "zh-Hant": ("超出訂單金額上限", "此訂單超出每單或每 30 日的金額限制：{reason}"),
        "zh-Hans": ("超出订单金额上限", "此订单超出每单或每 30 日的金额限制：{reason}"),
        "en": ("Order limit exceeded", "{reason}"),
    },
    "queue_limit_exceeded": {
        "zh-Hant": (
            "預繳期已達上限",
            "現在續期會令有效期排到 {new_end}，"
            "超過現有週期後 {limit_months} 個月的上限（{limit_end}）。",
        ),
        "zh-Hans": (
            "预缴期已达上限",
            "现在续期会令有效期排到 {new_end}，"
            "超过现有周期后 {limit_months} 个月的上限（{limit_end}）。",
        ),
        "en": (
            "Queue limit exceeded",
            "Renewing now would queue validity until {new_end}, beyond the limit of "
            "{limit_months} months after the current period ({limit_end}).",
        ),
    },
    "coupon_invalid": {
        "zh-Hant": ("優惠碼無效", "優惠碼 {coupon} 不適用於此訂單。"),
        "zh-Hans": ("优惠码无效", "优惠码 {coupon} 不适用于此订单。"),
        "en": ("Coupon not valid", "Coupon code {coupon} is not valid for this order."),
    },
    "promotion_not_applicable": {
        "zh-Hant": ("優惠不適用", "優惠 {promotion} 不適用於此訂單。"),
        "zh-Hans": ("优惠不适用", "优惠 {promotion} 不适用于此订单。"),
        "en": ("Promotion not applicable", "Promotion {promotion} does not apply to this order."),
    },
    "illegal_transition": {
        "zh-Hant": ("狀態不允許此操作", "{entity} 不能由 {current} 轉為 {target}。"),
        "zh-Hans": ("状态不允许此操作", "{entity} 不能由 {current} 转为 {target}。"),
        "en": ("Not allowed in this state", "The {entity} cannot go from {current} to {target}."),
    },
    "idempotency_key_reused": {
        "zh-Hant": ("重複使用的請求鍵", "Idempotency-Key {key} 已用於另一個不同的請求。"),
        "zh-Hans": ("重复使用的请求键", "Idempotency-Key {key} 已用于另一个不同的请求。"),
        "en": (
            "Idempotency key reused",
            "Idempotency key {key} was already used for a different request.",
        ),
    },
    "idempotency_in_progress": {
        "zh-Hant": ("請求處理中", "使用 Idempotency-Key {key} 的請求仍在處理中，請稍後重試。"),
        "zh-Hans": ("请求处理中", "使用 Idempotency-Key {key} 的请求仍在处理中，请稍后重试。"),
        "en": (
            "Request in progress",
            "A request with idempotency key {key} is still being processed; retry.",
        ),
    },
    "idempotency_key_missing": {
        "zh-Hant": ("缺少請求鍵", "此請求需要 Idempotency-Key 標頭。"),
        "zh-Hans": ("缺少请求键", "此请求需要 Idempotency-Key 标头。"),
        "en": ("Idempotency key missing", "This request needs an Idempotency-Key header."),
    },
    "idempotency_key_invalid": {
        "zh-Hant": ("請求鍵無效", "Idempotency-Key 須為 1 至 128 個可見 ASCII 字元。"),
        "zh-Hans": ("请求键无效", "Idempotency-Key 须为 1 至 128 个可见 ASCII 字符。"),
        "en": (
            "Idempotency key invalid",
            "An Idempotency-Key is 1 to 128 visible ASCII characters.",
        ),
    },
    "signature_invalid": {
        "zh-Hant": ("簽署無效", "回調或付款連結的簽署無法核實，已拒絕。"),
        "zh-Hans": ("签名无效", "回调或付款链接的签名无法核实，已拒绝。"),
        "en": ("Signature invalid", "The callback or checkout link failed verification."),
    },
    "provider_unavailable": {
        "zh-Hant": (
            "付款服務暫不可用",
            "付款方式 {provider} 暫時不可用，請稍後再試或改用其他方式。",
        ),
        "zh-Hans": (
            "支付服务暂不可用",
            "支付方式 {provider} 暂时不可用，请稍后再试或改用其他方式。",
        ),
        "en": (
            "Payment provider unavailable",
            "Payment provider {provider} is not available; try again later or pay another way.",
        ),
    },
    "provider_not_found": {
        "zh-Hant": ("找不到付款服務", "沒有此付款服務。"),
        "zh-Hans": ("找不到支付服务", "没有此支付服务。"),
        "en": ("Provider not found", "No such payment provider."),
    },
    # --- SMS delivery receipts --------------------------------------------------------------
    "sms_receipt_signature_invalid": {
        "zh-Hant": ("回條簽署無效", "短訊送達回條的簽署無法核實，已拒絕。"),
        "zh-Hans": ("回执签名无效", "短信送达回执的签名无法核实，已拒绝。"),
        "en": ("Receipt signature invalid", "The SMS delivery receipt failed verification."),
    },
    "sms_receipt_invalid": {
        "zh-Hant": ("回條無法讀取", "短訊送達回條的內容無法讀取，已拒絕。"),
        "zh-Hans": ("回执无法读取", "短信送达回执的内容无法读取，已拒绝。"),
        "en": ("Receipt unreadable", "The SMS delivery receipt cannot be read."),
    },
    "sms_channel_not_http": {
        "zh-Hant": ("不接受短訊回條", "本系統並非經 HTTP 閘道發送短訊。"),
        "zh-Hans": ("不接受短信回执", "本系统并非经 HTTP 网关发送短信。"),
        "en": ("No HTTP SMS channel", "This instance sends no SMS over an HTTP gateway."),
    },
    "payload_too_large": {
        "zh-Hant": ("內容過大", "請求內容過大。"),
        "zh-Hans": ("内容过大", "请求内容过大。"),
        "en": ("Payload too large", "The request body is too large."),
    },
    "invalid_number": {
        "zh-Hant": ("號碼無效", "{number} 不是有效的香港或內地手機號碼。"),
        "zh-Hans": ("号码无效", "{number} 不是有效的香港或内地手机号码。"),
        "en": (
            "Invalid number",
            "{number} is not a valid Hong Kong or Mainland China mobile number.",
        ),
    },
    "rate_limited": {
        "zh-Hant": ("請求過於頻繁", "請求過於頻繁，請於 {retry_after} 秒後再試。"),
        "zh-Hans": ("请求过于频繁", "请求过于频繁，请于 {retry_after} 秒后再试。"),
        "en": ("Too many requests", "Too many requests; retry in {retry_after} seconds."),
    },
    # --- login and account (services/auth.py) ---
    "not_authenticated": {
        "zh-Hant": ("未登入", "請先登入：未有有效的登入狀態。"),
        "zh-Hans": ("未登录", "请先登录：没有有效的登录状态。"),
        "en": ("Not authenticated", "Log in first: no valid session was presented."),
    },
    # --- staff and the admin API ---------------------------------------------------------
    "staff_login_failed": {
        "zh-Hant": ("未能登入", "用戶名稱或密碼錯誤。"),
        "zh-Hans": ("未能登录", "用户名或密码错误。"),
        "en": ("Not authenticated", "Wrong username or password."),
    },
    "staff_login_limited": {
        "zh-Hant": ("嘗試次數過多", "此用戶登入嘗試次數過多，請於 {retry_after} 秒後再試。"),
        "zh-Hans": ("尝试次数过多", "此用户登录尝试次数过多，请于 {retry_after} 秒后再试。"),
        "en": (
            "Too many requests",
            "Too many login attempts for this user; retry in {retry_after} seconds.",
        ),
    },
    "staff_role_required": {
        "zh-Hant": ("沒有權限", "此操作需要 {roles} 角色；{role} 角色不可使用。"),
        "zh-Hans": ("没有权限", "此操作需要 {roles} 角色；{role} 角色不可使用。"),
        "en": ("Not permitted", "This needs the role {roles}; role {role} may not use it."),
    },
    "dead_letter_not_found": {
        "zh-Hant": ("找不到失敗訊息", "沒有編號為 {key!r} 的失敗外發訊息。"),
        "zh-Hans": ("找不到失败消息", "没有编号为 {key!r} 的失败外发消息。"),
        "en": ("Dead letter not found", "No dead outbox message {key!r}."),
    },
    "dead_job_not_found": {
        "zh-Hant": ("找不到失敗排程工作", "沒有編號為 {key!r} 的失敗排程工作。"),
        "zh-Hans": ("找不到失败计划任务", "没有编号为 {key!r} 的失败计划任务。"),
        "en": ("Dead job not found", "No dead scheduled job {key!r}."),
    },
    "login_code_invalid": {
        "zh-Hant": ("驗證碼無效", "驗證碼錯誤或已失效，請重新索取。"),
        "zh-Hans": ("验证码无效", "验证码错误或已失效，请重新获取。"),
        "en": ("Code not valid", "The code is wrong or no longer valid; request a new one."),
    },
    "login_locked": {
        "zh-Hant": (
            "暫時鎖定",
            "驗證碼錯誤次數過多，此號碼已暫時鎖定，請於 {retry_after} 秒後再試。",
        ),
        "zh-Hans": (
            "暂时锁定",
            "验证码错误次数过多，此号码已暂时锁定，请于 {retry_after} 秒后再试。",
        ),
        "en": (
            "Temporarily locked",
            "Too many wrong codes: this number is locked; retry in {retry_after} seconds.",
        ),
    },
    "resend_too_soon": {
        "zh-Hant": ("請稍候", "驗證碼剛已發出，{retry_after} 秒後可再索取。"),
        "zh-Hans": ("请稍候", "验证码刚已发出，{retry_after} 秒后可再获取。"),
        "en": (
            "Please wait",
            "A code was sent moments ago; a new one can be sent in {retry_after} seconds.",
        ),
    },
    "country_not_allowed": {
        "zh-Hant": ("不支援此地區", "不能向 +{country_code} 地區的號碼發送驗證碼。"),
        "zh-Hans": ("不支持此地区", "不能向 +{country_code} 地区的号码发送验证码。"),
        "en": (
            "Country not supported",
            "Codes are not sent to numbers in country +{country_code}.",
        ),
    },
    "anti_phishing_word_invalid": {
        "zh-Hant": ("防偽字詞無效", "防偽字詞須為 2 至 20 個文字或數字，不可包含連結或符號。"),
        "zh-Hans": ("防伪字词无效", "防伪字词须为 2 至 20 个文字或数字，不可包含链接或符号。"),
        "en": (
            "Anti-phishing word not valid",
            "An anti-phishing word is 2 to 20 letters or digits (Chinese characters welcome), "
            "with no link or punctuation.",
        ),
    },
}


def translate(
    code: str, language: str, params: Mapping[str, Any], *, title: str, detail: str
) -> tuple[str, str]:
    """(title, detail) for ``code`` in ``language``; the given English ones if the code
    or language has no entry, or the template needs a value it was not given."""
    entry = MESSAGES.get(code, {}).get(language)
    if entry is None:
        return title, detail
    try:
        return entry[0], entry[1].format(**params)
    except (KeyError, IndexError, ValueError):
        return entry[0], detail
