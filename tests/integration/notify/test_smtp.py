"""SmtpEmailSender against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from simrenew.config import Settings
from simrenew.notify.smtp import SmtpEmailSender
from simrenew.ports import DeliveryError, PermanentDeliveryError
from tests.smtp_support import StoringHandler, free_port, smtp_server

SENDER = "simrenew <noreply@simrenew.example.hk>"
FIXED_NOW = datetime(2026, 3, 1, 4, 5, 6, tzinfo=UTC)


class RefusingRecipientHandler(StoringHandler):
    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        return self.answer


class RefusingDataHandler(StoringHandler):
    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return self.answer


def sender_for(port: int, **kwargs: Any) -> SmtpEmailSender:
    return SmtpEmailSender("127.0.0.1", port, SENDER, timeout=5, now=lambda: FIXED_NOW, **kwargs)


def test_delivers_chinese_subject_and_body_intact() -> None:
    handler = StoringHandler()
    subject = "續期成功：您的月費計劃已生效"
    body = "親愛的用戶：\n您的 +852 號碼已續期至 2026年4月30日。\n防釣魚字：青蛙\n" + "長" * 200
    with smtp_server(handler) as port:
        sender_for(port).send_email(
            "chan.taiman@example.com", subject, body, message_id="msg_0001abc"
        )

    [envelope] = handler.envelopes
    assert envelope.content.isascii()  # 7-bit on the wire: no 8BITMIME/SMTPUTF8 needed
    assert envelope.mail_from == "noreply@simrenew.example.hk"
    assert envelope.rcpt_tos == ["chan.taiman@example.com"]
    [message] = handler.messages()
    assert message["Subject"] == subject
    assert message["To"] == "chan.taiman@example.com"
    assert message["From"] == SENDER
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(("plain",))
    assert text_part is not None and text_part.get_content_charset() == "utf-8"
    assert text_part.get_content().replace("\r\n", "\n") == body + "\n"
    assert message["Date"].datetime == FIXED_NOW
    assert "msg_0001abc" in message["Message-ID"]
    assert message["Message-ID"] == "<msg_0001abc@simrenew.example.hk>"


def test_a_retry_carries_the_same_message_id_header() -> None:
    handler = StoringHandler()
    with smtp_server(handler) as port:
        sender = sender_for(port)
        for _ in range(2):
            sender.send_email("a@example.com", "Hi", "text", message_id="msg_repeat")
        sender.send_email("a@example.com", "Hi", "text", message_id="msg_other")

    ids = [message["Message-ID"] for message in handler.messages()]
    assert ids[0] == ids[1] != ids[2]


def test_message_id_header_is_valid_for_any_id() -> None:
    sender = SmtpEmailSender("localhost", 25, SENDER)
    header = sender.message_id_header('odd id<>@"%')
    assert header.startswith("<") and header.endswith("@simrenew.example.hk>")
    assert sender.message_id_header("a b") != sender.message_id_header("a%20b")
    assert " " not in header and header.count("@") == 1


@pytest.mark.parametrize("answer", ["550 mailbox unavailable", "553 5.1.3 bad address"])
def test_a_5xx_recipient_rejection_is_permanent(answer: str) -> None:
    with (
        smtp_server(RefusingRecipientHandler(answer)) as port,
        pytest.raises(PermanentDeliveryError, match=answer.split()[0]),
    ):
        sender_for(port).send_email("gone@example.com", "Hi", "text", message_id="msg_1")


def test_a_4xx_recipient_rejection_is_retryable() -> None:
    with (
        smtp_server(RefusingRecipientHandler("451 4.3.0 try again later")) as port,
        pytest.raises(DeliveryError, match="451") as caught,
    ):
        sender_for(port).send_email("busy@example.com", "Hi", "text", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)


def test_a_5xx_data_rejection_is_permanent() -> None:
    with (
        smtp_server(RefusingDataHandler("554 5.6.0 message content rejected")) as port,
        pytest.raises(PermanentDeliveryError, match="554"),
    ):
        sender_for(port).send_email("a@example.com", "Hi", "text", message_id="msg_1")


def test_a_4xx_data_rejection_is_retryable() -> None:
    with (
        smtp_server(RefusingDataHandler("452 4.3.1 insufficient storage")) as port,
        pytest.raises(DeliveryError) as caught,
    ):
        sender_for(port).send_email("a@example.com", "Hi", "text", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)


def test_nothing_listening_is_retryable() -> None:
    port = free_port()  # bound and released again: nobody listens there now
    with pytest.raises(DeliveryError) as caught:
        sender_for(port).send_email("a@example.com", "Hi", "text", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)
    assert isinstance(caught.value.__cause__, OSError)


def test_a_line_break_in_the_subject_is_permanent_and_nothing_is_sent() -> None:
    handler = StoringHandler()
    with (
        smtp_server(handler) as port,
        pytest.raises(PermanentDeliveryError),
    ):
        sender_for(port).send_email(
            "a@example.com", "Hi\r\nBcc: victim@example.com", "text", message_id="msg_1"
        )
    assert handler.envelopes == []


class Authenticator:
    def __init__(self) -> None:
        self.logins: list[tuple[str, str]] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login)
        # handled=False: let aiosmtpd send its 535 answer (it defaults to True, which
        # means "I already answered" and leaves the client waiting).
        return AuthResult(success=login == ("relay", "s3cret-pw"), handled=False)


def test_logs_in_when_given_credentials() -> None:
    handler = StoringHandler()
    authenticator = Authenticator()
    # Plain-text AUTH is acceptable on loopback in a test; it is allowed, not
    # required, so aiosmtpd does not warn.
    with smtp_server(handler, authenticator=authenticator, auth_require_tls=False) as port:
        sender_for(port, username="relay", password="s3cret-pw").send_email(
            "a@example.com", "Hi", "text", message_id="msg_1"
        )
    assert authenticator.logins == [("relay", "s3cret-pw")]
    assert len(handler.envelopes) == 1


def test_a_failed_login_is_retryable_and_never_shows_the_password() -> None:
    sender = None
    with (
        smtp_server(
            StoringHandler(),
            authenticator=Authenticator(),
            auth_require_tls=False,
        ) as port,
        pytest.raises(DeliveryError) as caught,
    ):
        sender = sender_for(port, username="relay", password="wrong-pw-123")
        sender.send_email("a@example.com", "Hi", "text", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)
    assert "535" in str(caught.value)
    assert "wrong-pw-123" not in str(caught.value)
    assert "wrong-pw-123" not in repr(sender)


def test_from_settings() -> None:
    settings = Settings(
        smtp_host="mail.example.hk",
        smtp_port=587,
        smtp_username="relay",
        smtp_password="hunter2-secret",  # type: ignore[arg-type]  # pydantic coerces
        smtp_starttls=True,
        smtp_sender="noreply@example.hk",
    )
    sender = SmtpEmailSender.from_settings(settings)
    assert (sender.host, sender.port, sender.username, sender.starttls) == (
        "mail.example.hk",
        587,
        "relay",
        True,
    )
    assert sender.message_id_header("m1") == "<m1@example.hk>"
    assert "hunter2-secret" not in repr(sender)


def test_from_settings_without_a_host_is_refused() -> None:
    with pytest.raises(ValueError, match="smtp_host"):
        SmtpEmailSender.from_settings(Settings(smtp_host=None))
