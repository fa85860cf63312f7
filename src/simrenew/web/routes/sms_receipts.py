"""The HTTP SMS gateway's delivery receipt callbacks (notify/http_sms.py documents the
body and the ``X-Signature`` scheme); the sender checks and records them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from simrenew.notify.http_sms import HttpSmsSender, ReceiptRejected, ReceiptSignatureInvalid
from simrenew.web.deps import AppDep
from simrenew.web.problem_docs import problem_responses
from simrenew.web.problems import Problem

router = APIRouter(tags=["provider callbacks"])

MAX_BODY = 16 * 1024  # a receipt is a few hundred bytes


@router.post(
    "/webhooks/sms/http",
    operation_id="receive_sms_receipt",
    summary="The HTTP SMS gateway's signed delivery receipt",
    description="The raw JSON body (`id`, `reference`, `status`, `error`, `done_at`) is "
    "verified against `X-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the "
    "gateway token>` before anything else. A receipt older than the status already "
    "known changes nothing. 204 when recorded; 4xx ones must not be retried, 5xx ones "
    "should be.",
    status_code=204,
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses=problem_responses(
        (400, "sms_receipt_invalid"),
        (401, "sms_receipt_signature_invalid"),
        (404, "sms_channel_not_http"),
        (413, "payload_too_large"),
    ),
)
async def receive_sms_receipt(request: Request, app: AppDep) -> Response:
    sender = app.relay.sms
    if not isinstance(sender, HttpSmsSender):
        # Only the HTTP channel has callbacks: elsewhere there is nobody to verify them.
        raise Problem(404, "sms_channel_not_http", "This instance sends no SMS over HTTP.")
    # The signature covers the exact bytes, so the body is read raw, never re-encoded.
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Problem(413, "payload_too_large", "The callback body is too large.")
    headers = dict(request.headers.items())
    try:
        # The sink writes to the database: off the event loop.
        await run_in_threadpool(sender.handle_receipt, headers, body)
    except ReceiptSignatureInvalid as exc:
        raise Problem(
            401, "sms_receipt_signature_invalid", "The receipt signature does not match."
        ) from exc
    except ReceiptRejected as exc:
        raise Problem(400, "sms_receipt_invalid", "The receipt cannot be read.") from exc
    return Response(status_code=204)
