"""The security SMS texts (login and card-binding codes) in zh-Hant, zh-Hans and en.

They carry the subscriber's anti-phishing word when one is set, name only the
official domain, and end with the WebOTP line (``@domain #code``) so that phones
offer the code to our own site only.
"""

from __future__ import annotations

import enum
from string import Template

from simrenew.domain.messages import supported


class AuthMessageKind(enum.StrEnum):
    LOGIN_CODE = "login_code"
    BIND_CARD_CODE = "bind_card_code"


_SMS: dict[AuthMessageKind, dict[str, Template]] = {
    AuthMessageKind.LOGIN_CODE: {
        "zh-Hant": Template(
            "$brand 登入驗證碼：$code，$minutes 分鐘內有效。切勿向任何人透露，"
            "我們不會向你索取。官方網站：$domain"
        ),
        "zh-Hans": Template(
            "$brand 登录验证码：$code，$minutes 分钟内有效。切勿向任何人透露，"
            "我们不会向你索取。官方网站：$domain"
        ),
        "en": Template(
            "$brand login code: $code. Valid for $minutes minutes. Never share it; "
            "we will never ask you for it. Official site: $domain"
        ),
    },
    AuthMessageKind.BIND_CARD_CODE: {
        "zh-Hant": Template(
            "$brand：帳戶 $account 要求連結此卡。驗證碼：$code，$minutes 分鐘內有效。"
            "如非你本人要求，請忽略。官方網站：$domain"
        ),
        "zh-Hans": Template(
            "$brand：账户 $account 要求绑定此卡。验证码：$code，$minutes 分钟内有效。"
            "如非你本人要求，请忽略。官方网站：$domain"
        ),
        "en": Template(
            "$brand: account $account asks to link this card. Code: $code, valid for "
            "$minutes minutes. If this was not you, ignore this message. Official site: $domain"
        ),
    },
}


def render_code_sms(
    kind: AuthMessageKind,
    language: str,
    *,
    brand: str,
    domain: str,
    code: str,
    minutes: int,
    anti_phishing_word: str | None = None,
    account: str = "",
) -> str:
    text = _SMS[kind][supported(language)].substitute(
        brand=brand, domain=domain, code=code, minutes=str(minutes), account=account
    )
    if anti_phishing_word:
        text = f"[{anti_phishing_word}] {text}"
    return f"{text}\n\n@{domain} #{code}"
