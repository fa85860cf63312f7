"""Reconcile: our books against the money that really moved.

- ``reconcile_bank``: a bank statement (``services/bank_statement.py``) against the
  FPS / bank transfer payments. A line with money in whose remarks carry one of our
  references (check character right) pays that payment when the amount and the
  currency are the payment's (**matched**); another amount is **mismatched** and
  flagged for review in the audit log, never applied; a line with no reference we
  know is **unmatched**. FPS payments still pending after ``pending_days`` that no
  line paid are **missing**.
- ``reconcile_stripe``: Stripe's itemized balance report
  (``services/stripe_report.py``) against the Stripe payments. A charge is matched
  to our payment by the payment id in its metadata, else by its PaymentIntent id:
  **matched** (succeeded with us, same amount), **resolved** (pending or unknown
  with us: the money is settled, so the payment is made succeeded, which fulfils the
  order), **mismatched** (another amount or currency, or failed / cancelled with
  us), **missing** (a charge we have no payment for, or a payment that succeeded
  with us in the report's period and is not in it). Refunds are matched to orders
  being or already refunded; disputes and failed refunds are listed for review.
- Both then list orders **paid but not fulfilled** (fulfilled now, through
  ``fulfil_paid_order`` as a payment would; only with a succeeded payment behind
  them) and orders **fulfilled but not paid** (only listed, for a person).

Every change goes the way a provider's callback goes, ``apply_payment_event``: one
transaction per line, under the event id ``bank:<line id>`` (provider ``fps``) or
``report:<balance transaction id>`` (provider ``stripe``), so that importing the
same file again changes nothing and reports the same. The file is checked whole
before anything is applied (the parsers refuse it with every problem); a run cut
short by a crash is completed by running it again.

The queries beyond the unit of work's repositories are the ``ReconciliationBooks``
port, read-only, implemented in ``db/reconciliation_queries.py``.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

from simrenew.domain.errors import PaymentNotFound
from simrenew.domain.money import Money
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.payments import EventOutcome, Payment, PaymentEvent, PaymentState
from simrenew.ports import AuditRecord
from simrenew.services.bank_statement import Statement, StatementLine, find_references
from simrenew.services.bank_statement import reference_for as fps_reference_for
from simrenew.services.context import Context
from simrenew.services.fulfilment import fulfil_paid_order
from simrenew.services.payments import apply_payment_event
from simrenew.services.stripe_report import ReportLine

ACTOR = "system:reconciliation"
FPS = "fps"
STRIPE = "stripe"
BOOK_LIMIT = 1000  # rows of each book-side list, oldest first

CHARGE_CATEGORIES = frozenset({"charge"})
REFUND_CATEGORIES = frozenset({"refund"})
# Money taken back or a refund that bounced: a person decides.
REVIEW_CATEGORIES = frozenset(
    {"dispute", "dispute_reversal", "refund_failure", "charge_failure", "partial_capture_reversal"}
)


class Outcome(enum.StrEnum):
    """What a line of the file, or a row of our books, came to.

    ``matched``             the money and our books agree
    ``resolved``            our books did not know; the settled money made the payment
                            succeeded (Stripe)
    ``mismatched``          they disagree (amount, currency, state): for review
    ``unmatched``           money in with no reference we know (bank)
    ``missing``             on one side only
    ``paid_not_fulfilled``  order paid and never fulfilled: fulfilled now
    ``fulfilled_not_paid``  order fulfilled with no succeeded payment: for review
    """

    MATCHED = "matched"
    RESOLVED = "resolved"
    MISMATCHED = "mismatched"
    UNMATCHED = "unmatched"
    MISSING = "missing"
    PAID_NOT_FULFILLED = "paid_not_fulfilled"
    FULFILLED_NOT_PAID = "fulfilled_not_paid"


class ReconciliationBooks(Protocol):
    """Read-only queries over our books that reconciliation needs and the unit of
    work's repositories do not offer."""

    def payments_by_ref(self, provider: str, refs: Collection[str]) -> list[Payment]:
        """Payments of ``provider`` whose provider reference is one of ``refs``."""
        ...

    def open_payments(
        self, provider: str, *, created_before: datetime, limit: int
    ) -> list[Payment]:
        """Payments of ``provider`` still pending or unknown, started before
        ``created_before``, oldest first."""
        ...

    def succeeded_payments(
        self, provider: str, *, since: datetime, until: datetime, limit: int
    ) -> list[Payment]:
        """Succeeded payments of ``provider`` started at or after ``since`` and last
        changed at or before ``until``: their money moved within that time."""
        ...

    def orders_in_state(self, state: OrderState, *, limit: int) -> list[Order]: ...

    def fulfilled_without_payment(self, *, limit: int) -> list[Order]:
        """Fulfilled orders with a price and no succeeded payment, oldest first."""
        ...

    def event_outcome(self, provider: str, event_id: str) -> str | None:
        """The outcome stored with a provider event, None if it was never recorded."""
        ...


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One line of the report: a line of the file, or a row of our books."""

    outcome: Outcome
    note: str
    action: str = "none"
    line: int | None = None  # physical line of the file
    source_id: str | None = None  # bank line id, Stripe balance transaction id
    occurred: str | None = None  # the file's date (bank) or time (Stripe), ISO 8601
    amount: Money | None = None  # the file's amount
    reference: str | None = None  # FPS reference, PaymentIntent id
    description: str | None = None  # the file's remarks / description, as written
    payment_id: str | None = None
    order_id: str | None = None
    expected: Money | None = None  # our payment's amount
    payment_state: str | None = None  # after reconciliation
    order_state: str | None = None  # after reconciliation


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """The outcome of one reconciliation run, file lines first, then our books."""

    source: str  # "bank statement" / "Stripe report"
    rows: tuple[ReportRow, ...]
    lines_read: int  # lines of the file looked at (money in; charges, refunds, ...)
    lines_skipped: int  # lines of the file not ours to match (debits; fees, payouts)
    outcomes: tuple[Outcome, ...] = field(default=tuple(Outcome))

    def count(self, outcome: Outcome) -> int:
        return sum(1 for row in self.rows if row.outcome is outcome)

    @property
    def repaired(self) -> int:
        return sum(
            1
            for row in self.rows
            if row.outcome is Outcome.PAID_NOT_FULFILLED and row.action != "none"
        )

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.count(outcome)} {outcome.value.replace('_', ' ')}"
            + (
                f" ({self.repaired} fulfilled now)"
                if outcome is Outcome.PAID_NOT_FULFILLED and self.repaired
                else ""
            )
            for outcome in self.outcomes
        )
        return (
            f"{self.source}: {self.lines_read} line(s) reconciled, {self.lines_skipped} "
            f"skipped; {counts}"
        )


# --- what a bank transfer payer is shown ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class BankTransfer:
    """What the payer of a bank transfer must send, and where the payment is."""

    payment_id: str
    order_id: str
    amount: Money
    reference: str
    state: PaymentState


def bank_transfer(ctx: Context, payment_id: str) -> BankTransfer:
    """The transfer an FPS payment waits for. Raises ``PaymentNotFound``, also for a
    payment with another provider (the page shows nothing of those)."""
    with ctx.uow(write=False) as uow:
        payment = uow.payments.get(payment_id)
    if payment.provider != FPS:
        raise PaymentNotFound(key=payment_id)
    return BankTransfer(
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=payment.amount,
        # The reference is a function of the id; the stored one is the same.
        reference=payment.provider_ref or fps_reference_for(payment.id),
        state=payment.state,
    )


# --- the bank statement ---------------------------------------------------------------------


def reconcile_bank(
    ctx: Context,
    books: ReconciliationBooks,
    statement: Statement,
    *,
    pending_days: int = 3,
    repair: bool = True,
) -> ReconciliationReport:
    """Match ``statement`` against the FPS payments (see the module's docstring);
    ``pending_days``: an FPS payment still pending after that many days and paid by
    no line of the statement is listed as missing. With ``repair``, paid orders that
    were never fulfilled are fulfilled."""
    if pending_days < 0:
        raise ValueError("pending_days must not be negative")
    found = {line.line: find_references(line.description) for line in statement.lines}
    wanted = {ref for valid, _ in found.values() for ref in valid}
    by_ref: dict[str, list[Payment]] = {}
    for payment in books.payments_by_ref(FPS, wanted):
        by_ref.setdefault(payment.provider_ref or "", []).append(payment)

    rows: list[ReportRow] = []
    paid: set[str] = set()
    for line in statement.lines:
        valid, typos = found[line.line]
        known = [ref for ref in valid if ref in by_ref]
        shown = [*known, *valid, *typos]
        base = ReportRow(
            Outcome.UNMATCHED,
            "",
            line=line.line,
            source_id=line.line_id,
            occurred=line.booked_on.isoformat(),
            amount=line.amount,
            reference=shown[0] if shown else None,
            description=line.description,
        )
        if not known:
            rows.append(replace(base, note=_unmatched_note(valid, typos)))
            continue
        candidates = [payment for ref in known for payment in by_ref[ref]]
        if len(candidates) > 1:
            rows.append(
                replace(
                    base,
                    outcome=Outcome.MISMATCHED,
                    note=f"reference(s) {', '.join(known)} name {len(candidates)} payments "
                    f"({', '.join(p.id for p in candidates)}): not applied, for a person",
                )
            )
            continue
        payment = candidates[0]
        paid.add(payment.id)
        rows.append(_apply_bank_line(ctx, books, line, payment, known[0], base))

    missing = [
        payment
        for payment in books.open_payments(
            FPS,
            created_before=ctx.clock.now() - timedelta(days=pending_days),
            limit=BOOK_LIMIT,
        )
        if payment.id not in paid
    ]
    for payment in missing:
        rows.append(
            ReportRow(
                Outcome.MISSING,
                f"still {payment.state.value} since {payment.created_at:%Y-%m-%d %H:%M} UTC: no "
                f"line of this statement paid it (more than {pending_days} day(s))",
                reference=payment.provider_ref or fps_reference_for(payment.id),
                payment_id=payment.id,
                order_id=payment.order_id,
                expected=payment.amount,
                payment_state=payment.state.value,
                order_state=_order_state(ctx, payment.order_id),
            )
        )
    rows.extend(check_books(ctx, books, repair=repair))
    return ReconciliationReport(
        "bank statement",
        tuple(rows),
        lines_read=len(statement.lines),
        lines_skipped=statement.other_lines,
        outcomes=(
            Outcome.MATCHED,
            Outcome.MISMATCHED,
            Outcome.UNMATCHED,
            Outcome.MISSING,
            Outcome.PAID_NOT_FULFILLED,
            Outcome.FULFILLED_NOT_PAID,
        ),
    )


def _unmatched_note(valid: Sequence[str], typos: Sequence[str]) -> str:
    if valid:
        return f"reference {valid[0]} is not one of our FPS payments"
    if typos:
        return f"{typos[0]} looks like a reference but its check character is wrong (a typo?)"
    return "no reference in the remarks"


def _apply_bank_line(
    ctx: Context,
    books: ReconciliationBooks,
    line: StatementLine,
    payment: Payment,
    reference: str,
    base: ReportRow,
) -> ReportRow:
    """Pay ``payment`` with ``line`` through the callback path; the event id makes a
    second import a duplicate, whose first outcome is reported again."""
    event = PaymentEvent(
        provider=FPS,
        event_id=f"bank:{line.line_id}",
        payment_id=payment.id,
        state=PaymentState.SUCCEEDED,
        # The statement has the day only: its start, Hong Kong time.
        occurred_at=datetime.combine(line.booked_on, time(0), tzinfo=ctx.clock.tz).astimezone(UTC),
        amount=line.amount,
        provider_ref=reference,
    )
    payload = json.dumps(
        {
            "source": "bank statement",
            "line": line.line,
            "line_id": line.line_id,
            "date": line.booked_on.isoformat(),
            "description": line.description,
            "amount": line.amount.decimal_str(),
            "currency": line.amount.currency,
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    outcome = apply_payment_event(ctx, event, payload=payload)
    again = outcome is EventOutcome.DUPLICATE
    if again:
        stored = books.event_outcome(FPS, event.event_id)
        outcome = EventOutcome(stored) if stored else EventOutcome.DUPLICATE
    after, order = _states(ctx, payment.id)
    row = replace(
        base,
        payment_id=payment.id,
        order_id=after.order_id,
        expected=payment.amount,
        payment_state=after.state.value,
        order_state=order.state.value,
    )
    if outcome is EventOutcome.APPLIED:
        note = f"order {order.state.value}"
        if order.state in (OrderState.REFUNDING, OrderState.REFUNDED):
            note += ": the card could not take it or the order was cancelled; pay it back by hand"
        return replace(
            row,
            outcome=Outcome.MATCHED,
            action="already recorded" if again else "payment succeeded",
            note=note,
        )
    if outcome is EventOutcome.MISMATCH:
        return replace(
            row,
            outcome=Outcome.MISMATCHED,
            action="already flagged" if again else "flagged for review",
            note=f"{line.amount.display()} received, {payment.amount.display()} expected: "
            "not applied",
        )
    # STALE: the payment was already final. Paid twice, or paid after it was given up.
    note = (
        "the payment was already paid by another line: money received twice, refund the "
        "extra by hand"
        if after.state is PaymentState.SUCCEEDED
        else f"money received for a payment that is {after.state.value}: for a person"
    )
    if not again:
        _flag(ctx, payment, f"flagged by reconciliation: bank line {line.line_id}: {note}")
    return replace(
        row,
        outcome=Outcome.MISMATCHED,
        action="already flagged" if again else "flagged for review",
        note=note,
    )


# --- the Stripe report ----------------------------------------------------------------------


def reconcile_stripe(
    ctx: Context,
    books: ReconciliationBooks,
    lines: Sequence[ReportLine],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    repair: bool = True,
) -> ReconciliationReport:
    """Match a Stripe itemized balance report against the Stripe payments (see the
    module's docstring). The report's period (``since`` … ``until``, both included)
    defaults to the first and last line's time; a Stripe payment that succeeded with
    us and was started and confirmed within it must be in the report."""
    ours = _stripe_payments(ctx, books, lines)
    rows: list[ReportRow] = []
    reported: set[str] = set()
    read = skipped = 0
    for line in lines:
        if line.category in CHARGE_CATEGORIES:
            row = _charge_row(ctx, books, line, ours.get(line.line))
        elif line.category in REFUND_CATEGORIES:
            row = _refund_row(ctx, line, ours.get(line.line))
        elif line.category in REVIEW_CATEGORIES:
            row = _review_row(ctx, line, ours.get(line.line))
        else:
            skipped += 1
            continue
        read += 1
        if line.category in CHARGE_CATEGORIES and row.payment_id:
            reported.add(row.payment_id)
        rows.append(row)

    if lines:
        start = since or min(line.created for line in lines)
        end = until or max(line.created for line in lines)
        for payment in books.succeeded_payments(STRIPE, since=start, until=end, limit=BOOK_LIMIT):
            if payment.id in reported:
                continue
            rows.append(
                ReportRow(
                    Outcome.MISSING,
                    f"succeeded with us ({payment.updated_at:%Y-%m-%d %H:%M} UTC) and not in "
                    "the report",
                    reference=payment.provider_ref,
                    payment_id=payment.id,
                    order_id=payment.order_id,
                    expected=payment.amount,
                    payment_state=payment.state.value,
                    order_state=_order_state(ctx, payment.order_id),
                )
            )
    rows.extend(check_books(ctx, books, repair=repair))
    return ReconciliationReport(
        "Stripe report",
        tuple(rows),
        lines_read=read,
        lines_skipped=skipped,
        outcomes=(
            Outcome.MATCHED,
            Outcome.RESOLVED,
            Outcome.MISMATCHED,
            Outcome.MISSING,
            Outcome.PAID_NOT_FULFILLED,
            Outcome.FULFILLED_NOT_PAID,
        ),
    )


def _stripe_payments(
    ctx: Context, books: ReconciliationBooks, lines: Sequence[ReportLine]
) -> dict[int, Payment]:
    """Our Stripe payment for each line (by file line), where there is one: by the
    payment id in the metadata, else by the PaymentIntent id as provider reference."""
    by_id: dict[str, Payment] = {}
    with ctx.uow(write=False) as uow:
        for payment_id in {line.payment_id for line in lines if line.payment_id}:
            try:
                payment = uow.payments.get(payment_id)
            except PaymentNotFound:
                continue
            if payment.provider == STRIPE:
                by_id[payment.id] = payment
    intents = {line.payment_intent_id for line in lines if line.payment_intent_id}
    by_ref: dict[str, list[Payment]] = {}
    for payment in books.payments_by_ref(STRIPE, intents):
        by_ref.setdefault(payment.provider_ref or "", []).append(payment)
    found: dict[int, Payment] = {}
    for line in lines:
        if line.payment_id and line.payment_id in by_id:
            found[line.line] = by_id[line.payment_id]
        elif line.payment_intent_id and len(by_ref.get(line.payment_intent_id, ())) == 1:
            found[line.line] = by_ref[line.payment_intent_id][0]
    return found


def _stripe_base(line: ReportLine, payment: Payment | None) -> ReportRow:
    return ReportRow(
        Outcome.MISSING,
        "",
        line=line.line,
        source_id=line.balance_transaction_id,
        occurred=line.created.isoformat(),
        amount=line.amount,
        reference=line.payment_intent_id or line.charge_id or line.source_id,
        description=line.description or None,
        payment_id=payment.id if payment else None,
        order_id=payment.order_id if payment else None,
        expected=payment.amount if payment else None,
    )


def _charge_row(
    ctx: Context, books: ReconciliationBooks, line: ReportLine, payment: Payment | None
) -> ReportRow:
    base = _stripe_base(line, payment)
    if payment is None:
        named = f" (metadata names {line.payment_id})" if line.payment_id else ""
        return replace(base, note=f"a settled charge we have no payment for{named}")
    same = line.amount == payment.amount
    if payment.state is PaymentState.SUCCEEDED and same:
        after, order = _states(ctx, payment.id)
        return replace(
            base,
            outcome=Outcome.MATCHED,
            note=f"order {order.state.value}",
            payment_state=after.state.value,
            order_state=order.state.value,
        )
    event = PaymentEvent(
        provider=STRIPE,
        event_id=f"report:{line.balance_transaction_id}",
        payment_id=payment.id,
        state=PaymentState.SUCCEEDED,
        occurred_at=line.created,
        amount=line.amount,
        provider_ref=line.payment_intent_id or payment.provider_ref,
    )
    payload = json.dumps(
        {
            "source": "Stripe report",
            "line": line.line,
            "balance_transaction_id": line.balance_transaction_id,
            "created_utc": line.created.isoformat(),
            "reporting_category": line.category,
            "amount": line.amount.decimal_str(),
            "currency": line.amount.currency,
            "payment_intent_id": line.payment_intent_id,
            "charge_id": line.charge_id,
        },
        sort_keys=True,
    )
    outcome = apply_payment_event(ctx, event, payload=payload)
    again = outcome is EventOutcome.DUPLICATE
    if again:
        stored = books.event_outcome(STRIPE, event.event_id)
        outcome = EventOutcome(stored) if stored else EventOutcome.DUPLICATE
    after, order = _states(ctx, payment.id)
    row = replace(base, payment_state=after.state.value, order_state=order.state.value)
    if outcome is EventOutcome.APPLIED:
        return replace(
            row,
            outcome=Outcome.MATCHED if again else Outcome.RESOLVED,
            action="already recorded" if again else "payment succeeded",
            note=f"was {payment.state.value} with us; the charge is settled: order "
            f"{order.state.value}",
        )
    if outcome is EventOutcome.MISMATCH:
        return replace(
            row,
            outcome=Outcome.MISMATCHED,
            action="already flagged" if again else "flagged for review",
            note=f"{line.amount.display()} settled, {payment.amount.display()} expected",
        )
    note = f"a settled charge for a payment that is {after.state.value} with us: for a person"
    if not again:
        _flag(ctx, payment, f"flagged by reconciliation: {line.balance_transaction_id}: {note}")
    return replace(
        row,
        outcome=Outcome.MISMATCHED,
        action="already flagged" if again else "flagged for review",
        note=note,
    )


def _refund_row(ctx: Context, line: ReportLine, payment: Payment | None) -> ReportRow:
    base = _stripe_base(line, payment)
    if payment is None:
        return replace(base, note="a refund we have no payment for")
    with ctx.uow(write=False) as uow:
        order = uow.orders.get(payment.order_id)
        succeeded = [
            p for p in uow.payments.list_for_order(order.id) if p.state is PaymentState.SUCCEEDED
        ]
        current = uow.payments.get(payment.id)
    row = replace(base, payment_state=current.state.value, order_state=order.state.value)
    if -line.amount != payment.amount:
        return replace(
            row,
            outcome=Outcome.MISMATCHED,
            note=f"{(-line.amount).display()} refunded, the payment was {payment.amount.display()}",
        )
    if order.state in (OrderState.REFUNDING, OrderState.REFUNDED):
        return replace(row, outcome=Outcome.MATCHED, note=f"order {order.state.value}")
    if any(p.id != payment.id for p in succeeded):
        # The order was paid by another payment: this one was a duplicate, given back.
        return replace(row, outcome=Outcome.MATCHED, note="a duplicate payment, given back")
    return replace(
        row,
        outcome=Outcome.MISMATCHED,
        note=f"refunded in Stripe, but the order is {order.state.value} with us: for a person",
    )


def _review_row(ctx: Context, line: ReportLine, payment: Payment | None) -> ReportRow:
    row = replace(
        _stripe_base(line, payment),
        outcome=Outcome.MISMATCHED,
        note=f"{line.category.replace('_', ' ')} of {line.amount.display()}: for a person",
    )
    if payment is None:
        return row
    after, order = _states(ctx, payment.id)
    return replace(row, payment_state=after.state.value, order_state=order.state.value)


# --- our books --------------------------------------------------------------------------------


def check_books(
    ctx: Context, books: ReconciliationBooks, *, repair: bool = True
) -> list[ReportRow]:
    """Orders paid but not fulfilled (fulfilled now with ``repair``) and orders
    fulfilled with no succeeded payment (listed)."""
    rows: list[ReportRow] = []
    for order in books.orders_in_state(OrderState.PAID, limit=BOOK_LIMIT):
        if not repair:
            rows.append(_paid_row(order, "none", "paid and never fulfilled: not repaired"))
        elif (row := _repair_paid_order(ctx, order.id)) is not None:
            rows.append(row)
    for order in books.fulfilled_without_payment(limit=BOOK_LIMIT):
        rows.append(
            ReportRow(
                Outcome.FULFILLED_NOT_PAID,
                "fulfilled with no succeeded payment: for a person",
                order_id=order.id,
                expected=order.price,
                order_state=order.state.value,
            )
        )
    return rows


def _paid_row(order: Order, action: str, note: str) -> ReportRow:
    return ReportRow(
        Outcome.PAID_NOT_FULFILLED,
        note,
        action=action,
        order_id=order.id,
        expected=order.price,
        order_state=order.state.value,
    )


def _repair_paid_order(ctx: Context, order_id: str) -> ReportRow | None:
    """Fulfil a paid order the way a payment would have (or refund it when the card
    can no longer take it). Only with a succeeded payment behind it (or nothing to
    pay): "paid" without money is for a person, not a plan given away."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = uow.orders.get(order_id, lock=True)
        if order.state is not OrderState.PAID:
            return None  # done meanwhile
        payments = [
            p for p in uow.payments.list_for_order(order.id) if p.state is PaymentState.SUCCEEDED
        ]
        if not payments and not order.price.is_zero():
            return _paid_row(order, "none", "paid with no succeeded payment: not fulfilled")
        done = fulfil_paid_order(uow, ctx, order, now=now)
        uow.audit.record(
            AuditRecord(
                "order",
                order.id,
                order.state.value,
                done.state.value,
                "repaired by reconciliation: paid but never fulfilled",
                ACTOR,
                now,
            )
        )
        uow.commit()
    row = _paid_row(
        done,
        "fulfilled" if done.state is OrderState.FULFILLED else done.state.value,
        "was paid and never fulfilled"
        + ("" if done.state is OrderState.FULFILLED else ": the card cannot take it, refunding"),
    )
    return replace(row, payment_id=payments[0].id if payments else None)


# --- helpers --------------------------------------------------------------------------------


def _states(ctx: Context, payment_id: str) -> tuple[Payment, Order]:
    with ctx.uow(write=False) as uow:
        payment = uow.payments.get(payment_id)
        return payment, uow.orders.get(payment.order_id)


def _order_state(ctx: Context, order_id: str) -> str:
    with ctx.uow(write=False) as uow:
        return uow.orders.get(order_id).state.value


def _flag(ctx: Context, payment: Payment, reason: str) -> None:
    with ctx.uow() as uow:
        uow.audit.record(
            AuditRecord(
                "payment",
                payment.id,
                payment.state.value,
                payment.state.value,
                reason,
                ACTOR,
                ctx.clock.now(),
            )
        )
        uow.commit()


# --- the report as CSV ------------------------------------------------------------------------

CSV_COLUMNS = (
    "outcome",
    "line",
    "source_id",
    "date",
    "amount",
    "currency",
    "reference",
    "description",
    "payment_id",
    "order_id",
    "expected_amount",
    "expected_currency",
    "payment_state",
    "order_state",
    "action",
    "note",
)
# A cell starting with one of these is a formula to spreadsheets (CSV injection); the
# remarks and notes carry text a payer typed.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(cell: str | None) -> str:
    if cell is None:
        return ""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def report_csv(report: ReconciliationReport) -> str:
    """The report as CSV text (``CSV_COLUMNS``; amounts as plain decimals with their
    currency beside them), for a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        writer.writerow(_csv_cells(row))
    return buffer.getvalue()


def _csv_cells(row: ReportRow) -> Iterable[str]:
    return (
        row.outcome.value,
        "" if row.line is None else str(row.line),
        _text(row.source_id),
        row.occurred or "",
        row.amount.decimal_str() if row.amount else "",
        row.amount.currency if row.amount else "",
        _text(row.reference),
        _text(row.description),
        row.payment_id or "",
        row.order_id or "",
        row.expected.decimal_str() if row.expected else "",
        row.expected.currency if row.expected else "",
        row.payment_state or "",
        row.order_state or "",
        _text(row.action),
        _text(row.note),
    )
