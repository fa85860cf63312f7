"""``simrenew jobs``: the scheduled jobs (expiry, termination, reminders, auto-renew
attempts) for an operator: what is due, what is dead, run the due ones once, sweep,
retry the dead ones.

Register in ``cli.py``::

    app.add_typer(jobs_app, name="jobs")

Tests hand the commands a wired application as the Typer context object, as for
``cli_vouchers``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simrenew.bootstrap import App
from simrenew.cli_vouchers import running
from simrenew.domain.jobs import Job, JobState
from simrenew.services.scheduled_jobs import list_jobs, retry_dead_jobs, sweep_jobs
from simrenew.worker.jobs import JobRunner

jobs_app = typer.Typer(
    no_args_is_help=True, help="Scheduled jobs: due and dead ones, run, sweep, retry."
)

out = Console()


def _local(application: App, job: Job) -> str:
    return f"{job.due_at.astimezone(application.settings.tz):%Y-%m-%d %H:%M:%S}"


def _table(application: App, jobs: list[Job], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "kind", "card", "period", "due (local)", "attempts", "last error"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            job.id,
            job.kind.value,
            job.card_id,
            job.period,
            _local(application, job),
            str(job.attempts),
            escape(job.last_error or ""),
        )
    return table


@jobs_app.command("list")
def jobs_list(
    cli: typer.Context,
    dead: Annotated[bool, typer.Option("--dead", help="dead jobs instead of due ones")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
) -> None:
    """Jobs due now and not yet run (or, with --dead, those that failed too often),
    with the counts by state."""
    with running(cli) as application:
        state = JobState.DEAD if dead else JobState.PENDING
        jobs = list_jobs(application.ctx, state=state, limit=limit)
        with application.uow(write=False) as uow:
            counts = uow.jobs.counts()
        summary = ", ".join(f"{key} {counts.get(key.value, 0)}" for key in JobState)
        out.print(f"jobs: {summary}")
        out.print(_table(application, jobs, "dead jobs" if dead else "due jobs"))


@jobs_app.command("run")
def jobs_run(cli: typer.Context) -> None:
    """Run every job due now, once, in this process (the worker does it continuously)."""
    with running(cli) as application:
        stats = JobRunner(application.ctx, worker_id=f"cli:{application.relay.worker_id}").drain()
        out.print(
            f"done {stats.done}, skipped {stats.skipped}, deferred {stats.deferred}, "
            f"retried {stats.retried}, dead {stats.dead}"
        )


@jobs_app.command("sweep")
def jobs_sweep(cli: typer.Context) -> None:
    """Record every job due in the next two days (and any overdue expiry) for every
    card, including cards changed outside simrenew. The worker does it once a day."""
    with running(cli) as application:
        recorded = sweep_jobs(application.ctx)
        out.print(f"{recorded} job(s) recorded")


@jobs_app.command("retry")
def jobs_retry(
    cli: typer.Context,
    job_id: Annotated[str | None, typer.Argument(help="one dead job; all when omitted")] = None,
) -> None:
    """Put dead jobs back in the queue, due now, with their attempts reset."""
    with running(cli) as application:
        count = retry_dead_jobs(application.ctx, job_id)
        out.print(f"{count} dead job(s) back in the queue")
        if job_id is not None and count == 0:
            raise typer.Exit(1)
