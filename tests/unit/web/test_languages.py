from __future__ import annotations

import pytest

from simrenew.web.languages import negotiate


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh-Hant"),
        ("", "zh-Hant"),
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("zh-CN", "zh-Hans"),
        ("zh-Hans-CN;q=0.9, en;q=0.8", "zh-Hans"),
        ("zh-HK", "zh-Hant"),
        ("zh-TW,zh;q=0.9", "zh-Hant"),
        ("fr-FR, en;q=0.5", "en"),
        ("en;q=0.4, zh-Hans;q=0.6", "zh-Hans"),
        ("de, fr", "zh-Hant"),
        ("en;q=0", "zh-Hant"),
        ("en;q=bogus, zh-CN", "zh-Hans"),
    ],
)
def test_negotiates_the_best_of_our_three_languages(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected
