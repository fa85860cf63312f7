"""Auto-renew tries: one charge per period whatever happens, each failure told with
the next try's time, paused after the last, and nothing done for a period that is no
longer the card's. Played with the sandbox's saved cards on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.domain.accounts import Subscriber
from simrenew.domain.auto_renew import AutoRenewOutcome, AutoRenewTry, try_due_at
from simrenew.domain.jobs import JobState
from simrenew.domain.orders import Channel, OrderState
from simrenew.domain.payment_methods import PaymentMethod
from simrenew.ports import PaymentRequest, ProviderResult, SavedMethodRef
from simrenew.providers.sandbox import SandboxProvider
from simrenew.services import auth
from simrenew.services.auto_renew import last_try, run_auto_renew_try
from simrenew.services.ordering import expire_unpaid_orders
from simrenew.services.payment_methods import delete_method
from simrenew.worker.jobs import JobRunner
from tests.integration.services.test_auth import login
from tests.support import HKT, FixedClock, remember_card, renew

CARD = "+85251234567"  # ONE2, zh-Hant
OFFER = "ONE2-M1"  # a month, HK$88
# Renewed once by the purchase that saved the card (valid through 21 Dec 2026), then
# once more by auto-renew.
RENEWED_END = date(2027, 1, 21)


def with_auto_renew(
    app: App, scenario: str = "succeed"
) -> tuple[Subscriber, str, date, PaymentMethod]:
    """The card active (renewed once with "remember" ticked) and auto-renew on with the
    saved card; the saved card later behaves as ``scenario``."""
    who = auth.authenticate(app.ctx, login(app, CARD))
    method = remember_card(app, who.id, CARD, OFFER)
    if scenario != "succeed":
        with app.engine.begin() as connection:
            connection.execute(
                update(t.sandbox_methods)
                .where(t.sandbox_methods.c.token == method.token)
                .values(scenario=scenario)
            )
    card = auth.list_cards(app.ctx, who)[0]
    auth.set_auto_renew(
        app.ctx, who, card.id, enabled=True, offer_code=OFFER, payment_token_id=method.id
    )
    assert card.validity_end is not None
    return who, card.id, card.validity_end, method


def validity_end(app: App, card_id: str) -> date | None:
    with app.uow(write=False) as uow:
        return uow.cards.get(card_id).validity_end


def charges(app: App, status: str | None = None) -> int:
    query = select(func.count()).select_from(t.sandbox_charges)
    if status:
        query = query.where(t.sandbox_charges.c.status == status)
    with app.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def texts(app: App) -> list[str]:
    app.relay.drain()
    return [m.body for m in reversed(app.inbox.list(recipient=CARD))]


def test_the_first_try_renews_with_one_charge_and_later_tries_do_nothing(app: App) -> None:
    _, card_id, end, _ = with_auto_renew(app)
    before = charges(app)
    result = run_auto_renew_try(app.ctx, card_id, end, AutoRenewTry.DAY_BEFORE)
    assert result.outcome is AutoRenewOutcome.RENEWED
    assert validity_end(app, card_id) == RENEWED_END
    assert charges(app) == before + 1
    with app.uow(write=False) as uow:
        order = uow.orders.get(result.order_id or "")
    assert (order.channel, order.state, order.actor) == (
        Channel.AUTO_RENEW,
        OrderState.FULFILLED,
        "system:auto-renew",
    )
    for attempt in AutoRenewTry:  # the same period again: renewed, never charged twice
        again = run_auto_renew_try(app.ctx, card_id, end, attempt)
        assert again.outcome in (AutoRenewOutcome.NOT_DUE, AutoRenewOutcome.ALREADY_RENEWED)
    assert charges(app) == before + 1
    assert any("成功購買" in text for text in texts(app))
    shown = last_try(app.ctx, card_id)
    assert shown is not None and (shown.result, shown.order_id) == ("renewed", result.order_id)


def test_declines_are_told_with_the_next_try_and_the_last_pauses_auto_renew(app: App) -> None:
    who, card_id, end, _ = with_auto_renew(app, scenario="decline")
    before = len(texts(app))
    outcomes = [run_auto_renew_try(app.ctx, card_id, end, a).outcome for a in AutoRenewTry]
    assert outcomes == [AutoRenewOutcome.FAILED] * 3 + [AutoRenewOutcome.PAUSED]
    assert validity_end(app, card_id) == end
    assert charges(app, "succeeded") == 1  # only the purchase that saved the card
    told = texts(app)[before:]
    next_tries = [
        try_due_at(end, AutoRenewTry(n), HKT).astimezone(HKT).strftime("%Y-%m-%d %H:%M")
        for n in (2, 3, 4)
    ]
    assert len(told) == 4
    for text, when in zip(told[:3], next_tries, strict=True):
        assert "自動續期" in text and when in text and "付款未成功" not in text
    assert "已暫停" in told[3]
    assert auth.get_auto_renew(app.ctx, who, card_id).enabled is False
    shown = last_try(app.ctx, card_id)
    assert shown is not None
    assert (shown.result, shown.failure_code) == ("failed", "card_declined")
    # Paused: a try that still comes does nothing.
    assert run_auto_renew_try(app.ctx, card_id, end, AutoRenewTry.IN_GRACE).outcome is (
        AutoRenewOutcome.NOT_DUE
    )


def test_a_charge_whose_answer_was_lost_is_never_charged_again(app: App, clock: FixedClock) -> None:
    _, card_id, end, _ = with_auto_renew(app, scenario="unknown")
    before = charges(app)
    first = run_auto_renew_try(app.ctx, card_id, end, AutoRenewTry.DAY_BEFORE)
    assert first.outcome is AutoRenewOutcome.IN_DOUBT
    assert validity_end(app, card_id) == end
    # The next try re-checks the lost charge, finds it paid, and charges nothing.
    second = run_auto_renew_try(app.ctx, card_id, end, AutoRenewTry.HALF_DAY_BEFORE)
    assert second.outcome in (AutoRenewOutcome.ALREADY_RENEWED, AutoRenewOutcome.NOT_DUE)
    assert charges(app) == before + 1
    assert validity_end(app, card_id) == RENEWED_END


def test_a_still_undecided_charge_stops_the_next_try(app: App) -> None:
    _, card_id, end, _ = with_auto_renew(app, scenario="pending_then_succeed")
    first = run_auto_renew_try(app.ctx, card_id, end, AutoRenewTry.DAY_BEFORE)
    assert first.outcome is AutoRenewOutcome.IN_DOUBT
    shown = last_try(app.ctx, card_id)
    assert shown is not None and shown.result == "in_progress"
    before = charges(app)
    second = run_auto_renew_try(app.ctx, card_id, end, AutoRenewTry.HALF_DAY_BEFORE)
    assert second.outcome is AutoRenewOutcome.IN_DOUBT
    assert charges(app) == before
    with app.uow(write=False) as uow:
        auto_orders = [
            o for o in uow.orders.list_for_card(card_id) if o.channel is Channel.AUTO_RENEW
        ]
    assert len(auto_orders) == 1


def test_nothing_is_done_when_off_renewed_by_hand_or_the_method_deleted(app: App) -> None:
    who, card_id, end, method = with_auto_renew(app)
    renew(app, CARD, OFFER)  # renewed by hand: the period is no longer the card's
    assert run_auto_renew_try(app.ctx, card_id, end, AutoRenewTry.DAY_BEFORE).outcome is (
        AutoRenewOutcome.NOT_DUE
    )
    new_end = validity_end(app, card_id)
    assert new_end is not None
    delete_method(app.ctx, who, method.id)
    before = charges(app)
    assert run_auto_renew_try(app.ctx, card_id, new_end, AutoRenewTry.DAY_BEFORE).outcome is (
        AutoRenewOutcome.NOT_DUE
    )
    assert charges(app) == before


# --- a year of auto-renew through the job runner and the outbox -------------------------


def live_until(app: App, clock: FixedClock, runner: JobRunner, until: datetime) -> None:
    """Move the clock from each due job to the next, running the job runner and the
    outbox relay (which runs the auto-renew tries) at every stop, as the worker does,
    until ``until``."""
    for _ in range(5000):
        expire_unpaid_orders(app.ctx)
        while runner.drain().any | bool(app.relay.drain().delivered):
            pass
        with app.uow(write=False) as uow:
            pending = uow.jobs.list(state=JobState.PENDING, limit=1)
        stop = min([until, *(job.due_at for job in pending if job.due_at > clock.now())])
        clock.current = stop
        if stop == until:
            expire_unpaid_orders(app.ctx)
            while runner.drain().any | bool(app.relay.drain().delivered):
                pass
            return
    raise AssertionError("the simulation did not reach its end")


def auto_renew_orders(app: App, card_id: str) -> list[tuple[str, str, int]]:
    """(local time, state, payments) of every auto-renew order, oldest first."""
    with app.uow(write=False) as uow:
        orders = [o for o in uow.orders.list_for_card(card_id) if o.channel is Channel.AUTO_RENEW]
        return [
            (
                o.created_at.astimezone(HKT).strftime("%Y-%m-%d %H:%M"),
                o.state.value,
                len(uow.payments.list_for_order(o.id)),
            )
            for o in reversed(orders)
        ]


def messages(app: App) -> list[tuple[str, str]]:
    """(local time, kind) of every SMS to the card's number, in order."""
    o = t.outbox
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(o).where(o.c.kind == "sms").order_by(o.c.created_at, o.c.id)
        ).all()
    return [
        (row.created_at.astimezone(HKT).strftime("%Y-%m-%d %H:%M"), row.payload["kind"])
        for row in rows
        if row.payload["to"] == CARD
    ]


def message_kinds(app: App) -> list[str]:
    o = t.outbox
    with app.engine.connect() as connection:
        rows = connection.execute(
            select(o).where(o.c.kind == "sms").order_by(o.c.created_at, o.c.id)
        ).all()
    return [row.payload["kind"] for row in rows if row.payload["to"] == CARD]


def test_a_year_with_auto_renew_renews_each_month_once_then_pauses_when_the_card_declines(
    app: App, clock: FixedClock
) -> None:
    runner = JobRunner(app.ctx, worker_id="w1")
    _, card_id, end, method = with_auto_renew(app)
    assert end == date(2026, 12, 21)
    live_until(app, clock, runner, datetime(2027, 6, 1, tzinfo=HKT).astimezone(UTC))

    # Every period renewed by its first try, 00:00 of its last day: one charge each.
    assert auto_renew_orders(app, card_id) == [
        (f"{day} 00:00", "fulfilled", 1)
        for day in (
            "2026-12-21", "2027-01-21", "2027-02-21", "2027-03-21", "2027-04-21", "2027-05-21",
        )
    ]  # fmt: skip
    assert validity_end(app, card_id) == date(2027, 6, 21)
    with app.uow(write=False) as uow:
        assert uow.cards.get(card_id).state.value == "active"  # never a day in grace

    # The bank now declines the saved card.
    with app.engine.begin() as connection:
        connection.execute(
            update(t.sandbox_methods)
            .where(t.sandbox_methods.c.token == method.token)
            .values(scenario="decline")
        )
    told_before = len(message_kinds(app))
    live_until(app, clock, runner, datetime(2027, 7, 1, tzinfo=HKT).astimezone(UTC))
    tries = auto_renew_orders(app, card_id)[6:]
    assert [(at, state) for at, state, _ in tries] == [
        ("2027-06-21 00:00", "expired"),
        ("2027-06-21 12:00", "expired"),
        ("2027-06-21 22:00", "expired"),
        ("2027-06-23 00:00", "expired"),
    ]
    told = [k for k in message_kinds(app)[told_before:] if k.startswith("auto_renew")]
    assert told == ["auto_renew_failed"] * 3 + ["auto_renew_paused"]
    assert charges(app, "succeeded") == 7  # the saving purchase and six renewals
    with app.uow(write=False) as uow:
        card = uow.cards.get(card_id)
        setting = uow.accounts.auto_renew(card_id)
    assert card.state.value == "grace" and card.validity_end == date(2027, 6, 21)
    assert setting is not None and setting.enabled is False

    # Paused: the rest of the year brings no try; grace (30 days) ends the card.
    live_until(app, clock, runner, datetime(2027, 11, 22, tzinfo=HKT).astimezone(UTC))
    assert len(auto_renew_orders(app, card_id)) == 10
    with app.uow(write=False) as uow:
        card = uow.cards.get(card_id)
    assert card.state.value == "terminated"
    assert card.state_since == datetime(2027, 7, 22, tzinfo=HKT).astimezone(UTC)

    # Every message of the year, to the minute: each month the three reminders and
    # the renewal at 00:00 of the last valid day; then the declines, each told, the
    # pause, and grace's reminders until the number goes.
    monthly = []
    for ends in ("2026-12-21", "2027-01-21", "2027-02-21", "2027-03-21", "2027-04-21",
                 "2027-05-21"):  # fmt: skip
        last = date.fromisoformat(ends)
        monthly += [
            (f"{last - timedelta(days=days)} 10:00", "reminder_expiring") for days in (7, 3, 1)
        ]
        monthly.append((f"{ends} 00:00", "renewal_confirmed"))
    assert messages(app) == [
        ("2026-11-22 10:00", "login_code"),
        ("2026-11-22 10:00", "renewal_confirmed"),  # the purchase that saved the card
        *monthly,
        ("2027-06-14 10:00", "reminder_expiring"),
        ("2027-06-18 10:00", "reminder_expiring"),
        ("2027-06-20 10:00", "reminder_expiring"),
        ("2027-06-21 00:00", "auto_renew_failed"),
        ("2027-06-21 12:00", "auto_renew_failed"),
        ("2027-06-21 22:00", "auto_renew_failed"),
        ("2027-06-22 10:00", "reminder_expired"),
        ("2027-06-23 00:00", "auto_renew_paused"),
        ("2027-06-29 10:00", "reminder_grace"),
        ("2027-07-06 10:00", "reminder_grace"),
        ("2027-07-13 10:00", "reminder_grace"),
        ("2027-07-20 10:00", "reminder_grace"),
    ]
    with app.uow(write=False) as uow:
        assert uow.jobs.counts().get("dead", 0) == 0
        assert uow.outbox.counts().get("dead", 0) == 0


@dataclass
class GatedCharges:
    """The sandbox, whose saved-card charges wait at a gate: the test decides when the
    provider answers."""

    inner: SandboxProvider
    charging: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    charges: int = 0
    name: str = "sandbox"

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def saved_method(self, payment_id: str, provider_ref: str | None) -> Any:
        return self.inner.saved_method(payment_id, provider_ref)

    def forget_method(self, method: SavedMethodRef) -> None:
        self.inner.forget_method(method)

    def charge_saved(self, request: PaymentRequest, method: SavedMethodRef) -> ProviderResult:
        self.charges += 1
        self.charging.set()
        assert self.release.wait(timeout=30), "the test never let the charge answer"
        return self.inner.charge_saved(request, method)


def test_two_tries_of_a_period_running_at_once_charge_once(app: App) -> None:
    _, card_id, end, _ = with_auto_renew(app)
    gated = GatedCharges(app.ctx.provider("sandbox"))  # type: ignore[arg-type]
    ctx = replace(app.ctx, providers={**app.ctx.providers, "sandbox": gated})
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(run_auto_renew_try, ctx, card_id, end, AutoRenewTry.DAY_BEFORE)
        assert gated.charging.wait(timeout=30)
        # The first try's charge is out at the provider, no lock held: the second try
        # (due too, after an outage) finds it undecided and charges nothing.
        second = run_auto_renew_try(ctx, card_id, end, AutoRenewTry.HALF_DAY_BEFORE)
        gated.release.set()
        assert first.result().outcome is AutoRenewOutcome.RENEWED
    assert second.outcome is AutoRenewOutcome.IN_DOUBT
    assert gated.charges == 1
    assert validity_end(app, card_id) == RENEWED_END
