"""Voucher batches, vouchers and the per-number lock on wrong PINs (SQLAlchemy Core).

A voucher is read together with its batch (what it pays, until when); row locks are
taken on the voucher only (``FOR UPDATE OF vouchers``), never on the shared batch row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from simrenew.db import tables as t
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.money import Money
from simrenew.domain.vouchers import (
    MAX_PREFIX,
    Voucher,
    VoucherBatch,
    VoucherGuard,
    VoucherNotFound,
    VoucherState,
)

_V = t.vouchers
_B = t.voucher_batches
_L = t.voucher_lockouts
_CHUNK = 1000  # rows per INSERT / values per IN (): well under every driver's limits

_VOUCHER = select(
    _V,
    _B.c.value_minor,
    _B.c.offer_code,
    _B.c.currency,
    _B.c.expires_at,
).join(_B, _B.c.id == _V.c.batch_id)
_BY_SERIAL = _VOUCHER.where(_V.c.serial == bindparam("serial"))
_BY_SERIAL_LOCKED = _BY_SERIAL.with_for_update(of=_V)
_BY_HASH = _VOUCHER.where(_V.c.pin_hash == bindparam("pin_hash"))
_BY_HASH_LOCKED = _BY_HASH.with_for_update(of=_V)
_UPDATE = (
    update(_V)
    .where(_V.c.serial == bindparam("b_serial"), _V.c.state == bindparam("b_previous"))
    .values(
        state=bindparam("b_state"),
        redeemed_order_id=bindparam("b_order"),
        payment_id=bindparam("b_payment"),
        redeemed_at=bindparam("b_redeemed_at"),
        voided_at=bindparam("b_voided_at"),
        updated_at=bindparam("b_updated_at"),
    )
)
_GUARD_LOCKED = select(_L).where(_L.c.number == bindparam("number")).with_for_update()
_SAVE_GUARD = (
    update(_L)
    .where(_L.c.number == bindparam("b_number"))
    .values(
        failures=bindparam("b_failures"),
        window_start=bindparam("b_window_start"),
        locked_until=bindparam("b_locked_until"),
        updated_at=bindparam("b_updated_at"),
    )
)


def voucher_from_row(row: Any) -> Voucher:
    currency = row.currency
    return Voucher(
        serial=row.serial,
        batch_id=row.batch_id,
        state=VoucherState(row.state),
        currency=currency,
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        value=None if row.value_minor is None else Money(row.value_minor, currency),
        offer_code=row.offer_code,
        redeemed_order_id=row.redeemed_order_id,
        payment_id=row.payment_id,
        redeemed_at=row.redeemed_at,
        voided_at=row.voided_at,
    )


class SqlVoucherRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def next_batch_prefix(self) -> int:
        """One more than the highest prefix so far. Two batches made at the same moment
        may pick the same one: the unique prefix refuses the second, which is then
        simply run again."""
        highest = self._connection.scalar(select(func.max(_B.c.prefix)))
        prefix = int(highest or 0) + 1
        if prefix > MAX_PREFIX:
            raise RuntimeError("voucher batch prefixes are used up")
        return prefix

    def add_batch(self, batch: VoucherBatch) -> None:
        self._connection.execute(
            _B.insert(),
            {
                "id": batch.id,
                "prefix": batch.prefix,
                "value_minor": None if batch.value is None else batch.value.amount_minor,
                "offer_code": batch.offer_code,
                "currency": batch.currency,
                "count": batch.count,
                "created_by": batch.created_by,
                "created_at": batch.created_at,
                "expires_at": batch.expires_at,
            },
        )

    def add_vouchers(
        self, batch_id: str, cards: Sequence[tuple[str, str]], *, at: datetime
    ) -> None:
        rows = [
            {
                "serial": serial,
                "batch_id": batch_id,
                "pin_hash": pin_hash,
                "state": VoucherState.ISSUED.value,
                "created_at": at,
                "updated_at": at,
            }
            for serial, pin_hash in cards
        ]
        for start in range(0, len(rows), _CHUNK):
            self._connection.execute(_V.insert(), rows[start : start + _CHUNK])

    def existing_pin_hashes(self, pin_hashes: Iterable[str]) -> set[str]:
        wanted = list(pin_hashes)
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            found.update(
                self._connection.scalars(select(_V.c.pin_hash).where(_V.c.pin_hash.in_(chunk)))
            )
        return found

    def get(self, serial: str, *, lock: bool = False) -> Voucher:
        row = self._connection.execute(
            _BY_SERIAL_LOCKED if lock else _BY_SERIAL, {"serial": serial}
        ).first()
        if row is None:
            raise VoucherNotFound(key=serial)
        return voucher_from_row(row)

    def find_by_pin_hash(self, pin_hash: str, *, lock: bool = False) -> Voucher | None:
        row = self._connection.execute(
            _BY_HASH_LOCKED if lock else _BY_HASH, {"pin_hash": pin_hash}
        ).first()
        return None if row is None else voucher_from_row(row)

    def update(self, voucher: Voucher, previous: Voucher) -> None:
        """Store ``voucher``'s state; the WHERE on the previous state turns a lost race
        into an error instead of a second redemption."""
        result = self._connection.execute(
            _UPDATE,
            {
                "b_serial": voucher.serial,
                "b_previous": previous.state.value,
                "b_state": voucher.state.value,
                "b_order": voucher.redeemed_order_id,
                "b_payment": voucher.payment_id,
                "b_redeemed_at": voucher.redeemed_at,
                "b_voided_at": voucher.voided_at,
                "b_updated_at": voucher.updated_at,
            },
        )
        if result.rowcount != 1:
            raise RuntimeError(
                f"voucher {voucher.serial} changed under us (expected {previous.state.value})"
            )

    def guard(self, number: str, *, at: datetime) -> VoucherGuard:
        # Made first, then locked: a concurrent first try for the same number waits on
        # the insert (ON CONFLICT DO NOTHING) and then on the row lock.
        insert_ignoring_duplicates(
            self._connection, _L, {"number": number, "failures": 0, "updated_at": at}
        )
        row = self._connection.execute(_GUARD_LOCKED, {"number": number}).one()
        return VoucherGuard(
            number=row.number,
            failures=row.failures,
            window_start=row.window_start,
            locked_until=row.locked_until,
        )

    def save_guard(self, guard: VoucherGuard, *, at: datetime) -> None:
        self._connection.execute(
            _SAVE_GUARD,
            {
                "b_number": guard.number,
                "b_failures": guard.failures,
                "b_window_start": guard.window_start,
                "b_locked_until": guard.locked_until,
                "b_updated_at": at,
            },
        )
