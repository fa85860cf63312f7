"""The caller's language, from ``Accept-Language``: zh-Hant (default), zh-Hans, en."""

from __future__ import annotations

SUPPORTED = ("zh-Hant", "zh-Hans", "en")
DEFAULT = "zh-Hant"

# Tags browsers and apps actually send, mapped to the three we speak.
_ALIASES = {
    "zh-hant": "zh-Hant",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "zh-hans": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh": "zh-Hant",
    "en": "en",
}


def _match(tag: str) -> str | None:
    tag = tag.strip().lower()
    if tag in _ALIASES:
        return _ALIASES[tag]
    if tag.startswith("zh-hant"):
        return "zh-Hant"
    if tag.startswith("zh-hans"):
        return "zh-Hans"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate(header: str | None) -> str:
    """The best of our languages for an ``Accept-Language`` header (RFC 9110 q-values)."""
    if not header:
        return DEFAULT
    choices: list[tuple[int, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.partition(";")
        weight = 1000
        params = params.strip()
        if params.startswith("q="):
            try:
                # q has at most three decimals (RFC 9110 §12.4.2): read it as thousandths.
                whole, _, frac = params[2:].partition(".")
                weight = int(whole or "0") * 1000 + int((frac + "000")[:3] or "0")
            except ValueError:
                continue
        language = _match(tag)
        if language and weight > 0:
            choices.append((-weight, position, language))
    return min(choices)[2] if choices else DEFAULT
