"""A logged-in subscriber's offers, quotes and orders (steps two and three)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from simrenew.domain.orders import Channel
from simrenew.services.my_orders import my_checkout, my_offers, my_quote
from simrenew.web.auth_deps import SubscriberDep
from simrenew.web.deps import AppDep, CtxDep, IdempotencyKeyDep, LanguageDep
from simrenew.web.idempotency import idempotent
from simrenew.web.problem_docs import problem_responses
from simrenew.web.routes.webhooks import require_provider
from simrenew.web.schemas_my_orders import MyOfferOut, MyOffersOut, MyOrderIn, QuoteIn
from simrenew.web.schemas_orders import CheckoutOut

router = APIRouter(prefix="/api/v1/me", tags=["my cards"])

CardIdPath = Path(min_length=1, max_length=48, description="One of the subscriber's cards.")


@router.get(
    "/cards/{card_id}/offers",
    operation_id="list_my_card_offers",
    summary="The offers that fit one of my cards, priced, with the validity each gives",
    response_model=MyOffersOut,
    responses=problem_responses(
        (401, "not_authenticated"), (404, "card_not_found"), (422, "validation_error")
    ),
)
def list_my_card_offers(
    subscriber: SubscriberDep, ctx: CtxDep, language: LanguageDep, card_id: str = CardIdPath
) -> MyOffersOut:
    card, quotes = my_offers(ctx, subscriber, card_id)
    return MyOffersOut(card_id=card.id, offers=[MyOfferOut.of_quote(q, language) for q in quotes])


@router.post(
    "/cards/{card_id}/quote",
    operation_id="quote_my_card",
    summary="Price one offer for one of my cards, with a coupon if I have one",
    response_model=MyOfferOut,
    responses=problem_responses(
        (400, "http_error"),
        (401, "not_authenticated"),
        (404, "card_not_found"),
        (404, "offer_not_found"),
        (409, "offer_not_available"),
        (409, "coupon_invalid"),
        (409, "promotion_not_applicable"),
        (422, "validation_error"),
    ),
)
def quote_my_card(
    body: QuoteIn,
    subscriber: SubscriberDep,
    ctx: CtxDep,
    language: LanguageDep,
    card_id: str = CardIdPath,
) -> MyOfferOut:
    return MyOfferOut.of_quote(
        my_quote(ctx, subscriber, card_id, body.offer_code, body.coupon), language
    )


@router.post(
    "/orders",
    operation_id="create_my_order",
    summary="Order an offer for one of my cards and open its payment",
    status_code=201,
    response_model=CheckoutOut,
    responses=problem_responses(
        (400, "idempotency_key_missing"),
        (400, "idempotency_key_invalid"),
        (400, "http_error"),
        (401, "not_authenticated"),
        (404, "card_not_found"),
        (404, "offer_not_found"),
        (404, "provider_not_found"),
        (409, "card_not_renewable"),
        (409, "offer_not_available"),
        (409, "order_limit_exceeded"),
        (409, "queue_limit_exceeded"),
        (409, "coupon_invalid"),
        (409, "promotion_not_applicable"),
        (409, "method_cannot_be_saved"),
        (409, "idempotency_in_progress"),
        (422, "idempotency_key_reused"),
        (422, "validation_error"),
        (503, "provider_unavailable"),
    ),
)
def create_my_order(
    body: MyOrderIn,
    request: Request,
    subscriber: SubscriberDep,
    app: AppDep,
    ctx: CtxDep,
    key: IdempotencyKeyDep,
) -> Response:
    require_provider(app, body.pay_with)
    # An app authenticates with a bearer token, the web pages with the session cookie.
    channel = Channel.APP if request.headers.get("authorization") else Channel.WEB

    def run() -> Response:
        placed = my_checkout(
            ctx,
            subscriber,
            body.card_id,
            body.offer_code,
            coupon=body.coupon,
            pay_with=body.pay_with,
            channel=channel,
            idempotency_key=key,
            save_method=body.save_method,
        )
        out = CheckoutOut.of(placed)
        return JSONResponse(out.model_dump(mode="json"), status_code=201)

    return idempotent(request, key, run, body=body, identity=f"subscriber:{subscriber.id}")
