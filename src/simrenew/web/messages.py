"""Error titles and messages in zh-Hant, zh-Hans and en, by stable problem code.

A code missing here falls back to the English message the domain error carries, so
an untranslated error is still explained, never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# code → language → (title, detail template using the error's params)
MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
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
