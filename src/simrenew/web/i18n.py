"""The pages' languages: gettext catalogs read with Babel, and money, dates and data
amounts formatted the way each language writes them, in Hong Kong time.

Catalogs are the ``.po`` files under ``web/locale/<zh_Hant|zh_Hans>/LC_MESSAGES/``,
one file per area of the pages, merged per language when first used. English is the
source language (the msgids), so it needs no catalog. Reading ``.po`` files directly
keeps compiled ``.mo`` files out of the repository and out of a build step.
"""

from __future__ import annotations

import gettext
import io
from datetime import date as Date
from datetime import datetime as DateTime
from datetime import tzinfo
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_datetime, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from simrenew.domain.money import MINOR_DIGITS, Money

LOCALE_DIR = Path(__file__).parent.joinpath("locale")

# Our language tags (see web/languages.py) → Babel locales for formatting. Hong Kong
# English writes dates as "31 Dec 2026" and money as "HK$123.50".
BABEL_LOCALES = {"zh-Hant": "zh_Hant_HK", "zh-Hans": "zh_Hans_CN", "en": "en_HK"}
CATALOG_DIRS = {"zh-Hant": "zh_Hant", "zh-Hans": "zh_Hans"}
NAMES = {"zh-Hant": "繁體中文", "zh-Hans": "简体中文", "en": "English"}


def catalog(language: str) -> Catalog:
    """Every ``.po`` file of ``language`` merged into one catalog. A msgid translated
    in two files must agree: the second file would otherwise win silently."""
    merged = Catalog(locale=BABEL_LOCALES[language])
    folder = LOCALE_DIR.joinpath(CATALOG_DIRS[language], "LC_MESSAGES")
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as file:
            part = read_po(file, locale=BABEL_LOCALES[language])
        for message in part:
            if not message.id:
                continue
            existing = merged.get(message.id, message.context)
            if existing is not None and existing.string != message.string:
                raise ValueError(
                    f"{path.name}: {message.id!r} is translated differently in another file"
                )
            merged[message.id] = message
    return merged


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The gettext translations for ``language``, built once per process."""
    if language not in CATALOG_DIRS:
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, catalog(language))
    buffer.seek(0)
    return Translations(buffer)


def money_decimal(money: Money) -> Decimal:
    return Decimal(money.amount_minor).scaleb(-MINOR_DIGITS[money.currency])


class Formatter:
    """Formats values for one language, at the edge: times in the operator's zone."""

    def __init__(self, language: str, tz: tzinfo) -> None:
        self.language = language
        self.locale = BABEL_LOCALES[language]
        self.tz = tz

    def money(self, money: Money) -> str:
        return format_currency(money_decimal(money), money.currency, locale=self.locale)

    def date(self, day: Date | None, style: str = "medium") -> str:
        return "—" if day is None else format_date(day, style, locale=self.locale)

    def datetime(self, moment: DateTime | None, style: str = "medium") -> str:
        if moment is None:
            return "—"
        return format_datetime(moment, style, tzinfo=self.tz, locale=self.locale)

    def time(self, moment: DateTime) -> str:
        return format_time(moment, "short", tzinfo=self.tz, locale=self.locale)

    def data(self, megabytes: int) -> str:
        """Data amounts: MB under 1 GB, else GB with one decimal (1 GB = 1024 MB)."""
        if abs(megabytes) < 1024:
            return f"{format_decimal(megabytes, locale=self.locale)} MB"
        tenths = (megabytes * 10 + 512) // 1024
        return f"{format_decimal(Decimal(tenths).scaleb(-1), locale=self.locale)} GB"

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)
