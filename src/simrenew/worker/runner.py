"""The worker loop: deliver the outbox and run due scheduled jobs continuously, run the
sweeps (order expiry, card lifecycle, the payment janitor, clean-ups) every minute and
the scheduled jobs' backstop sweep once a day."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from simrenew.db import idempotent_requests
from simrenew.db.order_repository import IDEMPOTENCY_TTL
from simrenew.ports import DeliveryError
from simrenew.services.janitor import run_janitor
from simrenew.services.lifecycle import sweep_lifecycle
from simrenew.services.ordering import expire_unpaid_orders
from simrenew.services.scheduled_jobs import sweep_jobs
from simrenew.worker.jobs import JobRunner

if TYPE_CHECKING:
    from simrenew.bootstrap import App

log = logging.getLogger(__name__)
SWEEP_EVERY_NS = 60 * 10**9
# The scheduled jobs' backstop sweep: on start, then once a day.
JOB_SWEEP_EVERY_NS = 24 * 3600 * 10**9
# A janitor pass stops claiming after this, so that slow providers do not keep the
# outbox waiting; what is left is due at the next sweep.
JANITOR_BUDGET = timedelta(seconds=20)


DELIVERED_KEPT = timedelta(days=7)


def forget_idempotency_keys(app: App) -> int:
    """Idempotency keys are kept 24 h (SPEC); older ones are deleted, HTTP responses
    and order keys alike."""
    now = app.ctx.clock.now()
    forgotten = idempotent_requests.purge(app.engine, now)
    with app.uow() as uow:
        forgotten += uow.idempotency.purge(now - IDEMPOTENCY_TTL)
        uow.commit()
    return forgotten


def forget_delivered_messages(app: App) -> int:
    """Delivered outbox rows are kept a week (for support questions), then deleted."""
    with app.uow() as uow:
        forgotten = uow.outbox.purge_delivered(app.ctx.clock.now() - DELIVERED_KEPT)
        uow.commit()
    return forgotten


def connect_sms(app: App) -> None:
    """Bind the SMS channel now if it keeps a connection (SMPP), so that receipts for
    messages sent before a restart flow before the next message. A failure is only
    logged: the relay binds again with its first message and retries as usual."""
    connect = getattr(app.relay.sms, "connect", None)
    if not callable(connect):
        return
    try:
        connect()
    except DeliveryError as exc:
        log.warning("SMS channel not connected yet: %s", exc)


def run_worker(app: App, stop: threading.Event) -> None:
    """Run until ``stop`` is set. Any number of workers may run side by side: the
    outbox and the payments due for a re-check are claimed with SKIP LOCKED under a
    lease, and the sweeps are idempotent."""
    poll_ms = app.settings.worker_poll_ms
    connect_sms(app)
    next_sweep = 0
    next_job_sweep = 0
    jobs = JobRunner(app.ctx, worker_id=app.relay.worker_id)
    while not stop.is_set():
        busy = False
        try:
            stats = app.relay.run_once()
            busy = bool(stats.delivered or stats.retried or stats.dead)
            busy = jobs.run_once().any or busy
            if time.monotonic_ns() >= next_job_sweep:
                # A failed sweep is tried again with the minute's sweeps, not every poll.
                next_job_sweep = time.monotonic_ns() + SWEEP_EVERY_NS
                recorded = sweep_jobs(app.ctx)
                log.info("job sweep: %d scheduled jobs recorded", recorded)
                next_job_sweep = time.monotonic_ns() + JOB_SWEEP_EVERY_NS
            if time.monotonic_ns() >= next_sweep:
                expired = expire_unpaid_orders(app.ctx)
                result = sweep_lifecycle(app.ctx)
                if expired or result.to_grace or result.terminated:
                    log.info(
                        "sweep: %d orders expired, %d cards to grace, %d terminated",
                        expired,
                        result.to_grace,
                        result.terminated,
                    )
                janitor = run_janitor(app.ctx, until=app.ctx.clock.now() + JANITOR_BUDGET)
                if janitor.checked or janitor.errors:
                    log.info(
                        "janitor: %d payments re-checked, %d resolved, %d still open, "
                        "%d flagged for review, %d failed",
                        janitor.checked,
                        janitor.resolved,
                        janitor.still_open,
                        janitor.flagged,
                        janitor.errors,
                    )
                forget_idempotency_keys(app)
                forget_delivered_messages(app)
                next_sweep = time.monotonic_ns() + SWEEP_EVERY_NS
        except Exception:  # the loop must survive a bad moment (database restart, ...)
            log.exception("worker iteration failed; retrying")
        if not busy:
            stop.wait(timedelta(milliseconds=poll_ms).total_seconds())
