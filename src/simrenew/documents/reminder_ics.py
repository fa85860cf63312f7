"""The reminder ``.ics`` of documents/calendar.py in a subscriber's language, as the
``ReminderCalendar`` port the reminder service is given (services may not import
the web's translations themselves)."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from simrenew.documents.calendar import reminder_calendar
from simrenew.domain.messages import supported
from simrenew.web.i18n import Formatter, translations


def reminder_ics(
    *,
    uid: str,
    number_masked: str,
    validity_end: date,
    language: str,
    official_domain: str,
    tz: tzinfo,
    now: datetime,
    grace_end: date | None = None,
) -> bytes:
    language = supported(language)
    return reminder_calendar(
        uid=uid,
        number_masked=number_masked,
        validity_end=validity_end,
        official_domain=official_domain,
        gettext=translations(language).gettext,
        fmt=Formatter(language, tz),
        now=now,
        grace_end=grace_end,
    )
