"""E-mail over SMTP.

Every message is ``multipart/alternative`` with a plain-text part and an HTML part
(made from the text when the caller gives none), both UTF-8 and quoted-printable so
that the message stays 7-bit; with attachments (e.g. an ``.ics`` reminder) the two
sit inside a ``multipart/mixed``. The caller writes both parts in the subscriber's
language; the subject is RFC 2047 encoded when it is not ASCII.

Errors are translated here, at the edge, into the two the outbox understands:

    DeliveryError                 try again later: a 4xx answer, a refused or
     │                            dropped connection, a timeout, a failed login
     └── PermanentDeliveryError   retrying cannot help: the server rejected this
                                  message, its sender or its recipient (5xx), or
                                  the message cannot be built
"""

from __future__ import annotations

import html as html_lib
import secrets
import smtplib
import ssl
import string
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING
from urllib.parse import quote

from simrenew.ports import Attachment, DeliveryError, PermanentDeliveryError

if TYPE_CHECKING:
    from simrenew.config import Settings

# RFC 5322 atext minus "%": message ids are percent-encoded with these left alone, so
# that distinct ids always give distinct, valid Message-ID headers.
_MSGID_SAFE = "!#$&'*+-/=?^_`{|}~."


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SmtpEmailSender:
    """An ``EmailSender`` that hands each message to one SMTP server.

    The ``Message-ID`` header is derived from our ``message_id``, so a message
    re-sent after an ambiguous failure (e.g. the connection dropped after DATA)
    carries the same header and mail clients can recognise it as a repeat.

    ``send_email`` raises ``PermanentDeliveryError`` for 5xx rejections of the
    message, sender or recipient, and ``DeliveryError`` for everything worth
    retrying. The password appears in no message, error or ``repr``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: int = 10,
        *,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        sender_address = parseaddr(sender)[1]
        if "@" not in sender_address:
            raise ValueError(f"sender {sender!r} has no address with a domain")
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.timeout = timeout
        self._now = now
        self._envelope_sender = sender_address
        self._domain = sender_address.rpartition("@")[2]

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpEmailSender:
        if not settings.smtp_host:
            raise ValueError("smtp_host is not set")
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            username=settings.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            starttls=settings.smtp_starttls,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(host={self.host!r}, port={self.port!r}, "
            f"sender={self.sender!r}, username={self.username!r}, starttls={self.starttls!r})"
        )

    def message_id_header(self, message_id: str) -> str:
        """The ``Message-ID`` header value for our ``message_id``."""
        return f"<{quote(message_id, safe=_MSGID_SAFE)}@{self._domain}>"

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        message_id: str,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> None:
        message = self._build(to, subject, text, message_id, html, attachments)
        where = f"SMTP {self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username is not None:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(message, from_addr=self._envelope_sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            answers = list(exc.recipients.values())
            detail = "; ".join(f"{code} {_text(reply)}" for code, reply in answers)
            error = f"{where} refused recipient {to!r}: {detail}"
            if answers and all(code >= 500 for code, _ in answers):
                raise PermanentDeliveryError(error) from exc
            raise DeliveryError(error) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            error = f"{where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}"
            if exc.smtp_code >= 500:
                raise PermanentDeliveryError(error) from exc
            raise DeliveryError(error) from exc
        except smtplib.SMTPResponseException as exc:
            # Greeting, HELO and login failures say nothing about this message: a 5xx
            # there is a server or configuration fault, and dead-lettering every
            # message until an operator fixes it would be worse than retrying.
            raise DeliveryError(
                f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except smtplib.SMTPException as exc:
            # Disconnections and missing extensions (STARTTLS, SMTPUTF8); smtplib's
            # own messages carry no credentials.
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            # Refused connections, timeouts, DNS and TLS failures.
            raise DeliveryError(f"{where} unreachable: {type(exc).__name__}: {exc}") from exc

    def _build(
        self,
        to: str,
        subject: str,
        text: str,
        message_id: str,
        html: str | None,
        attachments: Sequence[Attachment],
    ) -> EmailMessage:
        message = EmailMessage()
        try:
            message["From"] = self.sender
            message["To"] = to
            message["Subject"] = subject
            message["Date"] = format_datetime(self._now().astimezone(UTC))
            message["Message-ID"] = self.message_id_header(message_id)
            # Quoted-printable keeps the body 7-bit, so servers without 8BITMIME take it.
            message.set_content(text, charset="utf-8", cte="quoted-printable")
            message.add_alternative(
                html if html is not None else html_from_text(text),
                subtype="html",
                charset="utf-8",
                cte="quoted-printable",
            )
            for filename, mime_type, content in attachments:
                maintype, _, subtype = mime_type.partition("/")
                if not maintype or not subtype or "/" in subtype:
                    raise ValueError(f"attachment {filename!r} has no valid MIME type")
                message.add_attachment(
                    content, maintype=maintype, subtype=subtype, filename=filename
                )
            for part in message.walk():
                if part.is_multipart():
                    part.set_boundary(_boundary())
        except ValueError as exc:
            # e.g. a line break in the subject: the same input fails on every retry.
            raise PermanentDeliveryError(f"cannot build e-mail {message_id!r}: {exc}") from exc
        return message


def html_from_text(text: str) -> str:
    """An HTML body showing ``text`` as written: escaped, line breaks kept."""
    body = "<br>\n".join(html_lib.escape(line) for line in text.splitlines())
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f"<body><p>{body}</p></body></html>\n"
    )


def _boundary() -> str:
    # The standard library's boundaries are 19 random digits, which now and then pass
    # the Luhn check and look like a card number to log scanners. "=_" never occurs
    # in quoted-printable or base64 bodies, so this one cannot clash with content.
    return "=_simrenew_" + "".join(secrets.choice(string.ascii_letters) for _ in range(24))


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
