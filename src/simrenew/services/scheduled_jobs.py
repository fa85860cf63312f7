"""Scheduled jobs (``domain.jobs``): recorded with the change that makes them due,
run one per transaction by the worker (worker/jobs.py), found again by a daily sweep.

A handler runs inside the transaction that holds its job's row and its card's row
lock and marks the job finished, so what it does (a lifecycle move, outbox rows)
commits exactly once with "done". Handlers are looked up by kind in a registry;
kinds with no handler are never claimed (they wait, pending, for one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from simrenew.domain.buckets import Bucket
from simrenew.domain.cards import Card, CardState
from simrenew.domain.jobs import (
    AUTO_RENEW_TRIES,
    DATA_THRESHOLDS,
    DAYS_BEFORE,
    REMINDER_KINDS,
    REMINDER_STALE_AFTER,
    Job,
    JobKind,
    JobState,
    SweepWindow,
    data_left,
    data_threshold_jobs,
    in_quiet_hours,
    jobs_for_period,
    outside_quiet_hours,
)
from simrenew.domain.outbox import OutboxKind
from simrenew.ports import UnitOfWork
from simrenew.services.context import Context
from simrenew.services.lifecycle import expire_card, terminate_card
from simrenew.services.reminders import send_reminder

# The daily sweep looks two days ahead: a sweep missed for a day still finds every
# job before it is due.
SWEEP_LOOKAHEAD = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a handler did: ``state`` ``done`` or ``skipped`` with a line saying why,
    or ``defer_until`` (due again then, e.g. after quiet hours)."""

    outcome: str
    state: JobState = JobState.DONE
    defer_until: datetime | None = None


JobHandler = Callable[[UnitOfWork, Context, Job, Card, datetime], JobResult]


def skipped(outcome: str) -> JobResult:
    return JobResult(outcome, JobState.SKIPPED)


# --- recording -------------------------------------------------------------------


def schedule_period(uow: UnitOfWork, ctx: Context, card: Card, *, now: datetime) -> None:
    """Record every job of ``card``'s current validity period (in ``uow``, with the
    change that set it). Jobs of an earlier period stay and are skipped when run."""
    if card.validity_end is None or card.state not in (CardState.ACTIVE, CardState.GRACE):
        return
    line = uow.catalog.product_line(card.product_line)
    setting = uow.accounts.auto_renew(card.id)
    uow.jobs.add_many(
        jobs_for_period(
            card.id,
            card.validity_end,
            grace_days=line.grace_days,
            tz=ctx.clock.tz,
            now=now,
            auto_renew=bool(setting and setting.enabled),
        ),
        at=now,
    )


def schedule_data_reminders(
    uow: UnitOfWork, ctx: Context, card: Card, buckets: tuple[Bucket, ...], *, now: datetime
) -> None:
    """Record the data reminders that the buckets (use applied) call for."""
    if card.validity_end is None or card.state is not CardState.ACTIVE:
        return
    left, initial = data_left(buckets, now)
    planned = data_threshold_jobs(
        card.id, card.validity_end, left=left, initial=initial, now=now, tz=ctx.clock.tz
    )
    uow.jobs.add_many(planned, at=now)


def sweep_jobs(ctx: Context, *, lookahead: timedelta = SWEEP_LOOKAHEAD) -> int:
    """The daily backstop: record every job due within ``lookahead`` (and every
    overdue expiry and termination) for all cards, including cards changed outside
    the application. Returns how many jobs were recorded (already known ones are
    not counted)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        recorded = uow.jobs.sweep(SweepWindow(now, now + lookahead), ctx.clock.tz)
        uow.commit()
    return recorded


# --- running ---------------------------------------------------------------------


def run_job(
    ctx: Context, job: Job, *, worker: str, handlers: Mapping[JobKind, JobHandler]
) -> JobResult | None:
    """Run the claimed ``job`` in one transaction; None if it is no longer ours (our
    lease ran out and another worker took it). A handler's exception rolls the whole
    transaction back and propagates (the caller records the failure)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        held = uow.jobs.hold(job.id, worker)
        if held is None:
            return None
        card = uow.cards.get(held.card_id, lock=True)
        result = _precheck(ctx, held, card, now) or handlers[held.kind](uow, ctx, held, card, now)
        if result.defer_until is not None:
            uow.jobs.defer(held.id, worker, until=result.defer_until, outcome=result.outcome)
        else:
            uow.jobs.finish(held.id, worker, state=result.state, outcome=result.outcome, at=now)
        uow.commit()
    return result


def _precheck(ctx: Context, job: Job, card: Card, now: datetime) -> JobResult | None:
    if card.validity_end != job.validity_end:
        ends = card.validity_end.isoformat() if card.validity_end else "-"
        return skipped(f"superseded: the card's validity now ends {ends}")
    if job.kind in REMINDER_KINDS:
        if now - job.due_at > REMINDER_STALE_AFTER:
            return skipped(f"stale: due at {job.due_at.isoformat()}")
        if in_quiet_hours(now, ctx.clock.tz):
            return JobResult("quiet hours", defer_until=outside_quiet_hours(now, ctx.clock.tz))
    return None


def expire(uow: UnitOfWork, ctx: Context, job: Job, card: Card, now: datetime) -> JobResult:
    if card.state is not CardState.ACTIVE:
        return skipped(f"card is {card.state.value}")
    expire_card(uow, card, now=now)
    return JobResult("active → grace")


def terminate(uow: UnitOfWork, ctx: Context, job: Job, card: Card, now: datetime) -> JobResult:
    if card.state not in (CardState.ACTIVE, CardState.GRACE):
        return skipped(f"card is {card.state.value}")
    if card.state is CardState.ACTIVE:  # its expiry never ran (dead): both moves now
        card = expire_card(uow, card, now=now)
    terminate_card(uow, ctx, card, uow.catalog.product_line(card.product_line), now=now)
    return JobResult("grace → terminated")


def remind(uow: UnitOfWork, ctx: Context, job: Job, card: Card, now: datetime) -> JobResult:
    wanted = CardState.ACTIVE if job.kind in DAYS_BEFORE else CardState.GRACE
    if card.state is not wanted:
        return skipped(f"card is {card.state.value}")
    line = uow.catalog.product_line(card.product_line)
    sent = send_reminder(uow, ctx, card, job, grace_days=line.grace_days, now=now)
    return JobResult(f"{sent} message(s)") if sent else skipped("reminders opted out")


def remind_data(uow: UnitOfWork, ctx: Context, job: Job, card: Card, now: datetime) -> JobResult:
    if card.state is not CardState.ACTIVE:
        return skipped(f"card is {card.state.value}")
    left, initial = data_left(uow.cards.buckets(card.id, valid_at=now), now)
    percent = DATA_THRESHOLDS[job.kind]
    if initial <= 0 or left * 100 > initial * percent:
        return skipped("data topped up since")
    lower = [p for p in DATA_THRESHOLDS.values() if p < percent and left * 100 <= initial * p]
    if lower:
        return skipped(f"below {min(lower)} %: that reminder says it")
    line = uow.catalog.product_line(card.product_line)
    sent = send_reminder(uow, ctx, card, job, grace_days=line.grace_days, now=now, left_mb=left)
    return JobResult(f"{sent} message(s)") if sent else skipped("reminders opted out")


def queue_auto_renew_try(
    uow: UnitOfWork, ctx: Context, job: Job, card: Card, now: datetime
) -> JobResult:
    """A try charges a saved method: a provider call, which never happens while the
    job's locks are held. The try goes to the outbox, whose relay runs it
    (services/auto_renew.py) with no transaction open; its own keys make a try that
    is delivered twice order and charge once."""
    if card.state not in (CardState.ACTIVE, CardState.GRACE):
        return skipped(f"card is {card.state.value}")
    attempt = AUTO_RENEW_TRIES[job.kind]
    uow.outbox.add(
        OutboxKind.AUTO_RENEW,
        {"card_id": card.id, "validity_end": job.period, "attempt": attempt.value},
        at=now,
        dedupe_key=f"auto_renew:{card.id}:{job.period}:{attempt.value}",
    )
    return JobResult(f"try {attempt.value} queued")


def default_handlers() -> dict[JobKind, JobHandler]:
    """Every kind this release acts on."""
    return {
        JobKind.EXPIRE: expire,
        JobKind.TERMINATE: terminate,
        **dict.fromkeys(AUTO_RENEW_TRIES, queue_auto_renew_try),
        **dict.fromkeys((*DAYS_BEFORE, JobKind.REMIND_EXPIRED, JobKind.REMIND_GRACE), remind),
        **dict.fromkeys(DATA_THRESHOLDS, remind_data),
    }


# --- operators -------------------------------------------------------------------


def list_jobs(ctx: Context, *, state: JobState | None = None, limit: int = 100) -> list[Job]:
    """Jobs in ``state`` (all when None), earliest due first; pending ones due by now."""
    due_before = ctx.clock.now() if state is JobState.PENDING else None
    with ctx.uow(write=False) as uow:
        return uow.jobs.list(state=state, due_before=due_before, limit=limit)


def retry_dead_jobs(ctx: Context, job_id: str | None = None) -> int:
    """Dead jobs (one, or all) back to pending, due now, attempts reset."""
    with ctx.uow() as uow:
        count = uow.jobs.retry_dead(job_id, ctx.clock.now())
        uow.commit()
    return count
