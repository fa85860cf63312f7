"""Quick top-up, no login: a number in, the offers that fit it out; order and pay."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from simrenew.services.quick_topup import quick_checkout, quick_offers
from simrenew.web.deps import AppDep, CtxDep, IdempotencyKeyDep, LanguageDep
from simrenew.web.idempotency import idempotent
from simrenew.web.problem_docs import problem_responses
from simrenew.web.quick_limits import QuickLimits
from simrenew.web.routes.webhooks import require_provider
from simrenew.web.schemas_orders import (
    CheckoutOut,
    QuickLookupIn,
    QuickLookupOut,
    QuickOfferOut,
    QuickOrderIn,
)

router = APIRouter(prefix="/api/v1/quick-topup", tags=["quick top-up"])


def _limits(request: Request) -> QuickLimits:
    limits: QuickLimits = request.app.state.quick_limits
    return limits


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post(
    "/lookup",
    operation_id="quick_topup_lookup",
    summary="The offers that fit a number (never its balance, validity or state)",
    response_model=QuickLookupOut,
    responses=problem_responses(
        (404, "card_not_found"),
        (409, "card_not_renewable"),
        (422, "validation_error"),
        (400, "http_error"),
        (429, "rate_limited"),
    ),
)
def quick_topup_lookup(
    body: QuickLookupIn, request: Request, ctx: CtxDep, language: LanguageDep
) -> QuickLookupOut:
    _limits(request).check("lookup", ip=_client_ip(request), number=body.number)
    found = quick_offers(ctx, body.number)
    return QuickLookupOut(
        number_masked=found.number_masked,
        product_line=found.product_line.get(language),
        offers=[QuickOfferOut.of(q, language) for q in found.quotes],
    )


@router.post(
    "/orders",
    operation_id="quick_topup_create_order",
    summary="Order an offer for a number and open its payment",
    status_code=201,
    response_model=CheckoutOut,
    responses=problem_responses(
        (400, "idempotency_key_missing"),
        (400, "idempotency_key_invalid"),
        (404, "card_not_found"),
        (404, "offer_not_found"),
        (409, "card_not_renewable"),
        (409, "offer_not_available"),
        (409, "order_limit_exceeded"),
        (409, "queue_limit_exceeded"),
        (409, "coupon_invalid"),
        (409, "promotion_not_applicable"),
        (409, "idempotency_in_progress"),
        (422, "idempotency_key_reused"),
        (422, "validation_error"),
        (400, "http_error"),
        (429, "rate_limited"),
        (404, "provider_not_found"),
        (503, "provider_unavailable"),
    ),
)
def quick_topup_create_order(
    body: QuickOrderIn, request: Request, app: AppDep, ctx: CtxDep, key: IdempotencyKeyDep
) -> Response:
    require_provider(app, body.pay_with)

    def run() -> Response:
        # Counted only when the order is really attempted: a replay costs nothing.
        _limits(request).check("order", ip=_client_ip(request), number=body.number)
        placed = quick_checkout(
            ctx,
            body.number,
            body.offer_code,
            coupon=body.coupon,
            pay_with=body.pay_with,
            idempotency_key=key,
        )
        out = CheckoutOut.of(placed)
        return JSONResponse(out.model_dump(mode="json"), status_code=201)

    return idempotent(request, key, run, body=body)
