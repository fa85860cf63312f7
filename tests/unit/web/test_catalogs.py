"""Every text the pages and documents show has a zh-Hant and a zh-Hans translation,
with the same placeholders as the English source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from jinja2.ext import babel_extract

from simrenew.web.i18n import catalog, translations

SRC = Path(__file__).parents[3].joinpath("src", "simrenew")
TEMPLATES = sorted(SRC.joinpath("web", "templates", "pages").glob("*.html"))
MODULES = sorted(
    [*SRC.joinpath("web", "pages").glob("*.py"), *SRC.joinpath("documents").glob("*.py")]
)
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def used_msgids() -> dict[str, str]:
    """msgid → where it is first used."""
    found: dict[str, str] = {}
    for path in TEMPLATES:
        for line, message, _, _ in extract_from_file(
            babel_extract, str(path), options={"extensions": "jinja2.ext.i18n"}
        ):
            for text in message if isinstance(message, tuple) else (message,):
                found.setdefault(text, f"{path.name}:{line}")
    for path in MODULES:
        for line, message, _, _ in extract_from_file("python", str(path)):
            for text in message if isinstance(message, tuple) else (message,):
                found.setdefault(text, f"{path.name}:{line}")
    return found


def test_the_scan_finds_the_texts_of_the_base_page() -> None:
    used = used_msgids()
    assert used["Skip to content"].startswith("base.html")
    assert "Official site:" in used


@pytest.mark.parametrize("language", ["zh-Hant", "zh-Hans"])
def test_every_used_text_is_translated(language: str) -> None:
    messages = catalog(language)
    missing = [
        f"{where}: {msgid!r}"
        for msgid, where in sorted(used_msgids().items(), key=lambda item: item[1])
        if not (messages.get(msgid) and messages.get(msgid).string)
    ]
    assert missing == [], f"untranslated in {language}:\n" + "\n".join(missing)


@pytest.mark.parametrize("language", ["zh-Hant", "zh-Hans"])
def test_translations_keep_the_placeholders(language: str) -> None:
    wrong = [
        message.id
        for message in catalog(language)
        if message.id
        and isinstance(message.id, str)
        and set(PLACEHOLDER.findall(message.id)) != set(PLACEHOLDER.findall(str(message.string)))
    ]
    assert wrong == []


def test_traditional_and_simplified_are_not_mixed_up() -> None:
    # A handful of characters that differ between the scripts, in texts both use.
    assert "登入" in translations("zh-Hant").gettext("Log in")
    assert "登录" in translations("zh-Hans").gettext("Log in")
    assert translations("en").gettext("Log in") == "Log in"
