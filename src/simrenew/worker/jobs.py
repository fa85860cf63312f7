"""The job runner: claims due scheduled jobs under a lease, runs each in its own
transaction (services/scheduled_jobs.py), retries a failing one with backoff until
it is dead. Any number of runners may work side by side, on any number of machines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from simrenew.domain.jobs import JobKind, JobState, retry_delay
from simrenew.services.context import Context
from simrenew.services.scheduled_jobs import JobHandler, default_handlers, run_job
from simrenew.worker.relay import default_worker_id

log = logging.getLogger(__name__)


@dataclass
class JobStats:
    done: int = 0
    skipped: int = 0
    deferred: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # taken over by another worker after our lease ran out

    @property
    def any(self) -> bool:
        return bool(self.done or self.skipped or self.deferred or self.retried or self.dead)


@dataclass
class JobRunner:
    ctx: Context
    worker_id: str = field(default_factory=default_worker_id)
    handlers: Mapping[JobKind, JobHandler] = field(default_factory=default_handlers)
    batch_size: int = 50
    # Long enough for a batch of handlers; a runner that dies holds its claims this long.
    lease: timedelta = timedelta(seconds=120)

    def run_once(self) -> JobStats:
        """Claim one batch of due jobs and run them; returns what happened."""
        now = self.ctx.clock.now()
        with self.ctx.uow() as uow:
            jobs = uow.jobs.claim_due(
                worker=self.worker_id,
                now=now,
                lease_until=now + self.lease,
                limit=self.batch_size,
                kinds=self.handlers.keys(),
            )
            uow.commit()
        stats = JobStats()
        for job in jobs:
            try:
                result = run_job(self.ctx, job, worker=self.worker_id, handlers=self.handlers)
            except Exception as exc:  # retried with backoff, then dead for an operator
                log.warning("job %s (%s) failed: %s", job.id, job.kind.value, type(exc).__name__)
                self._fail(job.id, job.attempts, f"{type(exc).__name__}: {exc}", stats)
                continue
            if result is None:
                stats.lost += 1
            elif result.defer_until is not None:
                stats.deferred += 1
            elif result.state is JobState.SKIPPED:
                stats.skipped += 1
            else:
                stats.done += 1
        return stats

    def drain(self, *, max_batches: int = 1000) -> JobStats:
        """Run until nothing is due now."""
        total = JobStats()
        for _ in range(max_batches):
            stats = self.run_once()
            for name in ("done", "skipped", "deferred", "retried", "dead", "lost"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            if not stats.any:
                break
        return total

    def _fail(self, job_id: str, attempts: int, error: str, stats: JobStats) -> None:
        retry_at = self.ctx.clock.now() + retry_delay(attempts)
        with self.ctx.uow() as uow:
            state = uow.jobs.fail(job_id, self.worker_id, error=error, retry_at=retry_at)
            uow.commit()
        if state is JobState.DEAD:
            log.error("job %s dead after %d attempt(s)", job_id, attempts)
            stats.dead += 1
        else:
            stats.retried += 1
