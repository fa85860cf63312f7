"""Provider callbacks: verified, de-duplicated, applied by the payments service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from simrenew.bootstrap import App
from simrenew.services.payments import handle_callback
from simrenew.web.deps import AppDep
from simrenew.web.problem_docs import problem_responses
from simrenew.web.problems import Problem
from simrenew.web.schemas_orders import WebhookOut

router = APIRouter(tags=["provider callbacks"])

MAX_BODY = 64 * 1024  # providers' events are a few kB; more is not an event


# Taken by staff at a counter (cash) or by PIN on our pages (voucher): there is no
# checkout an API caller could be sent to, and no callback either.
NOT_ONLINE = frozenset({"cash", "voucher"})


def require_provider(app: App, name: str) -> None:
    """A provider name from the caller that this instance does not have, or that takes
    no online checkout, is "not found" (4xx), unlike a configured provider that is
    down (503)."""
    if name not in app.ctx.providers or name in NOT_ONLINE:
        raise Problem(404, "provider_not_found", f"No payment provider {name!r}.")


@router.post(
    "/webhooks/{provider}",
    operation_id="receive_webhook",
    summary="A payment provider's signed callback",
    description="The raw body is verified against the provider's signature scheme "
    "(sandbox: `Sandbox-Signature: t=<unix>,v1=<hex>`; Stripe: `Stripe-Signature`; "
    "PayPal: `Paypal-Transmission-*`; WeChat Pay: `Wechatpay-*`; Alipay and AlipayHK: "
    "RSA2 `sign` in the form body) before anything else, then applied once per provider "
    "event id. Alipay is answered with the plain text `success` it expects.",
    response_model=WebhookOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses=problem_responses(
        (400, "signature_invalid"),
        (400, "http_error"),
        (404, "provider_not_found"),
        (404, "payment_not_found"),
        (413, "payload_too_large"),
        (422, "validation_error"),
    ),
)
async def receive_webhook(
    provider: Annotated[str, Path(max_length=24, examples=["sandbox"])],
    request: Request,
    app: AppDep,
) -> WebhookOut | PlainTextResponse:
    require_provider(app, provider)
    # The signature covers the exact bytes, so the body is read raw, never re-encoded.
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Problem(413, "payload_too_large", "The callback body is too large.")
    headers = dict(request.headers.items())
    outcome = await run_in_threadpool(handle_callback, app.ctx, provider, headers, body)
    ack = getattr(app.ctx.providers[provider], "callback_ack", None)
    if ack is not None:
        # Some providers (Alipay) count a notification as received only when the body
        # is their exact acknowledgement, whatever we made of it; else they resend.
        return PlainTextResponse(str(ack))
    return WebhookOut(outcome=outcome.value)
