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
