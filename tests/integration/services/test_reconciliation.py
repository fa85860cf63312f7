"""Reconciliation against a bank statement and a Stripe report, on SQLite and
PostgreSQL: each outcome, a second import that changes nothing, the paid-but-not-
fulfilled repair, and two runs at once paying once."""

from __future__ import annotations

import csv
import threading
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Table, func, select, update

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.db.reconciliation_queries import SqlReconciliationBooks
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import EventOutcome, Payment, PaymentEvent, PaymentState
from simrenew.ports import ProviderResult
from simrenew.services.bank_statement import parse_bank_statement, reference_for
from simrenew.services.payments import apply_payment_event, new_payment, record_provider_result
from simrenew.services.reconciliation import (
    CSV_COLUMNS,
    Outcome,
    ReconciliationReport,
    ReportRow,
    reconcile_bank,
    reconcile_stripe,
    report_csv,
)
from simrenew.services.stripe_report import parse_stripe_report
from tests.integration.providers.test_fps import fps_payment, with_fps
from tests.support import FixedClock, order, pay

CARDS = ("+85251234567", "+85261234567", "+85291234567", "+85261234568")
OFFER = "ONE2-D7"
BANK_HEADER = "date,remarks,credit,currency"
STRIPE_HEADER = (
    "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,source_id,"
    "payment_intent_id,payment_metadata[payment_id]"
)


# --- helpers ------------------------------------------------------------------------------


def bank(app: App, *rows: str, header: str = BANK_HEADER, days: int = 3) -> ReconciliationReport:
    statement = parse_bank_statement("\n".join([header, *rows]) + "\n")
    return reconcile_bank(app.ctx, SqlReconciliationBooks(app.engine), statement, pending_days=days)


def stripe(app: App, *rows: str) -> ReconciliationReport:
    lines = parse_stripe_report("\n".join([STRIPE_HEADER, *rows]) + "\n")
    return reconcile_stripe(app.ctx, SqlReconciliationBooks(app.engine), lines)


def only(report: ReconciliationReport, outcome: Outcome) -> list[ReportRow]:
    return [row for row in report.rows if row.outcome is outcome]


def line(payment: Payment, *, remarks: str | None = None, amount: str | None = None) -> str:
    text = remarks if remarks is not None else f"FPS {payment.provider_ref}"
    return f"23/11/2026,{text},{amount or payment.amount.decimal_str()},{payment.amount.currency}"


def states(app: App, payment: Payment) -> tuple[PaymentState, OrderState]:
    with app.uow(write=False) as uow:
        stored = uow.payments.get(payment.id)
        return stored.state, uow.orders.get(stored.order_id).state


def count(app: App, table: Table) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def flags(app: App, entity_id: str) -> list[str]:
    with app.engine.connect() as connection:
        return list(
            connection.scalars(
                select(t.audit_log.c.reason).where(
                    t.audit_log.c.entity_id == entity_id, t.audit_log.c.reason.like("%flagged%")
                )
            )
        )


def footprint(app: App) -> tuple[int, ...]:
    """What an import could write: a second import of the same file must leave it."""
    return tuple(
        count(app, table)
        for table in (t.payment_events, t.audit_log, t.outbox, t.fulfilments, t.ledger_entries)
    )


def stripe_payment(
    app: App, card: str, *, state: PaymentState = PaymentState.PENDING, ref: str | None = None
) -> Payment:
    """A Stripe payment as the Stripe provider leaves it (no Stripe needed: the
    reconciliation reads our books only)."""
    placed = order(app, card, OFFER)
    with app.uow() as uow:
        payment = new_payment(uow.orders.get(placed.id), "stripe", now=app.ctx.clock.now())
        uow.payments.add(replace(payment, provider_ref=ref), actor="test")
        uow.commit()
    if state is PaymentState.SUCCEEDED:
        event = PaymentEvent(
            "stripe",
            f"evt_{payment.id}",
            payment.id,
            PaymentState.SUCCEEDED,
            app.ctx.clock.now(),
            amount=payment.amount,
        )
        assert apply_payment_event(app.ctx, event, payload="{}") is EventOutcome.APPLIED
    elif state is not PaymentState.PENDING:
        record_provider_result(app.ctx, payment.id, ProviderResult(state), reason="test")
    with app.uow(write=False) as uow:
        return uow.payments.get(payment.id)


def charge(txn: str, payment: Payment, *, gross: str | None = None, metadata: bool = True) -> str:
    amount = gross or payment.amount.decimal_str()
    pid = payment.id if metadata else ""
    return (
        f"{txn},2026-11-22 02:30:00,{payment.amount.currency.lower()},{amount},1.00,"
        f"{amount},charge,ch_{txn},{payment.provider_ref or ''},{pid}"
    )


# --- bank: matched, and a second import ------------------------------------------------------


def test_a_line_with_the_reference_and_the_amount_pays_and_fulfils(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    ref = payment.provider_ref or ""
    # Typed loosely: lower case, spaces and dashes in the reference.
    remarks = f"fps from chan tai man {ref[:2].lower()} {ref[2:6].lower()}-{ref[6:]}"
    report = bank(app, line(payment, remarks=remarks))

    (row,) = report.rows
    assert (row.outcome, row.action, row.line) == (Outcome.MATCHED, "payment succeeded", 2)
    assert (row.payment_id, row.reference, row.expected) == (payment.id, ref, payment.amount)
    assert states(app, payment) == (PaymentState.SUCCEEDED, OrderState.FULFILLED)
    assert (row.payment_state, row.order_state) == ("succeeded", "fulfilled")
    assert count(app, t.fulfilments) == 1
    assert "1 matched, 0 mismatched, 0 unmatched, 0 missing" in report.summary()


def test_importing_the_same_statement_again_changes_nothing(app: App) -> None:
    with_fps(app)
    paid, short = fps_payment(app, CARDS[0]), fps_payment(app, CARDS[1])
    rows = (line(paid), line(short, amount="1.00"), "23/11/2026,no reference,5.00,HKD")
    first = bank(app, *rows)
    before = footprint(app)

    again = bank(app, *rows)

    assert footprint(app) == before
    assert [row.outcome for row in again.rows] == [row.outcome for row in first.rows]
    assert [row.action for row in again.rows] == [
        "already recorded",
        "already flagged",
        "none",
    ]
    assert len(flags(app, short.id)) == 1


# --- bank: mismatched ------------------------------------------------------------------------


def test_another_amount_is_flagged_and_not_applied(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    (row,) = bank(app, line(payment, amount="1.00")).rows
    assert (row.outcome, row.action) == (Outcome.MISMATCHED, "flagged for review")
    assert "expected: not applied" in row.note
    assert states(app, payment) == (PaymentState.PENDING, OrderState.AWAITING_PAYMENT)
    (flag,) = flags(app, payment.id)
    assert "HK$1.00" in flag and payment.amount.display() in flag


def test_another_currency_is_a_mismatch(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    cny = f"23/11/2026,{payment.provider_ref},{payment.amount.decimal_str()},CNY"
    (row,) = bank(app, cny).rows
    assert row.outcome is Outcome.MISMATCHED
    assert states(app, payment)[0] is PaymentState.PENDING


def test_money_sent_twice_is_flagged_once_and_reported_the_same_again(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    twice = (line(payment), line(payment, remarks=f"again {payment.provider_ref}"))
    first = bank(app, *twice)
    assert [row.outcome for row in first.rows] == [Outcome.MATCHED, Outcome.MISMATCHED]
    assert "money received twice" in first.rows[1].note
    again = bank(app, *twice)
    assert [row.outcome for row in again.rows] == [Outcome.MATCHED, Outcome.MISMATCHED]
    assert len(flags(app, payment.id)) == 1
    assert count(app, t.fulfilments) == 1


def test_a_reference_shared_by_two_payments_is_left_to_a_person(app: App) -> None:
    with_fps(app)
    first, second = fps_payment(app, CARDS[0]), fps_payment(app, CARDS[1])
    with app.engine.begin() as connection:  # a collision of the 40-bit references
        connection.execute(
            update(t.payments)
            .where(t.payments.c.id == second.id)
            .values(provider_ref=first.provider_ref)
        )
    (row,) = bank(app, line(first)).rows
    assert row.outcome is Outcome.MISMATCHED
    assert "2 payments" in row.note
    assert states(app, first)[0] is states(app, second)[0] is PaymentState.PENDING


# --- bank: unmatched and missing -------------------------------------------------------------


def test_lines_without_a_reference_we_know_are_unmatched(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    ref = payment.provider_ref or ""
    typo = ref[:5] + ("Z" if ref[5] != "Z" else "Y") + ref[6:]
    stranger = reference_for("pay_someone_else")
    report = bank(
        app,
        line(payment, remarks=f"FPS {typo}"),
        line(payment, remarks=f"FPS {stranger}"),
        line(payment, remarks="FPS CHAN TAI MAN"),
    )
    notes = [row.note for row in only(report, Outcome.UNMATCHED)]
    assert len(notes) == 3
    assert "check character is wrong" in notes[0]
    assert "not one of our FPS payments" in notes[1]
    assert notes[2] == "no reference in the remarks"
    # The typo did not pay anybody's payment.
    assert states(app, payment)[0] is PaymentState.PENDING
    assert count(app, t.payment_events) == 0


def test_payments_pending_longer_than_the_days_given_are_missing(
    app: App, clock: FixedClock
) -> None:
    with_fps(app)
    old, paid_now = fps_payment(app, CARDS[0]), fps_payment(app, CARDS[1])
    clock.advance(timedelta(days=4))
    young = fps_payment(app, CARDS[2])
    report = bank(app, line(paid_now), days=3)
    (missing,) = only(report, Outcome.MISSING)
    assert (missing.payment_id, missing.reference) == (old.id, old.provider_ref)
    assert missing.expected == old.amount
    assert "more than 3 day(s)" in missing.note
    assert young.id not in {row.payment_id for row in report.rows}
    # With a longer wait, nothing is overdue yet.
    assert only(bank(app, line(paid_now), days=5), Outcome.MISSING) == []


# --- our books: paid but not fulfilled, fulfilled but not paid ---------------------------------


def test_a_paid_order_never_fulfilled_is_fulfilled_now(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    with app.engine.begin() as connection:  # what a crash between the two would leave
        connection.execute(
            update(t.payments).where(t.payments.c.id == payment.id).values(state="succeeded")
        )
        connection.execute(
            update(t.orders).where(t.orders.c.id == payment.order_id).values(state="paid")
        )
    report = bank(app)
    (row,) = only(report, Outcome.PAID_NOT_FULFILLED)
    assert (row.order_id, row.action, row.order_state) == (
        payment.order_id,
        "fulfilled",
        "fulfilled",
    )
    assert states(app, payment) == (PaymentState.SUCCEEDED, OrderState.FULFILLED)
    assert count(app, t.fulfilments) == 1
    assert "(1 fulfilled now)" in report.summary()
    with app.engine.connect() as connection:
        reasons = connection.scalars(
            select(t.audit_log.c.reason).where(t.audit_log.c.entity_id == payment.order_id)
        ).all()
    assert "repaired by reconciliation: paid but never fulfilled" in reasons
    # Done once: the next run finds nothing to repair.
    assert only(bank(app), Outcome.PAID_NOT_FULFILLED) == []


def test_a_paid_order_with_no_money_behind_it_is_not_fulfilled(app: App) -> None:
    placed = order(app, CARDS[0], OFFER)
    with app.engine.begin() as connection:
        connection.execute(update(t.orders).where(t.orders.c.id == placed.id).values(state="paid"))
    (row,) = only(bank(app), Outcome.PAID_NOT_FULFILLED)
    assert (row.order_id, row.action) == (placed.id, "none")
    assert count(app, t.fulfilments) == 0


def test_a_fulfilled_order_without_a_succeeded_payment_is_listed(app: App) -> None:
    sandbox, _ = pay(app, order(app, CARDS[0], OFFER).id)
    with app.engine.begin() as connection:
        connection.execute(
            update(t.payments).where(t.payments.c.id == sandbox.id).values(state="failed")
        )
    for report in (bank(app), stripe(app)):
        (row,) = only(report, Outcome.FULFILLED_NOT_PAID)
        assert (row.order_id, row.order_state) == (sandbox.order_id, "fulfilled")
    assert states(app, sandbox) == (PaymentState.FAILED, OrderState.FULFILLED)


# --- two runs at once ------------------------------------------------------------------------


def test_two_imports_at_once_pay_once(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    reports: list[ReconciliationReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait(timeout=10)
            reports.append(bank(app, line(payment)))
        except BaseException as exc:  # reported below, with the thread's traceback lost
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(report.rows[0].action for report in reports) == [
        "already recorded",
        "payment succeeded",
    ]
    assert count(app, t.payment_events) == 1
    assert count(app, t.fulfilments) == 1


# --- Stripe ----------------------------------------------------------------------------------


def test_stripe_each_outcome(app: App) -> None:
    matched = stripe_payment(app, CARDS[0], state=PaymentState.SUCCEEDED)
    pending = stripe_payment(app, CARDS[1])
    by_intent = stripe_payment(app, CARDS[2], ref="pi_3")
    short = stripe_payment(app, CARDS[3], state=PaymentState.SUCCEEDED)
    failed = stripe_payment(app, CARDS[0], state=PaymentState.FAILED)
    not_reported = stripe_payment(app, CARDS[1], state=PaymentState.SUCCEEDED)
    stranger = replace(matched, id="pay_not_ours", provider_ref="pi_not_ours")
    rows = (
        "txn_0,2026-11-22 01:00:00,hkd,0.00,0.00,0.00,fee,,,",  # period start; skipped
        charge("txn_1", matched),
        charge("txn_2", pending),
        charge("txn_3", by_intent, metadata=False),
        charge("txn_4", short, gross="1.00"),
        charge("txn_5", failed),
        charge("txn_6", stranger),
        "txn_7,2026-11-22 03:00:00,hkd,-48.00,0.00,-48.00,dispute,dp_1,,",
        "txn_8,2026-11-23 00:00:00,hkd,-500.00,0.00,-500.00,payout,po_1,,",  # period end
    )
    report = stripe(app, *rows)
    by_line = {row.line: row for row in report.rows if row.line}
    assert by_line[3].outcome is Outcome.MATCHED
    assert (by_line[4].outcome, by_line[4].action) == (Outcome.RESOLVED, "payment succeeded")
    assert (by_line[5].outcome, by_line[5].payment_id) == (Outcome.RESOLVED, by_intent.id)
    assert (by_line[6].outcome, by_line[6].action) == (Outcome.MISMATCHED, "flagged for review")
    assert by_line[7].outcome is Outcome.MISMATCHED and "failed with us" in by_line[7].note
    assert by_line[8].outcome is Outcome.MISSING and "pay_not_ours" in by_line[8].note
    assert by_line[9].outcome is Outcome.MISMATCHED and by_line[9].note.startswith("dispute")
    (missing,) = [row for row in only(report, Outcome.MISSING) if row.line is None]
    assert missing.payment_id == not_reported.id
    assert (report.lines_read, report.lines_skipped) == (7, 2)

    assert states(app, pending) == (PaymentState.SUCCEEDED, OrderState.FULFILLED)
    assert states(app, by_intent) == (PaymentState.SUCCEEDED, OrderState.FULFILLED)
    assert states(app, failed)[0] is PaymentState.FAILED
    assert len(flags(app, short.id)) == len(flags(app, failed.id)) == 1

    before = footprint(app)
    again = stripe(app, *rows)
    assert footprint(app) == before
    again_by_line = {row.line: row.outcome for row in again.rows if row.line}
    # What was resolved is now simply matched; everything else is reported the same.
    assert again_by_line == {
        **{n: row.outcome for n, row in by_line.items()},
        4: Outcome.MATCHED,
        5: Outcome.MATCHED,
    }


def test_stripe_refunds_are_matched_to_orders_being_refunded(app: App) -> None:
    refunding = stripe_payment(app, CARDS[0], state=PaymentState.SUCCEEDED)
    kept = stripe_payment(app, CARDS[1], state=PaymentState.SUCCEEDED)
    with app.engine.begin() as connection:
        connection.execute(
            update(t.orders).where(t.orders.c.id == refunding.order_id).values(state="refunding")
        )

    def refund(txn: str, payment: Payment) -> str:
        return (
            f"{txn},2026-11-22 04:00:00,hkd,-{payment.amount.decimal_str()},0.00,"
            f"-{payment.amount.decimal_str()},refund,re_{txn},,{payment.id}"
        )

    report = stripe(app, refund("txn_r1", refunding), refund("txn_r2", kept))
    first, second = report.rows[:2]
    assert (first.outcome, first.order_state) == (Outcome.MATCHED, "refunding")
    assert (second.outcome, second.order_state) == (Outcome.MISMATCHED, "fulfilled")
    assert "refunded in Stripe" in second.note


def test_the_report_as_csv(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    report = bank(app, line(payment), '23/11/2026,=HYPERLINK("x"),5.00,HKD')
    text = report_csv(report)
    header, matched, unmatched = text.strip("\r\n").split("\r\n")
    assert header == ",".join(CSV_COLUMNS)
    cells = dict(zip(CSV_COLUMNS, next(csv.reader([matched])), strict=True))
    assert (cells["outcome"], cells["line"], cells["date"]) == ("matched", "2", "2026-11-23")
    assert (cells["amount"], cells["currency"]) == (payment.amount.decimal_str(), "HKD")
    assert (cells["reference"], cells["payment_id"]) == (payment.provider_ref, payment.id)
    assert cells["description"] == f"FPS {payment.provider_ref}"
    assert (cells["payment_state"], cells["order_state"]) == ("succeeded", "fulfilled")
    # Remarks typed by a payer never reach a spreadsheet as a formula.
    remarks = dict(zip(CSV_COLUMNS, next(csv.reader([unmatched])), strict=True))["description"]
    assert remarks == '\'=HYPERLINK("x")'
