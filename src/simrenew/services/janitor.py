"""The payment janitor: every payment that is not final (``pending`` or ``unknown``) is
re-checked with its provider at 5 minutes, 1 hour, then daily for 7 days from its
start (``simrenew.domain.payments.recheck_after``), then flagged for manual review.

Safe with any number of workers: due payments are claimed in one short transaction
by moving their ``recheck_at`` a lease ahead (``SKIP LOCKED`` on PostgreSQL; the
write lock serialises the claims on SQLite), and committed. Each provider is then
asked with no transaction open, and its answer recorded, with the check counted, in
one transaction per payment (``services.payments.record_check``). A worker that dies
after its claim leaves the payment due again once the lease has passed; a worker
whose lease ran out before it recorded does not count its check twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from simrenew.domain.payments import Payment
from simrenew.services.context import Context
from simrenew.services.payments import check_payment

log = logging.getLogger(__name__)

# How long a claim keeps other janitors away: long enough for a chunk of provider
# calls (CLAIM_CHUNK of them, each within its provider's time-out).
LEASE = timedelta(minutes=2)
# Claimed at a time, so that a slow provider cannot outlast the lease on a whole batch.
CLAIM_CHUNK = 10
REASON = "re-checked by the janitor"


@dataclass(frozen=True, slots=True)
class JanitorResult:
    """What one pass did: payments ``checked`` with their providers; of those,
    ``resolved`` (now final), ``still_open`` (checked again later) and ``flagged``
    (schedule over: for manual review). ``errors``: checks that failed unexpectedly
    and are due again after the lease."""

    checked: int = 0
    resolved: int = 0
    still_open: int = 0
    flagged: int = 0
    errors: int = 0


def run_janitor(
    ctx: Context,
    *,
    batch: int = 100,
    lease: timedelta = LEASE,
    until: datetime | None = None,
) -> JanitorResult:
    """Re-check up to ``batch`` payments whose re-check is due, oldest due first.

    A provider that cannot be asked (``ProviderError``, or no longer configured)
    counts as a check: the payment stays as it is and its schedule moves on. With
    ``until``, no new payments are claimed after that time (the worker keeps a pass
    short so that the outbox is not kept waiting). Raises nothing for one payment's
    failure: it is logged and the payment is due again after the lease.
    """
    checked = resolved = still_open = flagged = errors = 0
    while checked + errors < batch:
        now = ctx.clock.now()
        if until is not None and now >= until:
            break
        lease_until = now + lease
        with ctx.uow() as uow:
            claimed = uow.payments.claim_due_rechecks(
                now=now, lease_until=lease_until, limit=min(CLAIM_CHUNK, batch - checked - errors)
            )
            uow.commit()
        done_before = checked + errors
        for payment in claimed:
            if ctx.clock.now() >= lease_until:
                # The claim has run out: these are due again, for any janitor.
                break
            try:
                after = _check(ctx, payment)
            except Exception:  # one payment's failure must not stop the others
                log.exception("janitor: re-checking payment %s failed", payment.id)
                errors += 1
                continue
            checked += 1
            if after.state.is_final:
                resolved += 1
            elif after.review_since is not None:
                flagged += 1
            else:
                still_open += 1
        if len(claimed) < CLAIM_CHUNK or checked + errors == done_before:
            break
    return JanitorResult(checked, resolved, still_open, flagged, errors)


def _check(ctx: Context, payment: Payment) -> Payment:
    # ``recheck_at`` as claimed is the lease: the check is counted only while it is
    # still in place.
    return check_payment(ctx, payment, reason=REASON, lease_until=payment.recheck_at)
