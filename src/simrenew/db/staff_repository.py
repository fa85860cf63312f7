"""Staff users, and their cash shifts and receipts at a counter (SQLAlchemy Core)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from simrenew.db import tables as t
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.money import Money
from simrenew.domain.staff import (
    CashReceipt,
    CashShift,
    CurrencyTotal,
    ShiftNotFound,
    StaffRole,
    StaffUser,
    StaffUserNotFound,
)

_U = t.staff_users
_S = t.cash_shifts
_R = t.cash_receipts

_BY_USERNAME = select(_U).where(_U.c.username == bindparam("username"))
_BY_ID = select(_U).where(_U.c.id == bindparam("staff_id"))
_OPEN_SHIFT = select(_S).where(_S.c.open_for == bindparam("staff_id"))
_OPEN_SHIFT_LOCKED = _OPEN_SHIFT.with_for_update()
_CLOSE_SHIFT = (
    update(_S)
    .where(_S.c.id == bindparam("b_id"), _S.c.closed_at.is_(None))
    .values(closed_at=bindparam("b_closed_at"), open_for=None)
)


def staff_from_row(row: Any) -> StaffUser:
    return StaffUser(
        id=row.id,
        username=row.username,
        role=StaffRole(row.role),
        active=row.active,
        created_at=row.created_at,
    )


def shift_from_row(row: Any) -> CashShift:
    return CashShift(
        id=row.id, staff_id=row.staff_id, opened_at=row.opened_at, closed_at=row.closed_at
    )


class SqlStaffRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, user: StaffUser, password_hash: str) -> bool:
        return insert_ignoring_duplicates(
            self._connection,
            _U,
            {
                "id": user.id,
                "username": user.username,
                "password_hash": password_hash,
                "role": user.role.value,
                "active": user.active,
                "created_at": user.created_at,
            },
            conflict_columns=("username",),
        )

    def get(self, staff_id: str) -> StaffUser:
        row = self._connection.execute(_BY_ID, {"staff_id": staff_id}).first()
        if row is None:
            raise StaffUserNotFound(key=staff_id)
        return staff_from_row(row)

    def find(self, username: str) -> tuple[StaffUser, str] | None:
        row = self._connection.execute(_BY_USERNAME, {"username": username}).first()
        return None if row is None else (staff_from_row(row), row.password_hash)

    def list_all(self) -> list[StaffUser]:
        rows = self._connection.execute(select(_U).order_by(_U.c.username))
        return [staff_from_row(r) for r in rows]

    def set_active(self, staff_id: str, active: bool) -> None:
        self._connection.execute(update(_U).where(_U.c.id == staff_id).values(active=active))

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        self._connection.execute(
            update(_U).where(_U.c.id == staff_id).values(password_hash=password_hash)
        )


class SqlCashRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def open_shift(self, shift: CashShift) -> bool:
        # ``open_for``'s unique constraint is the guard: a second open shift for the
        # same user is not inserted, however the requests race.
        return insert_ignoring_duplicates(
            self._connection,
            _S,
            {
                "id": shift.id,
                "staff_id": shift.staff_id,
                "open_for": shift.staff_id,
                "opened_at": shift.opened_at,
                "closed_at": None,
            },
            conflict_columns=("open_for",),
        )

    def open_shift_for(self, staff_id: str, *, lock: bool = False) -> CashShift | None:
        row = self._connection.execute(
            _OPEN_SHIFT_LOCKED if lock else _OPEN_SHIFT, {"staff_id": staff_id}
        ).first()
        return None if row is None else shift_from_row(row)

    def get_shift(self, shift_id: str) -> CashShift:
        row = self._connection.execute(select(_S).where(_S.c.id == shift_id)).first()
        if row is None:
            raise ShiftNotFound(key=shift_id)
        return shift_from_row(row)

    def close_shift(self, shift: CashShift) -> None:
        result = self._connection.execute(
            _CLOSE_SHIFT, {"b_id": shift.id, "b_closed_at": shift.closed_at}
        )
        if result.rowcount != 1:
            raise RuntimeError(f"shift {shift.id} was closed under us")

    def add_receipt(self, receipt: CashReceipt) -> None:
        self._connection.execute(
            _R.insert(),
            {
                "id": receipt.id,
                "order_id": receipt.order_id,
                "payment_id": receipt.payment_id,
                "shift_id": receipt.shift_id,
                "staff_id": receipt.staff_id,
                "currency": receipt.amount.currency,
                "amount_minor": receipt.amount.amount_minor,
                "tendered_minor": receipt.tendered.amount_minor,
                "change_minor": receipt.change.amount_minor,
                "taken_at": receipt.taken_at,
            },
        )

    def totals(self, shift_id: str) -> list[CurrencyTotal]:
        rows = self._connection.execute(
            select(_R.c.currency, func.count(), func.sum(_R.c.amount_minor))
            .where(_R.c.shift_id == shift_id)
            .group_by(_R.c.currency)
            .order_by(_R.c.currency)
        )
        return [
            CurrencyTotal(count=int(count), total=Money(int(total), currency))
            for currency, count, total in rows
        ]
