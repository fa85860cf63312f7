"""``simrenew refunds``: refunds for customer service and the operator, from a terminal.

Register in ``cli.py``::

    app.add_typer(refunds_app, name="refunds")

``list`` reads only and asks for no login, like ``simrenew staff list``. The commands
that refund, retry or record a payout act as a staff user of role ``admin`` or
``cs`` and ask for that user's password each time (or read it from the first line of
standard input with ``--password-stdin``), as ``simrenew cash`` does. After a change
the outbox is delivered at once (the provider asked, the subscriber told), as
``simrenew cash take`` does; the worker would otherwise do it moments later.

Tests hand the commands a wired application as the Typer context object, as for
``cli_vouchers``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simrenew.bootstrap import App
from simrenew.cli_vouchers import PasswordStdin, StaffOption, running
from simrenew.domain.refunds import Refund, RefundState
from simrenew.domain.staff import StaffUser
from simrenew.services.staff import authenticate_staff
from simrenew.services.staff_refunds import (
    list_refunds,
    record_payout,
    refund_order_by_staff,
    retry_refund,
)

refunds_app = typer.Typer(no_args_is_help=True, help="Refunds: list, refund an order, retry.")

out = Console()


def _login(application: App, username: str, *, stdin: bool) -> StaffUser:
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"Password for {username}", hide_input=True)
    return authenticate_staff(application.ctx, username, password)


def _stored(application: App, refund_id: str) -> Refund:
    with application.uow(write=False) as uow:
        return uow.refunds.get(refund_id)


def _describe(refund: Refund) -> str:
    what = f"refund {refund.id} of {refund.amount} ({refund.provider}): {refund.state.value}"
    if refund.failure_code and refund.state is not RefundState.SUCCEEDED:
        what += f" ({refund.failure_code})"
    if refund.state is RefundState.MANUAL:
        what += "; pay it back by hand, then `simrenew refunds paid-out`"
    elif refund.state is RefundState.FAILED:
        what += "; `simrenew refunds retry` once the cause is dealt with"
    return escape(what)


@refunds_app.command("list")
def refunds_list(
    cli: typer.Context,
    state: Annotated[RefundState | None, typer.Option(help="only refunds in this state")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 100,
) -> None:
    """Refunds, oldest first; `failed` and `manual` ones wait for a person."""
    with running(cli) as application:
        refunds = list_refunds(application.ctx, state=state, limit=limit)
        table = Table(title=f"{len(refunds)} refund(s)")
        # Ids are what staff copy into the next command: never wrapped or cut, the
        # order's under the refund's so that the table fits a terminal.
        table.add_column("refund / order", no_wrap=True, min_width=40)
        for column in ("state", "amount", "reason", "failure / payout"):
            table.add_column(column, overflow="fold")
        table.add_column("requested (HKT)", min_width=10)
        for refund in refunds:
            detail = refund.failure_code or "-"
            if refund.payout_reference:
                detail = f"{refund.payout_reference} by {refund.paid_out_by}"
            reason = refund.reason if not refund.note else f"{refund.reason}: {refund.note}"
            when = refund.created_at.astimezone(application.settings.tz)
            tries = "1 try" if refund.attempts == 1 else f"{refund.attempts} tries"
            table.add_row(
                f"{refund.id}\n{refund.order_id}",
                f"{refund.state.value}\n{tries}",
                f"{refund.amount.display()}\n{refund.provider}",
                escape(f"{reason}\nby {refund.requested_by}"),
                escape(detail),
                f"{when:%Y-%m-%d %H:%M}",
            )
        out.print(table)


@refunds_app.command("request")
def refunds_request(
    cli: typer.Context,
    order_id: str,
    staff: StaffOption,
    reason: Annotated[str, typer.Option(help="why, for the audit log")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Refund a paid or fulfilled order in full (the plan stays on the card)."""
    with running(cli) as application:
        user = _login(application, staff, stdin=password_stdin)
        result = refund_order_by_staff(application.ctx, user, order_id, reason=reason)
        if result.repeated:
            out.print(f"order {order_id} was already {result.order.state.value}; nothing changed")
        else:
            application.relay.drain()
            out.print(f"order {order_id} refunded by {user.username}")
        for refund in result.refunds:
            out.print(_describe(_stored(application, refund.id)))


@refunds_app.command("retry")
def refunds_retry(
    cli: typer.Context,
    refund_id: str,
    staff: StaffOption,
    password_stdin: PasswordStdin = False,
) -> None:
    """Ask the provider again for a refund it refused."""
    with running(cli) as application:
        user = _login(application, staff, stdin=password_stdin)
        retry_refund(application.ctx, user, refund_id)
        application.relay.drain()
        out.print(_describe(_stored(application, refund_id)))


@refunds_app.command("paid-out")
def refunds_paid_out(
    cli: typer.Context,
    refund_id: str,
    staff: StaffOption,
    reference: Annotated[str, typer.Option(help="the transfer's or receipt's reference")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Record that a refund was paid back by hand (FPS or bank transfer, cash)."""
    with running(cli) as application:
        user = _login(application, staff, stdin=password_stdin)
        record_payout(application.ctx, user, refund_id, reference=reference)
        application.relay.drain()
        out.print(_describe(_stored(application, refund_id)))
