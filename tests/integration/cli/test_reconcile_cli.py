"""``simrenew reconcile bank|stripe FILE``, driven in-process with Typer's runner
against a real database (SQLite file and PostgreSQL), as an operator would type it."""

from __future__ import annotations

import csv
import traceback
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from simrenew.bootstrap import App
from simrenew.cli_reconcile import reconcile_app
from simrenew.db import tables as t
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import Payment, PaymentState
from simrenew.services.reconciliation import CSV_COLUMNS
from tests.integration.providers.test_fps import fps_payment, with_fps
from tests.integration.services.test_reconciliation import stripe_payment

CARDS = ("+85251234567", "+85261234567")


def cli_app() -> typer.Typer:
    """``simrenew`` itself once ``reconcile`` is registered in cli.py, else an app
    with the same sub-app mounted the same way."""
    from simrenew.cli import app

    if any(group.name == "reconcile" for group in app.registered_groups):
        return app
    root = typer.Typer(no_args_is_help=True)
    root.add_typer(reconcile_app, name="reconcile")
    return root


def run(app: App, *args: str, code: int = 0) -> Result:
    env = {
        "SIMRENEW_DATABASE_URL": app.settings.database_url,
        "SIMRENEW_SMTP_HOST": None,
        "COLUMNS": "250",
        "FORCE_COLOR": None,
        "TTY_COMPATIBLE": None,
    }
    result = CliRunner().invoke(cli_app(), ["reconcile", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        shown = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"`reconcile {' '.join(args)}` raised instead of exiting:\n{shown}")
    assert result.exit_code == code, (
        f"exited {result.exit_code}, expected {code}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


def state(app: App, payment: Payment) -> tuple[PaymentState, OrderState]:
    with app.uow(write=False) as uow:
        stored = uow.payments.get(payment.id)
        return stored.state, uow.orders.get(stored.order_id).state


def events(app: App) -> int:
    with app.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(t.payment_events)) or 0)


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows == [] or list(rows[0]) == list(CSV_COLUMNS)
    return rows


# --- bank ------------------------------------------------------------------------------------


def test_bank_pays_prints_the_table_and_writes_the_report_beside_the_file(
    app: App, tmp_path: Path
) -> None:
    with_fps(app)
    paid, unpaid = fps_payment(app, CARDS[0]), fps_payment(app, CARDS[1])
    statement = tmp_path / "hsbc-2026-11.csv"
    statement.write_text(
        "Date,Transaction Details,Deposit,Withdrawal,Balance\n"
        f"23/11/2026,FPS CHAN TAI MAN {paid.provider_ref},{paid.amount.decimal_str()},,100.00\n"
        "24/11/2026,RENT,,50.00,50.00\n"
        "24/11/2026,FPS NO REFERENCE,20.00,,70.00\n",
        encoding="utf-8",
    )

    result = run(app, "bank", str(statement), "--currency", "HKD")

    assert state(app, paid) == (PaymentState.SUCCEEDED, OrderState.FULFILLED)
    assert "bank statement: 2 line(s) reconciled, 1 skipped; 1 matched, 0 mismatched, " in (
        result.stdout
    )
    assert "1 unmatched" in result.stdout
    assert "matched" in result.stdout and "unmatched" in result.stdout
    report = tmp_path / "hsbc-2026-11.report.csv"
    assert f"report written to {report}" in result.stdout.replace("\n", "")
    rows = read_report(report)
    outcomes = {(row["outcome"], row["payment_id"]) for row in rows}
    assert ("matched", paid.id) in outcomes
    assert ("unmatched", "") in outcomes
    # The CLI runs with the real clock: the unpaid transfer of a week ago is overdue.
    assert ("missing", unpaid.id) in outcomes

    before = (events(app), report.read_text(encoding="utf-8"))
    again = run(app, "bank", str(statement), "--currency", "HKD")
    assert "1 matched" in again.stdout
    assert events(app) == before[0]
    assert (
        report.read_text(encoding="utf-8").replace("already recorded", "payment succeeded")
        == before[1]
    )


def test_a_malformed_statement_is_refused_with_its_line_before_anything_is_applied(
    app: App, tmp_path: Path
) -> None:
    with_fps(app)
    payment = fps_payment(app)
    statement = tmp_path / "statement.csv"
    statement.write_text(
        "date,remarks,credit,currency\n"
        f"23/11/2026,{payment.provider_ref},{payment.amount.decimal_str()},HKD\n"
        "23/11/2026,another,12.3x,HKD\n"
        "23/11/2026,another,1.00,USD\n",
        encoding="utf-8",
    )
    result = run(app, "bank", str(statement), code=2)
    assert "statement_invalid" in result.stderr
    assert "line 3: credit '12.3x' is not an amount" in result.stderr
    assert "line 4: currency 'USD' is not HKD or CNY" in result.stderr
    assert state(app, payment) == (PaymentState.PENDING, OrderState.AWAITING_PAYMENT)
    assert events(app) == 0
    assert not (tmp_path / "statement.report.csv").exists()


def test_a_bad_header_is_refused(app: App, tmp_path: Path) -> None:
    statement = tmp_path / "statement.csv"
    statement.write_text("when,what\n1,2\n", encoding="utf-8")
    result = run(app, "bank", str(statement), code=2)
    assert "line 1: no column for a date" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bank", "{missing}"), "cannot read"),
        (("bank", "{file}", "--currency", "USD"), "--currency: currency 'USD' is not HKD or CNY"),
        (("bank", "{file}", "--out", "{file}"), "--out must not be the input file"),
        (("bank", "{file}", "--pending-days", "-1"), ""),
        (("stripe", "{file}", "--since", "last week"), "--since 'last week' is not a date"),
        (
            ("stripe", "{file}", "--since", "2026-11-30", "--until", "2026-11-01"),
            "--since is after",
        ),
    ],
)
def test_bad_arguments_exit_2(
    app: App, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    file = tmp_path / "input.csv"
    file.write_text(
        "balance_transaction_id,created_utc,currency,gross,reporting_category,"
        "date,remarks,credit\n",
        encoding="utf-8",
    )
    values = {"file": str(file), "missing": str(tmp_path / "nope.csv")}
    result = run(app, *(arg.format(**values) for arg in args), code=2)
    assert message in result.stderr + result.stdout


def test_a_big5_export_from_a_hong_kong_bank_reads(app: App, tmp_path: Path) -> None:
    with_fps(app)
    payment = fps_payment(app)
    statement = tmp_path / "statement.csv"
    statement.write_bytes(
        (
            "交易日期,摘要,存入,貨幣\n"
            f"23/11/2026,轉數快 陳大文 {payment.provider_ref},{payment.amount.decimal_str()},HKD\n"
        ).encode("big5hkscs")
    )
    result = run(app, "bank", str(statement), code=2)  # Chinese headers are not ours ...
    assert "no column for a date" in result.stderr  # ... but the file was read
    statement.write_bytes(
        (
            "date,remarks,credit,currency\n"
            f"23/11/2026,轉數快 陳大文 {payment.provider_ref},{payment.amount.decimal_str()},HKD\n"
        ).encode("big5hkscs")
    )
    run(app, "bank", str(statement))
    assert state(app, payment)[0] is PaymentState.SUCCEEDED


# --- stripe ----------------------------------------------------------------------------------


def test_stripe_resolves_a_settled_charge_and_writes_where_asked(app: App, tmp_path: Path) -> None:
    pending = stripe_payment(app, CARDS[0])
    report_file = tmp_path / "stripe.csv"
    report_file.write_text(
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,"
        "source_id,payment_intent_id,payment_metadata[payment_id]\n"
        f"txn_1,2026-11-22 02:30:00,hkd,{pending.amount.decimal_str()},1.00,1.00,charge,ch_1,"
        f"pi_1,{pending.id}\n"
        "txn_2,2026-11-22 03:00:00,hkd,12.00,0.40,11.60,charge,ch_2,pi_2,pay_unknown\n",
        encoding="utf-8",
    )
    out = tmp_path / "out" / "stripe-report.csv"
    out.parent.mkdir()
    result = run(app, "stripe", str(report_file), "--out", str(out))
    assert "1 resolved" in result.stdout and "1 missing" in result.stdout
    assert state(app, pending) == (PaymentState.SUCCEEDED, OrderState.FULFILLED)
    rows = read_report(out)
    assert [(row["outcome"], row["source_id"]) for row in rows[:2]] == [
        ("resolved", "txn_1"),
        ("missing", "txn_2"),
    ]
    again = run(app, "stripe", str(report_file), "--out", str(out))
    assert "1 matched, 0 resolved" in again.stdout


def test_a_malformed_stripe_report_is_refused(app: App, tmp_path: Path) -> None:
    pending = stripe_payment(app, CARDS[0])
    report_file = tmp_path / "stripe.csv"
    report_file.write_text(
        "balance_transaction_id,created_utc,currency,gross,reporting_category,"
        "payment_metadata[payment_id]\n"
        f"txn_1,2026-11-22 02:30:00,hkd,{pending.amount.decimal_str()},charge,{pending.id}\n"
        "txn_2,2026-11-22 02:30:00,usd,10.00,charge,\n",
        encoding="utf-8",
    )
    result = run(app, "stripe", str(report_file), code=2)
    assert "stripe_report_invalid" in result.stderr
    assert "line 3: currency 'usd' is not HKD or CNY" in result.stderr
    assert state(app, pending)[0] is PaymentState.PENDING
