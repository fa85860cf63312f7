"""``simrenew jobs``, driven in-process with Typer's CliRunner against a wired
application on SQLite and PostgreSQL."""

from __future__ import annotations

import typer
from sqlalchemy import update
from typer.testing import CliRunner, Result

from simrenew.bootstrap import App
from simrenew.cli_jobs import jobs_app
from simrenew.db import tables
from simrenew.domain.cards import CardState
from simrenew.domain.jobs import JobKind, JobState
from tests.support import FixedClock, renew

CARD = "+85261234567"

cli_app = typer.Typer()
cli_app.add_typer(jobs_app, name="jobs")


def _cli(app: App, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli_app, ["jobs", *args], obj=app, env={"COLUMNS": "250"})
    assert result.exit_code == code, result.output
    return result


def test_an_operator_sees_runs_sweeps_and_retries_jobs(app: App, clock: FixedClock) -> None:
    renew(app, CARD, "ONE2-D1")  # expires at 2026-11-23 00:00 Hong Kong time
    assert "expire" not in _cli(app, "list").stdout  # not due yet

    clock.set_local(2026, 11, 23, 0, 0, 0)
    listed = _cli(app, "list").stdout
    assert "expire" in listed and "2026-11-23 00:00:00" in listed
    assert "done 1, skipped 0" in _cli(app, "run").stdout
    with app.uow(write=False) as uow:
        card = uow.cards.find(CARD)
        assert card is not None and card.state is CardState.GRACE
        (reminder,) = [
            job for job in uow.jobs.list(card_id=card.id) if job.kind is JobKind.REMIND_EXPIRED
        ]
    assert "0 job(s) recorded" in _cli(app, "sweep").stdout  # the renewal recorded them

    with app.engine.begin() as connection:
        connection.execute(
            update(tables.scheduled_jobs)
            .where(tables.scheduled_jobs.c.id == reminder.id)
            .values(state="dead", attempts=8, last_error="RuntimeError: boom")
        )
    dead = _cli(app, "list", "--dead").stdout
    assert reminder.id in dead and "RuntimeError: boom" in dead and "dead 1" in dead
    assert "1 dead job(s) back" in _cli(app, "retry", reminder.id).stdout
    _cli(app, "retry", reminder.id, code=1)  # not dead any more
    with app.uow(write=False) as uow:
        again = uow.jobs.get(reminder.id)
    assert again is not None
    assert (again.state, again.attempts, again.due_at) == (JobState.PENDING, 0, clock.now())
