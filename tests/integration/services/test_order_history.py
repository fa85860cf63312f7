"""A subscriber's order history and receipts: every bound card, newest first, a cursor
that survives ties, and nothing of anyone else's."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from simrenew.bootstrap import App
from simrenew.domain.accounts import Subscriber
from simrenew.domain.errors import OrderNotFound
from simrenew.domain.money import Money
from simrenew.domain.orders import OrderState
from simrenew.services import auth
from simrenew.services.order_history import (
    list_my_orders,
    my_receipt,
    receipt_number,
)
from tests.support import HKT, FixedClock, order, pay, renew

MINE = "+85251234567"  # demo ONE2 card
FAMILY = "+85291234567"  # another demo ONE2 card, bound to the same account
STRANGER = "+85261234567"  # someone else's
IP = "203.0.113.9"
RECEIPT = re.compile(r"^R2026-[0-9A-F]{12}$")


def _code(app: App, number: str) -> str:
    app.relay.drain()
    found = re.search(r"#(\d{6})$", app.inbox.list(recipient=number)[0].body)
    assert found
    return found.group(1)


def _subscriber(app: App, number: str = MINE) -> Subscriber:
    auth.request_login_code(app.ctx, number, IP)
    return auth.verify_login_code(app.ctx, number, _code(app, number)).subscriber


def _bind(app: App, subscriber: Subscriber, number: str) -> None:
    auth.bind_card(app.ctx, subscriber, number, IP)
    auth.confirm_bind_card(app.ctx, subscriber, number, _code(app, number))


def test_the_history_has_the_orders_of_every_bound_card_newest_first(
    app: App, clock: FixedClock
) -> None:
    me = _subscriber(app)
    _bind(app, me, FAMILY)
    first = renew(app, MINE, "ONE2-M1", coupon="GBA2026")
    clock.advance(timedelta(minutes=5))
    second = renew(app, FAMILY, "ONE2-D7")
    clock.advance(timedelta(minutes=5))
    unpaid = order(app, MINE, "ONE2-D1")
    clock.advance(timedelta(minutes=5))
    renew(app, STRANGER, "ONE2-M1")  # not mine: never listed

    lines = list_my_orders(app.ctx, me, limit=20)

    assert [line.id for line in lines] == [unpaid.id, second.id, first.id]
    assert [line.number_masked for line in lines] == [
        "+852****4567",
        "+852****4567",
        "+852****4567",
    ]
    assert [line.state for line in lines] == [
        OrderState.AWAITING_PAYMENT,
        OrderState.FULFILLED,
        OrderState.FULFILLED,
    ]
    assert lines[2].offer_name.en == "Monthly Plan"
    assert lines[2].price == Money(7040, "HKD")
    assert lines[0].receipt_number is None  # unpaid: no receipt
    assert all(RECEIPT.match(line.receipt_number or "") for line in lines[1:])
    assert lines[2].receipt_number == f"R2026-{first.id[-12:].upper()}"


def test_the_cursor_pages_through_orders_made_in_the_same_instant(app: App) -> None:
    me = _subscriber(app)
    # The clock stands still: every order has the same created_at, ids break the tie.
    placed = [order(app, MINE, "ONE2-D1").id for _ in range(7)]

    pages: list[list[str]] = []
    before = None
    while True:
        page = [line.id for line in list_my_orders(app.ctx, me, limit=3, before=before)]
        if not page:
            break
        pages.append(page)
        before = page[-1]

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [order_id for page in pages for order_id in page] == sorted(placed, reverse=True)


def test_a_cursor_from_someone_elses_order_is_not_found(app: App) -> None:
    me = _subscriber(app)
    theirs = order(app, STRANGER, "ONE2-D1")
    with pytest.raises(OrderNotFound):
        list_my_orders(app.ctx, me, limit=20, before=theirs.id)
    assert list_my_orders(app.ctx, me, limit=20) == []


def test_the_receipt_of_a_fulfilled_order(app: App) -> None:
    me = _subscriber(app)
    done = renew(app, MINE, "ONE2-M1", coupon="GBA2026")

    receipt = my_receipt(app.ctx, me, done.id)

    assert RECEIPT.match(receipt.receipt_number)
    assert receipt.receipt_number == list_my_orders(app.ctx, me, limit=1)[0].receipt_number
    assert receipt.order_id == done.id
    assert receipt.number_masked == "+852****4567"
    assert receipt.offer_name.zh_hant == "月費計劃"
    assert (receipt.list_price, receipt.discount, receipt.price) == (
        Money(8800, "HKD"),
        Money(1760, "HKD"),
        Money(7040, "HKD"),
    )
    assert "GBA2026" in receipt.promotions
    assert receipt.payment_method == "sandbox"
    assert receipt.paid_at == app.ctx.clock.now()
    assert receipt.validity_end == date(2026, 12, 21)  # from 22 Nov, one month
    # Asked again, the same receipt: nothing on it depends on when it is asked for.
    assert my_receipt(app.ctx, me, done.id) == receipt


def test_no_receipt_before_fulfilment_nor_for_someone_else(app: App) -> None:
    me = _subscriber(app)
    unpaid = order(app, MINE, "ONE2-D1")
    declined = order(app, MINE, "ONE2-D7")
    pay(app, declined.id, scenario="decline")
    theirs = renew(app, STRANGER, "ONE2-D1")
    for order_id in (unpaid.id, declined.id, theirs.id, "ord_nothing"):
        with pytest.raises(OrderNotFound):
            my_receipt(app.ctx, me, order_id)


def test_the_receipt_number_takes_the_hong_kong_year_of_payment() -> None:
    order_id = "ord_01a229d4ab310000d4e3fd1d748baeda8b8a"
    new_years_eve_utc = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 Jan in HK
    assert receipt_number(order_id, new_years_eve_utc, HKT) == "R2027-748BAEDA8B8A"
    assert receipt_number(order_id, new_years_eve_utc, UTC) == "R2026-748BAEDA8B8A"
