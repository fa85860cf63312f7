"""A calendar file (RFC 5545 iCalendar) that reminds a subscriber to renew before the
card's validity ends: one event on the last valid day, with alarms three days and one
day before.

Written by hand: the format is small, and getting its three traps right is the whole
job — TEXT escaping (``\\ ; ,`` and newlines), CRLF line ends, and folding lines at
75 octets without splitting a UTF-8 character (Chinese is three octets a character).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time

from simrenew.web.i18n import Formatter

PRODID = "-//simrenew//Renewal reminder//EN"
TZID = "Asia/Hong_Kong"
# Hong Kong has kept UTC+8 without daylight saving since 1979.
VTIMEZONE = (
    "BEGIN:VTIMEZONE",
    f"TZID:{TZID}",
    "BEGIN:STANDARD",
    "DTSTART:19700101T000000",
    "TZOFFSETFROM:+0800",
    "TZOFFSETTO:+0800",
    "TZNAME:HKT",
    "END:STANDARD",
    "END:VTIMEZONE",
)
# The reminder sits in the morning of the last valid day, Hong Kong time, so that the
# alarms before it ring in the morning too.
EVENT_START = time(10, 0)
EVENT_END = time(10, 30)
ALARMS = ("-P3D", "-P1D")

MAX_OCTETS = 75
CRLF = "\r\n"

# Control characters are not allowed in TEXT values (RFC 5545 §3.3.11), except TAB.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape_text(value: str) -> str:
    """A TEXT value: backslash, semicolon and comma escaped, newlines as ``\\n``."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> Iterator[str]:
    """``line`` as physical lines of at most 75 octets of UTF-8, continuations starting
    with one space (which counts), never splitting a character."""
    limit = MAX_OCTETS
    chunk: list[str] = []
    size = 0
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > limit:
            yield "".join(chunk)
            chunk, size, limit = [" "], 1, MAX_OCTETS
        chunk.append(char)
        size += octets
    yield "".join(chunk)


def _local(day: date, at: time) -> str:
    return datetime.combine(day, at).strftime("%Y%m%dT%H%M%S")


def reminder_calendar(
    *,
    uid: str,
    number_masked: str,
    validity_end: date,
    official_domain: str,
    gettext: Callable[[str], str],
    fmt: Formatter,
    now: datetime,
    grace_end: date | None = None,
) -> bytes:
    """The reminder as an ``.ics`` file (UTF-8). ``uid`` should be stable per card and
    validity end, so that a second download updates the event rather than adding one.
    With ``grace_end`` (the card's validity has ended), the event is the last day of
    grace instead: the last day to renew and keep the number. Raises ``ValueError``
    when ``now`` is naive."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    _ = gettext
    digits = number_masked[-4:]
    url = f"https://{official_domain}/"
    summary = _("Renew your card ending {digits}").format(digits=digits)
    if grace_end is None:
        day = validity_end
        until = fmt.date(validity_end, "long")
        explained = _(
            "Your card {number} is valid until {date}. Renew before then to keep your number."
        ).format(number=number_masked, date=until)
        alarm_text = _("Your card ending {digits} is valid until {date}. Renew it now.").format(
            digits=digits, date=until
        )
    else:
        day = grace_end
        until = fmt.date(grace_end, "long")
        explained = _(
            "Your card {number} has expired. Renew by {date} to keep your number."
        ).format(number=number_masked, date=until)
        alarm_text = _("Your card ending {digits} must be renewed by {date}. Renew it now.").format(
            digits=digits, date=until
        )
    description = "\n".join(
        (
            explained,
            _("Renew only at {url} — we never send payment links from any other website.").format(
                url=url
            ),
        )
    )
    language = f"LANGUAGE={fmt.language}"

    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        *VTIMEZONE,
        "BEGIN:VEVENT",
        f"UID:{escape_text(uid)}",
        f"DTSTAMP:{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}",
        f"DTSTART;TZID={TZID}:{_local(day, EVENT_START)}",
        f"DTEND;TZID={TZID}:{_local(day, EVENT_END)}",
        f"SUMMARY;{language}:{escape_text(summary)}",
        f"DESCRIPTION;{language}:{escape_text(description)}",
        f"URL:{url}",
        "TRANSP:TRANSPARENT",
        "CLASS:PRIVATE",
    ]
    for trigger in ALARMS:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION;{language}:{escape_text(alarm_text)}",
            f"TRIGGER:{trigger}",
            "END:VALARM",
        ]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(physical + CRLF for line in lines for physical in fold(line)).encode("utf-8")
