"""A job runner in a process of its own, for the ``kill -9`` test in
test_scheduled_jobs.py: ``python -m tests.integration.services.job_worker_process URL
WORKER HOLD_AT``. It runs the due ``expire`` jobs with the real clock; with HOLD_AT
> 0 the HOLD_AT-th job, its card already moved but not committed, prints ``holding``
and waits to be killed. Otherwise it drains what is due, prints ``drained`` and exits.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime, timedelta

from pydantic import SecretStr

from simrenew.bootstrap import build
from simrenew.config import Settings
from simrenew.domain.cards import Card
from simrenew.domain.jobs import Job, JobKind
from simrenew.ports import UnitOfWork
from simrenew.services.context import Context
from simrenew.services.scheduled_jobs import JobResult, expire
from simrenew.worker.jobs import JobRunner

LEASE = timedelta(seconds=2)


def main(url: str, worker: str, hold_at: int) -> None:
    app = build(
        Settings(database_url=url, sandbox_secrets=[SecretStr("test-secret-new")], smtp_host=None)
    )
    ran = 0

    def expire_or_hold(
        uow: UnitOfWork, ctx: Context, job: Job, card: Card, now: datetime
    ) -> JobResult:
        nonlocal ran
        result = expire(uow, ctx, job, card, now)
        ran += 1
        if ran == hold_at:
            print(f"holding {job.id}", flush=True)
            threading.Event().wait(120)  # killed long before this
        return result

    runner = JobRunner(
        app.ctx,
        worker_id=worker,
        handlers={JobKind.EXPIRE: expire_or_hold},
        batch_size=4,
        lease=LEASE,
    )
    stats = runner.drain()
    print(f"drained {stats.done} {stats.lost}", flush=True)
    app.engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
