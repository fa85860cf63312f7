"""``simrenew vouchers``, ``simrenew staff`` and ``simrenew cash``: voucher batches,
staff users and cash at a counter, from a terminal.

Register in ``cli.py``::

    app.add_typer(vouchers_app, name="vouchers")
    app.add_typer(staff_app, name="staff")
    app.add_typer(cash_app, name="cash")

Voucher PINs are written once, to the CSV file the operator names (created with
mode 0600, never overwritten), and are never printed, logged or stored. Cash
commands ask for the staff user's password each time (or read it from the first
line of standard input with ``--password-stdin``).

The commands build the application from the settings, unless the Typer context
object already holds one (``CliRunner().invoke(app, args, obj=application)``): that
is how tests hand them a wired application.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simrenew.bootstrap import App, build
from simrenew.config import Settings
from simrenew.domain.errors import DomainError
from simrenew.domain.money import Money, check_currency
from simrenew.domain.staff import ShiftTotal, StaffRole, StaffUser
from simrenew.domain.vouchers import MAX_BATCH, Voucher, format_pin, format_serial
from simrenew.services.cash import close_shift, open_shift, record_cash_payment
from simrenew.services.staff import add_staff, authenticate_staff, deactivate_staff, list_staff
from simrenew.services.vouchers import generate_vouchers, show_voucher, void_voucher

ACTOR = "cli:operator"

vouchers_app = typer.Typer(no_args_is_help=True, help="Prepaid voucher cards.")
staff_app = typer.Typer(no_args_is_help=True, help="Staff users.")
cash_app = typer.Typer(no_args_is_help=True, help="Cash at a counter.")

out = Console()
err = Console(stderr=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
]
StaffOption = Annotated[str, typer.Option("--staff", help="staff username")]


@contextlib.contextmanager
def running(cli: typer.Context) -> Iterator[App]:
    """The wired application (the context's, or built from the settings); domain
    errors become a clear message and exit code 1."""
    given = cli.obj if isinstance(cli.obj, App) else None
    application = given or build(Settings())
    try:
        yield application
    except DomainError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {escape(exc.message)}")
        raise typer.Exit(1) from None
    finally:
        if given is None:
            application.close()


def _local(application: App, instant: datetime | None) -> str:
    if instant is None:
        return "-"
    return f"{instant.astimezone(application.settings.tz):%Y-%m-%d %H:%M}"


# --- vouchers ------------------------------------------------------------------------


@vouchers_app.command("generate")
def vouchers_generate(
    cli: typer.Context,
    count: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="how many vouchers")],
    expires: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="last day of use (Hong Kong time)")
    ],
    out_file: Annotated[
        Path, typer.Option("--out", help="CSV file for the PINs; must not exist yet")
    ],
    value: Annotated[
        tuple[str, str] | None,
        typer.Option(metavar="CURRENCY AMOUNT", help="face value, e.g. --value HKD 100"),
    ] = None,
    offer: Annotated[str | None, typer.Option(help="offer code the vouchers pay for")] = None,
) -> None:
    """Make a batch of vouchers worth --value, or for --offer; the PINs go to --out."""
    if (value is None) == (offer is None):
        err.print("[red]error[/red]: give either --value CURRENCY AMOUNT or --offer CODE")
        raise typer.Exit(2)
    face: Money | None = None
    if value is not None:
        try:
            face = Money.parse(value[1], check_currency(value[0].upper()))
        except DomainError as exc:
            err.print(f"[red]error[/red] ({exc.code}): {escape(exc.message)}")
            raise typer.Exit(2) from None
    # The file is made first, exclusively: if it cannot be, no voucher is made whose
    # PIN would then be lost; if making the batch fails, the empty file goes again.
    try:
        fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        err.print(
            f"[red]error[/red]: {escape(str(out_file))} exists; PIN files are never overwritten"
        )
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]error[/red]: cannot create {escape(str(out_file))}: {escape(str(exc))}")
        raise typer.Exit(2) from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        written = False
        try:
            with running(cli) as application:
                generated = generate_vouchers(
                    application.ctx,
                    count=count,
                    expires_on=expires.date(),
                    actor=ACTOR,
                    value=face,
                    offer_code=offer,
                )
                batch = generated.batch
                writer = csv.writer(handle)
                writer.writerow(["serial", "pin", "pays", "currency", "expires"])
                for voucher in generated.vouchers:
                    writer.writerow(
                        [
                            format_serial(voucher.serial),
                            format_pin(voucher.pin),
                            batch.describe(),
                            batch.currency,
                            expires.date().isoformat(),
                        ]
                    )
                written = True
        finally:
            if not written:
                handle.close()
                out_file.unlink(missing_ok=True)
    first, last = generated.vouchers[0].serial, generated.vouchers[-1].serial
    out.print(
        f"batch {batch.id}: {batch.count} voucher(s) of {batch.describe()}, serials "
        f"{format_serial(first)} to {format_serial(last)}, expiring "
        f"{expires.date().isoformat()}; PINs written to {escape(str(out_file))}"
    )


def _print_voucher(application: App, voucher: Voucher) -> None:
    table = Table(title=f"voucher {format_serial(voucher.serial)}", show_header=False)
    table.add_row("state", voucher.state.value)
    table.add_row("pays", voucher.describe())
    table.add_row("batch", voucher.batch_id)
    table.add_row("expires (HKT)", _local(application, voucher.expires_at))
    table.add_row("redeemed for order", voucher.redeemed_order_id or "-")
    table.add_row("redeemed (HKT)", _local(application, voucher.redeemed_at))
    table.add_row("voided (HKT)", _local(application, voucher.voided_at))
    out.print(table)


@vouchers_app.command("show")
def vouchers_show(cli: typer.Context, serial: str) -> None:
    """A voucher's state (never its PIN)."""
    with running(cli) as application:
        _print_voucher(application, show_voucher(application.ctx, serial))


@vouchers_app.command("void")
def vouchers_void(cli: typer.Context, serial: str) -> None:
    """Cancel an unused voucher (lost or stolen stock)."""
    with running(cli) as application:
        voucher = void_voucher(application.ctx, serial, actor=ACTOR)
        out.print(f"voucher {format_serial(voucher.serial)}: {voucher.state.value}")


# --- staff ----------------------------------------------------------------------------


def _password(prompt: str, *, stdin: bool, confirm: bool = False) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    text: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return text


@staff_app.command("add")
def staff_add(
    cli: typer.Context,
    username: str,
    role: Annotated[StaffRole, typer.Option(help="what the user may do")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a staff user; the password is asked for twice (or read from stdin)."""
    password = _password(f"Password for {username}", stdin=password_stdin, confirm=True)
    with running(cli) as application:
        user = add_staff(application.ctx, username, password, role, actor=ACTOR)
        out.print(f"staff user {user.username} added as {user.role.value}")


@staff_app.command("list")
def staff_list(cli: typer.Context) -> None:
    """Every staff user."""
    with running(cli) as application:
        users = list_staff(application.ctx)
        table = Table(title=f"{len(users)} staff user(s)")
        for column in ("username", "role", "active", "added (HKT)"):
            table.add_column(column)
        for user in users:
            table.add_row(
                user.username,
                user.role.value,
                "yes" if user.active else "no",
                _local(application, user.created_at),
            )
        out.print(table)


@staff_app.command("deactivate")
def staff_deactivate(cli: typer.Context, username: str) -> None:
    """Stop a staff user from logging in."""
    with running(cli) as application:
        user = deactivate_staff(application.ctx, username, actor=ACTOR)
        out.print(f"staff user {user.username} deactivated")


# --- cash -----------------------------------------------------------------------------


def _login(application: App, username: str, *, stdin: bool) -> StaffUser:
    password = _password(f"Password for {username}", stdin=stdin)
    return authenticate_staff(application.ctx, username, password)


@cash_app.command("open")
def cash_open(
    cli: typer.Context, staff: StaffOption, password_stdin: PasswordStdin = False
) -> None:
    """Open a cash shift."""
    with running(cli) as application:
        user = _login(application, staff, stdin=password_stdin)
        shift = open_shift(application.ctx, user)
        out.print(f"shift {shift.id} opened for {user.username}")


@cash_app.command("take")
def cash_take(
    cli: typer.Context,
    order_id: str,
    staff: StaffOption,
    tendered: Annotated[str, typer.Option(help="cash handed over, in the order's currency")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Take cash for an order awaiting payment; prints the change to give back."""
    with running(cli) as application:
        user = _login(application, staff, stdin=password_stdin)
        with application.uow(write=False) as uow:
            currency = uow.orders.get(order_id).price.currency
        receipt = record_cash_payment(
            application.ctx, user, order_id, tendered=Money.parse(tendered, currency)
        )
        stats = application.relay.drain()
        out.print(
            f"order {receipt.order_id} paid {receipt.amount}: {receipt.tendered} tendered, "
            f"change {receipt.change}; receipt {receipt.id}; {stats.delivered} message(s) sent"
        )


def print_shift_total(application: App, total: ShiftTotal) -> None:
    shift = total.shift
    until = _local(application, shift.closed_at) if shift.closed_at else "now (open)"
    out.print(
        f"shift {shift.id} of {total.username}: {_local(application, shift.opened_at)} "
        f"to {until} (HKT)"
    )
    table = Table(title="cash taken")
    for column in ("currency", "payments", "total"):
        table.add_column(column)
    for line in total.totals:
        table.add_row(line.total.currency, str(line.count), line.total.display())
    if not total.totals:
        table.add_row("-", "0", "-")
    out.print(table)


@cash_app.command("close")
def cash_close(
    cli: typer.Context, staff: StaffOption, password_stdin: PasswordStdin = False
) -> None:
    """Close the cash shift and print what it took, per currency."""
    with running(cli) as application:
        user = _login(application, staff, stdin=password_stdin)
        print_shift_total(application, close_shift(application.ctx, user))
