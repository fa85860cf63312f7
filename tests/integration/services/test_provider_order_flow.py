"""The payment methods we settle ourselves, through the same order flow as the online
providers (``test_provider_faults``), on SQLite and PostgreSQL: FPS / bank transfer
(paid when a line of our bank statement matches), cash taken by a staff user in a
shift, and a voucher PIN. The buyer chooses the method on the web (a ``pending``
payment), the money is taken, the order is fulfilled once; doing it again (the same
statement imported twice, cash recorded twice, the same PIN twice) changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import ClassVar

import pytest
from sqlalchemy import select

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.db.reconciliation_queries import SqlReconciliationBooks
from simrenew.domain.money import Money
from simrenew.domain.orders import Order
from simrenew.domain.payments import Payment, PaymentState
from simrenew.domain.staff import CashReceipt, StaffRole
from simrenew.domain.vouchers import VoucherUsed
from simrenew.providers.fps import FpsProvider, Payee
from simrenew.services.bank_statement import parse_bank_statement
from simrenew.services.cash import open_shift, record_cash_payment
from simrenew.services.context import Context
from simrenew.services.janitor import JanitorResult, run_janitor
from simrenew.services.payments import OrderNotPayable, start_payment
from simrenew.services.reconciliation import Outcome, ReconciliationReport, reconcile_bank
from simrenew.services.staff import add_staff, authenticate_staff
from simrenew.services.vouchers import generate_vouchers, redeem_voucher
from tests.integration.services.test_provider_faults import (
    FIVE_MINUTES,
    HKD_CARD,
    RETURN_URL,
    assert_fulfilled_once,
    books,
    count,
    stored,
)
from tests.support import FixedClock, order

OFFER = "ONE2-D7"  # HK$48.00


class InHouse:
    """A method with no remote side: how the money is taken, and taken again."""

    name: ClassVar[str]

    def __init__(self, app: App, clock: FixedClock) -> None:
        self.app = app
        self.clock = clock
        self.ctx: Context = app.ctx

    def start(self, order_id: str) -> Payment:
        return start_payment(self.ctx, order_id, self.name, actor="buyer", return_url=RETURN_URL)

    def take(self, placed: Order, payment: Payment) -> None:
        raise NotImplementedError

    def take_again(self, placed: Order, payment: Payment) -> None:
        """The repeat, and what it answers."""
        raise NotImplementedError

    def charges(self) -> int:
        raise NotImplementedError


class Fps(InHouse):
    """The payer sends the money with our reference; our bank statement shows it."""

    name = "fps"

    def __init__(self, app: App, clock: FixedClock) -> None:
        super().__init__(app, clock)
        payee = Payee(fps_id="1234567", name="SIMRENEW LIMITED", bank_account="004-123-456789")
        provider = FpsProvider(payee, instructions_base_url=app.settings.public_url)
        # What the registry does once an FPS payee is configured.
        self.ctx = replace(app.ctx, providers={**app.ctx.providers, "fps": provider})

    def _import(self, payment: Payment) -> ReconciliationReport:
        day = self.clock.now().astimezone(self.clock.tz).strftime("%d/%m/%Y")
        amount = payment.amount
        statement = (
            "date,remarks,credit,currency\n"
            f"{day},FPS CHAN TAI MAN {payment.provider_ref},{amount.decimal_str()},"
            f"{amount.currency}\n"
        )
        books_ = SqlReconciliationBooks(self.app.engine)
        return reconcile_bank(self.ctx, books_, parse_bank_statement(statement))

    def take(self, placed: Order, payment: Payment) -> None:
        # Only the statement knows: until it comes, the janitor's re-checks change nothing.
        self.clock.advance(FIVE_MINUTES)
        assert run_janitor(self.ctx) == JanitorResult(checked=1, still_open=1)
        assert stored(self.app, payment.id).state is PaymentState.PENDING
        report = self._import(payment)
        assert [(r.outcome, r.action, r.payment_id) for r in report.rows] == [
            (Outcome.MATCHED, "payment succeeded", payment.id)
        ]

    def take_again(self, placed: Order, payment: Payment) -> None:
        report = self._import(payment)  # the same statement, imported again
        assert [(r.outcome, r.action) for r in report.rows] == [
            (Outcome.MATCHED, "already recorded")
        ]

    def charges(self) -> int:
        """Transfers recorded as paying a payment."""
        events = t.payment_events.c
        return count(
            self.app, t.payment_events, events.provider == "fps", events.outcome == "applied"
        )


class Cash(InHouse):
    """An agent takes cash at the counter, in an open shift."""

    name = "cash"

    def __init__(self, app: App, clock: FixedClock) -> None:
        super().__init__(app, clock)
        add_staff(self.ctx, "alice", "counter-password-1", StaffRole.AGENT, actor="test:admin")
        self.agent = authenticate_staff(self.ctx, "alice", "counter-password-1")
        self.shift = open_shift(self.ctx, self.agent)

    def _record(self, placed: Order) -> CashReceipt:
        return record_cash_payment(
            self.ctx, self.agent, placed.id, tendered=Money.parse("50.00", "HKD")
        )

    def take(self, placed: Order, payment: Payment) -> None:
        receipt = self._record(placed)
        # The payment the buyer started on the web is the one settled.
        assert (receipt.payment_id, receipt.shift_id) == (payment.id, self.shift.id)
        assert receipt.change == Money.parse("2.00", "HKD")

    def take_again(self, placed: Order, payment: Payment) -> None:
        with pytest.raises(OrderNotPayable):
            self._record(placed)

    def charges(self) -> int:
        return count(self.app, t.cash_receipts)


class Voucher(InHouse):
    """The buyer types a voucher's PIN."""

    name = "voucher"

    def __init__(self, app: App, clock: FixedClock) -> None:
        super().__init__(app, clock)
        batch = generate_vouchers(
            self.ctx,
            count=1,
            expires_on=date(2027, 12, 31),
            actor="test:admin",
            value=Money.parse("100.00", "HKD"),
        )
        (self.issued,) = batch.vouchers

    def _redeem(self, placed: Order) -> Payment:
        return redeem_voucher(
            self.ctx, placed.id, self.issued.pin, number=HKD_CARD, ip="203.0.113.7"
        )

    def take(self, placed: Order, payment: Payment) -> None:
        assert self._redeem(placed).id == payment.id

    def take_again(self, placed: Order, payment: Payment) -> None:
        with pytest.raises(VoucherUsed):
            self._redeem(placed)

    def charges(self) -> int:
        with self.app.engine.connect() as connection:
            states = connection.scalars(select(t.vouchers.c.state)).all()
        return states.count("redeemed")


METHODS: dict[str, type[InHouse]] = {"fps": Fps, "cash": Cash, "voucher": Voucher}


@pytest.mark.parametrize("method", list(METHODS))
def test_paid_in_house_the_order_is_fulfilled_once_and_a_repeat_changes_nothing(
    app: App, clock: FixedClock, method: str
) -> None:
    paying = METHODS[method](app, clock)
    placed = order(app, HKD_CARD, OFFER)
    payment = paying.start(placed.id)  # the buyer chose it on the web
    assert payment.state is PaymentState.PENDING and paying.charges() == 0

    paying.take(placed, payment)

    assert stored(app, payment.id).state is PaymentState.SUCCEEDED
    assert_fulfilled_once(paying, placed, payment.id)
    before = books(paying, placed)

    paying.take_again(placed, payment)
    clock.advance(FIVE_MINUTES)

    assert run_janitor(paying.ctx) == JanitorResult()  # nothing open to re-check
    assert books(paying, placed) == before
