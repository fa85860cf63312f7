"""Subscriber accounts: a verified phone number, its cards, its settings.

SPEC: "A subscriber account is a verified phone number (plus optional e-mail)";
it is created by the first successful login, never before, so that asking for a
code reveals nothing and creates nothing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from simrenew.domain.errors import InvalidInput

LANGUAGES = ("zh-Hant", "zh-Hans", "en")
ANTI_PHISHING_MAX = 20


class AntiPhishingWordInvalid(InvalidInput):
    code = "anti_phishing_word_invalid"
    template = (
        "An anti-phishing word is 2 to 20 letters or digits (Chinese characters welcome), "
        "with no link or punctuation."
    )


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: str
    phone: str  # E.164, verified by a login code
    language: str
    created_at: datetime
    email: str | None = None
    anti_phishing_word: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationPreferences:
    """Channels and opt-ins. Security messages (login and binding codes) ignore these:
    SPEC lets subscribers opt out of reminders and marketing, never of security."""

    sms: bool = True
    email: bool = True
    in_app: bool = True
    reminders: bool = True
    marketing: bool = False


@dataclass(frozen=True, slots=True)
class AutoRenewSetting:
    """Stored only; the automation that acts on it is a later release."""

    card_id: str
    enabled: bool
    offer_code: str | None
    payment_token_id: str | None
    updated_by: str  # the subscriber who last changed it
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BoundCard:
    card_id: str
    bound_at: datetime


def validate_anti_phishing_word(text: str) -> str:
    """The word as stored (NFC, trimmed). Letters and digits only, so that the word
    can never smuggle a link or a look-alike domain into our messages."""
    word = unicodedata.normalize("NFC", text.strip())
    if not 2 <= len(word) <= ANTI_PHISHING_MAX or not all(ch.isalnum() for ch in word):
        raise AntiPhishingWordInvalid()
    return word


def validate_language(language: str) -> str:
    if language not in LANGUAGES:
        raise InvalidInput(f"Language must be one of {', '.join(LANGUAGES)}.")
    return language
