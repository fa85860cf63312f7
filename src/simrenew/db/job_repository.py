"""Scheduled jobs as rows (``domain.jobs``): recorded in the transaction that makes
them due, claimed under a lease with ``SKIP LOCKED``, and found again by a daily
set-based sweep for cards changed behind the application's back."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Executable,
    String,
    Table,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from simrenew.db import tables as t
from simrenew.db.types import UtcDateTime
from simrenew.domain.cards import CardState
from simrenew.domain.ids import new_id
from simrenew.domain.jobs import (
    AUTO_RENEW_KINDS,
    LIFECYCLE_KINDS,
    MAX_ATTEMPTS,
    Job,
    JobKind,
    JobSpec,
    JobState,
    PlannedJob,
    SweepWindow,
    period_specs,
    spec_due_at,
)

_J = t.scheduled_jobs
_CONFLICT = ("card_id", "period", "kind")
_PENDING = JobState.PENDING.value


def job_from_row(row: Any) -> Job:
    return Job(
        id=row.id,
        kind=JobKind(row.kind),
        card_id=row.card_id,
        period=row.period,
        due_at=row.due_at,
        state=JobState(row.state),
        attempts=row.attempts,
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        last_error=row.last_error,
        done_at=row.done_at,
        outcome=row.outcome,
    )


@functools.cache
def _insert_ignoring(dialect: str, table: Table) -> Any:
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=_CONFLICT)
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=_CONFLICT)
    raise ValueError(f"simrenew runs on SQLite and PostgreSQL, not {dialect!r}")


class SqlJobRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def _dialect(self) -> str:
        return self._connection.dialect.name

    def add_many(self, jobs: Sequence[PlannedJob], *, at: datetime) -> None:
        """Record ``jobs``; one already recorded for its (card, period, kind) stays as it is."""
        if not jobs:
            return
        rows = [
            {
                "id": new_id("job"),
                "kind": job.kind.value,
                "card_id": job.card_id,
                "period": job.period,
                "due_at": job.due_at,
                "state": _PENDING,
                "attempts": 0,
                "created_at": at,
            }
            for job in jobs
        ]
        self._connection.execute(_insert_ignoring(self._dialect, _J), rows)

    def get(self, job_id: str) -> Job | None:
        row = self._connection.execute(select(_J).where(_J.c.id == job_id)).first()
        return None if row is None else job_from_row(row)

    def claim_due(
        self,
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        kinds: Collection[JobKind],
    ) -> list[Job]:
        """Take up to ``limit`` due jobs of ``kinds`` under a lease, oldest first.

        ``SKIP LOCKED`` lets workers claim side by side on PostgreSQL, and skips a job
        whose handler transaction holds it (see ``hold``) even after its lease ran
        out; SQLite has one writer at a time, so the UPDATE alone settles it. Attempts
        are counted at claim time, so a job that kills its worker still goes dead."""
        due = (
            select(_J.c.id)
            .where(
                _J.c.state == _PENDING,
                _J.c.due_at <= now,
                _J.c.kind.in_([kind.value for kind in kinds]),
                or_(_J.c.lease_until.is_(None), _J.c.lease_until < now),
            )
            .order_by(_J.c.due_at, _J.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = self._connection.execute(
            update(_J)
            .where(_J.c.id.in_(due.scalar_subquery()))
            .values(claimed_by=worker, lease_until=lease_until, attempts=_J.c.attempts + 1)
            .returning(*_J.c)
        ).all()
        return sorted((job_from_row(r) for r in rows), key=lambda job: (job.due_at, job.id))

    def hold(self, job_id: str, worker: str) -> Job | None:
        """Lock the job for its handler's transaction if it is still ours and pending;
        None if another worker took it over (our lease ran out) or it is finished."""
        row = self._connection.execute(
            select(_J)
            .where(_J.c.id == job_id, _J.c.claimed_by == worker, _J.c.state == _PENDING)
            .with_for_update()
        ).first()
        return None if row is None else job_from_row(row)

    def finish(
        self, job_id: str, worker: str, *, state: JobState, outcome: str, at: datetime
    ) -> None:
        JobState.check(JobState.PENDING, state)
        self._connection.execute(
            update(_J)
            .where(_J.c.id == job_id, _J.c.claimed_by == worker, _J.c.state == _PENDING)
            .values(state=state.value, outcome=outcome[:2000], done_at=at, lease_until=None)
        )

    def defer(self, job_id: str, worker: str, *, until: datetime, outcome: str) -> None:
        """Due again at ``until``; not counted as an attempt (nothing failed)."""
        self._connection.execute(
            update(_J)
            .where(_J.c.id == job_id, _J.c.claimed_by == worker, _J.c.state == _PENDING)
            .values(
                due_at=until,
                outcome=outcome[:2000],
                claimed_by=None,
                lease_until=None,
                attempts=_J.c.attempts - 1,
            )
        )

    def fail(self, job_id: str, worker: str, *, error: str, retry_at: datetime) -> JobState:
        """Back in the queue at ``retry_at``, or ``dead`` once attempts are used up."""
        attempts = self._connection.scalar(select(_J.c.attempts).where(_J.c.id == job_id)) or 0
        state = JobState.DEAD if attempts >= MAX_ATTEMPTS else JobState.PENDING
        self._connection.execute(
            update(_J)
            .where(_J.c.id == job_id, _J.c.claimed_by == worker, _J.c.state == _PENDING)
            .values(
                state=state.value,
                last_error=error[:2000],
                due_at=retry_at,
                claimed_by=None,
                lease_until=None,
            )
        )
        return state

    def list(
        self,
        *,
        state: JobState | None = None,
        card_id: str | None = None,
        due_before: datetime | None = None,
        limit: int = 100,
    ) -> list[Job]:
        query = select(_J).order_by(_J.c.due_at, _J.c.id).limit(limit)
        if state is not None:
            query = query.where(_J.c.state == state.value)
        if card_id is not None:
            query = query.where(_J.c.card_id == card_id)
        if due_before is not None:
            query = query.where(_J.c.due_at <= due_before)
        return [job_from_row(r) for r in self._connection.execute(query)]

    def retry_dead(self, job_id: str | None, at: datetime) -> int:
        query = update(_J).where(_J.c.state == JobState.DEAD.value)
        if job_id is not None:
            query = query.where(_J.c.id == job_id)
        result = self._connection.execute(
            query.values(state=_PENDING, attempts=0, due_at=at, claimed_by=None, lease_until=None)
        )
        return result.rowcount

    def counts(self) -> dict[str, int]:
        rows = self._connection.execute(select(_J.c.state, func.count()).group_by(_J.c.state))
        return {state: count for state, count in rows}

    # --- the daily sweep -----------------------------------------------------------

    def sweep(self, window: SweepWindow, tz: tzinfo) -> int:
        """Record every job of every card that falls due in ``window`` (see
        ``SweepWindow``), set-based: one ``INSERT ... SELECT ... ON CONFLICT DO
        NOTHING`` per product line and job kind, each an index range scan of
        ``cards (state, validity_end)``. Returns the number of jobs recorded.

        The due times are computed in SQL from the validity end with the zone's
        offset at ``window.start``: right for a zone without daylight saving, which
        Hong Kong has not had since 1979 (``jobs_for_period`` is the reference; a
        test holds the two to the same rows)."""
        offset = tz.utcoffset(window.start.astimezone(tz).replace(tzinfo=None))
        if offset is None or tz.utcoffset(window.end.astimezone(tz).replace(tzinfo=None)) != offset:
            raise ValueError("the sweep needs a zone with one UTC offset across its window")
        lines = self._connection.execute(
            select(t.product_lines.c.code, t.product_lines.c.grace_days)
        ).all()
        recorded = 0
        for code, grace_days in lines:
            for spec in period_specs(grace_days, auto_renew=True):
                bounds = validity_bounds(spec, window, tz)
                if bounds is None:
                    continue
                statement = _sweep_statement(self._dialect, spec, offset)
                result = self._connection.execute(
                    statement,
                    {
                        "line": code,
                        "lo": bounds[0],
                        "hi": bounds[1],
                        "now": window.start,
                    },
                )
                recorded += max(result.rowcount, 0)
        return recorded


# Jobs due after the validity end: the card may not have been moved to grace yet.
_AFTER_THE_END = frozenset(
    {
        JobKind.TERMINATE,
        JobKind.REMIND_EXPIRED,
        JobKind.REMIND_GRACE,
        JobKind.AUTO_RENEW_GRACE_1D,
    }
)


def card_states(kind: JobKind) -> tuple[str, ...]:
    if kind in _AFTER_THE_END:
        return (CardState.ACTIVE.value, CardState.GRACE.value)
    return (CardState.ACTIVE.value,)


def validity_bounds(spec: JobSpec, window: SweepWindow, tz: tzinfo) -> tuple[date, date] | None:
    """The validity ends whose ``spec`` job is due in the window, inclusive."""
    local_end = window.end.astimezone(tz).date()
    hi = local_end - timedelta(days=spec.day_offset) + timedelta(days=1)
    while spec_due_at(spec, hi, tz) >= window.end:
        hi -= timedelta(days=1)
    if spec.kind in LIFECYCLE_KINDS:
        return date.min, hi
    lo = window.start.astimezone(tz).date() - timedelta(days=spec.day_offset + 1)
    while spec_due_at(spec, lo, tz) < window.start:
        lo += timedelta(days=1)
    return None if lo > hi else (lo, hi)


@functools.cache
def _sweep_statement(dialect: str, spec: JobSpec, offset: timedelta) -> Executable:
    """``INSERT ... SELECT`` of ``spec``'s job for the cards of one product line whose
    validity end lies in ``[lo, hi]``. Built once per dialect and spec."""
    seconds = int(
        (
            timedelta(days=spec.day_offset)
            + timedelta(hours=spec.local_time.hour, minutes=spec.local_time.minute)
            - offset
        ).total_seconds()
    )
    if dialect == "postgresql":
        job_id = "'job_' || replace(gen_random_uuid()::text, '-', '')"
        period = "to_char(c.validity_end, 'YYYY-MM-DD')"
        due = f"(c.validity_end + interval '{seconds} seconds') AT TIME ZONE 'UTC'"
    elif dialect == "sqlite":
        job_id = "'job_' || lower(hex(randomblob(16)))"
        period = "c.validity_end"
        # The text UtcDateTime stores on SQLite: naive UTC with six fractional digits.
        due = f"datetime(c.validity_end, '{seconds:+d} seconds') || '.000000'"
    else:
        raise ValueError(f"simrenew runs on SQLite and PostgreSQL, not {dialect!r}")
    states = ", ".join(f"'{state}'" for state in card_states(spec.kind))
    join = ""
    if spec.kind in AUTO_RENEW_KINDS:
        join = "JOIN auto_renew_settings a ON a.card_id = c.id AND a.enabled = " + (
            "true" if dialect == "postgresql" else "1"
        )
    suffix = f" || '{spec.suffix}'" if spec.suffix else ""
    return text(
        "INSERT INTO scheduled_jobs "
        "(id, kind, card_id, period, due_at, state, attempts, created_at) "
        f"SELECT {job_id}, '{spec.kind.value}', c.id, {period}{suffix}, {due}, "
        f"'{_PENDING}', 0, :now FROM cards c {join} "
        f"WHERE c.state IN ({states}) AND c.validity_end BETWEEN :lo AND :hi "
        "AND c.product_line = :line "
        "ON CONFLICT (card_id, period, kind) DO NOTHING"
    ).bindparams(
        bindparam("now", type_=UtcDateTime),
        bindparam("lo", type_=Date),
        bindparam("hi", type_=Date),
        bindparam("line", type_=String),
    )
