"""The admin API: the outbox's and the scheduled jobs' backlog and dead letters, and
putting dead ones back in the queue (what ``simrenew outbox`` and ``simrenew jobs``
do at the console).

Role admin only, reading included: least privilege. Customer service and agents
serve subscribers; a queue's health is the operator's business, and a dead letter,
even masked, says who was sent what. Staff authenticate with HTTP Basic (see
``web/staff_auth.py``); retries are written to the audit log under their name.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse

from simrenew.domain.staff import StaffRole, StaffUser
from simrenew.services import outbox_admin
from simrenew.web.deps import CtxDep, IdempotencyKeyDep
from simrenew.web.idempotency import idempotent
from simrenew.web.problem_docs import problem_responses
from simrenew.web.schemas_admin import BacklogOut, DeadJobOut, DeadLetterOut, RetriedOut
from simrenew.web.staff_auth import require_role, staff_credentials

# Credentials first (a 401 before anything else), the password checked once the
# request is otherwise acceptable: see ``staff_credentials``.
router = APIRouter(
    prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(staff_credentials)]
)

AdminDep = Annotated[StaffUser, Depends(require_role(StaffRole.ADMIN))]

_AUTH = (
    (401, "staff_login_failed"),
    (403, "staff_role_required"),
    (429, "staff_login_limited"),
    (429, "rate_limited"),
)
_RETRY = (
    (400, "idempotency_key_missing"),
    (400, "idempotency_key_invalid"),
    (409, "idempotency_in_progress"),
    (422, "idempotency_key_reused"),
)

MessageIdPath = Path(min_length=1, max_length=64, description="A dead outbox message's id.")
JobIdPath = Path(min_length=1, max_length=64, description="A dead scheduled job's id.")


def _retried(count: int) -> Response:
    return JSONResponse(RetriedOut(retried=count).model_dump(mode="json"))


# --- outbox ----------------------------------------------------------------------------


@router.get(
    "/outbox",
    operation_id="outbox_backlog",
    summary="The outbox: messages by state and the age of the oldest due one",
    response_model=BacklogOut,
    responses=problem_responses(*_AUTH),
)
def outbox_backlog(staff: AdminDep, ctx: CtxDep) -> BacklogOut:
    return BacklogOut.of(outbox_admin.outbox_backlog(ctx))


@router.get(
    "/outbox/dead",
    operation_id="list_dead_letters",
    summary="Dead outbox messages, newest first (kind, masked recipient, error; no text)",
    response_model=list[DeadLetterOut],
    responses=problem_responses(*_AUTH),
)
def list_dead_letters(staff: AdminDep, ctx: CtxDep) -> list[DeadLetterOut]:
    return [DeadLetterOut.of(letter) for letter in outbox_admin.dead_letters(ctx)]


@router.post(
    "/outbox/dead/retry",
    operation_id="retry_all_dead_letters",
    summary="Put every dead outbox message back in the queue",
    response_model=RetriedOut,
    responses=problem_responses(*_AUTH, *_RETRY),
)
def retry_all_dead_letters(
    request: Request, ctx: CtxDep, key: IdempotencyKeyDep, staff: AdminDep
) -> Response:
    return idempotent(
        request,
        key,
        lambda: _retried(outbox_admin.retry_all_dead_letters(ctx, staff=staff)),
        identity=staff.actor,
    )


@router.post(
    "/outbox/dead/{message_id}/retry",
    operation_id="retry_dead_letter",
    summary="Put one dead outbox message back in the queue",
    response_model=RetriedOut,
    responses=problem_responses(
        *_AUTH, *_RETRY, (404, "dead_letter_not_found"), (422, "validation_error")
    ),
)
def retry_dead_letter(
    request: Request,
    ctx: CtxDep,
    key: IdempotencyKeyDep,
    staff: AdminDep,
    message_id: str = MessageIdPath,
) -> Response:
    return idempotent(
        request,
        key,
        lambda: _retried(outbox_admin.retry_dead_letter(ctx, message_id, staff=staff)),
        identity=staff.actor,
    )


# --- scheduled jobs --------------------------------------------------------------------


@router.get(
    "/jobs",
    operation_id="job_backlog",
    summary="Scheduled jobs: how many in each state and the age of the oldest due one",
    response_model=BacklogOut,
    responses=problem_responses(*_AUTH),
)
def job_backlog(staff: AdminDep, ctx: CtxDep) -> BacklogOut:
    return BacklogOut.of(outbox_admin.job_backlog(ctx))


@router.get(
    "/jobs/dead",
    operation_id="list_dead_jobs",
    summary="Dead scheduled jobs, latest due first, with their last error",
    response_model=list[DeadJobOut],
    responses=problem_responses(*_AUTH),
)
def list_dead_jobs(staff: AdminDep, ctx: CtxDep) -> list[DeadJobOut]:
    return [DeadJobOut.of(job) for job in outbox_admin.dead_jobs(ctx)]


@router.post(
    "/jobs/dead/retry",
    operation_id="retry_all_dead_jobs",
    summary="Put every dead scheduled job back in the queue, due now",
    response_model=RetriedOut,
    responses=problem_responses(*_AUTH, *_RETRY),
)
def retry_all_dead_jobs(
    request: Request, ctx: CtxDep, key: IdempotencyKeyDep, staff: AdminDep
) -> Response:
    return idempotent(
        request,
        key,
        lambda: _retried(outbox_admin.retry_all_dead_jobs(ctx, staff=staff)),
        identity=staff.actor,
    )


@router.post(
    "/jobs/dead/{job_id}/retry",
    operation_id="retry_dead_job",
    summary="Put one dead scheduled job back in the queue, due now",
    response_model=RetriedOut,
    responses=problem_responses(
        *_AUTH, *_RETRY, (404, "dead_job_not_found"), (422, "validation_error")
    ),
)
def retry_dead_job(
    request: Request,
    ctx: CtxDep,
    key: IdempotencyKeyDep,
    staff: AdminDep,
    job_id: str = JobIdPath,
) -> Response:
    return idempotent(
        request,
        key,
        lambda: _retried(outbox_admin.retry_dead_job(ctx, job_id, staff=staff)),
        identity=staff.actor,
    )
