"""Every label the documents use is translated in both ``documents.po`` files, with the
same placeholders, and in the right script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po

import simrenew.documents
from simrenew.documents.receipt_pdf import PAYMENT_METHODS
from simrenew.web.i18n import LOCALE_DIR, translations

SOURCES = sorted(Path(simrenew.documents.__file__).parent.glob("*.py"))
LANGUAGES = {"zh-Hant": "zh_Hant", "zh-Hans": "zh_Hans"}

# Characters that exist in one script only: a Simplified one in the Traditional file
# (or the other way round) is a translation in the wrong script.
TRADITIONAL_ONLY = set("據號單額計數間網後購買會變電話請們絕結維碼發須簽為續貨態產內灣區門連時")
SIMPLIFIED_ONLY = set("据号单额计数间网后购买会变电话请们绝结维码发须签为续货态产内湾区门连时")


def msgids() -> set[str]:
    found = set(PAYMENT_METHODS.values())  # looked up by key, so not seen by extraction
    for path in SOURCES:
        with path.open("rb") as file:
            found.update(str(message) for _, message, _, _ in extract("python", file))
    return found


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"\{\w*\}", text))


def documents_po(folder: str) -> Catalog:
    path = LOCALE_DIR / folder / "LC_MESSAGES" / "documents.po"
    with path.open("rb") as file:
        return read_po(file)


def test_extraction_sees_the_labels() -> None:
    found = msgids()
    assert {"Payment receipt", "Renew your card ending {digits}", "Currency"} <= found
    assert len(found) > 20


@pytest.mark.parametrize(("language", "folder"), LANGUAGES.items())
def test_every_label_is_translated(language: str, folder: str) -> None:
    catalog = documents_po(folder)
    assert str(catalog.locale) == folder
    translated = {str(message.id): str(message.string) for message in catalog if message.id}
    missing = sorted(msgids() - translated.keys())
    assert missing == [], f"{folder}/documents.po lacks {missing}"
    assert sorted(translated.keys() - msgids()) == [], "translations nothing uses"
    gettext = translations(language).gettext
    for msgid, msgstr in translated.items():
        assert msgstr and msgstr != msgid, msgid
        assert gettext(msgid) == msgstr  # the merged catalogs agree with this file
        assert placeholders(msgstr) == placeholders(msgid), msgid


@pytest.mark.parametrize(
    ("folder", "wrong"), [("zh_Hant", SIMPLIFIED_ONLY), ("zh_Hans", TRADITIONAL_ONLY)]
)
def test_each_file_is_in_its_own_script(folder: str, wrong: set[str]) -> None:
    for message in documents_po(folder):
        if message.id:
            assert not set(str(message.string)) & wrong, (message.id, message.string)
