"""Cards, their numbers, validity periods, allowance buckets and money ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from simrenew.db import tables as t
from simrenew.db.upsert import insert_ignoring_duplicates
from simrenew.domain.buckets import Bucket
from simrenew.domain.cards import Card, CardState, FormFactor
from simrenew.domain.catalog import BucketKind
from simrenew.domain.errors import CardNotFound
from simrenew.domain.ids import new_id
from simrenew.domain.ledger import EntryKind, LedgerEntry
from simrenew.domain.money import Money
from simrenew.domain.renewals import ValidityPeriod
from simrenew.ports import AuditRecord

_CARD_COLUMNS = (
    t.cards.c.id,
    t.cards.c.iccid,
    t.cards.c.primary_number,
    t.cards.c.product_line,
    t.cards.c.form_factor,
    t.cards.c.state,
    t.cards.c.validity_end,
    t.cards.c.state_since,
    t.cards.c.second_number,
    t.cards.c.eid,
    t.cards.c.imsi,
    t.cards.c.balance_minor,
    t.cards.c.language,
    t.cards.c.email,
    t.cards.c.renewal_count,
)

# Statements on the renewal path are built once: building them costs more than
# running them. Values travel as bound parameters.
_GET = select(*_CARD_COLUMNS).where(t.cards.c.id == bindparam("card_id"))
_BY_ICCID = select(*_CARD_COLUMNS).where(t.cards.c.iccid == bindparam("key"))
_BY_NUMBER = (
    select(*_CARD_COLUMNS)
    .join(t.card_numbers, t.card_numbers.c.card_id == t.cards.c.id)
    .where(t.card_numbers.c.number == bindparam("key"))
)
# A number resting in the cooling-off pool still leads to the card that held it, so
# that its owner hears "this card was terminated" rather than "no such number".
_BY_POOLED_NUMBER = (
    select(*_CARD_COLUMNS)
    .join(t.number_pool, t.number_pool.c.previous_card_id == t.cards.c.id)
    .where(t.number_pool.c.number == bindparam("key"))
)
_LOCKED = {
    "get": _GET.with_for_update(),
    "iccid": _BY_ICCID.with_for_update(),
    "number": _BY_NUMBER.with_for_update(of=t.cards),
}
_UPDATE = (
    update(t.cards)
    .where(t.cards.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        validity_end=bindparam("b_validity_end"),
        state_since=bindparam("b_state_since"),
        balance_minor=bindparam("b_balance_minor"),
        language=bindparam("b_language"),
        email=bindparam("b_email"),
        renewal_count=bindparam("b_renewal_count"),
        updated_at=bindparam("b_updated_at"),
    )
)
_PERIOD_COLUMNS = (
    t.validity_periods.c.start_date,
    t.validity_periods.c.end_date,
    t.validity_periods.c.order_id,
    t.validity_periods.c.offer_code,
)
_PERIODS = (
    select(*_PERIOD_COLUMNS)
    .where(t.validity_periods.c.card_id == bindparam("card_id"))
    .order_by(t.validity_periods.c.start_date)
)
_PERIODS_FROM = (
    select(*_PERIOD_COLUMNS)
    .where(
        t.validity_periods.c.card_id == bindparam("card_id"),
        t.validity_periods.c.end_date >= bindparam("today"),
    )
    .order_by(t.validity_periods.c.start_date)
)
_INSERT_PERIOD = insert(t.validity_periods)
_INSERT_BUCKETS = insert(t.buckets)
_INSERT_LEDGER = insert(t.ledger_entries)


def card_from_row(row: Any) -> Card:
    return Card(
        id=row.id,
        iccid=row.iccid,
        primary_number=row.primary_number,
        product_line=row.product_line,
        form_factor=FormFactor(row.form_factor),
        state=CardState(row.state),
        validity_end=row.validity_end,
        state_since=row.state_since,
        second_number=row.second_number,
        eid=row.eid,
        imsi=row.imsi,
        balance_minor=row.balance_minor,
        language=row.language,
        email=row.email,
        renewal_count=row.renewal_count,
    )


class SqlCardRepository:
    def __init__(self, connection: Connection, audit: list[AuditRecord]) -> None:
        self._connection = connection
        self._audit = audit

    def get(self, card_id: str, *, lock: bool = False) -> Card:
        row = self._connection.execute(
            _LOCKED["get"] if lock else _GET, {"card_id": card_id}
        ).first()
        if row is None:
            raise CardNotFound(key=card_id)
        return card_from_row(row)

    def find(self, number_or_iccid: str, *, lock: bool = False) -> Card | None:
        """By E.164 number (``+...``) or by ICCID; ``lock`` takes the card's row lock.
        A number in the cooling-off pool finds the terminated card that last held it."""
        kind = "number" if number_or_iccid.startswith("+") else "iccid"
        plain = {"number": _BY_NUMBER, "iccid": _BY_ICCID}
        statement = _LOCKED[kind] if lock else plain[kind]
        row = self._connection.execute(statement, {"key": number_or_iccid}).first()
        if row is None and kind == "number":
            row = self._connection.execute(_BY_POOLED_NUMBER, {"key": number_or_iccid}).first()
        return None if row is None else card_from_row(row)

    def add(self, card: Card, *, at: datetime) -> None:
        self.add_many([card], at=at)

    def add_many(self, cards: Sequence[Card], *, at: datetime) -> None:
        if not cards:
            return
        self._connection.execute(
            insert(t.cards),
            [
                {
                    "id": c.id,
                    "iccid": c.iccid,
                    "eid": c.eid,
                    "imsi": c.imsi,
                    "primary_number": c.primary_number,
                    "second_number": c.second_number,
                    "product_line": c.product_line,
                    "form_factor": c.form_factor.value,
                    "state": c.state.value,
                    "validity_end": c.validity_end,
                    "state_since": c.state_since,
                    "balance_minor": c.balance_minor,
                    "language": c.language,
                    "email": c.email,
                    "renewal_count": c.renewal_count,
                    "created_at": at,
                    "updated_at": at,
                }
                for c in cards
            ],
        )
        numbers = [n for c in cards for n in c.numbers]
        # A number issued again leaves the cooling-off pool (its time there is over:
        # existing_identifiers refuses it before then).
        self._connection.execute(delete(t.number_pool).where(t.number_pool.c.number.in_(numbers)))
        self._connection.execute(
            insert(t.card_numbers),
            [
                {"number": number, "card_id": c.id, "role": role}
                for c in cards
                for number, role in ((c.primary_number, "primary"), (c.second_number, "second"))
                if number
            ],
        )
        self._record_transitions(cards)

    def existing_identifiers(self, identifiers: Iterable[str], *, at: datetime) -> set[str]:
        """Which of these ICCIDs, EIDs or numbers already belong to a card, or are
        numbers still cooling off at ``at``."""
        wanted = list(set(identifiers))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found.update(
                self._connection.scalars(select(t.cards.c.iccid).where(t.cards.c.iccid.in_(chunk)))
            )
            found.update(
                e
                for e in self._connection.scalars(
                    select(t.cards.c.eid).where(t.cards.c.eid.in_(chunk))
                )
                if e
            )
            found.update(
                self._connection.scalars(
                    select(t.card_numbers.c.number).where(t.card_numbers.c.number.in_(chunk))
                )
            )
            found.update(
                self._connection.scalars(
                    select(t.number_pool.c.number).where(
                        t.number_pool.c.number.in_(chunk), t.number_pool.c.reusable_from > at
                    )
                )
            )
        return found

    def update(self, card: Card, *, at: datetime) -> None:
        self._connection.execute(
            _UPDATE,
            {
                "b_id": card.id,
                "b_state": card.state.value,
                "b_validity_end": card.validity_end,
                "b_state_since": card.state_since,
                "b_balance_minor": card.balance_minor,
                "b_language": card.language,
                "b_email": card.email,
                "b_renewal_count": card.renewal_count,
                "b_updated_at": at,
            },
        )
        self._record_transitions([card])

    def _record_transitions(self, cards: Iterable[Card]) -> None:
        for card in cards:
            for tr in card.transitions:
                self._audit.append(
                    AuditRecord(
                        "card",
                        card.id,
                        tr.from_state.value,
                        tr.to_state.value,
                        tr.reason,
                        tr.actor,
                        tr.at,
                    )
                )

    # --- validity periods --------------------------------------------------------

    def periods(self, card_id: str) -> list[ValidityPeriod]:
        rows = self._connection.execute(_PERIODS, {"card_id": card_id})
        return [
            ValidityPeriod(card_id, r.start_date, r.end_date, r.order_id, r.offer_code)
            for r in rows
        ]

    def current_and_queued_periods(self, card_id: str, today: date) -> list[ValidityPeriod]:
        rows = self._connection.execute(_PERIODS_FROM, {"card_id": card_id, "today": today})
        return [
            ValidityPeriod(card_id, r.start_date, r.end_date, r.order_id, r.offer_code)
            for r in rows
        ]

    def add_period(self, period: ValidityPeriod) -> None:
        self._connection.execute(
            _INSERT_PERIOD,
            {
                "id": new_id("per"),
                "card_id": period.card_id,
                "start_date": period.start,
                "end_date": period.end,
                "order_id": period.order_id,
                "offer_code": period.offer_code,
            },
        )

    # --- buckets -----------------------------------------------------------------

    def buckets(self, card_id: str, *, valid_at: datetime | None = None) -> list[Bucket]:
        query = select(t.buckets).where(t.buckets.c.card_id == card_id)
        if valid_at is not None:
            query = query.where(t.buckets.c.valid_until >= valid_at)
        rows = self._connection.execute(query.order_by(t.buckets.c.valid_until, t.buckets.c.id))
        return [
            Bucket(
                id=r.id,
                card_id=r.card_id,
                zone=r.zone,
                kind=BucketKind(r.kind),
                initial=r.initial,
                used=r.used,
                valid_from=r.valid_from,
                valid_until=r.valid_until,
                order_id=r.order_id,
            )
            for r in rows
        ]

    def add_buckets(self, buckets: Sequence[Bucket]) -> None:
        if not buckets:
            return
        self._connection.execute(
            _INSERT_BUCKETS,
            [
                {
                    "id": b.id,
                    "card_id": b.card_id,
                    "zone": b.zone,
                    "kind": b.kind.value,
                    "initial": b.initial,
                    "used": b.used,
                    "valid_from": b.valid_from,
                    "valid_until": b.valid_until,
                    "order_id": b.order_id,
                }
                for b in buckets
            ],
        )

    def set_bucket_use(self, changes: Sequence[tuple[str, int]]) -> None:
        """``(bucket id, new used)``; the CHECK constraint refuses anything out of range."""
        for bucket_id, used in changes:
            self._connection.execute(
                update(t.buckets).where(t.buckets.c.id == bucket_id).values(used=used)
            )

    def extend_data_buckets(self, card_id: str, ending: datetime, until: datetime) -> None:
        """Roll over: data buckets that end at ``ending`` stay usable until ``until``."""
        self._connection.execute(
            update(t.buckets)
            .where(
                t.buckets.c.card_id == card_id,
                t.buckets.c.kind == BucketKind.DATA_MB.value,
                t.buckets.c.valid_until == ending,
            )
            .values(valid_until=until)
        )

    def record_usage(
        self,
        record_id: str,
        card_id: str,
        zone: str,
        kind: BucketKind,
        amount: int,
        overage: int,
        at: datetime,
    ) -> bool:
        """Keep a usage record; False if this record id was fed before."""
        return insert_ignoring_duplicates(
            self._connection,
            t.usage_records,
            {
                "record_id": record_id,
                "card_id": card_id,
                "zone": zone,
                "kind": kind.value,
                "amount": amount,
                "overage": overage,
                "at": at,
            },
        )

    def usage_totals(self, card_id: str, kind: BucketKind, edges: Sequence[datetime]) -> list[int]:
        """Usage of ``kind`` summed per interval ``[edges[i], edges[i + 1])``: one total
        per interval (``len(edges) - 1`` of them), zeros included.

        The caller chooses the edges (e.g. local midnights), so that the database need
        not know the operator's time zone; the sums are made by the database over the
        ``(card_id, at)`` index, not in Python.
        """
        slots = len(edges) - 1
        if slots < 1:
            return []
        at = t.usage_records.c.at
        inner_edges = edges[1:-1]
        slot = (
            case(*((at < edge, index) for index, edge in enumerate(inner_edges)), else_=slots - 1)
            if inner_edges
            else literal(0)
        ).label("slot")
        # Grouped in an outer query: PostgreSQL would not see the same bound parameters
        # of the CASE in SELECT and GROUP BY as one expression.
        inner = (
            select(slot, t.usage_records.c.amount)
            .where(
                t.usage_records.c.card_id == card_id,
                t.usage_records.c.kind == kind.value,
                at >= edges[0],
                at < edges[-1],
            )
            .subquery()
        )
        rows = self._connection.execute(
            select(inner.c.slot, func.sum(inner.c.amount)).group_by(inner.c.slot)
        )
        totals = [0] * slots
        for index, total in rows:
            totals[int(index)] = int(total)
        return totals

    # --- money ledger ------------------------------------------------------------

    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        self._connection.execute(
            _INSERT_LEDGER,
            {
                "id": entry.id,
                "card_id": entry.card_id,
                "kind": entry.kind.value,
                "amount_minor": entry.amount.amount_minor,
                "currency": entry.amount.currency,
                "balance_after_minor": entry.balance_after.amount_minor,
                "reason": entry.reason,
                "order_id": entry.order_id,
                "at": entry.at,
            },
        )

    def ledger(self, card_id: str) -> list[LedgerEntry]:
        rows = self._connection.execute(
            select(t.ledger_entries)
            .where(t.ledger_entries.c.card_id == card_id)
            .order_by(t.ledger_entries.c.at, t.ledger_entries.c.id)
        )
        return [
            LedgerEntry(
                id=r.id,
                card_id=r.card_id,
                kind=EntryKind(r.kind),
                amount=Money(r.amount_minor, r.currency),
                balance_after=Money(r.balance_after_minor, r.currency),
                reason=r.reason,
                order_id=r.order_id,
                at=r.at,
            )
            for r in rows
        ]

    # --- lifecycle sweeps ----------------------------------------------------------

    def due_for_grace(self, today: date, limit: int) -> list[Card]:
        """Active cards whose last valid day is before ``today``."""
        rows = self._connection.execute(
            select(*_CARD_COLUMNS)
            .where(t.cards.c.state == CardState.ACTIVE.value, t.cards.c.validity_end < today)
            .order_by(t.cards.c.id)
            .limit(limit)
        )
        return [card_from_row(r) for r in rows]

    def due_for_termination(
        self, product_line: str, last_day_before: date, limit: int
    ) -> list[Card]:
        """Cards in grace on ``product_line`` whose validity ended before ``last_day_before``."""
        rows = self._connection.execute(
            select(*_CARD_COLUMNS)
            .where(
                t.cards.c.state == CardState.GRACE.value,
                t.cards.c.product_line == product_line,
                or_(t.cards.c.validity_end.is_(None), t.cards.c.validity_end < last_day_before),
            )
            .order_by(t.cards.c.id)
            .limit(limit)
        )
        return [card_from_row(r) for r in rows]

    def release_numbers(self, card: Card, *, at: datetime, reusable_from: datetime) -> None:
        """Take the card's numbers off it and rest them in the cooling-off pool."""
        self._connection.execute(delete(t.card_numbers).where(t.card_numbers.c.card_id == card.id))
        for number in card.numbers:
            insert_ignoring_duplicates(
                self._connection,
                t.number_pool,
                {
                    "number": number,
                    "previous_card_id": card.id,
                    "released_at": at,
                    "reusable_from": reusable_from,
                },
            )

    def count_by_state(self) -> dict[CardState, int]:
        rows = self._connection.execute(
            select(t.cards.c.state, func.count()).group_by(t.cards.c.state)
        )
        return {CardState(state): count for state, count in rows}

    def redemptions_by_card(self, card_id: str, codes: Iterable[str]) -> dict[str, int]:
        wanted = list(codes)
        if not wanted:
            return {}
        rows = self._connection.execute(
            select(t.promotion_redemptions.c.promotion_code, func.count())
            .where(
                and_(
                    t.promotion_redemptions.c.card_id == card_id,
                    t.promotion_redemptions.c.promotion_code.in_(wanted),
                )
            )
            .group_by(t.promotion_redemptions.c.promotion_code)
        )
        return {key: value for key, value in rows}
