"""Reminder messages: who gets them, on which channel, in which words.

A card bound to accounts reminds each account that has not opted out of reminders,
on the channels it chose (SMS to the account's verified number, e-mail where it gave
one), in its language and carrying its anti-phishing word. A card no account holds
reminds its own number by SMS (and its e-mail where the card has one), in the card's
language: without an account there is no preference to honour and no word to carry,
and a subscriber who wants no reminders opts out by signing in once (SPEC: opt-out
is a setting of the account).

Messages name only the official domain; every reminder e-mail carries an ``.ics``
file with the date to renew by (``Context.calendar``, documents/reminder_ics.py): the
last valid day, or once the card is in grace, the last day of grace.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from simrenew.domain.cards import Card, mask_number
from simrenew.domain.jobs import DATA_THRESHOLDS, DAYS_BEFORE, Job, JobKind
from simrenew.domain.messages import MessageKind, render
from simrenew.domain.outbox import OutboxKind
from simrenew.ports import ReminderCalendar, UnitOfWork
from simrenew.services.context import Context

CALENDAR_FILE = "renewal-reminder.ics"

MESSAGE_OF_JOB: dict[JobKind, MessageKind] = {
    **dict.fromkeys(DAYS_BEFORE, MessageKind.REMINDER_EXPIRING),
    JobKind.REMIND_EXPIRED: MessageKind.REMINDER_EXPIRED,
    JobKind.REMIND_GRACE: MessageKind.REMINDER_GRACE,
    **dict.fromkeys(DATA_THRESHOLDS, MessageKind.REMINDER_DATA_LOW),
}


@dataclass(frozen=True, slots=True)
class Recipient:
    channel: OutboxKind  # SMS or EMAIL
    to: str
    language: str
    anti_phishing_word: str | None = None


def reminder_recipients(uow: UnitOfWork, card: Card) -> list[Recipient]:
    """Everyone ``card``'s reminders go to (see the module's docstring); empty when
    every account holding the card opted out."""
    subscribers = uow.accounts.subscribers_of_card(card.id)
    if not subscribers:
        found = [Recipient(OutboxKind.SMS, card.primary_number, card.language)]
        if card.email:
            found.append(Recipient(OutboxKind.EMAIL, card.email, card.language))
        return found
    found = []
    for subscriber in subscribers:
        preferences = uow.accounts.preferences(subscriber.id)
        if not preferences.reminders:
            continue
        word = subscriber.anti_phishing_word
        if preferences.sms:
            found.append(Recipient(OutboxKind.SMS, subscriber.phone, subscriber.language, word))
        if preferences.email and subscriber.email:
            found.append(Recipient(OutboxKind.EMAIL, subscriber.email, subscriber.language, word))
    unique: dict[tuple[OutboxKind, str], Recipient] = {}
    for recipient in found:
        unique.setdefault((recipient.channel, recipient.to), recipient)
    return list(unique.values())


def send_reminder(
    uow: UnitOfWork,
    ctx: Context,
    card: Card,
    job: Job,
    *,
    grace_days: int,
    now: datetime,
    left_mb: int = 0,
) -> int:
    """Queue ``job``'s reminder to every recipient; returns how many messages."""
    kind = MESSAGE_OF_JOB[job.kind]
    validity_end = job.validity_end
    values = {
        "number": card.primary_number,
        "validity_end": validity_end.isoformat(),
        "days": str(DAYS_BEFORE.get(job.kind, 0)),
        "grace_end": (validity_end + timedelta(days=grace_days)).isoformat(),
        "percent": str(DATA_THRESHOLDS.get(job.kind, 0)),
        "left_mb": str(left_mb),
    }
    recipients = reminder_recipients(uow, card)
    for recipient in recipients:
        message = render(
            kind, recipient.language, brand=ctx.brand, domain=ctx.official_domain, **values
        )
        text, subject = message.text, message.subject
        if recipient.anti_phishing_word:
            text = f"[{recipient.anti_phishing_word}] {text}"
            subject = f"[{recipient.anti_phishing_word}] {subject}"
        payload: dict[str, object] = {"to": recipient.to, "text": text, "kind": kind.value}
        if recipient.channel is OutboxKind.EMAIL:
            payload["subject"] = subject
            if ctx.calendar is not None:
                # In grace, the date to keep is the last day of grace, not the end.
                in_grace = job.kind in (JobKind.REMIND_EXPIRED, JobKind.REMIND_GRACE)
                grace_end = validity_end + timedelta(days=grace_days) if in_grace else None
                payload["attachments"] = [
                    _calendar(ctx.calendar, ctx, card, job, recipient.language, now, grace_end)
                ]
        # One message per job and recipient, whatever happens to the job afterwards.
        to_hash = hashlib.sha256(recipient.to.encode()).hexdigest()[:16]
        uow.outbox.add(
            recipient.channel,
            payload,
            at=now,
            dedupe_key=f"{recipient.channel.value}:{job.id}:{to_hash}",
        )
    return len(recipients)


def _calendar(
    calendar: ReminderCalendar,
    ctx: Context,
    card: Card,
    job: Job,
    language: str,
    now: datetime,
    grace_end: date | None,
) -> dict[str, str]:
    """The ``.ics`` as text in the outbox payload (the relay hands it to SMTP as a
    ``text/calendar`` attachment)."""
    body = calendar(
        uid=f"{card.id}.{job.validity_end.isoformat()}@{ctx.official_domain}",
        number_masked=mask_number(card.primary_number),
        validity_end=job.validity_end,
        language=language,
        official_domain=ctx.official_domain,
        tz=ctx.clock.tz,
        now=now,
        grace_end=grace_end,
    )
    return {
        "filename": CALENDAR_FILE,
        "content_type": "text/calendar",
        "text": body.decode("utf-8"),
    }
