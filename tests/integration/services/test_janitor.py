"""The payment janitor: every payment that is not final is re-checked with its provider
at 5 minutes, 1 hour, then daily for 7 days, then flagged for manual review; and
before anything else is done to its order it is re-checked first."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, Engine, Table, func, insert, inspect, select
from typer.testing import CliRunner

from simrenew.bootstrap import App
from simrenew.cli import app as cli_app
from simrenew.db import tables as t
from simrenew.db.migrate import downgrade, upgrade
from simrenew.domain.errors import IllegalTransition
from simrenew.domain.orders import OrderState
from simrenew.domain.outbox import OutboxKind
from simrenew.domain.payments import Payment, PaymentEvent, PaymentState
from simrenew.ports import PaymentRequest, ProviderError, ProviderResult, RefundResult
from simrenew.services.context import Context
from simrenew.services.janitor import LEASE, JanitorResult, run_janitor
from simrenew.services.ordering import cancel_order
from simrenew.services.payments import (
    OrderNotPayable,
    check_payment,
    new_payment,
    recheck_payment,
    start_payment,
)
from tests.integration.db.test_migrations import AT, base_rows, schema_differences
from tests.support import START, FixedClock, order, pay

CARD = "+85251234567"  # ONE2, zh-Hant, in stock
SCHEDULE = [
    timedelta(minutes=5),
    timedelta(hours=1),
    *(timedelta(days=day) for day in range(1, 8)),
]


@dataclass
class CountingProvider:
    """A hosted-checkout provider whose status checks are counted. It answers
    ``answer``, or raises ``ProviderError`` while ``unreachable``."""

    name: str = "counting"
    answer: PaymentState = PaymentState.PENDING
    unreachable: bool = False
    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        return ProviderResult(
            PaymentState.PENDING, checkout_url=f"https://pay.example/{request.payment_id}"
        )

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        with self._lock:
            self.calls.append(payment_id)
        if self.unreachable:
            raise ProviderError("counting: no answer")
        return ProviderResult(self.answer)

    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult:
        return RefundResult(True, provider_ref=f"r_{payment_id}")

    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent:
        raise NotImplementedError("the counting provider sends no callbacks")


@dataclass
class RendezvousProvider(CountingProvider):
    """Each thread's first status check waits for the other thread's: both janitors
    then hold a claim at the same moment."""

    parties: int = 2
    by_thread: Counter[str] = field(default_factory=Counter)
    _barrier: threading.Barrier = field(init=False)
    _met: threading.local = field(init=False)

    def __post_init__(self) -> None:
        self.rearm()

    def rearm(self) -> None:
        """Meet again on the next round's first checks."""
        self._barrier = threading.Barrier(self.parties)
        self._met = threading.local()
        self.by_thread.clear()

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        if not getattr(self._met, "done", False):
            self._met.done = True
            self._barrier.wait(timeout=30)
        with self._lock:
            self.by_thread[threading.current_thread().name] += 1
        return super().fetch_status(payment_id, provider_ref)


def with_provider(app: App, provider: CountingProvider) -> Context:
    """The app's context with ``provider`` configured beside the sandbox."""
    return replace(app.ctx, providers={**app.ctx.providers, provider.name: provider})


def stored(app: App, payment_id: str) -> Payment:
    with app.uow(write=False) as uow:
        return uow.payments.get(payment_id)


def count(app: App, table: Table, *where: ColumnElement[bool]) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def order_state(app: App, order_id: str) -> OrderState:
    with app.uow(write=False) as uow:
        return uow.orders.get(order_id).state


def fulfilments(app: App, order_id: str) -> int:
    return count(app, t.fulfilments, t.fulfilments.c.order_id == order_id)


def add_payments(app: App, order_id: str, provider: str, how_many: int) -> list[str]:
    """Open payments straight into the repository: as many as a test needs on one order
    (the services would hand back the same pending one)."""
    now = app.ctx.clock.now()
    with app.uow() as uow:
        placed = uow.orders.get(order_id)
        payments = [new_payment(placed, provider, now=now) for _ in range(how_many)]
        for payment in payments:
            uow.payments.add(payment, actor="test")
        uow.commit()
    return [p.id for p in payments]


# --- the schedule -----------------------------------------------------------------------------


def test_a_payment_is_on_the_schedule_from_its_start_until_it_is_final(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    declined = start_payment(app.ctx, placed.id, "sandbox", actor="test", scenario="decline")
    opened = stored(app, declined.id)
    assert (opened.recheck_at, opened.rechecks, opened.review_since) == (
        START + timedelta(minutes=5),
        0,
        None,
    )

    pay(app, placed.id, "decline")  # the same pending payment, declined on the page

    failed = stored(app, declined.id)
    assert failed.state is PaymentState.FAILED
    assert failed.recheck_at is None
    unknown, _ = pay(app, placed.id, "unknown")  # a retry whose answer is lost
    assert stored(app, unknown.id).state is PaymentState.UNKNOWN
    assert stored(app, unknown.id).recheck_at == START + timedelta(minutes=5)


def test_the_full_schedule_then_flagged_for_review(app: App, clock: FixedClock) -> None:
    provider = CountingProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(ctx, placed.id, "counting", actor="test")
    second = timedelta(seconds=1)

    for number, offset in enumerate(SCHEDULE, start=1):
        clock.current = START + offset - second
        assert run_janitor(ctx) == JanitorResult(), f"nothing due before check {number}"
        clock.current = START + offset
        result = run_janitor(ctx)
        assert result.checked == 1, f"check {number} at {offset}"
        assert len(provider.calls) == number
        assert run_janitor(ctx) == JanitorResult()  # not twice for one due time
        current = stored(app, payment.id)
        assert current.rechecks == number
        if number < len(SCHEDULE):
            assert result == JanitorResult(checked=1, still_open=1)
            assert current.recheck_at == START + SCHEDULE[number]
            assert current.review_since is None

    assert result == JanitorResult(checked=1, flagged=1)
    flagged = stored(app, payment.id)
    assert flagged.state is PaymentState.PENDING  # nothing is decided for the buyer
    assert (flagged.recheck_at, flagged.review_since) == (None, START + timedelta(days=7))
    with app.uow(write=False) as uow:
        assert [p.id for p in uow.payments.list_for_review()] == [payment.id]
        trail = [r["reason"] for r in uow.audit.list_for("payment", payment.id)]
    assert sum("flagged for manual review" in reason for reason in trail) == 1

    clock.advance(timedelta(days=30))
    assert run_janitor(ctx) == JanitorResult()
    assert provider.calls == [payment.id] * 9


def test_a_provider_error_counts_as_a_check_and_the_payment_stays_as_it_is(
    app: App, clock: FixedClock
) -> None:
    provider = CountingProvider(unreachable=True)
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(ctx, placed.id, "counting", actor="test")

    clock.advance(timedelta(minutes=5))
    assert run_janitor(ctx) == JanitorResult(checked=1, still_open=1)

    after = stored(app, payment.id)
    assert (after.state, after.rechecks) == (PaymentState.PENDING, 1)
    assert after.recheck_at == START + timedelta(hours=1)
    assert order_state(app, placed.id) is OrderState.AWAITING_PAYMENT
    assert provider.calls == [payment.id]


def test_a_provider_no_longer_configured_counts_as_a_check(app: App, clock: FixedClock) -> None:
    placed = order(app, CARD, "ONE2-D7")
    (payment_id,) = add_payments(app, placed.id, "retired", 1)

    clock.advance(timedelta(minutes=5))
    assert run_janitor(app.ctx) == JanitorResult(checked=1, still_open=1)
    assert stored(app, payment_id).recheck_at == START + timedelta(hours=1)


def test_an_unknown_payment_is_resolved_by_the_janitor_and_fulfilled_once(
    app: App, clock: FixedClock
) -> None:
    placed = order(app, CARD, "ONE2-D7")
    payment, _ = pay(app, placed.id, "unknown")  # charged, but the answer was lost
    assert order_state(app, placed.id) is OrderState.AWAITING_PAYMENT

    clock.advance(timedelta(minutes=4))
    assert run_janitor(app.ctx) == JanitorResult()
    clock.advance(timedelta(minutes=1))
    assert run_janitor(app.ctx) == JanitorResult(checked=1, resolved=1)

    resolved = stored(app, payment.id)
    assert (resolved.state, resolved.rechecks, resolved.recheck_at) == (
        PaymentState.SUCCEEDED,
        1,
        None,
    )
    assert order_state(app, placed.id) is OrderState.FULFILLED
    assert fulfilments(app, placed.id) == 1
    assert count(app, t.sandbox_charges) == 1
    for _ in range(3):
        clock.advance(timedelta(days=1))
        assert run_janitor(app.ctx) == JanitorResult()
    assert fulfilments(app, placed.id) == 1
    app.relay.drain()
    with app.uow(write=False) as uow:
        sms = [m.payload["kind"] for m in uow.outbox.list(limit=50) if m.kind is OutboxKind.SMS]
    assert sms == ["renewal_confirmed"]


def test_a_late_janitor_checks_once_and_takes_the_next_time_to_come(
    app: App, clock: FixedClock
) -> None:
    provider = CountingProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(ctx, placed.id, "counting", actor="test")

    clock.advance(timedelta(days=2, hours=3))  # the workers were down
    assert run_janitor(ctx) == JanitorResult(checked=1, still_open=1)
    assert run_janitor(ctx) == JanitorResult()
    assert stored(app, payment.id).recheck_at == START + timedelta(days=3)

    clock.advance(timedelta(days=30))  # down for a month: one check, then review
    assert run_janitor(ctx) == JanitorResult(checked=1, flagged=1)
    assert len(provider.calls) == 2


def test_an_operators_recheck_counts_without_using_up_the_schedule(
    app: App, clock: FixedClock
) -> None:
    provider = CountingProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(ctx, placed.id, "counting", actor="test")

    clock.advance(timedelta(minutes=2))
    for _ in range(3):
        assert recheck_payment(ctx, payment.id).state is PaymentState.PENDING
    checked = stored(app, payment.id)
    assert (checked.rechecks, checked.recheck_at) == (3, START + timedelta(minutes=5))

    clock.advance(timedelta(minutes=3))
    assert run_janitor(ctx) == JanitorResult(checked=1, still_open=1)
    assert stored(app, payment.id).rechecks == 4
    assert len(provider.calls) == 4


def test_a_batch_takes_the_oldest_due_first_and_the_rest_next_time(
    app: App, clock: FixedClock
) -> None:
    provider = CountingProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    ids = add_payments(app, placed.id, "counting", 25)

    clock.advance(timedelta(minutes=5))
    assert run_janitor(ctx, batch=12).checked == 12
    assert run_janitor(ctx, batch=100).checked == 13
    assert run_janitor(ctx) == JanitorResult()
    assert Counter(provider.calls) == Counter(dict.fromkeys(ids, 1))


# --- crashes and several janitors -------------------------------------------------------------


def test_a_janitor_killed_after_its_claim_leaves_the_payment_due_after_the_lease(
    app: App, clock: FixedClock
) -> None:
    provider = CountingProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(ctx, placed.id, "counting", actor="test")
    clock.advance(timedelta(minutes=5))
    now = clock.now()
    with app.uow() as uow:  # claimed, committed, and then the worker died
        (claimed,) = uow.payments.claim_due_rechecks(now=now, lease_until=now + LEASE, limit=10)
        uow.commit()
    assert claimed.recheck_at == now + LEASE

    assert run_janitor(ctx) == JanitorResult()  # still leased
    clock.advance(LEASE)
    assert run_janitor(ctx) == JanitorResult(checked=1, still_open=1)

    after = stored(app, payment.id)
    assert (after.rechecks, after.recheck_at) == (1, START + timedelta(hours=1))
    assert provider.calls == [payment.id]


def test_a_janitor_that_outlived_its_lease_does_not_count_its_check_twice(
    app: App, clock: FixedClock
) -> None:
    provider = CountingProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(ctx, placed.id, "counting", actor="test")
    clock.advance(timedelta(minutes=5))
    now = clock.now()
    with app.uow() as uow:  # a slow janitor claims ...
        (slow,) = uow.payments.claim_due_rechecks(now=now, lease_until=now + LEASE, limit=10)
        uow.commit()
    assert slow.id == payment.id
    clock.advance(LEASE + timedelta(seconds=1))
    assert run_janitor(ctx).checked == 1  # ... another takes over when the lease runs out

    # ... and the slow one finally gets its answer.
    late = check_payment(ctx, slow, reason="test", lease_until=slow.recheck_at)

    assert late.rechecks == 1  # asked twice, counted once: one due time, one check
    assert late.recheck_at == START + timedelta(hours=1)
    assert len(provider.calls) == 2


def test_two_janitors_racing_check_each_due_payment_once_per_due_time(
    app: App, clock: FixedClock
) -> None:
    provider = RendezvousProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    ids = add_payments(app, placed.id, "counting", 30)

    for round_number, offset in enumerate(SCHEDULE[:2], start=1):
        clock.current = START + offset
        provider.rearm()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="janitor") as pool:
            results = list(pool.map(lambda _: run_janitor(ctx), range(2)))

        assert sum(r.checked for r in results) == 30
        assert all(r.checked > 0 and r.errors == 0 for r in results)
        assert len(provider.by_thread) == 2  # both did some of the work
        assert Counter(provider.calls) == Counter(dict.fromkeys(ids, round_number))
        with app.uow(write=False) as uow:
            rows = [uow.payments.get(payment_id) for payment_id in ids]
        assert {(p.rechecks, p.recheck_at) for p in rows} == {
            (round_number, START + SCHEDULE[round_number])
        }


# Row locks (SELECT ... FOR UPDATE SKIP LOCKED) exist on PostgreSQL only: this runs there.
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_claims_from_two_concurrent_transactions_are_disjoint(app: App, clock: FixedClock) -> None:
    placed = order(app, CARD, "ONE2-D7")
    ids = add_payments(app, placed.id, "counting", 20)
    clock.advance(timedelta(minutes=5))
    now = clock.now()
    lease_until = now + LEASE

    with app.uow() as first, app.uow() as second:
        # Were the second claim to wait for the first one's locks, fail instead of hanging.
        second.connection.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
        mine = first.payments.claim_due_rechecks(now=now, lease_until=lease_until, limit=12)
        theirs = second.payments.claim_due_rechecks(now=now, lease_until=lease_until, limit=20)
        first.commit()
        second.commit()

    mine_ids, theirs_ids = {p.id for p in mine}, {p.id for p in theirs}
    assert (len(mine_ids), len(theirs_ids)) == (12, 8)
    assert mine_ids | theirs_ids == set(ids)
    with app.uow() as uow:  # everything is under a lease now
        assert uow.payments.claim_due_rechecks(now=now, lease_until=lease_until, limit=50) == []


# --- re-checked first -------------------------------------------------------------------------


def test_a_new_payment_on_an_order_already_charged_is_refused_as_paid(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    lost, _ = pay(app, placed.id, "unknown")  # charged; the answer was lost

    with pytest.raises(OrderNotPayable) as refused:
        start_payment(app.ctx, placed.id, "sandbox", actor="test")

    assert refused.value.params == {"order": placed.id, "state": "fulfilled"}
    assert count(app, t.payments) == 1
    assert count(app, t.sandbox_charges) == 1  # no second charge
    assert fulfilments(app, placed.id) == 1
    checked = stored(app, lost.id)
    assert (checked.state, checked.rechecks) == (PaymentState.SUCCEEDED, 1)
    with app.uow(write=False) as uow:
        assert [m for m in uow.outbox.list(limit=50) if m.kind is OutboxKind.REFUND] == []


@pytest.mark.parametrize(
    "earlier",
    [PaymentState.UNKNOWN, PaymentState.PENDING],  # unknown: any provider; pending: another
)
def test_an_earlier_payment_still_open_is_checked_first_and_the_new_one_goes_ahead(
    app: App, earlier: PaymentState
) -> None:
    provider = CountingProvider(answer=earlier)
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    first = start_payment(ctx, placed.id, "counting", actor="test")
    if earlier is PaymentState.UNKNOWN:
        with app.uow() as uow:
            opened = uow.payments.get(first.id, lock=True)
            uow.payments.update(
                opened.move_to(earlier, opened.updated_at), opened.state, reason="t", actor="t"
            )
            uow.commit()

    second = start_payment(ctx, placed.id, "sandbox", actor="test")

    assert second.id != first.id
    assert provider.calls == [first.id]
    assert stored(app, first.id).rechecks == 1
    assert order_state(app, placed.id) is OrderState.AWAITING_PAYMENT


def test_pay_again_with_the_same_provider_hands_back_the_pending_payment_unchecked(
    app: App,
) -> None:
    provider = CountingProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    first = start_payment(ctx, placed.id, "counting", actor="test")
    assert start_payment(ctx, placed.id, "counting", actor="test").id == first.id
    assert provider.calls == []


def test_cancelling_an_order_already_charged_is_refused(app: App) -> None:
    placed = order(app, CARD, "ONE2-D7")
    lost, _ = pay(app, placed.id, "unknown")

    with pytest.raises(IllegalTransition) as refused:
        cancel_order(app.ctx, placed.id, actor="test")

    assert refused.value.params == {
        "entity": "order",
        "current": "fulfilled",
        "target": "cancelled",
    }
    assert order_state(app, placed.id) is OrderState.FULFILLED
    assert stored(app, lost.id).state is PaymentState.SUCCEEDED
    assert fulfilments(app, placed.id) == 1
    assert count(app, t.sandbox_charges) == 1
    with app.uow(write=False) as uow:
        assert [m for m in uow.outbox.list(limit=50) if m.kind is OutboxKind.REFUND] == []


def test_cancelling_checks_open_payments_first_then_cancels(app: App) -> None:
    provider = CountingProvider()
    ctx = with_provider(app, provider)
    placed = order(app, CARD, "ONE2-D7")
    payment = start_payment(ctx, placed.id, "counting", actor="test")

    assert cancel_order(ctx, placed.id, actor="test").state is OrderState.CANCELLED

    assert provider.calls == [payment.id]
    assert cancel_order(ctx, placed.id, actor="test").state is OrderState.CANCELLED
    assert provider.calls == [payment.id]  # already cancelled: nothing to ask


# --- the command line -------------------------------------------------------------------------


def test_the_cli_runs_a_pass_and_lists_what_is_flagged(
    app: App, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed = order(app, CARD, "ONE2-D7")
    # On the checkout page and never paid: the sandbox keeps answering "pending".
    payment = start_payment(app.ctx, placed.id, "sandbox", actor="test")
    monkeypatch.chdir(tmp_path)
    env = {"SIMRENEW_DATABASE_URL": db_url, "SIMRENEW_SMTP_HOST": None, "COLUMNS": "200"}

    def cli(*args: str) -> str:
        result = CliRunner().invoke(cli_app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "no payments flagged for review" in cli("payments", "review")
    # The command line runs on the real clock, past the test clock's week (START is
    # 2026-11-22): the one check there is left to make flags the payment.
    assert "1 payment(s) re-checked: 0 resolved, 0 still open, 1 flagged" in cli(
        "payments", "janitor"
    )
    listed = cli("payments", "review")
    assert payment.id in listed
    assert placed.id in listed
    assert "HK$48.00" in listed
    assert "pending" in listed


# --- the migration ----------------------------------------------------------------------------


@pytest.fixture
def restored(engine: Engine) -> Iterator[Engine]:
    """The database, brought back to head whatever the test did to it."""
    try:
        yield engine
    finally:
        upgrade(engine)


def test_migration_0004_adds_the_schedule_and_puts_open_payments_on_it(
    restored: Engine,
) -> None:
    engine = restored
    downgrade(engine, "0003")
    columns = {c["name"] for c in inspect(engine).get_columns("payments")}
    assert not columns & {"recheck_at", "rechecks", "review_since"}
    base_rows(engine)
    payment = {
        "order_id": "ord_1",
        "provider": "sandbox",
        "amount_minor": 8800,
        "currency": "HKD",
        "created_at": AT,
        "updated_at": AT,
    }
    with engine.begin() as connection:
        connection.execute(
            insert(t.payments),
            [
                {**payment, "id": "pay_open", "state": "unknown"},
                {**payment, "id": "pay_done", "state": "succeeded"},
            ],
        )

    upgrade(engine)

    assert schema_differences(engine) == []
    with engine.connect() as connection:
        rows = {
            r.id: (r.recheck_at, r.rechecks, r.review_since)
            for r in connection.execute(select(t.payments))
        }
    assert rows == {"pay_open": (AT, 0, None), "pay_done": (None, 0, None)}
    # Down again keeps the payments and their constraints.
    downgrade(engine, "0003")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(t.payments)) == 2
    checks = {c["name"] for c in inspect(engine).get_check_constraints("payments")}
    assert "ck_payments_state" in checks
