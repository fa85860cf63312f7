"""Subscriber messages in zh-Hant, zh-Hans and en.

Messages are rendered when the change that causes them commits and stored whole in
the outbox, so a retry sends exactly the text the subscriber was meant to get. They
name the operator's official domain and no other link.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from string import Template


class MessageKind(enum.StrEnum):
    RENEWAL_CONFIRMED = "renewal_confirmed"
    REFUND_ISSUED = "refund_issued"
    PAYMENT_FAILED = "payment_failed"
    REFUND_APPROVED = "refund_approved"  # customer service refunds an order
    REFUND_COMPLETED = "refund_completed"  # the money is back (provider or payout)
    # Reminders (services/reminders.py): scheduled jobs, outside quiet hours.
    REMINDER_EXPIRING = "reminder_expiring"  # 7, 3 and 1 day(s) before the validity end
    REMINDER_EXPIRED = "reminder_expired"  # on expiry: grace has begun
    REMINDER_GRACE = "reminder_grace"  # weekly in grace
    REMINDER_DATA_LOW = "reminder_data_low"  # 20 % and 5 % of the data left
    AUTO_RENEW_FAILED = "auto_renew_failed"  # a try failed; another one is coming
    AUTO_RENEW_PAUSED = "auto_renew_paused"  # the last try failed; auto-renew is off


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    text: str


_SMS: dict[MessageKind, dict[str, Template]] = {
    MessageKind.RENEWAL_CONFIRMED: {
        "zh-Hant": Template(
            "$brand：$number 已成功購買「$offer」，付款 $price。"
            "有效期至 $validity_end。收據 $order。詳情：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 已成功购买「$offer」，付款 $price。"
            "有效期至 $validity_end。收据 $order。详情：$domain"
        ),
        "en": Template(
            "$brand: $offer is now active on $number, paid $price. "
            "Valid until $validity_end. Ref $order. Details: $domain"
        ),
    },
    MessageKind.REFUND_ISSUED: {
        "zh-Hant": Template(
            "$brand：$number 的訂單 $order 未能完成（$reason），"
            "$price 將退回原付款方式。詳情：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 的订单 $order 未能完成（$reason），"
            "$price 将退回原付款方式。详情：$domain"
        ),
        "en": Template(
            "$brand: order $order for $number could not be completed ($reason). "
            "$price will be refunded to your payment method. Details: $domain"
        ),
    },
    MessageKind.PAYMENT_FAILED: {
        "zh-Hant": Template("$brand：$number 的付款未成功，訂單 $order 未收費。請重試：$domain"),
        "zh-Hans": Template("$brand：$number 的付款未成功，订单 $order 未收费。请重试：$domain"),
        "en": Template(
            "$brand: payment for $number was not successful; order $order was not charged. "
            "Try again at $domain"
        ),
    },
    MessageKind.REFUND_APPROVED: {
        "zh-Hant": Template(
            "$brand：客戶服務已批准退還 $number 訂單 $order 的 $price，"
            "款項將退回原付款方式。詳情：$domain"
        ),
        "zh-Hans": Template(
            "$brand：客户服务已批准退还 $number 订单 $order 的 $price，"
            "款项将退回原付款方式。详情：$domain"
        ),
        "en": Template(
            "$brand: customer service has approved a refund of $price for order $order "
            "on $number. It will go back to your payment method. Details: $domain"
        ),
    },
    MessageKind.REFUND_COMPLETED: {
        "zh-Hant": Template(
            "$brand：$number 訂單 $order 的 $price 退款已完成，款項或需數個工作天入賬。"
            "詳情：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 订单 $order 的 $price 退款已完成，款项或需数个工作日到账。"
            "详情：$domain"
        ),
        "en": Template(
            "$brand: the refund of $price for order $order on $number has been made; "
            "it may take a few working days to reach you. Details: $domain"
        ),
    },
    MessageKind.AUTO_RENEW_FAILED: {
        "zh-Hant": Template(
            "$brand：$number 自動續期「$offer」（$price）未能扣款，"
            "我們將於 $next 再試。亦可立即續期：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 自动续期「$offer」（$price）未能扣款，"
            "我们将于 $next 再试。也可立即续期：$domain"
        ),
        "en": Template(
            "$brand: auto-renew of $offer ($price) for $number could not be charged. "
            "We will try again at $next, or renew now at $domain"
        ),
    },
    MessageKind.AUTO_RENEW_PAUSED: {
        "zh-Hant": Template(
            "$brand：$number 自動續期再次未能扣款，現已暫停。"
            "請於 $deadline 前續期以保留號碼：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 自动续期再次未能扣款，现已暂停。"
            "请于 $deadline 前续期以保留号码：$domain"
        ),
        "en": Template(
            "$brand: auto-renew for $number failed again and is now paused. "
            "Renew by $deadline to keep your number: $domain"
        ),
    },
    MessageKind.REMINDER_EXPIRING: {
        "zh-Hant": Template(
            "$brand：$number 的有效期至 $validity_end，尚餘 $days 天。"
            "請於到期前續期以保留號碼，只經官方網站續期：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 的有效期至 $validity_end，尚余 $days 天。"
            "请于到期前续期以保留号码，只经官方网站续期：$domain"
        ),
        "en": Template(
            "$brand: $number is valid until $validity_end, $days day(s) left. "
            "Renew before then to keep your number, only at $domain"
        ),
    },
    MessageKind.REMINDER_EXPIRED: {
        "zh-Hant": Template(
            "$brand：$number 的有效期已於 $validity_end 結束，撥出服務已暫停。"
            "請於 $grace_end 或之前續期以保留號碼，只經官方網站續期：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 的有效期已于 $validity_end 结束，拨出服务已暂停。"
            "请于 $grace_end 或之前续期以保留号码，只经官方网站续期：$domain"
        ),
        "en": Template(
            "$brand: $number expired on $validity_end and outgoing service is suspended. "
            "Renew by $grace_end to keep your number, only at $domain"
        ),
    },
    MessageKind.REMINDER_GRACE: {
        "zh-Hant": Template(
            "$brand：$number 仍處於寬限期，如未於 $grace_end 或之前續期，號碼將被收回。"
            "只經官方網站續期：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 仍处于宽限期，如未于 $grace_end 或之前续期，号码将被收回。"
            "只经官方网站续期：$domain"
        ),
        "en": Template(
            "$brand: $number is in its grace period. Unless renewed by $grace_end, "
            "the number will be withdrawn. Renew only at $domain"
        ),
    },
    MessageKind.REMINDER_DATA_LOW: {
        "zh-Hant": Template(
            "$brand：$number 的數據只餘約 $percent%（$left_mb MB）。加購數據請只經官方網站：$domain"
        ),
        "zh-Hans": Template(
            "$brand：$number 的数据只余约 $percent%（$left_mb MB）。加购数据请只经官方网站：$domain"
        ),
        "en": Template(
            "$brand: $number has about $percent% of its data left ($left_mb MB). "
            "Add data only at $domain"
        ),
    },
}

_SUBJECTS: dict[MessageKind, dict[str, Template]] = {
    MessageKind.RENEWAL_CONFIRMED: {
        "zh-Hant": Template("$brand 續期確認 $order"),
        "zh-Hans": Template("$brand 续期确认 $order"),
        "en": Template("$brand renewal confirmed $order"),
    },
    MessageKind.REFUND_ISSUED: {
        "zh-Hant": Template("$brand 退款通知 $order"),
        "zh-Hans": Template("$brand 退款通知 $order"),
        "en": Template("$brand refund for $order"),
    },
    MessageKind.PAYMENT_FAILED: {
        "zh-Hant": Template("$brand 付款未成功 $order"),
        "zh-Hans": Template("$brand 付款未成功 $order"),
        "en": Template("$brand payment not successful $order"),
    },
    MessageKind.REFUND_APPROVED: {
        "zh-Hant": Template("$brand 退款通知 $order"),
        "zh-Hans": Template("$brand 退款通知 $order"),
        "en": Template("$brand refund for $order"),
    },
    MessageKind.REFUND_COMPLETED: {
        "zh-Hant": Template("$brand 退款已完成 $order"),
        "zh-Hans": Template("$brand 退款已完成 $order"),
        "en": Template("$brand refund completed $order"),
    },
    MessageKind.AUTO_RENEW_FAILED: {
        "zh-Hant": Template("$brand 自動續期未能扣款 $number"),
        "zh-Hans": Template("$brand 自动续期未能扣款 $number"),
        "en": Template("$brand auto-renew not charged $number"),
    },
    MessageKind.AUTO_RENEW_PAUSED: {
        "zh-Hant": Template("$brand 自動續期已暫停 $number"),
        "zh-Hans": Template("$brand 自动续期已暂停 $number"),
        "en": Template("$brand auto-renew paused $number"),
    },
    MessageKind.REMINDER_EXPIRING: {
        "zh-Hant": Template("$brand 續期提示：$number 有效期至 $validity_end"),
        "zh-Hans": Template("$brand 续期提示：$number 有效期至 $validity_end"),
        "en": Template("$brand reminder: $number is valid until $validity_end"),
    },
    MessageKind.REMINDER_EXPIRED: {
        "zh-Hant": Template("$brand：$number 已到期，請於 $grace_end 或之前續期"),
        "zh-Hans": Template("$brand：$number 已到期，请于 $grace_end 或之前续期"),
        "en": Template("$brand: $number has expired; renew by $grace_end"),
    },
    MessageKind.REMINDER_GRACE: {
        "zh-Hant": Template("$brand：$number 寬限期至 $grace_end"),
        "zh-Hans": Template("$brand：$number 宽限期至 $grace_end"),
        "en": Template("$brand: $number grace period until $grace_end"),
    },
    MessageKind.REMINDER_DATA_LOW: {
        "zh-Hant": Template("$brand：$number 數據只餘約 $percent%"),
        "zh-Hans": Template("$brand：$number 数据只余约 $percent%"),
        "en": Template("$brand: $number has about $percent% data left"),
    },
}

REFUND_REASONS: dict[str, dict[str, str]] = {
    "card_not_renewable": {
        "zh-Hant": "此卡已終止，需要新卡",
        "zh-Hans": "此卡已终止，需要新卡",
        "en": "the card has been terminated and a new card is needed",
    },
    "queue_limit_exceeded": {
        "zh-Hant": "已超過可預購的12個月上限",
        "zh-Hans": "已超过可预购的12个月上限",
        "en": "more than 12 months would be queued",
    },
    "offer_not_available": {
        "zh-Hant": "此計劃不適用於此卡",
        "zh-Hans": "此计划不适用于此卡",
        "en": "the offer no longer applies to this card",
    },
    "duplicate_payment": {
        "zh-Hant": "此訂單已付款",
        "zh-Hans": "此订单已付款",
        "en": "the order had already been paid",
    },
    "order_cancelled": {
        "zh-Hant": "訂單已取消",
        "zh-Hans": "订单已取消",
        "en": "the order had been cancelled",
    },
}


def supported(language: str) -> str:
    return language if language in ("zh-Hant", "zh-Hans", "en") else "zh-Hant"


def render(kind: MessageKind, language: str, **values: str) -> RenderedMessage:
    language = supported(language)
    text = _SMS[kind][language].substitute(values)
    subject = _SUBJECTS[kind][language].substitute(values)
    return RenderedMessage(subject=subject, text=text)


def refund_reason(code: str, language: str) -> str:
    reasons = REFUND_REASONS.get(code, REFUND_REASONS["offer_not_available"])
    return reasons[supported(language)]
