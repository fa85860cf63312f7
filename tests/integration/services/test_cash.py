"""Staff users and cash at a counter through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.domain.errors import CurrencyMismatch
from simrenew.domain.money import Money
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import PaymentState
from simrenew.domain.staff import (
    NoOpenShift,
    NotPermitted,
    ShiftAlreadyOpen,
    ShiftNotFound,
    StaffLoginFailed,
    StaffLoginLimited,
    StaffRole,
    StaffUser,
    StaffUserExists,
    TenderedTooLittle,
)
from simrenew.providers.cash import CashProvider
from simrenew.services.cash import close_shift, open_shift, record_cash_payment, shift_total
from simrenew.services.payments import OrderNotPayable
from simrenew.services.staff import (
    add_staff,
    authenticate_staff,
    deactivate_staff,
    list_staff,
)
from tests.integration.services.test_vouchers import wired
from tests.support import FixedClock, order

CARD = "+85251234567"  # ONE2 (HKD), in stock
OTHER_CARD = "+85261234567"  # ONE2 (HKD)
CNY_CARD = "+8613612345678"  # GBATRAVEL (CNY)
PASSWORD = "counter-password-1"


@pytest.fixture
def shop(app: App) -> App:
    return wired(app)


def hkd(text: str) -> Money:
    return Money.parse(text, "HKD")


def staff(shop: App, username: str = "alice", role: StaffRole = StaffRole.AGENT) -> StaffUser:
    add_staff(shop.ctx, username, PASSWORD, role, actor="test:operator")
    return authenticate_staff(shop.ctx, username, PASSWORD)


def payment_count(shop: App) -> int:
    with shop.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(t.payments)) or 0)


# --- staff users --------------------------------------------------------------------------


def test_a_staff_password_is_kept_as_an_argon2_hash_and_checked(shop: App) -> None:
    added = add_staff(shop.ctx, "Alice", PASSWORD, StaffRole.AGENT, actor="test:operator")
    assert (added.username, added.role, added.active) == ("alice", StaffRole.AGENT, True)
    assert authenticate_staff(shop.ctx, " ALICE ", PASSWORD).id == added.id
    with shop.engine.connect() as connection:
        stored = connection.scalar(select(t.staff_users.c.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with shop.uow(write=False) as uow:
        audit = uow.audit.list_for("staff_user", added.id)
    assert audit[0]["actor"] == "test:operator" and audit[0]["to_state"] == "active"

    with pytest.raises(StaffUserExists):
        add_staff(shop.ctx, "alice", "another-password", StaffRole.ADMIN, actor="test")


def test_unknown_user_wrong_password_and_deactivated_get_one_answer(shop: App) -> None:
    add_staff(shop.ctx, "alice", PASSWORD, StaffRole.AGENT, actor="test:operator")
    answers = []
    for username, password in (("alice", "wrong-password"), ("nobody", PASSWORD), ("!!", "x")):
        with pytest.raises(StaffLoginFailed) as caught:
            authenticate_staff(shop.ctx, username, password)
        answers.append((caught.value.code, caught.value.message, caught.value.status))
    deactivate_staff(shop.ctx, "alice", actor="test:operator")
    with pytest.raises(StaffLoginFailed) as caught:
        authenticate_staff(shop.ctx, "alice", PASSWORD)
    answers.append((caught.value.code, caught.value.message, caught.value.status))
    assert set(answers) == {("staff_login_failed", "Wrong username or password.", 401)}
    assert [(u.username, u.active) for u in list_staff(shop.ctx)] == [("alice", False)]


def test_logins_are_rate_limited_per_username(shop: App) -> None:
    add_staff(shop.ctx, "alice", PASSWORD, StaffRole.AGENT, actor="test:operator")
    for _ in range(10):
        with pytest.raises(StaffLoginFailed):
            authenticate_staff(shop.ctx, "alice", "wrong-password")
    with pytest.raises(StaffLoginLimited) as caught:
        authenticate_staff(shop.ctx, "alice", PASSWORD)
    assert caught.value.status == 429 and caught.value.retry_after >= 1


def test_an_old_hash_is_replaced_at_login(shop: App) -> None:
    user = add_staff(shop.ctx, "alice", PASSWORD, StaffRole.AGENT, actor="test:operator")
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with shop.uow() as uow:
        uow.staff.set_password_hash(user.id, old)
        uow.commit()
    authenticate_staff(shop.ctx, "alice", PASSWORD)
    with shop.engine.connect() as connection:
        stored = connection.scalar(select(t.staff_users.c.password_hash))
    assert stored != old and stored.startswith("$argon2id$v=19$m=65536")
    assert authenticate_staff(shop.ctx, "alice", PASSWORD).id == user.id


# --- cash ---------------------------------------------------------------------------------


def test_a_shift_takes_cash_gives_change_and_adds_up_per_currency(
    shop: App, clock: FixedClock
) -> None:
    agent = staff(shop)
    shift = open_shift(shop.ctx, agent)
    monthly = order(shop, CARD, "ONE2-M1")  # HK$88
    week = order(shop, OTHER_CARD, "ONE2-D7")  # HK$48
    travel = order(shop, CNY_CARD, "GBATRAVEL-D1")  # ¥15

    receipt = record_cash_payment(shop.ctx, agent, monthly.id, tendered=hkd("100"))
    assert (receipt.amount, receipt.tendered, receipt.change) == (hkd("88"), hkd("100"), hkd("12"))
    assert receipt.shift_id == shift.id and receipt.staff_id == agent.id
    exact = record_cash_payment(shop.ctx, agent, week.id, tendered=hkd("48"))
    assert exact.change.is_zero()
    clock.advance(timedelta(minutes=5))
    record_cash_payment(shop.ctx, agent, travel.id, tendered=Money.parse("20", "CNY"))

    running = shift_total(shop.ctx, shift.id)
    assert running.shift.closed_at is None and running.count == 3
    total = close_shift(shop.ctx, agent)
    assert total.shift.closed_at == clock.now() and total.username == "alice"
    assert [(line.count, line.total) for line in total.totals] == [
        (1, Money.parse("15", "CNY")),
        (2, hkd("136")),
    ]
    assert shift_total(shop.ctx, shift.id) == total

    with shop.uow(write=False) as uow:
        for placed in (monthly, week, travel):
            assert uow.orders.get(placed.id).state is OrderState.FULFILLED
        payment = uow.payments.get(receipt.payment_id)
        assert (payment.provider, payment.state, payment.provider_ref) == (
            "cash",
            PaymentState.SUCCEEDED,
            receipt.id,
        )
        assert uow.payments.events_for(payment.id)[0]["event_id"] == f"cash:{shift.id}:{monthly.id}"
        taken = uow.audit.list_for("cash_receipt", receipt.id)
        shift_audit = uow.audit.list_for("cash_shift", shift.id)
        payment_audit = uow.audit.list_for("payment", payment.id)
    assert taken[0]["actor"] == "staff:alice"
    assert "HK$100.00 tendered, HK$12.00 change" in taken[0]["reason"]
    assert [a["to_state"] for a in shift_audit] == ["open", "closed"]
    assert [(a["to_state"], a["actor"]) for a in payment_audit] == [
        ("pending", "staff:alice"),
        ("succeeded", "staff:alice"),
    ]

    # A new shift starts from nothing.
    again = open_shift(shop.ctx, agent)
    assert again.id != shift.id and shift_total(shop.ctx, again.id).totals == ()


def test_no_cash_without_an_open_shift(shop: App) -> None:
    agent = staff(shop)
    placed = order(shop, CARD, "ONE2-M1")
    with pytest.raises(NoOpenShift):
        record_cash_payment(shop.ctx, agent, placed.id, tendered=hkd("100"))
    open_shift(shop.ctx, agent)
    close_shift(shop.ctx, agent)
    with pytest.raises(NoOpenShift):
        record_cash_payment(shop.ctx, agent, placed.id, tendered=hkd("100"))
    with pytest.raises(NoOpenShift):
        close_shift(shop.ctx, agent)
    assert payment_count(shop) == 0


def test_one_open_shift_per_user_also_in_the_database(shop: App) -> None:
    agent = staff(shop)
    shift = open_shift(shop.ctx, agent)
    with pytest.raises(ShiftAlreadyOpen) as caught:
        open_shift(shop.ctx, agent)
    assert shift.id in caught.value.message
    other = staff(shop, "bob")
    open_shift(shop.ctx, other)  # another user's shift is no conflict

    row = {"staff_id": agent.id, "open_for": agent.id, "opened_at": shift.opened_at}
    with pytest.raises(IntegrityError), shop.engine.begin() as connection:
        connection.execute(insert(t.cash_shifts), {**row, "id": "shf_twin"})
    with pytest.raises(IntegrityError), shop.engine.begin() as connection:
        # "Closed" while still claiming to be the open one.
        connection.execute(
            insert(t.cash_shifts), {**row, "id": "shf_odd", "open_for": None, "closed_at": None}
        )
    with pytest.raises(ShiftNotFound):
        shift_total(shop.ctx, "shf_nope")


@pytest.mark.parametrize("role", [StaffRole.CS, StaffRole.KIOSK])
def test_roles_that_may_not_take_cash_are_refused(shop: App, role: StaffRole) -> None:
    user = staff(shop, "carol", role)
    placed = order(shop, CARD, "ONE2-M1")
    with pytest.raises(NotPermitted) as caught:
        open_shift(shop.ctx, user)
    assert caught.value.status == 403
    with pytest.raises(NotPermitted):
        record_cash_payment(shop.ctx, user, placed.id, tendered=hkd("100"))
    assert payment_count(shop) == 0


def test_an_admin_may_take_cash(shop: App) -> None:
    admin = staff(shop, "root", StaffRole.ADMIN)
    open_shift(shop.ctx, admin)
    placed = order(shop, CARD, "ONE2-M1")
    assert record_cash_payment(shop.ctx, admin, placed.id, tendered=hkd("88")).change.is_zero()


def test_a_user_deactivated_or_demoted_after_login_is_refused(shop: App) -> None:
    agent = staff(shop)
    open_shift(shop.ctx, agent)
    placed = order(shop, CARD, "ONE2-M1")
    deactivate_staff(shop.ctx, "alice", actor="test:operator")
    with pytest.raises(StaffLoginFailed):
        record_cash_payment(shop.ctx, agent, placed.id, tendered=hkd("100"))

    bob = staff(shop, "bob")
    with shop.engine.begin() as connection:
        connection.execute(
            t.staff_users.update().where(t.staff_users.c.id == bob.id).values(role="cs")
        )
    with pytest.raises(NotPermitted):
        open_shift(shop.ctx, bob)
    assert payment_count(shop) == 0


def test_too_little_cash_the_wrong_currency_or_a_paid_order_change_nothing(shop: App) -> None:
    agent = staff(shop)
    open_shift(shop.ctx, agent)
    placed = order(shop, CARD, "ONE2-M1")
    with pytest.raises(TenderedTooLittle) as caught:
        record_cash_payment(shop.ctx, agent, placed.id, tendered=hkd("87.99"))
    assert caught.value.message == "HK$87.99 tendered is less than the price of HK$88.00."
    with pytest.raises(CurrencyMismatch):
        record_cash_payment(shop.ctx, agent, placed.id, tendered=Money.parse("100", "CNY"))
    assert payment_count(shop) == 0

    record_cash_payment(shop.ctx, agent, placed.id, tendered=hkd("100"))
    with pytest.raises(OrderNotPayable):
        record_cash_payment(shop.ctx, agent, placed.id, tendered=hkd("100"))
    assert payment_count(shop) == 1
    assert close_shift(shop.ctx, agent).count == 1


def test_two_agents_taking_cash_for_one_order_at_once_take_it_once(shop: App) -> None:
    agents = [staff(shop, name) for name in ("alice", "bob", "carol")]
    for agent in agents:
        open_shift(shop.ctx, agent)
    placed = order(shop, CARD, "ONE2-M1")
    barrier = threading.Barrier(len(agents))
    taken: list[str] = []
    refused: list[BaseException] = []
    errors: list[BaseException] = []

    def take(agent: StaffUser) -> None:
        try:
            barrier.wait(timeout=30)
            taken.append(record_cash_payment(shop.ctx, agent, placed.id, tendered=hkd("100")).id)
        except OrderNotPayable as exc:
            refused.append(exc)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert (len(taken), len(refused)) == (1, len(agents) - 1)
    assert payment_count(shop) == 1
    assert sum(close_shift(shop.ctx, agent).count for agent in agents) == 1


def test_the_cash_provider_reports_what_is_stored(shop: App) -> None:
    agent = staff(shop)
    open_shift(shop.ctx, agent)
    placed = order(shop, CARD, "ONE2-M1")
    receipt = record_cash_payment(shop.ctx, agent, placed.id, tendered=hkd("100"))
    provider = CashProvider(shop.engine)
    result = provider.fetch_status(receipt.payment_id, None)
    assert (result.state, result.provider_ref) == (PaymentState.SUCCEEDED, receipt.id)
    assert provider.fetch_status("pay_unknown", None).state is PaymentState.CANCELLED
    refund = provider.refund(receipt.payment_id, receipt.id, 8800, "HKD")
    assert (refund.succeeded, refund.failure_code) == (False, "manual_refund_required")
