"""SmtpEmailSender's HTML and text parts and attachments, through a real SMTP server
(aiosmtpd) on 127.0.0.1, read back with the standard library's MIME parser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simrenew.notify.smtp import SmtpEmailSender
from simrenew.ports import PermanentDeliveryError
from tests.smtp_support import StoringHandler, smtp_server

SENDER = "simrenew <noreply@simrenew.example.hk>"
TO = "chan.taiman@example.com"
SUBJECT = "續期提醒：您的計劃將於 3 天後到期"
TEXT = "親愛的用戶：\n您的 +852 號碼將於 2026年4月30日到期。\n優惠 <50% & 更多> 請看官網。\n"
ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//simrenew//reminder//ZH\r\n"
    "BEGIN:VEVENT\r\nUID:msg_ics@simrenew.example.hk\r\nDTSTAMP:20260427T000000Z\r\n"
    "DTSTART;VALUE=DATE:20260430\r\nSUMMARY:SIM 卡到期\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
).encode()


def sender_for(port: int) -> SmtpEmailSender:
    return SmtpEmailSender(
        "127.0.0.1", port, SENDER, timeout=5, now=lambda: datetime(2026, 4, 27, tzinfo=UTC)
    )


def test_text_only_goes_as_text_and_escaped_html_alternatives() -> None:
    handler = StoringHandler()
    with smtp_server(handler) as port:
        sender_for(port).send_email(TO, SUBJECT, TEXT, message_id="msg_1")

    [envelope] = handler.envelopes
    assert envelope.content.isascii()  # UTF-8 inside quoted-printable and RFC 2047
    [message] = handler.messages()
    assert message["Subject"] == SUBJECT
    assert message["Message-ID"] == "<msg_1@simrenew.example.hk>"
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    # RFC 2046 5.1.4: alternatives in increasing order of preference, plain text first.
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parts)
    assert parts[0].get_content().replace("\r\n", "\n") == TEXT
    html = parts[1].get_content()
    assert "優惠 &lt;50% &amp; 更多&gt; 請看官網。" in html
    assert "<50%" not in html
    assert "親愛的用戶：<br>" in html and "2026年4月30日到期。<br>" in html


def test_the_callers_html_is_sent_as_given() -> None:
    handler = StoringHandler()
    html = '<p lang="zh-Hant">您的計劃已<strong>續期</strong>。</p>'
    with smtp_server(handler) as port:
        sender_for(port).send_email(TO, SUBJECT, TEXT, message_id="msg_2", html=html)

    [message] = handler.messages()
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert text_part.get_content().replace("\r\n", "\n") == TEXT
    assert html_part.get_content().replace("\r\n", "\n").rstrip("\n") == html


def test_an_ics_attachment_travels_beside_both_parts() -> None:
    handler = StoringHandler()
    with smtp_server(handler) as port:
        sender_for(port).send_email(
            TO,
            SUBJECT,
            TEXT,
            message_id="msg_3",
            attachments=[("renewal.ics", "text/calendar", ICS)],
        )

    [envelope] = handler.envelopes
    assert envelope.content.isascii()
    [message] = handler.messages()
    assert message.get_content_type() == "multipart/mixed"
    body, attachment = message.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    # Our own boundaries: the standard library's 19 random digits can pass for a card
    # number in the PCI log scan; these cannot.
    boundaries = [message.get_boundary(), body.get_boundary()]
    assert all(b and b.startswith("=_simrenew_") for b in boundaries)
    assert boundaries[0] != boundaries[1]
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_filename() == "renewal.ics"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_payload(decode=True) == ICS  # octet for octet, Chinese included
    [listed] = list(message.iter_attachments())
    assert listed.get_filename() == "renewal.ics"
    text_part = message.get_body(("plain",))
    assert text_part is not None and text_part.get_content().replace("\r\n", "\n") == TEXT


def test_an_attachment_without_a_mime_type_is_permanent_and_nothing_is_sent() -> None:
    handler = StoringHandler()
    with smtp_server(handler) as port, pytest.raises(PermanentDeliveryError, match="MIME"):
        sender_for(port).send_email(
            TO, SUBJECT, TEXT, message_id="msg_4", attachments=[("a.ics", "calendar", ICS)]
        )
    assert handler.envelopes == []
