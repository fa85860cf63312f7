"""The outbox relay on SQLite and PostgreSQL: retries with backoff, dead letters,
operator retries, leases, and (PostgreSQL) several workers side by side."""

from __future__ import annotations

import email
import email.policy
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import Row, select

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.db.uow import SqlUnitOfWorkFactory
from simrenew.domain.outbox import OutboxKind, OutboxState, retry_delay
from simrenew.notify.smtp import SmtpEmailSender
from simrenew.ports import DeliveryError, PermanentDeliveryError
from simrenew.worker.relay import OutboxRelay, RelayStats
from tests.smtp_support import StoringHandler, smtp_server
from tests.support import FixedClock, renew

CARD = "+85251234567"  # ONE2, in stock, with an e-mail address
CARD_EMAIL = "chan.taiman@example.com.hk"
SECOND = timedelta(seconds=1)


# --- fakes and helpers -----------------------------------------------------------------


class RecordingSender:
    """An SmsSender that remembers what it sent; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[str] = []

    def send_sms(self, to: str, text: str, *, message_id: str) -> None:
        with self._lock:
            self.sent.append(message_id)


class FailingSender:
    """An SmsSender whose every attempt fails with ``error``."""

    def __init__(self, error: type[DeliveryError] = DeliveryError) -> None:
        self.error = error
        self.calls = 0

    def send_sms(self, to: str, text: str, *, message_id: str) -> None:
        self.calls += 1
        raise self.error(f"gateway refused {message_id}")


def make_relay(
    app: App, sms: Any, *, max_attempts: int = 8, worker_id: str = "test-worker", **kw: Any
) -> OutboxRelay:
    uow = SqlUnitOfWorkFactory(app.engine, max_attempts=max_attempts)
    return replace(app.relay, sms=sms, uow=uow, worker_id=worker_id, **kw)


def queue_sms(app: App, count: int = 1) -> list[str]:
    """``count`` SMS in the outbox, due now; returns their ids."""
    now = app.ctx.clock.now()
    with app.uow() as uow:
        ids = [
            uow.outbox.add(OutboxKind.SMS, {"to": CARD, "text": f"message {n}"}, at=now)
            for n in range(count)
        ]
        uow.commit()
    return ids


def outbox_row(app: App, message_id: str) -> Row[Any]:
    with app.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
        return connection.execute(select(t.outbox).where(t.outbox.c.id == message_id)).one()


def outbox_rows(app: App) -> list[Row[Any]]:
    with app.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
        return list(connection.execute(select(t.outbox).order_by(t.outbox.c.id)))


# --- retries and dead letters --------------------------------------------------------


def test_a_failing_send_is_retried_with_exponential_backoff(app: App, clock: FixedClock) -> None:
    sender = FailingSender()
    relay = make_relay(app, sender)
    [message_id] = queue_sms(app)

    delays = []
    for attempt in range(1, 5):
        failed_at = clock.now()
        assert relay.run_once() == RelayStats(retried=1)
        row = outbox_row(app, message_id)
        assert row.state == OutboxState.PENDING.value
        assert row.attempts == attempt
        assert row.lease_until is None and row.claimed_by is None
        assert row.last_error.startswith("DeliveryError: gateway refused")
        assert row.available_at > failed_at
        delays.append(row.available_at - failed_at)

        # Not due before its time, whoever asks.
        assert relay.run_once() == RelayStats()
        clock.current = row.available_at - SECOND
        assert relay.run_once() == RelayStats()
        clock.current = row.available_at

    assert sender.calls == 4
    # retry_delay(n) is the wait after the n-th failed attempt: 5 s, 10 s, 20 s, 40 s.
    assert delays == [retry_delay(n) for n in range(1, 5)]
    assert delays == [timedelta(seconds=s) for s in (5, 10, 20, 40)]


def test_dead_lettered_after_max_attempts(app: App, clock: FixedClock) -> None:
    sender = FailingSender()
    relay = make_relay(app, sender, max_attempts=3)
    [message_id] = queue_sms(app)

    outcomes = []
    for _ in range(3):
        outcomes.append(relay.run_once())
        clock.current = outbox_row(app, message_id).available_at

    assert outcomes == [RelayStats(retried=1), RelayStats(retried=1), RelayStats(dead=1)]
    row = outbox_row(app, message_id)
    assert row.state == OutboxState.DEAD.value
    assert row.attempts == 3
    assert row.delivered_at is None
    assert row.last_error.startswith("DeliveryError")
    assert sender.calls == 3

    # Dead stays dead: no worker picks it up again, however long we wait.
    clock.advance(timedelta(days=2))
    assert relay.drain() == RelayStats()
    assert make_relay(app, RecordingSender(), worker_id="other").drain() == RelayStats()
    assert sender.calls == 3
    with app.uow(write=False) as uow:
        assert uow.outbox.counts() == {"dead": 1}
        assert [m.id for m in uow.outbox.list(state="dead")] == [message_id]


def test_a_permanent_failure_is_dead_at_once(app: App) -> None:
    sender = FailingSender(PermanentDeliveryError)
    relay = make_relay(app, sender)
    [message_id] = queue_sms(app)

    assert relay.run_once() == RelayStats(dead=1)

    row = outbox_row(app, message_id)
    assert row.state == OutboxState.DEAD.value
    assert row.attempts == 1
    assert row.last_error.startswith("PermanentDeliveryError: gateway refused")
    assert sender.calls == 1
    assert relay.drain() == RelayStats()


def test_retry_dead_puts_it_back_and_a_working_sender_delivers_it(
    app: App, clock: FixedClock
) -> None:
    [message_id] = queue_sms(app)
    assert make_relay(app, FailingSender(PermanentDeliveryError)).drain() == RelayStats(dead=1)

    clock.advance(timedelta(hours=3))
    with app.uow() as uow:
        assert uow.outbox.retry_dead(message_id, clock.now()) == 1
        uow.commit()
    row = outbox_row(app, message_id)
    assert (row.state, row.attempts, row.available_at) == ("pending", 0, clock.now())

    sender = RecordingSender()
    assert make_relay(app, sender).drain() == RelayStats(delivered=1)
    assert sender.sent == [message_id]
    row = outbox_row(app, message_id)
    assert row.state == OutboxState.DELIVERED.value
    assert row.delivered_at == clock.now()
    assert row.last_error is None
    with app.uow() as uow:
        assert uow.outbox.retry_dead(None, clock.now()) == 0  # nothing dead any more


def test_a_delivered_message_is_never_delivered_again(app: App, clock: FixedClock) -> None:
    ids = queue_sms(app, 3)
    sender = RecordingSender()
    relay = make_relay(app, sender)

    assert relay.drain() == RelayStats(delivered=3)
    clock.advance(relay.lease + timedelta(days=1))  # long past any lease
    assert relay.drain() == RelayStats()
    assert make_relay(app, sender, worker_id="another").drain() == RelayStats()

    assert sorted(sender.sent) == sorted(ids)
    assert {row.state for row in outbox_rows(app)} == {"delivered"}


def test_an_expired_lease_lets_another_worker_take_over(app: App, clock: FixedClock) -> None:
    [message_id] = queue_sms(app)
    lease = app.relay.lease
    with app.uow() as uow:  # worker "a" claims, then dies before delivering
        claimed = uow.outbox.claim(
            now=clock.now(), lease_until=clock.now() + lease, worker="a", limit=10
        )
        uow.commit()
    assert [m.id for m in claimed] == [message_id]

    sender = RecordingSender()
    worker_b = make_relay(app, sender, worker_id="b")
    assert worker_b.run_once() == RelayStats()  # the lease still holds
    clock.advance(lease)
    assert worker_b.run_once() == RelayStats()  # up to its last instant
    clock.advance(SECOND)
    assert worker_b.run_once() == RelayStats(delivered=1)

    assert sender.sent == [message_id]
    row = outbox_row(app, message_id)
    assert (row.state, row.claimed_by, row.attempts) == ("delivered", "b", 2)

    # Worker "a" comes back and reports a failure: too late, nothing changes.
    with app.uow() as uow:
        uow.outbox.mark_failed(message_id, "a", error="late", retry_at=clock.now())
        uow.commit()
    assert outbox_row(app, message_id).state == OutboxState.DELIVERED.value


# --- several workers (PostgreSQL) -----------------------------------------------------


class RendezvousSender(RecordingSender):
    """Each thread's first delivery waits for the other thread's: both workers then
    hold a claimed batch at the same moment."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self._barrier = threading.Barrier(parties)
        self._met = threading.local()
        self.by_thread: Counter[str] = Counter()

    def send_sms(self, to: str, text: str, *, message_id: str) -> None:
        if not getattr(self._met, "done", False):
            self._met.done = True
            self._barrier.wait(timeout=30)
        super().send_sms(to, text, message_id=message_id)
        with self._lock:
            self.by_thread[threading.current_thread().name] += 1


# Row locks (SELECT ... FOR UPDATE SKIP LOCKED) exist on PostgreSQL only: these run there.
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_relays_in_two_threads_deliver_every_message_exactly_once(app: App) -> None:
    ids = queue_sms(app, 300)
    sender = RendezvousSender(parties=2)
    relays = [make_relay(app, sender, worker_id=f"w{n}", batch_size=10) for n in (1, 2)]

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="relay") as pool:
        stats = list(pool.map(lambda relay: relay.drain(), relays))

    assert sum(s.delivered for s in stats) == 300
    assert sum(s.retried + s.dead for s in stats) == 0
    assert all(s.delivered > 0 for s in stats)
    assert len(sender.by_thread) == 2
    counts = Counter(sender.sent)
    assert set(counts) == set(ids)
    assert set(counts.values()) == {1}
    rows = outbox_rows(app)
    assert {(row.state, row.attempts) for row in rows} == {("delivered", 1)}
    assert {row.claimed_by for row in rows} == {"w1", "w2"}


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_claims_from_two_concurrent_transactions_are_disjoint(app: App, clock: FixedClock) -> None:
    ids = queue_sms(app, 20)
    now = clock.now()
    lease_until = now + app.relay.lease

    with app.uow() as first, app.uow() as second:
        # Were the second claim to wait for the first one's locks, fail instead of hanging.
        second.connection.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
        mine = first.outbox.claim(now=now, lease_until=lease_until, worker="first", limit=12)
        theirs = second.outbox.claim(now=now, lease_until=lease_until, worker="second", limit=20)
        first.commit()
        second.commit()

    mine_ids = {m.id for m in mine}
    theirs_ids = {m.id for m in theirs}
    assert len(mine_ids) == 12
    assert len(theirs_ids) == 8
    assert mine_ids.isdisjoint(theirs_ids)
    assert mine_ids | theirs_ids == set(ids)
    with app.uow() as uow:  # everything is under a lease now
        assert uow.outbox.claim(now=now, lease_until=lease_until, worker="x", limit=50) == []


# --- end to end over SMTP -------------------------------------------------------------


def test_the_renewal_confirmation_email_arrives_over_smtp(app: App) -> None:
    handler = StoringHandler()
    with smtp_server(handler) as port:
        smtp = SmtpEmailSender(
            "127.0.0.1", port, "simrenew <noreply@simrenew.example.hk>", timeout=5
        )
        relay = replace(app.relay, email=smtp)
        placed = renew(app, CARD, "ONE2-M1")
        stats = relay.drain()

    assert stats.retried == 0 and stats.dead == 0
    with app.uow(write=False) as uow:
        [queued] = [m for m in uow.outbox.list() if m.kind is OutboxKind.EMAIL]
        assert uow.outbox.counts() == {"delivered": stats.delivered}
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == [CARD_EMAIL]
    assert envelope.mail_from == "noreply@simrenew.example.hk"
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == CARD_EMAIL
    assert message["Subject"] == queued.payload["subject"]
    assert placed.id in message["Subject"]
    text_part = message.get_body(("plain",))
    assert text_part is not None and placed.id in text_part.get_content()
    assert message["Message-ID"] == smtp.message_id_header(queued.id)
    # The e-mail went out over SMTP, not into the developer inbox; the SMS did not.
    assert app.inbox.list(recipient=CARD_EMAIL) == []
    assert len(app.inbox.list(recipient=CARD)) == 1


def test_idempotency_keys_are_forgotten_after_24_hours(app: App, clock: FixedClock) -> None:
    from datetime import timedelta

    from simrenew.domain.orders import Channel
    from simrenew.services.ordering import PlaceOrder, place_order
    from simrenew.worker.runner import forget_idempotency_keys

    command = PlaceOrder("+85251234567", "ONE2-D7", Channel.APP, actor="t", idempotency_key="k")
    first, _ = place_order(app.ctx, command)
    clock.advance(timedelta(hours=23))
    assert forget_idempotency_keys(app) == 0
    assert place_order(app.ctx, command)[0].id == first.id
    clock.advance(timedelta(hours=1, seconds=1))
    assert forget_idempotency_keys(app) == 1
    again, created = place_order(app.ctx, command)
    assert created and again.id != first.id


def test_delivered_messages_are_forgotten_after_a_week_dead_ones_kept(
    app: App, clock: FixedClock
) -> None:
    from datetime import timedelta

    from simrenew.domain.outbox import OutboxKind
    from simrenew.worker.runner import forget_delivered_messages

    renew(app, CARD, "ONE2-D7")
    assert app.relay.drain().delivered > 0
    now = clock.now()
    with app.uow() as uow:
        uow.outbox.add(OutboxKind.SMS, {"to": CARD, "text": "x"}, at=now)
        uow.commit()
    with app.uow() as uow:
        (message,) = uow.outbox.claim(now=now, lease_until=now, worker="w", limit=1)
        uow.outbox.mark_failed(message.id, "w", error="no", retry_at=None)
        uow.commit()
    clock.advance(timedelta(days=6))
    assert forget_delivered_messages(app) == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert forget_delivered_messages(app) > 0
    with app.uow(write=False) as uow:
        assert uow.outbox.counts() == {"dead": 1}
