"""Scheduled jobs: which jobs a validity period has, when each is due (Hong Kong time,
to the second), quiet hours, data thresholds, states."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simrenew.domain.buckets import Bucket
from simrenew.domain.catalog import BucketKind
from simrenew.domain.errors import IllegalTransition
from simrenew.domain.jobs import (
    AUTO_RENEW_KINDS,
    JOB_TRANSITIONS,
    REMINDER_KINDS,
    JobKind,
    JobState,
    PlannedJob,
    data_left,
    data_threshold_jobs,
    in_quiet_hours,
    jobs_for_period,
    outside_quiet_hours,
    period_specs,
    period_validity_end,
    retry_delay,
    spec_due_at,
)
from simrenew.domain.timeutil import end_of_day
from tests.unit.domain.builders import HK, hk

CARD = "crd_1"
END = date(2026, 12, 31)


def _local(job: PlannedJob) -> tuple[str, str, str]:
    return (job.kind.value, job.period, job.due_at.astimezone(HK).strftime("%Y-%m-%d %H:%M:%S"))


def test_a_period_with_30_days_of_grace_has_these_jobs_at_these_hong_kong_times() -> None:
    jobs = jobs_for_period(CARD, END, grace_days=30, tz=HK, now=hk(2026, 12, 1))

    assert [_local(job) for job in jobs] == [
        ("remind_7d", "2026-12-31", "2026-12-24 10:00:00"),
        ("remind_3d", "2026-12-31", "2026-12-28 10:00:00"),
        ("remind_1d", "2026-12-31", "2026-12-30 10:00:00"),
        ("expire", "2026-12-31", "2027-01-01 00:00:00"),
        ("remind_expired", "2026-12-31", "2027-01-01 10:00:00"),
        ("remind_grace", "2026-12-31+w1", "2027-01-08 10:00:00"),
        ("remind_grace", "2026-12-31+w2", "2027-01-15 10:00:00"),
        ("remind_grace", "2026-12-31+w3", "2027-01-22 10:00:00"),
        ("remind_grace", "2026-12-31+w4", "2027-01-29 10:00:00"),
        ("terminate", "2026-12-31", "2027-01-31 00:00:00"),
    ]
    assert all(job.card_id == CARD and job.due_at.tzinfo is not None for job in jobs)


def test_expiry_is_due_the_second_after_the_last_valid_second() -> None:
    (expire,) = [
        job
        for job in jobs_for_period(CARD, END, grace_days=30, tz=HK, now=hk(2026, 12, 1))
        if job.kind is JobKind.EXPIRE
    ]
    assert expire.due_at - end_of_day(END, HK) == timedelta(seconds=1)
    assert expire.due_at == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("grace_days", "weeks"), [(0, 0), (7, 0), (8, 1), (14, 1), (15, 2), (28, 3), (29, 4), (30, 4)]
)
def test_weekly_grace_reminders_fall_inside_grace(grace_days: int, weeks: int) -> None:
    jobs = jobs_for_period(CARD, END, grace_days=grace_days, tz=HK, now=hk(2026, 12, 1))
    weekly = [job for job in jobs if job.kind is JobKind.REMIND_GRACE]
    (terminate,) = [job for job in jobs if job.kind is JobKind.TERMINATE]
    assert len(weekly) == weeks
    assert all(job.due_at < terminate.due_at for job in weekly)
    assert terminate.due_at.astimezone(HK) == datetime(2027, 1, 1, tzinfo=HK) + timedelta(
        days=grace_days
    )


def test_past_reminders_are_left_out_but_expiry_and_termination_never_are() -> None:
    late = jobs_for_period(CARD, END, grace_days=30, tz=HK, now=hk(2027, 1, 9))
    assert [_local(job) for job in late] == [
        ("expire", "2026-12-31", "2027-01-01 00:00:00"),
        ("remind_grace", "2026-12-31+w2", "2027-01-15 10:00:00"),
        ("remind_grace", "2026-12-31+w3", "2027-01-22 10:00:00"),
        ("remind_grace", "2026-12-31+w4", "2027-01-29 10:00:00"),
        ("terminate", "2026-12-31", "2027-01-31 00:00:00"),
    ]


def test_auto_renew_attempts_are_reserved_24h_12h_2h_before_and_a_day_into_grace() -> None:
    jobs = jobs_for_period(CARD, END, grace_days=30, tz=HK, now=hk(2026, 12, 1), auto_renew=True)
    attempts = [_local(job) for job in jobs if job.kind in AUTO_RENEW_KINDS]
    assert attempts == [
        ("auto_renew_24h", "2026-12-31", "2026-12-31 00:00:00"),
        ("auto_renew_12h", "2026-12-31", "2026-12-31 12:00:00"),
        ("auto_renew_2h", "2026-12-31", "2026-12-31 22:00:00"),
        ("auto_renew_grace_1d", "2026-12-31", "2027-01-02 00:00:00"),
    ]
    without = jobs_for_period(CARD, END, grace_days=30, tz=HK, now=hk(2026, 12, 1))
    assert not [job for job in without if job.kind in AUTO_RENEW_KINDS]


@given(grace_days=st.integers(0, 120), end=st.dates(date(2020, 1, 1), date(2040, 12, 31)))
def test_no_reminder_is_ever_due_in_quiet_hours(grace_days: int, end: date) -> None:
    for spec in period_specs(grace_days, auto_renew=True):
        if spec.kind in REMINDER_KINDS:
            assert not in_quiet_hours(spec_due_at(spec, end, HK), HK)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (
            datetime(2026, 12, 1, 21, 59, 59, tzinfo=HK),
            datetime(2026, 12, 1, 21, 59, 59, tzinfo=HK),
        ),
        (datetime(2026, 12, 1, 22, 0, 0, tzinfo=HK), datetime(2026, 12, 2, 8, 0, 0, tzinfo=HK)),
        (datetime(2026, 12, 1, 23, 30, 0, tzinfo=HK), datetime(2026, 12, 2, 8, 0, 0, tzinfo=HK)),
        (datetime(2026, 12, 2, 0, 0, 0, tzinfo=HK), datetime(2026, 12, 2, 8, 0, 0, tzinfo=HK)),
        (datetime(2026, 12, 2, 7, 59, 59, tzinfo=HK), datetime(2026, 12, 2, 8, 0, 0, tzinfo=HK)),
        (datetime(2026, 12, 2, 8, 0, 0, tzinfo=HK), datetime(2026, 12, 2, 8, 0, 0, tzinfo=HK)),
    ],
)
def test_quiet_hours_end_at_eight(local: datetime, expected: datetime) -> None:
    assert outside_quiet_hours(local.astimezone(UTC), HK) == expected


@pytest.mark.parametrize(
    ("left", "kinds"),
    [(1000, []), (201, []), (200, ["data_20"]), (51, ["data_20"]), (50, ["data_20", "data_5"])],
)
def test_data_reminders_at_20_and_5_percent_left(left: int, kinds: list[str]) -> None:
    now = hk(2026, 12, 5, 15)
    planned = data_threshold_jobs(CARD, END, left=left, initial=1000, now=now, tz=HK)
    assert [job.kind.value for job in planned] == kinds
    assert all(job.period == "2026-12-31" and job.due_at == now for job in planned)


def test_a_data_reminder_crossed_at_night_waits_for_the_morning() -> None:
    (job,) = data_threshold_jobs(CARD, END, left=100, initial=1000, now=hk(2026, 12, 5, 23), tz=HK)
    assert job.due_at == hk(2026, 12, 6, 8)
    assert data_threshold_jobs(CARD, END, left=0, initial=0, now=hk(2026, 12, 5), tz=HK) == []


def test_data_left_counts_only_the_data_buckets_valid_now() -> None:
    def bucket(kind: BucketKind, initial: int, used: int, until: datetime) -> Bucket:
        return Bucket("b", CARD, "HK", kind, initial, used, hk(2026, 12, 1), until)

    buckets = [
        bucket(BucketKind.DATA_MB, 1000, 900, hk(2026, 12, 31)),
        bucket(BucketKind.DATA_MB, 500, 0, hk(2026, 12, 10)),
        bucket(BucketKind.DATA_MB, 4000, 0, hk(2026, 12, 3)),  # expired
        bucket(BucketKind.VOICE_MIN, 100, 0, hk(2026, 12, 31)),
    ]
    assert data_left(buckets, hk(2026, 12, 5)) == (600, 1500)


def test_the_period_names_its_validity_end() -> None:
    assert period_validity_end("2026-12-31") == END
    assert period_validity_end("2026-12-31+w3") == END


def test_job_states_move_only_as_the_table_says() -> None:
    assert JOB_TRANSITIONS[JobState.DONE] == frozenset()
    JobState.check(JobState.PENDING, JobState.DONE)
    JobState.check(JobState.DEAD, JobState.PENDING)
    for current, target in [
        (JobState.DONE, JobState.PENDING),
        (JobState.SKIPPED, JobState.DONE),
        (JobState.DEAD, JobState.DONE),
    ]:
        with pytest.raises(IllegalTransition):
            JobState.check(current, target)


def test_retries_back_off_to_an_hour() -> None:
    delays = [retry_delay(n) for n in range(1, 10)]
    assert delays[:3] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
    assert delays == sorted(delays)
    assert retry_delay(50) == timedelta(hours=1)
