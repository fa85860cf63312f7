"""``simrenew reconcile``: match a bank statement or a Stripe report against our books.

Registered in ``cli.py`` as ``app.add_typer(reconcile_app, name="reconcile")``. The
file is read and checked whole first: a file with any problem is refused with every
problem and its line, exit code 2, before anything is applied. The report prints as
a table with a summary line and is written as CSV (``--out``, by default next to the
input: ``statement.csv`` → ``statement.report.csv``). Running again on the same file
changes nothing. See docs/payments.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simrenew.bootstrap import App, build
from simrenew.config import Settings
from simrenew.db.reconciliation_queries import SqlReconciliationBooks
from simrenew.domain.errors import DomainError, ImportInvalid
from simrenew.services.bank_statement import parse_bank_statement, parse_currency
from simrenew.services.reconciliation import (
    Outcome,
    ReconciliationReport,
    reconcile_bank,
    reconcile_stripe,
    report_csv,
)
from simrenew.services.stripe_report import parse_stripe_report

reconcile_app = typer.Typer(
    no_args_is_help=True, help="Match bank statements and provider reports against our books."
)

out = Console()
err = Console(stderr=True)

# Files are small (a month of transfers), and a bank export may hold a whole year: the
# limit only stops a wrong file (a database dump) from being read into memory.
MAX_BYTES = 50 * 1024 * 1024
_STYLES = {
    Outcome.MATCHED: "green",
    Outcome.RESOLVED: "green",
    Outcome.MISMATCHED: "red",
    Outcome.UNMATCHED: "yellow",
    Outcome.MISSING: "yellow",
    Outcome.PAID_NOT_FULFILLED: "cyan",
    Outcome.FULFILLED_NOT_PAID: "red",
}


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error[/red]: {message}")
    return typer.Exit(2)


def _read(path: Path) -> str:
    """The file's text: UTF-8 (with or without a byte order mark), else Big5-HKSCS,
    which Hong Kong banks' exports still use for Chinese remarks."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise _fail(f"{escape(str(path))} is larger than {MAX_BYTES // 1024 // 1024} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(
            f"cannot read {escape(str(path))}: {escape(exc.strerror or str(exc))}"
        ) from None
    for encoding in ("utf-8-sig", "big5hkscs"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _fail(f"{escape(str(path))} is neither UTF-8 nor Big5 text")


def _refused(exc: ImportInvalid, path: Path) -> typer.Exit:
    err.print(f"[red]error[/red] ({exc.code}): {escape(str(path))}: {escape(exc.message)}")
    for problem in exc.problems:
        err.print(f"  {escape(str(problem))}")
    return typer.Exit(2)


def _out_path(file: Path, chosen: Path | None) -> Path:
    target = chosen or file.with_name(file.stem + ".report.csv")
    if target.resolve() == file.resolve():
        raise _fail("--out must not be the input file")
    return target


def _moment(text: str | None, option: str, *, end: bool, tz: tzinfo) -> datetime | None:
    """``--since`` / ``--until``: an ISO date (the whole day, Hong Kong time) or an
    ISO date and time (UTC unless it has an offset)."""
    if text is None:
        return None
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            moment = datetime.combine(day, time.max if end else time.min, tzinfo=tz)
        else:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise _fail(f"{option} {escape(text)!r} is not a date (YYYY-MM-DD) or time") from None
    return moment.astimezone(UTC)


@contextlib.contextmanager
def running() -> Iterator[App]:
    """The wired application; a domain error becomes a clear message and exit code 1."""
    application = build(Settings())
    try:
        yield application
    except DomainError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {escape(exc.message)}")
        raise typer.Exit(1) from None
    finally:
        application.close()


def show(report: ReconciliationReport, target: Path) -> None:
    """The report as a table, its summary, and where the CSV went."""
    table = Table(title=report.source, show_lines=False)
    for column in ("outcome", "line", "date", "amount", "reference", "remarks", "payment",
                   "order", "state", "action", "note"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for row in report.rows:
        style = _STYLES[row.outcome]
        states = "/".join(s for s in (row.payment_state, row.order_state) if s)
        table.add_row(
            f"[{style}]{row.outcome.value}[/{style}]",
            "" if row.line is None else str(row.line),
            escape(row.occurred or ""),
            escape(row.amount.display() if row.amount else ""),
            escape(row.reference or ""),
            escape(row.description or ""),
            escape(row.payment_id or ""),
            escape(row.order_id or ""),
            escape(states),
            escape(row.action),
            escape(row.note),
        )
    if report.rows:
        out.print(table)
    out.print(escape(report.summary()))
    out.print(f"report written to {escape(str(target))}")


def _write(report: ReconciliationReport, target: Path) -> None:
    try:
        # newline="": the CSV text carries its own CRLF line ends.
        with target.open("w", encoding="utf-8", newline="") as file:
            file.write(report_csv(report))
    except OSError as exc:
        err.print(
            f"[red]error[/red]: the reconciliation ran, but the report could not be written "
            f"to {escape(str(target))}: {escape(exc.strerror or str(exc))}"
        )
        raise typer.Exit(1) from None


@reconcile_app.command("bank")
def reconcile_bank_command(
    file: Annotated[Path, typer.Argument(help="bank statement CSV (see docs/payments.md)")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="report CSV; default FILE.report.csv")
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(help="the account's currency, for a file without a currency column"),
    ] = None,
    pending_days: Annotated[
        int,
        typer.Option(min=0, help="list FPS payments still pending after this many days"),
    ] = 3,
) -> None:
    """Pay FPS / bank transfer payments from a bank statement; list the rest."""
    if currency is not None:
        try:
            parse_currency(currency)
        except ValueError as exc:
            raise _fail(f"--currency: {escape(str(exc))}") from None
    text = _read(file)
    try:
        statement = parse_bank_statement(text, currency=currency)
    except ImportInvalid as exc:
        raise _refused(exc, file) from None
    target = _out_path(file, out_file)
    with running() as application:
        report = reconcile_bank(
            application.ctx,
            SqlReconciliationBooks(application.engine),
            statement,
            pending_days=pending_days,
        )
    _write(report, target)
    show(report, target)


@reconcile_app.command("stripe")
def reconcile_stripe_command(
    file: Annotated[Path, typer.Argument(help="Stripe itemized balance report CSV")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="report CSV; default FILE.report.csv")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="start of the report's period (default: its first line)"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="end of the report's period, included (default: its last line)"),
    ] = None,
) -> None:
    """Match Stripe's settled charges and refunds against the Stripe payments."""
    text = _read(file)
    try:
        lines = parse_stripe_report(text)
    except ImportInvalid as exc:
        raise _refused(exc, file) from None
    target = _out_path(file, out_file)
    with running() as application:
        tz = application.settings.tz
        start = _moment(since, "--since", end=False, tz=tz)
        end = _moment(until, "--until", end=True, tz=tz)
        if start and end and start > end:
            raise _fail("--since is after --until")
        report = reconcile_stripe(
            application.ctx,
            SqlReconciliationBooks(application.engine),
            lines,
            since=start,
            until=end,
        )
    _write(report, target)
    show(report, target)
