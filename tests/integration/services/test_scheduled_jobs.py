"""Scheduled jobs on both databases: a year of a card's life in simulated time, the
exact messages and transitions it produces, renewal superseding a period's jobs,
quiet hours, preferences and opt-outs, the daily sweep, two workers racing, a
crashed worker's lease taken over, and ``kill -9`` of a worker process mid-batch."""

from __future__ import annotations

import itertools
import os
import selectors
import signal
import subprocess
import sys
import threading
import time as wallclock
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.domain.accounts import NotificationPreferences, Subscriber
from simrenew.domain.cards import Card, CardState
from simrenew.domain.catalog import BucketKind
from simrenew.domain.jobs import Job, JobKind, JobState, data_left, jobs_for_period
from simrenew.ports import Attachment, UnitOfWork
from simrenew.services.context import Context
from simrenew.services.scheduled_jobs import (
    JobHandler,
    JobResult,
    default_handlers,
    list_jobs,
    retry_dead_jobs,
    run_job,
    sweep_jobs,
)
from simrenew.services.usage import record_usage
from simrenew.worker.jobs import JobRunner
from simrenew.worker.runner import run_worker
from tests.support import HKT, START, FixedClock, renew

CARD = "+85261234567"  # ONE2 (30 days of grace), zh-Hant, no e-mail, no account
MAILED_CARD = "+85251234567"  # ONE2, zh-Hant, e-mail chan.taiman@example.com.hk
ROOT = Path(__file__).resolve().parents[3]
ONE2_CARDS = ("+85251234567", "+85261234567", "+85291234567", "+85251234568", "+85261234568")
HKDATA_CARDS = ("+85251234569", "+85261234569", "+85291234568", "+85291234569")


def _card(app: App, number: str = CARD) -> Card:
    with app.uow(write=False) as uow:
        card = uow.cards.find(number)
    assert card is not None
    return card


def _local(instant: datetime) -> str:
    return instant.astimezone(HKT).strftime("%Y-%m-%d %H:%M:%S")


def _at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=HKT).astimezone(UTC)


def _messages(app: App, *recipients: str) -> list[tuple[str, str, str]]:
    """(local time, channel, message kind) of every SMS and e-mail to ``recipients``."""
    o = tables.outbox
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(o).where(o.c.kind.in_(["sms", "email"])).order_by(o.c.created_at, o.c.id)
        ).all()
    return [
        (_local(row.created_at), row.kind, row.payload["kind"])
        for row in rows
        if row.payload["to"] in recipients
    ]


def _texts(app: App, to: str, kind: str) -> list[dict[str, Any]]:
    o = tables.outbox
    with app.engine.connect() as connection:
        rows = connection.execute(select(o).order_by(o.c.created_at, o.c.id)).all()
    return [r.payload for r in rows if r.payload.get("to") == to and r.payload["kind"] == kind]


def _network(app: App, card: Card) -> list[tuple[str, str]]:
    o = tables.outbox
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(o).where(o.c.kind == "provision").order_by(o.c.created_at, o.c.id)
        ).all()
    return [
        (_local(r.created_at), r.payload["action"])
        for r in rows
        if r.payload["iccid"] == card.iccid
    ]


def _transitions(app: App, card: Card) -> list[tuple[str, str, str, str]]:
    log = tables.audit_log
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(log)
            .where(log.c.entity == "card", log.c.entity_id == card.id)
            .order_by(log.c.at, log.c.id)
        ).all()
    return [(_local(r.at), r.from_state, r.to_state, r.actor) for r in rows]


def _jobs(app: App, card: Card) -> list[tuple[str, str, str, str]]:
    with app.uow(write=False) as uow:
        jobs = uow.jobs.list(card_id=card.id, limit=1000)
    return [(_local(j.due_at), j.kind.value, j.period, j.state.value) for j in jobs]


def _next_sweep(now: datetime) -> datetime:
    """03:00 Hong Kong time after ``now``: when the simulated worker sweeps each day."""
    local = now.astimezone(HKT)
    at = datetime.combine(local.date(), time(3), tzinfo=HKT)
    return (at if at > local else at + timedelta(days=1)).astimezone(UTC)


def live_until(app: App, clock: FixedClock, runner: JobRunner, until: datetime) -> None:
    """Move the clock from each due job to the next (and through each day's sweep at
    03:00), running the worker now and at every stop, until ``until``."""
    runner.drain()
    for _ in range(5000):
        with app.uow(write=False) as uow:
            pending = uow.jobs.list(state=JobState.PENDING, limit=1)
        sweep_at = _next_sweep(clock.now())
        stop = min([sweep_at, *(job.due_at for job in pending if job.due_at > clock.now())])
        if stop > until:
            clock.current = until
            runner.drain()
            return
        clock.current = stop
        if stop == sweep_at:
            sweep_jobs(app.ctx)
        runner.drain()
    raise AssertionError("the simulation did not reach its end")


def use_data(app: App, clock: FixedClock, *, leave_percent: int, record_id: str) -> None:
    card = _card(app)
    with app.uow(write=False) as uow:
        left, initial = data_left(uow.cards.buckets(card.id, valid_at=clock.now()), clock.now())
    record_usage(
        app.ctx,
        record_id=record_id,
        card_key=CARD,
        zone="HK",
        kind=BucketKind.DATA_MB,
        amount=left - initial * leave_percent // 100,
        at=clock.now(),
    )


# --- a year of a card's life ----------------------------------------------------------


def test_a_year_of_a_cards_life_sends_exactly_these_messages_and_makes_these_moves(
    app: App, clock: FixedClock
) -> None:
    runner = JobRunner(app.ctx, worker_id="w1")
    renew(app, CARD, "ONE2-M1")  # 2026-11-22: valid until 2026-12-21
    live_until(app, clock, runner, _at(2026, 12, 19, 12, 0))
    renew(app, CARD, "ONE2-M3")  # stacked: valid until 2027-03-21; 2026-12-21's jobs superseded
    live_until(app, clock, runner, _at(2027, 1, 10, 23, 30))
    use_data(app, clock, leave_percent=20, record_id="u1")  # in quiet hours: told at 08:00
    live_until(app, clock, runner, _at(2027, 1, 20, 14, 0))
    use_data(app, clock, leave_percent=5, record_id="u2")
    live_until(app, clock, runner, _at(2027, 1, 21, 9, 0))
    use_data(app, clock, leave_percent=1, record_id="u3")  # below 5 % again: nothing new
    live_until(app, clock, runner, _at(2027, 4, 20, 12, 0))
    renew(app, CARD, "ONE2-M1")  # last day of grace: active again until 2027-05-19
    live_until(app, clock, runner, _at(2027, 11, 22, 10, 0))

    assert _messages(app, CARD) == [
        ("2026-11-22 10:00:00", "sms", "renewal_confirmed"),
        ("2026-12-14 10:00:00", "sms", "reminder_expiring"),
        ("2026-12-18 10:00:00", "sms", "reminder_expiring"),
        ("2026-12-19 12:00:00", "sms", "renewal_confirmed"),
        ("2027-01-11 08:00:00", "sms", "reminder_data_low"),
        ("2027-01-20 14:00:00", "sms", "reminder_data_low"),
        ("2027-03-14 10:00:00", "sms", "reminder_expiring"),
        ("2027-03-18 10:00:00", "sms", "reminder_expiring"),
        ("2027-03-20 10:00:00", "sms", "reminder_expiring"),
        ("2027-03-22 10:00:00", "sms", "reminder_expired"),
        ("2027-03-29 10:00:00", "sms", "reminder_grace"),
        ("2027-04-05 10:00:00", "sms", "reminder_grace"),
        ("2027-04-12 10:00:00", "sms", "reminder_grace"),
        ("2027-04-19 10:00:00", "sms", "reminder_grace"),
        ("2027-04-20 12:00:00", "sms", "renewal_confirmed"),
        ("2027-05-12 10:00:00", "sms", "reminder_expiring"),
        ("2027-05-16 10:00:00", "sms", "reminder_expiring"),
        ("2027-05-18 10:00:00", "sms", "reminder_expiring"),
        ("2027-05-20 10:00:00", "sms", "reminder_expired"),
        ("2027-05-27 10:00:00", "sms", "reminder_grace"),
        ("2027-06-03 10:00:00", "sms", "reminder_grace"),
        ("2027-06-10 10:00:00", "sms", "reminder_grace"),
        ("2027-06-17 10:00:00", "sms", "reminder_grace"),
    ]
    card = _card(app)
    assert _transitions(app, card) == [
        ("2026-11-22 10:00:00", "in_stock", "active", "system:fulfilment"),
        ("2027-03-22 00:00:00", "active", "grace", "system:lifecycle"),
        ("2027-04-20 12:00:00", "grace", "active", "system:fulfilment"),
        ("2027-05-20 00:00:00", "active", "grace", "system:lifecycle"),
        ("2027-06-19 00:00:00", "grace", "terminated", "system:lifecycle"),
    ]
    assert _network(app, card) == [
        ("2026-11-22 10:00:00", "activate"),
        ("2026-11-22 10:00:00", "add_allowance"),
        ("2026-12-19 12:00:00", "add_allowance"),
        ("2027-03-22 00:00:00", "suspend"),
        ("2027-04-20 12:00:00", "resume"),
        ("2027-04-20 12:00:00", "add_allowance"),
        ("2027-05-20 00:00:00", "suspend"),
        ("2027-06-19 00:00:00", "terminate"),
    ]
    # The texts: the numbers, the dates, the official domain and nothing else to click.
    expiring = [p["text"] for p in _texts(app, CARD, "reminder_expiring")]
    assert expiring[0] == (
        "simrenew：+85261234567 的有效期至 2026-12-21，尚餘 7 天。"
        "請於到期前續期以保留號碼，只經官方網站續期：simrenew.example.hk"
    )
    (data_20, data_5) = [p["text"] for p in _texts(app, CARD, "reminder_data_low")]
    assert "約 20%（12288 MB）" in data_20 and "約 5%（3072 MB）" in data_5
    (expired, *_) = [p["text"] for p in _texts(app, CARD, "reminder_expired")]
    assert "已於 2027-03-21 結束" in expired and "請於 2027-04-20 或之前續期" in expired
    assert all(
        p["text"].count("simrenew.example.hk") == 1 for p in _texts(app, CARD, "reminder_grace")
    )
    # Every job of the first period after the renewal was skipped, none acted on.
    superseded = [j for j in _jobs(app, card) if j[2].startswith("2026-12-21")]
    assert [(kind, state) for _, kind, _, state in superseded] == [
        ("remind_7d", "done"),
        ("remind_3d", "done"),
        ("remind_1d", "skipped"),
        ("expire", "skipped"),
        ("remind_expired", "skipped"),
        ("remind_grace", "skipped"),
        ("remind_grace", "skipped"),
        ("remind_grace", "skipped"),
        ("remind_grace", "skipped"),
        ("terminate", "skipped"),
    ]
    assert "data_20" in {kind for _, kind, _, _ in _jobs(app, card)}
    with app.uow(write=False) as uow:
        assert uow.jobs.counts().get("pending", 0) == 0
        assert uow.jobs.counts().get("dead", 0) == 0
    # Terminated numbers rest in the cooling-off pool (90 days on ONE2).
    pool = tables.number_pool
    with app.engine.connect() as connection:
        pooled = connection.execute(select(pool).where(pool.c.previous_card_id == card.id)).all()
    assert {row.number for row in pooled} == set(card.numbers)
    assert {_local(row.reusable_from) for row in pooled} == {"2027-09-17 00:00:00"}


def test_expiry_happens_at_the_second_validity_ends(app: App, clock: FixedClock) -> None:
    runner = JobRunner(app.ctx, worker_id="w1")
    renew(app, CARD, "ONE2-D1")  # valid through 2026-11-22
    clock.current = _at(2026, 11, 22, 23, 59, 59)
    assert runner.drain().done == 0
    assert _card(app).state is CardState.ACTIVE
    clock.current = _at(2026, 11, 23, 0, 0, 0)
    assert runner.drain().done == 1
    card = _card(app)
    assert (card.state, card.state_since) == (CardState.GRACE, _at(2026, 11, 23))


def test_a_renewal_records_its_periods_jobs_with_it(app: App, clock: FixedClock) -> None:
    renew(app, CARD, "ONE2-D7")
    card = _card(app)
    assert card.validity_end is not None
    expected = jobs_for_period(card.id, card.validity_end, grace_days=30, tz=HKT, now=START)
    assert _jobs(app, card) == [
        (_local(j.due_at), j.kind.value, j.period, "pending") for j in expected
    ]
    # 7 days: the 7-day reminder would have been due before the purchase.
    assert [kind for _, kind, _, _ in _jobs(app, card)][:3] == ["remind_3d", "remind_1d", "expire"]


# --- preferences, opt-outs, anti-phishing, the calendar file ---------------------------


@dataclass
class CapturingEmail:
    sent: list[tuple[str, str, list[Attachment]]] = field(default_factory=list)

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        message_id: str,
        html: str | None = None,
        attachments: Any = (),
    ) -> None:
        self.sent.append((to, subject, list(attachments)))


def _bind(app: App, card: Card, *, word: str, reminders: bool = True) -> Subscriber:
    subscriber = Subscriber(
        id="sub_mailed",
        phone=card.primary_number,
        language="en",
        created_at=START,
        email="me@example.org",
        anti_phishing_word=word,
    )
    with app.uow() as uow:
        if uow.accounts.get_subscriber(subscriber.id) is None:
            uow.accounts.add_subscriber(subscriber)
            uow.accounts.bind_card(subscriber.id, card.id, START)
        uow.accounts.save_preferences(
            subscriber.id, NotificationPreferences(reminders=reminders), START
        )
        uow.commit()
    return subscriber


def test_reminders_follow_the_account_its_word_channels_and_opt_out(
    app: App, clock: FixedClock
) -> None:
    runner = JobRunner(app.ctx, worker_id="w1")
    renew(app, MAILED_CARD, "ONE2-M1")  # valid until 2026-12-21
    card = _card(app, MAILED_CARD)
    recipients = (MAILED_CARD, "chan.taiman@example.com.hk", "me@example.org")

    # No account: the card's own number and e-mail, in the card's language.
    live_until(app, clock, runner, _at(2026, 12, 15, 9, 0))
    # An account holds it now: its channels, its language, its word.
    _bind(app, card, word="藍天")
    live_until(app, clock, runner, _at(2026, 12, 19, 9, 0))
    # The account opts out: the 1-day reminder is skipped.
    _bind(app, card, word="藍天", reminders=False)
    live_until(app, clock, runner, _at(2026, 12, 21, 9, 0))

    assert _messages(app, *recipients)[2:] == [
        ("2026-12-14 10:00:00", "sms", "reminder_expiring"),
        ("2026-12-14 10:00:00", "email", "reminder_expiring"),
        ("2026-12-18 10:00:00", "sms", "reminder_expiring"),
        ("2026-12-18 10:00:00", "email", "reminder_expiring"),
    ]
    first_sms, second_sms = _texts(app, MAILED_CARD, "reminder_expiring")
    assert first_sms["text"].startswith("simrenew：+85251234567 的有效期至 2026-12-21，尚餘 7 天")
    assert second_sms["text"] == (
        "[藍天] simrenew: +85251234567 is valid until 2026-12-21, 3 day(s) left. "
        "Renew before then to keep your number, only at simrenew.example.hk"
    )
    (card_mail,) = _texts(app, "chan.taiman@example.com.hk", "reminder_expiring")
    (account_mail,) = _texts(app, "me@example.org", "reminder_expiring")
    assert (
        account_mail["subject"]
        == "[藍天] simrenew reminder: +85251234567 is valid until 2026-12-21"
    )
    (one_day,) = [j for j in _jobs(app, card) if j[1] == "remind_1d"]
    assert one_day[3] == "skipped"

    # The .ics rides in the payload and reaches the mail channel as an attachment.
    (ics,) = account_mail["attachments"]
    assert ics["filename"] == "renewal-reminder.ics"
    assert "DTSTART;TZID=Asia/Hong_Kong:20261221T100000" in ics["text"]
    assert "URL:https://simrenew.example.hk/" in ics["text"]
    assert card_mail["attachments"][0]["text"].startswith("BEGIN:VCALENDAR\r\n")
    email = CapturingEmail()
    relay = replace(app.relay, email=email)
    relay.drain()
    sent = {to: attachments for to, _, attachments in email.sent}
    ((name, mime, body),) = sent["me@example.org"]
    assert (name, mime) == ("renewal-reminder.ics", "text/calendar")
    assert body.decode("utf-8") == ics["text"]


def test_a_reminder_due_in_quiet_hours_waits_for_eight_oclock(app: App, clock: FixedClock) -> None:
    runner = JobRunner(app.ctx, worker_id="w1")
    renew(app, CARD, "ONE2-M1")
    clock.current = _at(2026, 11, 25, 21, 30)
    use_data(app, clock, leave_percent=15, record_id="u1")  # due now, 21:30
    clock.current = _at(2026, 11, 25, 23, 0)  # the worker was away until 23:00
    assert runner.drain().deferred == 1
    clock.current = _at(2026, 11, 26, 7, 59, 59)
    assert runner.drain().any is False
    clock.current = _at(2026, 11, 26, 8, 0)
    assert runner.drain().done == 1
    assert _messages(app, CARD)[1:] == [("2026-11-26 08:00:00", "sms", "reminder_data_low")]


def test_a_reminder_that_could_not_go_out_in_time_is_not_sent_late(
    app: App, clock: FixedClock
) -> None:
    runner = JobRunner(app.ctx, worker_id="w1")
    renew(app, CARD, "ONE2-D7")  # valid until 2026-11-28; 3-day reminder at 11-25 10:00
    clock.current = _at(2026, 11, 26, 10, 0)  # a day late
    assert runner.drain().skipped == 1
    assert _messages(app, CARD) == [("2026-11-22 10:00:00", "sms", "renewal_confirmed")]


# --- the daily sweep -------------------------------------------------------------------


def test_the_sweep_finds_the_same_jobs_as_the_renewals_recorded(
    app: App, clock: FixedClock
) -> None:
    renew(app, CARD, "ONE2-M1")
    renew(app, MAILED_CARD, "ONE2-D7")
    renew(app, "+85251234569", "HKDATA-M1")  # 15 days of grace
    with app.engine.begin() as connection:
        recorded = _all_jobs(connection)
        connection.execute(delete(tables.scheduled_jobs))
        # A card made active behind the application's back: only the sweep sees it.
        connection.execute(
            update(tables.cards)
            .where(tables.cards.c.primary_number == "+85291234567")
            .values(state="active", validity_end=START.date() + timedelta(days=40))
        )
    outside = _card(app, "+85291234567")
    assert outside.validity_end is not None
    expected = recorded | {
        (j.kind.value, j.card_id, j.period, j.due_at)
        for j in jobs_for_period(outside.id, outside.validity_end, grace_days=30, tz=HKT, now=START)
    }

    found = 0
    while clock.now() < START + timedelta(days=80):
        found += sweep_jobs(app.ctx)
        assert sweep_jobs(app.ctx) == 0  # sweeping again records nothing new
        clock.advance(timedelta(days=1))
    with app.engine.connect() as connection:
        assert _all_jobs(connection) == expected
    assert found == len(expected)


def _all_jobs(connection: Any) -> set[tuple[str, str, str, datetime]]:
    j = tables.scheduled_jobs
    return {
        (row.kind, row.card_id, row.period, row.due_at)
        for row in connection.execute(select(j.c.kind, j.c.card_id, j.c.period, j.c.due_at))
    }


def test_overdue_expiry_is_swept_up_and_run_however_late(app: App, clock: FixedClock) -> None:
    renew(app, CARD, "ONE2-D1")
    card = _card(app)
    with app.engine.begin() as connection:
        connection.execute(delete(tables.scheduled_jobs))
    clock.current = _at(2026, 12, 2, 9, 0)  # ten days late
    # The expiry, however late; not the reminders already past, nor the termination
    # (due 2026-12-23: a later sweep's).
    assert sweep_jobs(app.ctx) == 1
    assert JobRunner(app.ctx, worker_id="w1").drain().done == 1
    assert _card(app).state is CardState.GRACE
    assert [kind for _, kind, _, state in _jobs(app, card) if state == "done"] == ["expire"]


def test_the_worker_loop_sweeps_on_start_and_runs_what_is_due(app: App, clock: FixedClock) -> None:
    renew(app, CARD, "ONE2-D7")  # valid until 2026-11-28: 3-day reminder at 11-25 10:00
    with app.engine.begin() as connection:
        connection.execute(delete(tables.scheduled_jobs))  # only the sweep can find it
    clock.current = _at(2026, 11, 25, 10, 0)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(app, stop), name="worker")
    worker.start()
    try:
        deadline = wallclock.monotonic() + 30
        while not _texts(app, CARD, "reminder_expiring"):
            assert wallclock.monotonic() < deadline, "the worker never sent the reminder"
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert _messages(app, CARD)[1:] == [("2026-11-25 10:00:00", "sms", "reminder_expiring")]


# --- failures, operators ---------------------------------------------------------------


def test_a_failing_handler_is_retried_with_backoff_then_dead_then_retried_by_hand(
    app: App, clock: FixedClock
) -> None:
    calls: list[datetime] = []

    def broken(uow: UnitOfWork, ctx: Context, job: Job, card: Card, now: datetime) -> JobResult:
        calls.append(now)
        raise RuntimeError("network gateway down")

    renew(app, CARD, "ONE2-D1")
    clock.current = _at(2026, 11, 23, 0, 0)
    runner = JobRunner(app.ctx, worker_id="w1", handlers={JobKind.EXPIRE: broken})
    for _ in range(20):
        runner.drain()
        clock.advance(timedelta(hours=1))
    assert len(calls) == 8
    (dead,) = list_jobs(app.ctx, state=JobState.DEAD)
    assert (dead.kind, dead.attempts) == (JobKind.EXPIRE, 8)
    assert dead.last_error == "RuntimeError: network gateway down"
    assert _card(app).state is CardState.ACTIVE  # every attempt rolled back
    assert [b - a for a, b in itertools.pairwise(calls)][:2] == [
        timedelta(hours=1),
        timedelta(hours=1),
    ]

    assert retry_dead_jobs(app.ctx, dead.id) == 1
    assert JobRunner(app.ctx, worker_id="w1").drain().done == 1
    assert _card(app).state is CardState.GRACE


# --- concurrency: racing workers, a crashed worker, kill -9 -----------------------------


@dataclass
class Rendezvous:
    """Each thread's first job waits for the other thread's: both workers then hold
    claimed, locked jobs at the same moment."""

    handlers: dict[JobKind, JobHandler]
    parties: int = 2
    by_thread: Counter[str] = field(default_factory=Counter)
    _barrier: threading.Barrier = field(init=False)
    _met: threading.local = field(init=False, default_factory=threading.local)

    def __post_init__(self) -> None:
        self._barrier = threading.Barrier(self.parties)

    def wrap(self, handler: JobHandler) -> JobHandler:
        def run(uow: UnitOfWork, ctx: Context, job: Job, card: Card, now: datetime) -> JobResult:
            self.by_thread[threading.current_thread().name] += 1
            if not getattr(self._met, "done", False):
                self._met.done = True
                self._barrier.wait(timeout=20)
            return handler(uow, ctx, job, card, now)

        return run

    def all(self) -> dict[JobKind, JobHandler]:
        return {kind: self.wrap(handler) for kind, handler in self.handlers.items()}


def test_two_workers_racing_do_every_job_once(app: App, clock: FixedClock, db_url: str) -> None:
    for number in ONE2_CARDS:
        renew(app, number, "ONE2-D7")  # valid until 2026-11-28
    for number in HKDATA_CARDS:
        renew(app, number, "HKDATA-D7")
    live_until(app, clock, JobRunner(app.ctx, worker_id="before"), _at(2026, 11, 28, 23, 0))
    clock.current = _at(2026, 11, 29, 10, 0)  # each card's expiry and its reminder are due
    with app.uow(write=False) as uow:
        due = uow.jobs.list(state=JobState.PENDING, due_before=clock.now(), limit=1000)
    assert Counter(job.kind for job in due) == {JobKind.EXPIRE: 9, JobKind.REMIND_EXPIRED: 9}

    postgres = db_url.startswith("postgresql")
    # On SQLite a handler's transaction holds the one write lock: the workers take
    # turns, so they meet only at the start line; on PostgreSQL both hold jobs at once.
    rendezvous = Rendezvous(default_handlers())
    handlers = rendezvous.all() if postgres else default_handlers()
    start = threading.Barrier(2)

    def work(worker: str) -> int:
        runner = JobRunner(app.ctx, worker_id=worker, handlers=handlers, batch_size=2)
        start.wait(timeout=20)
        stats = runner.drain()
        return stats.done + stats.skipped

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="jobs") as pool:
        results = list(pool.map(work, ["worker-a", "worker-b"]))

    assert sum(results) == len(due)
    with app.uow(write=False) as uow:
        finished = uow.jobs.list(limit=1000)
    raced = [j for j in finished if j.id in {d.id for d in due}]
    assert Counter(j.state for j in raced) == {JobState.DONE: 18}
    assert {j.attempts for j in raced} == {1}
    assert {j.claimed_by for j in raced} == {"worker-a", "worker-b"}
    if postgres:
        assert all(rendezvous.by_thread[name] > 0 for name in rendezvous.by_thread)
        assert len(rendezvous.by_thread) == 2
    # Each card: one transition to grace, one reminder.
    sms = [m for m in _all_sms(app) if m[1] == "reminder_expired"]
    assert sorted(to for to, _ in sms) == sorted([*ONE2_CARDS, *HKDATA_CARDS])
    audit = tables.audit_log
    with app.engine.connect() as connection:
        to_grace = connection.execute(
            select(audit.c.entity_id).where(audit.c.to_state == "grace")
        ).all()
    assert len(to_grace) == len({row.entity_id for row in to_grace}) == 9


def _all_sms(app: App) -> list[tuple[str, str]]:
    o = tables.outbox
    with app.engine.connect() as connection:
        rows = connection.execute(select(o.c.payload).where(o.c.kind == "sms")).all()
    return [(row.payload["to"], row.payload["kind"]) for row in rows]


def test_a_crashed_workers_claim_is_taken_over_after_its_lease(app: App, clock: FixedClock) -> None:
    renew(app, CARD, "ONE2-D1")
    clock.current = _at(2026, 11, 23, 0, 0)
    lease = timedelta(seconds=120)
    with app.uow() as uow:  # the crashed worker claimed and then died
        (claimed,) = uow.jobs.claim_due(
            worker="crashed",
            now=clock.now(),
            lease_until=clock.now() + lease,
            limit=10,
            kinds=[JobKind.EXPIRE],
        )
        uow.commit()

    survivor = JobRunner(app.ctx, worker_id="survivor", lease=lease)
    assert survivor.drain().any is False  # still under the dead worker's lease
    clock.advance(lease + timedelta(seconds=1))
    assert survivor.drain().done == 1
    with app.uow(write=False) as uow:
        job = uow.jobs.get(claimed.id)
    assert job is not None
    assert (job.state, job.claimed_by, job.attempts) == (JobState.DONE, "survivor", 2)

    # The crashed worker comes back and runs what it had claimed: nothing happens.
    assert run_job(app.ctx, claimed, worker="crashed", handlers=default_handlers()) is None
    assert [a for _, a in _network(app, _card(app))].count("suspend") == 1


def _read_line(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    while wallclock.monotonic() < deadline:
        if selector.select(timeout=0.2):
            return process.stdout.readline()
        if process.poll() is not None:
            break
    raise AssertionError(f"no line from the worker process (exit {process.poll()})")


def _worker_process(db_url: str, worker: str, hold_at: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.services.job_worker_process",
            db_url,
            worker,
            str(hold_at),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_kill_9_of_a_worker_mid_batch_loses_and_doubles_nothing(
    app: App, clock: FixedClock, db_url: str
) -> None:
    for number in ONE2_CARDS:
        renew(app, number, "ONE2-D1")
    for number in HKDATA_CARDS:
        renew(app, number, "HKDATA-D1")
    # The process runs on the real clock: these expiries (2026-11-23) are overdue.
    deadline = wallclock.monotonic() + 60

    first = _worker_process(db_url, "doomed", hold_at=3)
    try:
        line = _read_line(first, deadline)
        assert line.startswith("holding "), line
        held = line.split()[1]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
        first.wait(timeout=20)
        assert first.stdout is not None
        first.stdout.close()
    assert first.returncode == -signal.SIGKILL

    with app.uow(write=False) as uow:
        jobs = [j for j in uow.jobs.list(limit=1000) if j.kind is JobKind.EXPIRE]
    assert Counter(j.state for j in jobs) == {JobState.DONE: 2, JobState.PENDING: 7}
    (held_job,) = [j for j in jobs if j.id == held]
    assert (held_job.state, held_job.claimed_by) == (JobState.PENDING, "doomed")
    leases = [j.lease_until for j in jobs if j.lease_until is not None]

    # The doomed worker's lease runs out (2 s of real time); then a new worker runs.
    while datetime.now(UTC) <= max(leases):
        assert wallclock.monotonic() < deadline, "the lease never ran out"
        wallclock.sleep(0.1)
    second = _worker_process(db_url, "restarted", hold_at=0)
    try:
        assert _read_line(second, deadline).startswith("drained 7 0")
        assert second.wait(timeout=20) == 0
    finally:
        if second.poll() is None:
            second.kill()
        second.wait(timeout=20)
        assert second.stdout is not None
        second.stdout.close()

    with app.uow(write=False) as uow:
        jobs = [j for j in uow.jobs.list(limit=1000) if j.kind is JobKind.EXPIRE]
    assert Counter(j.state for j in jobs) == {JobState.DONE: 9}
    (held_job,) = [j for j in jobs if j.id == held]
    assert (held_job.claimed_by, held_job.attempts) == ("restarted", 2)
    cards = [_card(app, number) for number in [*ONE2_CARDS, *HKDATA_CARDS]]
    assert all(card.state is CardState.GRACE for card in cards)
    audit = tables.audit_log
    o = tables.outbox
    with app.engine.connect() as connection:
        to_grace = connection.execute(
            select(audit.c.entity_id).where(audit.c.to_state == "grace")
        ).all()
        suspends = [
            row.payload["iccid"]
            for row in connection.execute(select(o.c.payload).where(o.c.kind == "provision"))
            if row.payload["action"] == "suspend"
        ]
    assert len(to_grace) == len({row.entity_id for row in to_grace}) == 9
    assert len(suspends) == len(set(suspends)) == 9


def test_reminder_emails_in_grace_carry_the_last_day_to_renew(app: App, clock: FixedClock) -> None:
    runner = JobRunner(app.ctx, worker_id="w1")
    renew(app, MAILED_CARD, "ONE2-M1")  # valid until 2026-12-21; 30 days of grace
    live_until(app, clock, runner, _at(2026, 12, 29, 12, 0))
    mails = {
        p["kind"]: p["attachments"][0]["text"]
        for p in _texts(app, "chan.taiman@example.com.hk", "reminder_expired")
        + _texts(app, "chan.taiman@example.com.hk", "reminder_grace")
    }
    assert set(mails) == {"reminder_expired", "reminder_grace"}
    for ics in mails.values():
        assert "DTSTART;TZID=Asia/Hong_Kong:20270120T100000" in ics  # grace's last day
        assert "已過期" in ics.replace("\r\n ", "")
