"""Two (or twenty) parallel attempts cannot double-charge or double-fulfil."""

from __future__ import annotations

import itertools
import threading
from datetime import date, timedelta

from sqlalchemy import func, select

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.domain.orders import Channel
from simrenew.services.cards import show_card
from simrenew.services.ordering import PlaceOrder, place_order
from simrenew.services.payments import OrderNotPayable, handle_callback, start_payment
from tests.support import HKT, START

CARD = "+85251234567"  # ONE2, in stock; ONE2-D7 is a 7-day plan
THREADS = 20
SHARED_KEY = "shared-key"


def _renew(app: App, key: str, barrier: threading.Barrier, errors: list[BaseException]) -> None:
    try:
        barrier.wait(timeout=30)
        order, _ = place_order(
            app.ctx,
            PlaceOrder(CARD, "ONE2-D7", Channel.APP, actor="app:device", idempotency_key=key),
        )
        try:
            payment = start_payment(app.ctx, order.id, "sandbox", actor="app:device")
        except OrderNotPayable:
            return  # a twin request with the same key already paid it: what a client sees
        for callback in app.sandbox.complete(payment.id):
            handle_callback(app.ctx, "sandbox", callback.headers, callback.body)
    except BaseException as exc:  # collected and re-raised in the main thread
        errors.append(exc)


def _count(app: App, table: t.Table) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def test_twenty_parallel_renewals_half_sharing_a_key(app: App) -> None:
    keys = [SHARED_KEY] * (THREADS // 2) + [f"own-{i}" for i in range(THREADS // 2)]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_renew, args=(app, key, barrier, errors)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    expected = THREADS // 2 + 1  # one order for the shared key, one per own key
    assert _count(app, t.orders) == expected
    assert _count(app, t.fulfilments) == expected
    with app.engine.connect() as connection:
        succeeded = connection.scalar(
            select(func.count()).select_from(t.payments).where(t.payments.c.state == "succeeded")
        )
        charged = connection.scalar(
            select(func.count())
            .select_from(t.sandbox_charges)
            .where(t.sandbox_charges.c.status == "succeeded")
        )
    assert succeeded == expected
    assert charged == expected

    today = START.astimezone(HKT).date()
    view = show_card(app.ctx, CARD)
    assert view.card.validity_end == today + timedelta(days=7 * expected - 1)
    periods = sorted((p.start, p.end) for p in view.periods)
    assert len(periods) == expected
    for (_, end), (start, _) in itertools.pairwise(periods):
        assert start == end + timedelta(days=1)
    assert periods[0][0] == date(2026, 11, 22)
