"""The operator's view of the outbox and the scheduled jobs: backlog, dead letters,
and putting dead ones back in the queue (the admin API; ``simrenew outbox`` and
``simrenew jobs`` are the console's equivalent).

Every retry is written to the audit log under the staff user who asked for it, one
record per message or job, in the transaction that puts it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from simrenew.domain.dead_letters import (
    DeadJobNotFound,
    DeadLetter,
    DeadLetterNotFound,
    dead_letter,
)
from simrenew.domain.jobs import Job, JobState
from simrenew.domain.outbox import OutboxState
from simrenew.domain.staff import StaffUser
from simrenew.ports import AuditRecord, UnitOfWork
from simrenew.services.context import Context

# Dead letters are few (a working system has none); a page this size shows them all
# in practice, and a retry of "all" works through them in batches of it.
PAGE = 500


@dataclass(frozen=True, slots=True)
class Backlog:
    """How many messages or jobs are in each state, and how long the oldest due one
    has waited (None when nothing is due)."""

    counts: dict[str, int]
    oldest_due_age: timedelta | None = None


def outbox_backlog(ctx: Context) -> Backlog:
    now = ctx.clock.now()
    with ctx.uow(write=False) as uow:
        counts = uow.outbox.counts()
        oldest = uow.outbox.oldest_due(now)
    return Backlog(
        counts={state.value: counts.get(state.value, 0) for state in OutboxState},
        oldest_due_age=max(now - oldest, timedelta(0)) if oldest is not None else None,
    )


def dead_letters(ctx: Context, *, limit: int = PAGE) -> list[DeadLetter]:
    """Dead outbox messages, newest first, without their payload."""
    with ctx.uow(write=False) as uow:
        messages = uow.outbox.list(state=OutboxState.DEAD.value, limit=limit)
    return [dead_letter(m) for m in messages]


def retry_dead_letter(ctx: Context, message_id: str, *, staff: StaffUser) -> int:
    """Put one dead message back in the queue; raises ``DeadLetterNotFound``."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if not _retry_message(uow, message_id, staff, now):
            raise DeadLetterNotFound(key=message_id)
        uow.commit()
    return 1


def retry_all_dead_letters(ctx: Context, *, staff: StaffUser) -> int:
    """Put every dead message back in the queue; how many were."""
    now = ctx.clock.now()
    count = 0
    with ctx.uow() as uow:
        # One by one, so that each gets its audit record; a retried message is no
        # longer dead, so the next batch is the rest.
        while batch := uow.outbox.list(state=OutboxState.DEAD.value, limit=PAGE):
            count += sum(_retry_message(uow, m.id, staff, now) for m in batch)
        uow.commit()
    return count


def _retry_message(uow: UnitOfWork, message_id: str, staff: StaffUser, now: datetime) -> bool:
    if not uow.outbox.retry_dead(message_id, now):
        return False
    uow.audit.record(
        AuditRecord("outbox", message_id, "dead", "pending", "retried", staff.actor, now)
    )
    return True


# --- scheduled jobs ------------------------------------------------------------------


def job_backlog(ctx: Context) -> Backlog:
    now = ctx.clock.now()
    with ctx.uow(write=False) as uow:
        counts = uow.jobs.counts()
        # Listed earliest due first: the first due one is the longest waiting.
        oldest = uow.jobs.list(state=JobState.PENDING, due_before=now, limit=1)
    return Backlog(
        counts={state.value: counts.get(state.value, 0) for state in JobState},
        oldest_due_age=max(now - oldest[0].due_at, timedelta(0)) if oldest else None,
    )


def dead_jobs(ctx: Context, *, limit: int = PAGE) -> list[Job]:
    """Dead jobs, latest due first."""
    with ctx.uow(write=False) as uow:
        jobs = uow.jobs.list(state=JobState.DEAD, limit=limit)
    return sorted(jobs, key=lambda job: (job.due_at, job.id), reverse=True)


def retry_dead_job(ctx: Context, job_id: str, *, staff: StaffUser) -> int:
    """Put one dead job back in the queue, due now; raises ``DeadJobNotFound``."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if not _retry_job(uow, job_id, staff, now):
            raise DeadJobNotFound(key=job_id)
        uow.commit()
    return 1


def retry_all_dead_jobs(ctx: Context, *, staff: StaffUser) -> int:
    now = ctx.clock.now()
    count = 0
    with ctx.uow() as uow:
        while batch := uow.jobs.list(state=JobState.DEAD, limit=PAGE):
            count += sum(_retry_job(uow, job.id, staff, now) for job in batch)
        uow.commit()
    return count


def _retry_job(uow: UnitOfWork, job_id: str, staff: StaffUser, now: datetime) -> bool:
    if not uow.jobs.retry_dead(job_id, now):
        return False
    uow.audit.record(AuditRecord("job", job_id, "dead", "pending", "retried", staff.actor, now))
    return True
