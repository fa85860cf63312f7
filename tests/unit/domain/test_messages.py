from __future__ import annotations

import pytest

from simrenew.domain.messages import (
    REFUND_REASONS,
    MessageKind,
    refund_reason,
    render,
    supported,
)

DOMAIN = "https://renew.example.hk"
COMMON = {
    "brand": "CrossLink",
    "number": "+852****4567",
    "order": "R2026-000123",
    "domain": DOMAIN,
}
VALUES: dict[MessageKind, dict[str, str]] = {
    MessageKind.RENEWAL_CONFIRMED: {
        **COMMON,
        "offer": "GBA 30 days",
        "price": "HK$88.00",
        "validity_end": "2026-07-30",
    },
    MessageKind.REFUND_ISSUED: {**COMMON, "price": "HK$88.00", "reason": "card terminated"},
    MessageKind.PAYMENT_FAILED: COMMON,
    MessageKind.REFUND_APPROVED: {**COMMON, "price": "HK$88.00"},
    MessageKind.REFUND_COMPLETED: {**COMMON, "price": "HK$88.00"},
}
# Reminders name no order: they are about the card.
REMINDER = {key: value for key, value in COMMON.items() if key != "order"}
VALUES |= {
    MessageKind.REMINDER_EXPIRING: {**REMINDER, "validity_end": "2026-07-30", "days": "7"},
    MessageKind.REMINDER_EXPIRED: {
        **REMINDER,
        "validity_end": "2026-07-30",
        "grace_end": "2026-08-29",
    },
    MessageKind.REMINDER_GRACE: {**REMINDER, "grace_end": "2026-08-29"},
    MessageKind.REMINDER_DATA_LOW: {**REMINDER, "percent": "20", "left_mb": "1024"},
}
# Auto-renew messages are about the card too.
VALUES |= {
    MessageKind.AUTO_RENEW_FAILED: {
        **REMINDER,
        "offer": "GBA 30 days",
        "price": "HK$88.00",
        "next": "2026-07-30 12:00",
    },
    MessageKind.AUTO_RENEW_PAUSED: {**REMINDER, "deadline": "2026-08-29 00:00"},
}
LANGUAGES = ["zh-Hant", "zh-Hans", "en"]
MARKERS = {
    # A word that only the intended language's template has, per kind.
    (MessageKind.RENEWAL_CONFIRMED, "zh-Hant"): "有效期至",
    (MessageKind.RENEWAL_CONFIRMED, "zh-Hans"): "收据",
    (MessageKind.RENEWAL_CONFIRMED, "en"): "Valid until",
    (MessageKind.REFUND_ISSUED, "zh-Hant"): "將退回",
    (MessageKind.REFUND_ISSUED, "zh-Hans"): "将退回",
    (MessageKind.REFUND_ISSUED, "en"): "will be refunded",
    (MessageKind.PAYMENT_FAILED, "zh-Hant"): "請重試",
    (MessageKind.PAYMENT_FAILED, "zh-Hans"): "请重试",
    (MessageKind.PAYMENT_FAILED, "en"): "Try again",
    (MessageKind.REFUND_APPROVED, "zh-Hant"): "客戶服務已批准",
    (MessageKind.REFUND_APPROVED, "zh-Hans"): "客户服务已批准",
    (MessageKind.REFUND_APPROVED, "en"): "customer service has approved",
    (MessageKind.REFUND_COMPLETED, "zh-Hant"): "退款已完成，款項",
    (MessageKind.REFUND_COMPLETED, "zh-Hans"): "退款已完成，款项",
    (MessageKind.REFUND_COMPLETED, "en"): "has been made",
    (MessageKind.REMINDER_EXPIRING, "zh-Hant"): "尚餘",
    (MessageKind.REMINDER_EXPIRING, "zh-Hans"): "尚余",
    (MessageKind.REMINDER_EXPIRING, "en"): "day(s) left",
    (MessageKind.REMINDER_EXPIRED, "zh-Hant"): "撥出服務已暫停",
    (MessageKind.REMINDER_EXPIRED, "zh-Hans"): "拨出服务已暂停",
    (MessageKind.REMINDER_EXPIRED, "en"): "outgoing service is suspended",
    (MessageKind.REMINDER_GRACE, "zh-Hant"): "寬限期",
    (MessageKind.REMINDER_GRACE, "zh-Hans"): "宽限期",
    (MessageKind.REMINDER_GRACE, "en"): "grace period",
    (MessageKind.REMINDER_DATA_LOW, "zh-Hant"): "數據只餘",
    (MessageKind.REMINDER_DATA_LOW, "zh-Hans"): "数据只余",
    (MessageKind.REMINDER_DATA_LOW, "en"): "of its data left",
    (MessageKind.AUTO_RENEW_FAILED, "zh-Hant"): "我們將於",
    (MessageKind.AUTO_RENEW_FAILED, "zh-Hans"): "我们将于",
    (MessageKind.AUTO_RENEW_FAILED, "en"): "We will try again at",
    (MessageKind.AUTO_RENEW_PAUSED, "zh-Hant"): "現已暫停",
    (MessageKind.AUTO_RENEW_PAUSED, "zh-Hans"): "现已暂停",
    (MessageKind.AUTO_RENEW_PAUSED, "en"): "is now paused",
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(MessageKind))
def test_render_names_the_domain_and_every_value(kind: MessageKind, language: str) -> None:
    values = VALUES[kind]

    message = render(kind, language, **values)

    for value in values.values():
        assert value in message.text
    assert MARKERS[(kind, language)] in message.text
    assert message.text.count("http") == 1  # the official domain, no other link
    if "order" in values:  # a message about an order names it in its subject
        assert values["order"] in message.subject
    assert values["brand"] in message.subject
    assert "$" not in message.text.replace("HK$", "")  # no placeholder left


@pytest.mark.parametrize("language", ["fr", "", "zh", "EN", "zh-HK"])
def test_an_unknown_language_falls_back_to_traditional_chinese(language: str) -> None:
    values = VALUES[MessageKind.RENEWAL_CONFIRMED]
    fallback = render(MessageKind.RENEWAL_CONFIRMED, language, **values)
    assert fallback == render(MessageKind.RENEWAL_CONFIRMED, "zh-Hant", **values)
    assert "有效期至" in fallback.text
    assert supported(language) == "zh-Hant"


def test_the_languages_differ() -> None:
    values = VALUES[MessageKind.PAYMENT_FAILED]
    texts = {render(MessageKind.PAYMENT_FAILED, lang, **values).text for lang in LANGUAGES}
    assert len(texts) == 3


def test_a_missing_value_is_an_error_not_a_blank() -> None:
    values = dict(VALUES[MessageKind.RENEWAL_CONFIRMED])
    del values["validity_end"]
    with pytest.raises(KeyError):
        render(MessageKind.RENEWAL_CONFIRMED, "en", **values)


@pytest.mark.parametrize("language", LANGUAGES)
def test_refund_reasons_exist_in_every_language(language: str) -> None:
    for code, reasons in REFUND_REASONS.items():
        assert refund_reason(code, language) == reasons[language]
        assert reasons[language]


def test_refund_reason_examples_and_fallbacks() -> None:
    assert refund_reason("card_not_renewable", "en") == (
        "the card has been terminated and a new card is needed"
    )
    assert refund_reason("queue_limit_exceeded", "zh-Hant") == "已超過可預購的12個月上限"
    # An unknown code gets the generic reason; an unknown language gets zh-Hant.
    assert refund_reason("something_new", "en") == "the offer no longer applies to this card"
    assert refund_reason("order_cancelled", "fr") == "訂單已取消"
