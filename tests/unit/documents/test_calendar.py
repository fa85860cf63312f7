"""The renewal reminder calendar file: RFC 5545 structure, escaping, CRLF line ends and
75-octet folding that never splits a UTF-8 character."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simrenew.documents.calendar import escape_text, fold, reminder_calendar
from simrenew.web.i18n import Formatter, translations

HK = ZoneInfo("Asia/Hong_Kong")
NOW = datetime(2026, 3, 4, 10, 5, 6, tzinfo=HK)

Line = tuple[str, str, str]  # name, parameters, value


def calendar(language: str = "zh-Hant", **changes: object) -> bytes:
    arguments: dict[str, object] = {
        "uid": "renewal-card_01J9-20261231@simrenew.example.hk",
        "number_masked": "+852****4567",
        "validity_end": date(2026, 12, 31),
        "official_domain": "simrenew.example.hk",
        "gettext": translations(language).gettext,
        "fmt": Formatter(language, HK),
        "now": NOW,
    }
    arguments.update(changes)
    return reminder_calendar(**arguments)  # type: ignore[arg-type]


def physical_lines(data: bytes) -> list[bytes]:
    """The file's lines; fails unless every one ends in CRLF and none is over 75 octets."""
    assert data.endswith(b"\r\n")
    lines = data[: -len(b"\r\n")].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, line
        assert len(line) <= 75, (len(line), line)
        line.decode("utf-8")  # strict: a character split across two lines fails here
    return lines


def unfold(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")[:-1]


def parse(data: bytes) -> list[Line]:
    parsed = []
    for line in unfold(data):
        head, _, value = line.partition(":")
        name, _, parameters = head.partition(";")
        parsed.append((name, parameters, value))
    return parsed


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def components(lines: list[Line]) -> dict[str, list[list[Line]]]:
    """Each component's own lines by component name; checks BEGIN/END nest properly."""
    found: dict[str, list[list[Line]]] = {}
    stack: list[tuple[str, list[Line]]] = []
    for line in lines:
        name, _, value = line
        if name == "BEGIN":
            stack.append((value, []))
        elif name == "END":
            component, own = stack.pop()
            assert component == value, f"END:{value} closes BEGIN:{component}"
            found.setdefault(component, []).append(own)
        else:
            assert stack, f"{line} outside any component"
            stack[-1][1].append(line)
    assert stack == []
    return found


def only(lines: list[Line], name: str) -> Line:
    matches = [line for line in lines if line[0] == name]
    assert len(matches) == 1, (name, matches)
    return matches[0]


def test_the_calendar_has_one_event_with_two_alarms() -> None:
    data = calendar()
    physical_lines(data)
    lines = parse(data)
    assert lines[0] == ("BEGIN", "", "VCALENDAR")
    assert lines[-1] == ("END", "", "VCALENDAR")
    found = components(lines)

    (head,) = found["VCALENDAR"]
    assert only(head, "VERSION")[2] == "2.0"
    assert only(head, "PRODID")[2].startswith("-//")
    assert only(head, "CALSCALE")[2] == "GREGORIAN"
    assert only(head, "METHOD")[2] == "PUBLISH"

    (zone,) = found["VTIMEZONE"]
    assert only(zone, "TZID")[2] == "Asia/Hong_Kong"
    (standard,) = found["STANDARD"]
    assert only(standard, "TZOFFSETTO")[2] == "+0800"
    assert only(standard, "TZOFFSETFROM")[2] == "+0800"
    assert "DAYLIGHT" not in found

    (event,) = found["VEVENT"]
    assert only(event, "UID")[2] == "renewal-card_01J9-20261231@simrenew.example.hk"
    assert only(event, "DTSTAMP")[2] == "20260304T020506Z"  # UTC
    assert only(event, "DTSTART")[1:] == ("TZID=Asia/Hong_Kong", "20261231T100000")
    assert only(event, "DTEND")[1:] == ("TZID=Asia/Hong_Kong", "20261231T103000")
    assert only(event, "URL")[2] == "https://simrenew.example.hk/"

    alarms = found["VALARM"]
    assert sorted(only(alarm, "TRIGGER")[2] for alarm in alarms) == ["-P1D", "-P3D"]
    for alarm in alarms:
        assert only(alarm, "ACTION")[2] == "DISPLAY"
        assert "4567" in unescape(only(alarm, "DESCRIPTION")[2])


def test_the_texts_are_translated_and_escaped() -> None:
    data = calendar("zh-Hant")
    (event,) = components(parse(data))["VEVENT"]

    summary = only(event, "SUMMARY")
    assert summary[1] == "LANGUAGE=zh-Hant"
    assert unescape(summary[2]) == "為尾號 4567 的電話卡續期"

    raw = only(event, "DESCRIPTION")[2]
    assert "\n" not in raw and "\\n" in raw  # the newline travels escaped
    first, second = unescape(raw).split("\n")
    assert first == "你的電話卡 +852****4567 有效期至 2026年12月31日。請於此日前續期，以保留號碼。"
    assert "https://simrenew.example.hk/" in second


@pytest.mark.parametrize(
    ("language", "explained"),
    [
        (
            "zh-Hant",
            "你的電話卡 +852****4567 已過期。請於 2027年1月30日 或之前續期，以保留你的號碼。",
        ),
        (
            "zh-Hans",
            "你的电话卡 +852****4567 已过期。请于 2027年1月30日 或之前续期，以保留你的号码。",
        ),
        ("en", "Your card +852****4567 has expired. Renew by 30 January 2027 to keep your number."),
    ],
)
def test_in_grace_the_event_is_the_last_day_to_renew(language: str, explained: str) -> None:
    data = calendar(language, grace_end=date(2027, 1, 30))
    physical_lines(data)
    (event,) = components(parse(data))["VEVENT"]
    assert only(event, "DTSTART")[1:] == ("TZID=Asia/Hong_Kong", "20270130T100000")
    assert unescape(only(event, "DESCRIPTION")[2]).split("\n")[0] == explained
    for alarm in components(parse(data))["VALARM"]:
        assert "4567" in unescape(only(alarm, "DESCRIPTION")[2])


def test_the_english_description_escapes_its_commas() -> None:
    (event,) = components(parse(calendar("en")))["VEVENT"]
    assert unescape(only(event, "SUMMARY")[2]) == "Renew your card ending 4567"
    raw = only(event, "DESCRIPTION")[2]
    assert "31 December 2026" in raw
    assert re.search(r"(?<!\\),", raw) is None, "an unescaped comma"


def test_the_uid_is_escaped() -> None:
    data = calendar(uid="card,1;x\\y")
    (event,) = components(parse(data))["VEVENT"]
    assert only(event, "UID")[2] == "card\\,1\\;x\\\\y"


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar(now=datetime(2026, 3, 4, 10, 5))


def test_dtstamp_is_utc_whatever_zone_now_is_in() -> None:
    data = calendar(now=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    (event,) = components(parse(data))["VEVENT"]
    assert only(event, "DTSTAMP")[2] == "20261231T233000Z"


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ("a,b", "a\\,b"),
        ("a;b", "a\\;b"),
        ("a\\b", "a\\\\b"),
        ("one\ntwo", "one\\ntwo"),
        ("one\r\ntwo\rthree", "one\\ntwo\\nthree"),
        ("bell\x07", "bell"),
        ("\\,", "\\\\\\,"),
    ],
)
def test_escape_text(value: str, escaped: str) -> None:
    assert escape_text(value) == escaped


@pytest.mark.parametrize(
    "line",
    [
        "",
        "SUMMARY:short",
        "X:" + "a" * 73,  # exactly 75 octets: not folded
        "X:" + "a" * 74,  # 76 octets: folded
        "DESCRIPTION:" + "續" * 60,  # three octets a character
        "DESCRIPTION:a" + "續" * 60,  # ...starting off the three-octet grid
        "DESCRIPTION:ab" + "😀" * 40,  # four octets a character
    ],
)
def test_folding_keeps_lines_short_and_characters_whole(line: str) -> None:
    pieces = list(fold(line))
    data = "".join(piece + "\r\n" for piece in pieces).encode("utf-8")
    physical_lines(data)
    assert all(piece.startswith(" ") for piece in pieces[1:])
    assert "".join(piece[1:] if n else piece for n, piece in enumerate(pieces)) == line
    assert (len(line.encode("utf-8")) > 75) == (len(pieces) > 1)
    # Only as many pieces as needed: each but the last is nearly full.
    assert all(len(piece.encode("utf-8")) > 71 for piece in pieces[:-1])


@given(st.text(max_size=400))
def test_folding_round_trips_any_text(text: str) -> None:
    line = "DESCRIPTION:" + text
    pieces = list(fold(line))
    for piece in pieces:
        assert len(piece.encode("utf-8", "surrogatepass")) <= 75
    assert "".join(piece[1:] if n else piece for n, piece in enumerate(pieces)) == line


@given(
    uid=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=200),
    digits=st.text("0123456789", min_size=4, max_size=4),
)
def test_any_uid_and_number_survive_the_file(uid: str, digits: str) -> None:
    data = calendar("zh-Hans", uid=uid, number_masked=f"+86****{digits}")
    physical_lines(data)
    (event,) = components(parse(data))["VEVENT"]
    assert unescape(only(event, "UID")[2]) == uid
    assert unescape(only(event, "SUMMARY")[2]) == f"为尾号 {digits} 的电话卡续期"
