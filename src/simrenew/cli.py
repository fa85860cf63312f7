"""The ``simrenew`` command line: operator tools and the four steps from a terminal."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import tzinfo
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from simrenew import logging_setup
from simrenew.bootstrap import App, build
from simrenew.cli_jobs import jobs_app
from simrenew.cli_reconcile import reconcile_app
from simrenew.cli_refunds import refunds_app
from simrenew.cli_vouchers import cash_app, staff_app, vouchers_app
from simrenew.config import Settings
from simrenew.db.delivery_repository import PartDelivery, list_for_message
from simrenew.db.migrate import upgrade
from simrenew.demo.seed import run_demo, seed
from simrenew.domain.cards import mask_number
from simrenew.domain.errors import DomainError, ImportInvalid
from simrenew.domain.orders import Channel
from simrenew.providers.sandbox import SCENARIOS
from simrenew.services.cards import CardView, import_cards, show_card
from simrenew.services.catalog import import_catalog
from simrenew.services.janitor import run_janitor
from simrenew.services.lifecycle import sweep_lifecycle
from simrenew.services.ordering import PlaceOrder, expire_unpaid_orders, place_order
from simrenew.services.payments import handle_callback, recheck_payment, start_payment
from simrenew.services.quoting import offers_for_card
from simrenew.web.app import create_app
from simrenew.worker.runner import run_worker

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
catalog_app = typer.Typer(no_args_is_help=True, help="The offer catalogue.")
cards_app = typer.Typer(no_args_is_help=True, help="Card stock.")
card_app = typer.Typer(no_args_is_help=True, help="One card.")
payments_app = typer.Typer(no_args_is_help=True, help="Payments.")
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(cards_app, name="cards")
app.add_typer(card_app, name="card")
app.add_typer(payments_app, name="payments")
app.add_typer(reconcile_app, name="reconcile")
app.add_typer(vouchers_app, name="vouchers")
app.add_typer(staff_app, name="staff")
app.add_typer(cash_app, name="cash")
app.add_typer(refunds_app, name="refunds")
app.add_typer(jobs_app, name="jobs")

out = Console()
err = Console(stderr=True)


@contextlib.contextmanager
def running() -> Iterator[App]:
    """The wired application; domain errors become a clear message and exit code 1."""
    application = build(Settings())
    try:
        yield application
    except ImportInvalid as exc:
        err.print(f"[red]error[/red] ({exc.code}): {escape(exc.message)}")
        for problem in exc.problems:
            err.print(f"  {escape(str(problem))}")
        raise typer.Exit(1) from None
    except DomainError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {escape(exc.message)}")
        raise typer.Exit(1) from None
    finally:
        application.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error[/red]: cannot read {escape(str(path))}: {escape(str(exc))}")
        raise typer.Exit(2) from None


# --- schema and imports ------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version."""
    with running() as application:
        upgrade(application.engine)
        out.print("database is at the latest schema")


@catalog_app.command("import")
def catalog_import(file: Annotated[Path, typer.Argument(help="catalogue YAML")]) -> None:
    """Validate and import a catalogue file, all or nothing."""
    text = _read(file)
    with running() as application:
        summary = import_catalog(application.ctx, text)
        out.print("catalogue imported: " + ", ".join(f"{k} {v}" for k, v in summary.items()))


@cards_app.command("import")
def cards_import(
    file: Annotated[Path, typer.Argument(help="card stock CSV")],
    skip_bad: Annotated[bool, typer.Option(help="import the good rows, list the bad")] = False,
) -> None:
    """Import card stock. Any bad row stops the import unless --skip-bad."""
    text = _read(file)
    with running() as application, _progress() as progress:
        task = progress.add_task("importing cards", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = import_cards(application.ctx, text, skip_bad=skip_bad, on_progress=advance)
    out.print(f"{result.imported} card(s) imported")
    if result.skipped:
        err.print(f"{len(result.skipped)} row(s) skipped:")
        for problem in result.skipped:
            err.print(f"  {escape(str(problem))}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )


# --- the four steps ----------------------------------------------------------------


def print_card(view: CardView) -> None:
    card = view.card
    table = Table(title=f"card {card.iccid}", show_header=False)
    table.add_row(
        "number", card.primary_number + (f"  /  {card.second_number}" if card.second_number else "")
    )
    table.add_row("product line", f"{view.line.code} ({view.line.name.en})")
    table.add_row("state", card.state.value)
    table.add_row("valid until", f"{card.validity_end} 23:59:59 HKT" if card.validity_end else "-")
    if view.days_left is not None:
        table.add_row("days left", str(view.days_left))
    table.add_row("balance", view.balance.display())
    current = view.current_period
    table.add_row(
        "current plan", f"{current.offer_code} {current.start}..{current.end}" if current else "-"
    )
    queued = [p for p in view.periods if p is not current]
    if queued:
        table.add_row("queued", ", ".join(f"{p.offer_code} {p.start}..{p.end}" for p in queued))
    for bucket in view.buckets:
        unit = {"data_mb": "MB", "voice_min": "min", "sms": "SMS"}[bucket.kind.value]
        table.add_row(
            f"{bucket.zone} {unit}",
            f"{bucket.left} left of {bucket.initial} (until "
            f"{bucket.valid_until.astimezone(view.as_of.tzinfo):%Y-%m-%d %H:%M})",
        )
    out.print(table)


@card_app.command("show")
def card_show(key: Annotated[str, typer.Argument(help="number or ICCID")]) -> None:
    """Step 1 — check: state, validity, balance and allowances left."""
    with running() as application:
        print_card(show_card(application.ctx, key))


@app.command("offers")
def offers(key: Annotated[str, typer.Argument(help="number or ICCID")]) -> None:
    """Step 2 — choose: the offers that fit this card, with promotions applied."""
    with running() as application:
        card, quotes = offers_for_card(application.ctx, key)
        table = Table(title=f"offers for {mask_number(card.primary_number)}")
        for column in ("code", "kind", "name", "price", "promotion", "valid until after"):
            table.add_column(column)
        for quote in quotes:
            price = quote.price
            shown = price.price.display()
            if price.discount.amount_minor:
                shown = f"{shown} (was {price.list_price.display()})"
            after = (
                str(quote.validity_end_after or "-")
                if quote.available
                else (f"not now: {quote.refusal.message if quote.refusal else ''}")
            )
            table.add_row(
                quote.offer.code,
                quote.offer.kind.value,
                quote.offer.name.get(card.language),
                shown,
                ", ".join(price.promotion_codes) or "-",
                after,
            )
        out.print(table)


@app.command("renew")
def renew(
    key: Annotated[str, typer.Argument(help="number or ICCID")],
    offer: Annotated[str, typer.Argument(help="offer code (see `simrenew offers`)")],
    promo: Annotated[str | None, typer.Option(help="coupon code")] = None,
    pay: Annotated[str, typer.Option(help="payment provider")] = "sandbox",
    scenario: Annotated[
        str, typer.Option(help=f"sandbox outcome: {', '.join(SCENARIOS)}")
    ] = "succeed",
    channel: Annotated[Channel, typer.Option(help="sales channel")] = Channel.AGENT,
    idempotency_key: Annotated[str | None, typer.Option(help="repeat-safe request key")] = None,
) -> None:
    """Steps 2-4 — order OFFER for the card, pay, and confirm."""
    if pay == "sandbox" and scenario not in SCENARIOS:
        err.print(f"[red]error[/red]: --scenario must be one of {', '.join(SCENARIOS)}")
        raise typer.Exit(2)
    with running() as application:
        ctx = application.ctx
        order, created = place_order(
            ctx,
            PlaceOrder(
                key,
                offer,
                channel,
                actor="cli:operator",
                coupon=promo,
                idempotency_key=idempotency_key,
            ),
        )
        out.print(
            f"order {order.id} {'placed' if created else 'already placed'}: {order.offer_code} "
            f"{order.price.display()}"
            + (
                f" ({order.discount.display()} off with {', '.join(order.promotions)})"
                if order.promotions
                else ""
            )
        )
        if order.state.value != "awaiting_payment":
            out.print(f"order is {order.state.value}")
        else:
            payment = start_payment(ctx, order.id, pay, actor="cli:operator", scenario=scenario)
            out.print(f"payment {payment.id} with {pay}: {payment.state.value}")
            if pay == "sandbox" and payment.state.value == "pending":
                callbacks = application.sandbox.complete(payment.id)
                callbacks += application.sandbox.settle(payment.id)
                for callback in callbacks:
                    outcome = handle_callback(ctx, "sandbox", callback.headers, callback.body)
                    out.print(f"callback {outcome.value}")
            elif payment.state.value == "unknown":
                out.print("provider did not answer; re-checking")
                payment = recheck_payment(ctx, payment.id)
                out.print(f"payment {payment.id}: {payment.state.value}")
        stats = application.relay.drain()
        with ctx.uow(write=False) as uow:
            final = uow.orders.get(order.id)
        out.print(f"order {final.id}: {final.state.value}; {stats.delivered} message(s) sent")


@app.command("orders")
def orders(key: Annotated[str, typer.Argument(help="number or ICCID")]) -> None:
    """The card's orders, newest first."""
    with running() as application:
        view = show_card(application.ctx, key)
        table = Table(title=f"orders for {mask_number(view.card.primary_number)}")
        for column in ("order", "created (HKT)", "channel", "offer", "price", "state"):
            table.add_column(column)
        for order in view.orders:
            table.add_row(
                order.id,
                f"{order.created_at.astimezone(application.settings.tz):%Y-%m-%d %H:%M}",
                order.channel.value,
                f"{order.offer_code} v{order.offer_version}",
                order.price.display(),
                order.state.value,
            )
        out.print(table)


@payments_app.command("recheck")
def payments_recheck(payment_id: str) -> None:
    """Ask the provider about a payment that is not final (counts as one of its checks)."""
    with running() as application:
        payment = recheck_payment(application.ctx, payment_id)
        out.print(f"payment {payment.id}: {payment.state.value}")


@payments_app.command("review")
def payments_review(
    limit: Annotated[int, typer.Option(help="at most this many, longest waiting first")] = 100,
) -> None:
    """Payments flagged for manual review: still not final after a week of re-checks."""
    with running() as application, application.uow(write=False) as uow:
        flagged = uow.payments.list_for_review(limit)
    if not flagged:
        out.print("no payments flagged for review")
        return
    table = Table(title=f"{len(flagged)} payment(s) flagged for review", pad_edge=False)
    # Ids are what an operator copies into a provider's dashboard: folded, never cut.
    table.add_column("payment", overflow="fold")
    table.add_column("order", overflow="fold")
    for column in ("provider", "state", "amount"):
        table.add_column(column)
    table.add_column("since (HKT)", min_width=10)
    table.add_column("checks", justify="right")
    tz = application.settings.tz
    for payment in flagged:
        since = payment.review_since
        table.add_row(
            payment.id,
            payment.order_id,
            payment.provider,
            payment.state.value,
            payment.amount.display(),
            f"{since.astimezone(tz):%Y-%m-%d %H:%M}" if since else "-",
            str(payment.rechecks),
        )
    out.print(table)


@payments_app.command("janitor")
def payments_janitor(
    batch: Annotated[int, typer.Option(min=1, help="re-check at most this many")] = 100,
) -> None:
    """One pass of the janitor: re-check the payments that are due (the worker: every minute)."""
    with running() as application:
        result = run_janitor(application.ctx, batch=batch)
    out.print(
        f"{result.checked} payment(s) re-checked: {result.resolved} resolved, "
        f"{result.still_open} still open, {result.flagged} flagged for review"
        + (f", {result.errors} failed (see the log)" if result.errors else "")
    )


@app.command("inbox")
def inbox(
    to: Annotated[str | None, typer.Option(help="only this recipient")] = None,
    limit: int = 20,
) -> None:
    """The developer inbox: SMS and e-mail the embedded mode 'sent'."""
    with running() as application:
        messages = application.inbox.list(recipient=to, limit=limit)
        if not messages:
            out.print("the inbox is empty")
        for message in messages:
            when = message.created_at.astimezone(application.settings.tz)
            subject = f" [{message.subject}]" if message.subject else ""
            out.print(
                f"[bold]{when:%Y-%m-%d %H:%M:%S}[/bold] {message.channel} "
                f"→ {message.recipient}{subject}"
            )
            out.print(f"  {message.body}")


def print_deliveries(parts: list[PartDelivery], message_id: str, tz: tzinfo) -> None:
    if not parts:
        err.print(f"[red]error[/red]: no SMS part recorded for {escape(message_id)}")
        raise typer.Exit(1)
    table = Table("part", "channel", "gateway id", "status", "error", "submitted", "done")
    for part in parts:
        table.add_row(
            str(part.part or "?"),
            part.channel,
            escape(part.remote_id),
            part.status.value,
            escape(part.error_code or ""),
            f"{part.submitted_at.astimezone(tz):%Y-%m-%d %H:%M:%S}" if part.submitted_at else "",
            f"{part.done_at.astimezone(tz):%Y-%m-%d %H:%M:%S}" if part.done_at else "",
        )
    out.print(table)


@app.command("outbox")
def outbox(
    dead: Annotated[bool, typer.Option(help="list dead letters")] = False,
    retry: Annotated[
        str | None, typer.Option(help="put this dead message back in the queue")
    ] = None,
    retry_all: Annotated[bool, typer.Option(help="put every dead message back")] = False,
    message_id: Annotated[
        str | None,
        typer.Option("--message", help="the delivery status of each part of this SMS"),
    ] = None,
) -> None:
    """The outbox: backlog by state, dead letters, retrying them, SMS delivery status."""
    if message_id:
        with running() as application:
            parts = list_for_message(application.engine, message_id)
            print_deliveries(parts, message_id, application.settings.tz)
        return
    with running() as application, application.uow() as uow:
        if retry or retry_all:
            count = uow.outbox.retry_dead(retry, application.ctx.clock.now())
            uow.commit()
            out.print(f"{count} message(s) back in the queue")
            if retry and not count:
                err.print(f"[red]error[/red]: no dead message {escape(retry)}")
                raise typer.Exit(1)
            return
        counts = uow.outbox.counts()
        out.print(
            ", ".join(
                f"{state} {counts.get(state, 0)}" for state in ("pending", "delivered", "dead")
            )
        )
        if dead:
            for message in uow.outbox.list(state="dead", limit=100):
                out.print(
                    f"{message.id} {message.kind.value} attempts {message.attempts}: "
                    f"{escape(message.last_error or '')}"
                )


@app.command("sweep")
def sweep() -> None:
    """Expire unpaid orders and move cards whose validity or grace has ended."""
    with running() as application:
        expired = expire_unpaid_orders(application.ctx)
        result = sweep_lifecycle(application.ctx)
        out.print(
            f"{expired} order(s) expired, {result.to_grace} card(s) to grace, "
            f"{result.terminated} terminated"
        )


@app.command("worker")
def worker(
    once: Annotated[bool, typer.Option(help="deliver what is due, then stop")] = False,
) -> None:
    """Deliver the outbox and run the periodic sweeps until stopped (Ctrl-C)."""
    with running() as application:
        if once:
            stats = application.relay.drain()
            out.print(f"{stats.delivered} delivered, {stats.retried} to retry, {stats.dead} dead")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        out.print(f"worker {application.relay.worker_id} running; Ctrl-C stops it")
        logging_setup.configure()
        run_worker(application, stop)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option(help="seed the demo data on first run")] = False,
) -> None:
    """Embedded mode: API, web pages and worker in one process (SQLite by default)."""
    with running() as application:
        upgrade(application.engine)
        if demo:
            seed(application, out)
        stop = threading.Event()
        worker_thread = threading.Thread(
            target=run_worker, args=(application, stop), name="simrenew-worker", daemon=True
        )
        worker_thread.start()
        out.print(f"simrenew on http://{host}:{port}  (API docs: /docs; Ctrl-C stops it)")
        logging_setup.configure()
        try:
            uvicorn.run(
                create_app(application), host=host, port=port, access_log=False, log_config=None
            )
        finally:
            stop.set()
            worker_thread.join(timeout=10)


@app.command("api")
def api(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="server processes")] = 1,
) -> None:
    """Production: the HTTP API only (run `simrenew worker` beside it, any number of each)."""
    logging_setup.configure()
    uvicorn.run(
        "simrenew.web.asgi:create",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
    )


@app.command("demo")
def demo() -> None:
    """Seed the demo catalogue and cards, then walk the four steps for one card."""
    started = time.perf_counter()
    with running() as application:
        run_demo(application, out, print_card)
    out.print(f"demo finished in {time.perf_counter() - started:.1f} s")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
