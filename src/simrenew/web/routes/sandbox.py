"""The sandbox provider's hosted checkout page (embedded mode).

It stands for a provider's own site: it shows what is being paid and offers Pay and
Decline. The signed session token in the URL is the page's only secret, and it is
POSTed back with the buyer's choice, so a forged or cross-site form cannot act on a
checkout it does not hold the token of (no cookie is involved, hence nothing for a
CSRF to ride on). The buyer's choice produces the sandbox's signed callbacks, which
are applied through the very service that receives them at ``/webhooks/sandbox``.
"""

from __future__ import annotations

import re
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.money import Money
from simrenew.providers.sandbox import CheckoutSession
from simrenew.services.payments import handle_callback
from simrenew.web.deps import AppDep
from simrenew.web.problem_docs import problem_responses

router = APIRouter(prefix="/sandbox/checkout", tags=["sandbox provider"])
templates = Jinja2Templates(directory=FilePath(__file__).parent.parent.joinpath("templates"))

_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+=*\.[0-9a-f]{64}$")
# The token is the page's secret: never sent on as a Referer, never framed or cached.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The page"}
}

PaymentId = Annotated[str, Path(max_length=64, examples=["pay_019aa8e5d4410000f1e2d3c4b5a69788"])]
SessionQuery = Annotated[
    str, Query(max_length=2048, description="The signed checkout session from the URL.")
]


def _session(app: AppDep, payment_id: str, token: str) -> CheckoutSession:
    if not _TOKEN.match(token):
        raise SignatureInvalid(reason="malformed checkout session")
    session = app.sandbox.session(token)
    if session.payment_id != payment_id:
        raise SignatureInvalid(reason="checkout session is for another payment")
    return session


def _masked(payment_id: str) -> str:
    return f"…{payment_id[-6:]}"


@router.get(
    "/{payment_id}",
    operation_id="show_sandbox_checkout",
    summary="The sandbox's hosted payment page",
    response_class=HTMLResponse,
    responses={
        **_HTML,
        **problem_responses((400, "signature_invalid"), (422, "validation_error")),
    },
)
def show_sandbox_checkout(
    payment_id: PaymentId, session: SessionQuery, request: Request, app: AppDep
) -> HTMLResponse:
    checkout = _session(app, payment_id, session)
    return templates.TemplateResponse(
        request,
        "sandbox_checkout.html",
        {
            "amount": Money(checkout.amount_minor, checkout.currency).display(),
            "currency": checkout.currency,
            "reference": _masked(payment_id),
            "action_url": request.url_for("complete_sandbox_checkout", payment_id=payment_id),
            "session": session,
            "official_domain": app.settings.official_domain,
            "result": None,
        },
        headers=_PAGE_HEADERS,
    )


@router.post(
    "/{payment_id}",
    operation_id="complete_sandbox_checkout",
    name="complete_sandbox_checkout",
    summary="Pay or decline on the sandbox's page; its signed callback is delivered",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "To the result page"},
        **problem_responses(
            (400, "signature_invalid"), (400, "http_error"), (422, "validation_error")
        ),
    },
)
def complete_sandbox_checkout(
    payment_id: PaymentId,
    session: Annotated[str, Form(max_length=2048)],
    action: Annotated[Literal["pay", "decline"], Form()],
    app: AppDep,
) -> RedirectResponse:
    checkout = _session(app, payment_id, session)
    # A checkout decided before yields no callback: paying twice is not possible.
    for callback in app.sandbox.complete(payment_id, action=action, session=checkout):
        handle_callback(app.ctx, "sandbox", callback.headers, callback.body)
    if checkout.return_url:
        # Back to the shop, as hosted checkouts do; the shop's page follows the order.
        return RedirectResponse(checkout.return_url, status_code=303, headers=_PAGE_HEADERS)
    return RedirectResponse(
        f"/sandbox/checkout/{quote(payment_id)}/result?session={quote(session)}",
        status_code=303,
        headers=_PAGE_HEADERS,
    )


@router.get(
    "/{payment_id}/result",
    operation_id="show_sandbox_checkout_result",
    summary="What the sandbox did with a checkout",
    response_class=HTMLResponse,
    responses={
        **_HTML,
        **problem_responses((400, "signature_invalid"), (422, "validation_error")),
    },
)
def show_sandbox_checkout_result(
    payment_id: PaymentId, session: SessionQuery, request: Request, app: AppDep
) -> HTMLResponse:
    checkout = _session(app, payment_id, session)
    charge = app.sandbox.charge(payment_id)
    return templates.TemplateResponse(
        request,
        "sandbox_checkout.html",
        {
            "amount": Money(checkout.amount_minor, checkout.currency).display(),
            "currency": checkout.currency,
            "reference": _masked(payment_id),
            "official_domain": app.settings.official_domain,
            "result": str(charge["status"]) if charge else "open",
        },
        headers=_PAGE_HEADERS,
    )
