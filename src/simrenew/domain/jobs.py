"""Scheduled jobs: everything that happens to a card without a click.

A job belongs to one card and one *period* — the validity end it was computed from
(an ISO date, with ``+wN`` for the N-th weekly grace reminder). ``(card, period,
kind)`` is unique, so recording a job twice records it once, and a job whose period
is no longer the card's validity end (the card was renewed meanwhile) is superseded:
it is skipped when it comes up, never acted on.

When jobs fall due, for a validity end ``E`` (a date, Hong Kong time; the card is
valid through 23:59:59 of ``E``):

==================  =========================================================
``remind_7d/3d/1d`` 10:00 on ``E`` minus 7, 3 and 1 day(s)
``expire``          00:00:00 on ``E + 1``: ``active → grace``, to the second
``remind_expired``  10:00 on ``E + 1``
``remind_grace``    10:00 every 7 days after that while grace lasts
``terminate``       00:00:00 on ``E + grace_days + 1``: ``grace → terminated``
``data_20/data_5``  when usage leaves 20 % / 5 % of the data (outside quiet hours)
``auto_renew_*``    24 h, 12 h and 2 h before the end and 1 day into grace
                    (reserved: the auto-renew handlers plug into the same rows)
==================  =========================================================

Reminders are never due in quiet hours (22:00–08:00 local time): one that would be
waits until 08:00.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from simrenew.domain.auto_renew import AutoRenewTry
from simrenew.domain.buckets import Bucket
from simrenew.domain.catalog import BucketKind
from simrenew.domain.errors import IllegalTransition


class JobKind(enum.StrEnum):
    EXPIRE = "expire"
    TERMINATE = "terminate"
    REMIND_7D = "remind_7d"
    REMIND_3D = "remind_3d"
    REMIND_1D = "remind_1d"
    REMIND_EXPIRED = "remind_expired"
    REMIND_GRACE = "remind_grace"
    DATA_20 = "data_20"
    DATA_5 = "data_5"
    # Reserved for auto-renew: recorded and swept like the others; claimed only once
    # a handler for them is registered.
    AUTO_RENEW_24H = "auto_renew_24h"
    AUTO_RENEW_12H = "auto_renew_12h"
    AUTO_RENEW_2H = "auto_renew_2h"
    AUTO_RENEW_GRACE_1D = "auto_renew_grace_1d"


LIFECYCLE_KINDS = frozenset({JobKind.EXPIRE, JobKind.TERMINATE})
# Which try of a period each auto-renew job is (domain/auto_renew.py has their times).
AUTO_RENEW_TRIES: dict[JobKind, AutoRenewTry] = {
    JobKind.AUTO_RENEW_24H: AutoRenewTry.DAY_BEFORE,
    JobKind.AUTO_RENEW_12H: AutoRenewTry.HALF_DAY_BEFORE,
    JobKind.AUTO_RENEW_2H: AutoRenewTry.HOURS_BEFORE,
    JobKind.AUTO_RENEW_GRACE_1D: AutoRenewTry.IN_GRACE,
}
DAYS_BEFORE: dict[JobKind, int] = {JobKind.REMIND_7D: 7, JobKind.REMIND_3D: 3, JobKind.REMIND_1D: 1}
DATA_THRESHOLDS: dict[JobKind, int] = {JobKind.DATA_20: 20, JobKind.DATA_5: 5}  # percent left
REMINDER_KINDS = frozenset(
    {*DAYS_BEFORE, JobKind.REMIND_EXPIRED, JobKind.REMIND_GRACE, *DATA_THRESHOLDS}
)
AUTO_RENEW_KINDS = frozenset(AUTO_RENEW_TRIES)


class JobState(enum.StrEnum):
    """``pending`` → ``done`` (acted on) or ``skipped`` (superseded, no longer
    relevant, opted out); ``pending`` → ``dead`` after too many handler errors, and
    ``dead`` → ``pending`` when an operator retries it. A failed attempt stays
    ``pending`` with a later ``due_at``.

    ``JobState.check(current, target)`` raises ``IllegalTransition`` for any move
    that ``JOB_TRANSITIONS`` does not list."""

    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"
    DEAD = "dead"

    @staticmethod
    def check(current: JobState, target: JobState) -> None:
        if target not in JOB_TRANSITIONS[current]:
            raise IllegalTransition(entity="job", current=current.value, target=target.value)


JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.PENDING, JobState.DONE, JobState.SKIPPED, JobState.DEAD}),
    JobState.DONE: frozenset(),
    JobState.SKIPPED: frozenset(),
    JobState.DEAD: frozenset({JobState.PENDING}),
}

QUIET_FROM = time(22, 0)
QUIET_UNTIL = time(8, 0)
REMINDER_TIME = time(10, 0)
# A reminder that could not go out within this long after it was due says something
# no longer true ("7 days left"); it is skipped rather than sent late.
REMINDER_STALE_AFTER = timedelta(hours=12)
MAX_ATTEMPTS = 8
WEEKLY_SUFFIX = "+w"


@dataclass(frozen=True, slots=True)
class PlannedJob:
    """A job to record: the row's identity and when it is due."""

    kind: JobKind
    card_id: str
    period: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: JobKind
    card_id: str
    period: str
    due_at: datetime
    state: JobState = JobState.PENDING
    attempts: int = 0
    claimed_by: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    done_at: datetime | None = None
    outcome: str | None = None

    @property
    def validity_end(self) -> date:
        return period_validity_end(self.period)


@dataclass(frozen=True, slots=True)
class SweepWindow:
    """Reminders and auto-renew attempts due in ``[start, end)`` are recorded; expiry
    and termination due before ``end`` are recorded however late (they must happen)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job of every period: ``day_offset`` days after the validity end, at
    ``local_time`` in the operator's zone; ``suffix`` makes the period unique."""

    kind: JobKind
    day_offset: int
    local_time: time
    suffix: str = ""


def period_validity_end(period: str) -> date:
    return date.fromisoformat(period.split(WEEKLY_SUFFIX, 1)[0])


def period_specs(grace_days: int, *, auto_renew: bool = False) -> list[JobSpec]:
    """Every job of a period on a product line with ``grace_days`` of grace."""
    midnight = time(0, 0)
    specs = [
        *(JobSpec(kind, -days, REMINDER_TIME) for kind, days in DAYS_BEFORE.items()),
        JobSpec(JobKind.EXPIRE, 1, midnight),
        JobSpec(JobKind.REMIND_EXPIRED, 1, REMINDER_TIME),
        # Weekly while grace lasts: grace covers days E+1 .. E+grace_days.
        *(
            JobSpec(JobKind.REMIND_GRACE, 1 + 7 * week, REMINDER_TIME, f"{WEEKLY_SUFFIX}{week}")
            for week in range(1, grace_days // 7 + 1)
            if 1 + 7 * week <= grace_days
        ),
        JobSpec(JobKind.TERMINATE, grace_days + 1, midnight),
    ]
    if auto_renew:
        # The tries' offsets are counted from the end of validity, 00:00 of E+1.
        ends = datetime.combine(date(2000, 1, 1) + timedelta(days=1), midnight)
        for kind, attempt in AUTO_RENEW_TRIES.items():
            moment = ends + attempt.offset
            specs.append(JobSpec(kind, (moment.date() - date(2000, 1, 1)).days, moment.time()))
    return specs


def spec_due_at(spec: JobSpec, validity_end: date, tz: tzinfo) -> datetime:
    day = validity_end + timedelta(days=spec.day_offset)
    return datetime.combine(day, spec.local_time, tzinfo=tz).astimezone(UTC)


def jobs_for_period(
    card_id: str,
    validity_end: date,
    *,
    grace_days: int,
    tz: tzinfo,
    now: datetime,
    auto_renew: bool = False,
) -> list[PlannedJob]:
    """Every job of the period ending ``validity_end``, in due order. Expiry and
    termination are always included (a late one still has to happen); a reminder
    or an auto-renew attempt whose time has passed is left out."""
    period = validity_end.isoformat()
    planned = []
    for spec in period_specs(grace_days, auto_renew=auto_renew):
        due = spec_due_at(spec, validity_end, tz)
        if spec.kind not in LIFECYCLE_KINDS and due < now:
            continue
        planned.append(PlannedJob(spec.kind, card_id, period + spec.suffix, due))
    return sorted(planned, key=lambda job: (job.due_at, job.kind.value))


def in_quiet_hours(instant: datetime, tz: tzinfo) -> bool:
    local = instant.astimezone(tz).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def outside_quiet_hours(instant: datetime, tz: tzinfo) -> datetime:
    """``instant``, or 08:00 local time after it when it falls in quiet hours."""
    if not in_quiet_hours(instant, tz):
        return instant
    local = instant.astimezone(tz)
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=tz).astimezone(UTC)


def data_left(buckets: Iterable[Bucket], at: datetime) -> tuple[int, int]:
    """(MB left, MB given) over the data buckets valid at ``at``."""
    valid = [
        b for b in buckets if b.kind is BucketKind.DATA_MB and b.valid_from <= at < b.valid_until
    ]
    return sum(b.left for b in valid), sum(b.initial for b in valid)


def data_threshold_jobs(
    card_id: str, validity_end: date, *, left: int, initial: int, now: datetime, tz: tzinfo
) -> list[PlannedJob]:
    """The data reminders that ``left`` of ``initial`` MB calls for, due now or at
    the end of quiet hours. Recorded on every usage record below a threshold: the
    unique key keeps one per period and threshold."""
    if initial <= 0:
        return []
    due = outside_quiet_hours(now, tz)
    return [
        PlannedJob(kind, card_id, validity_end.isoformat(), due)
        for kind, percent in DATA_THRESHOLDS.items()
        if left * 100 <= initial * percent
    ]


def retry_delay(attempts: int) -> timedelta:
    """After a handler error: 30 s, 1 min, 2 min ... capped at an hour."""
    delay: timedelta = timedelta(seconds=30) * (2 ** min(max(attempts - 1, 0), 20))
    return min(delay, timedelta(hours=1))
