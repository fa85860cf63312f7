"""The developer inbox page: the SMS and e-mail of embedded mode, newest first,
filtered by recipient, escaped; and no page at all with a real SMS channel."""

from __future__ import annotations

import re

import pytest

from simrenew.bootstrap import App
from tests.integration.web.orders_http import NUMBER
from tests.integration.web.pages.pages_http import browser, submit


def test_a_login_code_sent_from_the_login_page_can_be_read_in_the_inbox(app: App) -> None:
    client = browser(app)
    sent = submit(client, client.get("/login"), "/login", phone="5123 4567")
    assert sent.status_code == 200, sent.text
    app.relay.drain()  # what the background worker does in `simrenew serve`

    inbox = client.get("/dev/inbox")
    assert inbox.status_code == 200
    assert 'id="dev-banner"' in inbox.text
    assert "Development inbox: messages are not really sent." in inbox.text
    assert 'class="recipient">+85251234567<' in inbox.text
    code = re.search(r'<pre class="body">[^<]*#(\d{6})</pre>', inbox.text)
    assert code, inbox.text
    assert 'id="refresh"' in inbox.text
    # Hong Kong time: tests.support.START is 10:00 in Hong Kong (02:00 UTC).
    assert "22 Nov 2026, 10:00:00" in inbox.text

    mine = client.get("/dev/inbox", params={"recipient": "5123 4567"})
    assert code.group(1) in mine.text
    assert 'value="5123 4567"' in mine.text
    others = client.get("/dev/inbox", params={"recipient": "+85261234567"})
    assert code.group(1) not in others.text
    assert "No messages yet." in others.text


def test_message_text_is_shown_escaped(app: App) -> None:
    app.inbox.send_email(
        "dev@example.com", "<b>hi</b>", "<script>alert(1)</script>\nline two", message_id="m-1"
    )
    page = browser(app).get("/dev/inbox", params={"recipient": "dev@example.com"})
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\nline two" in page.text
    assert "&lt;b&gt;hi&lt;/b&gt;" in page.text
    assert 'data-channel="email"' in page.text


def test_the_page_speaks_the_visitors_language(app: App) -> None:
    page = browser(app, "zh-Hant").get("/dev/inbox")
    assert "開發用收件匣" in page.text
    page = browser(app, "zh-Hans").get("/dev/inbox")
    assert "开发用收件箱" in page.text


@pytest.mark.parametrize("channel", ["smpp", "http_sms"])
def test_there_is_no_inbox_page_with_a_real_sms_channel(
    app: App, monkeypatch: pytest.MonkeyPatch, channel: str
) -> None:
    app.inbox.send_sms(NUMBER, "secret 123456", message_id="m-2")
    monkeypatch.setattr(app, "settings", app.settings.model_copy(update={"sms_channel": channel}))
    page = browser(app).get("/dev/inbox")
    assert page.status_code == 404
    assert "123456" not in page.text
