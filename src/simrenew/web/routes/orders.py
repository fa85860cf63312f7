"""Orders by id: status and receipt, paying, cancelling.

The order id is an unguessable capability (it is only ever handed to whoever placed
the order), so these routes need no login; in exchange they never show the card's
balance and mask its number.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from simrenew.domain.payments import Payment
from simrenew.services.order_status import order_status
from simrenew.services.ordering import cancel_order as cancel_order_service
from simrenew.services.payments import pay_with_saved_method, start_payment
from simrenew.web.auth_deps import OptionalSubscriberDep, SubscriberDep
from simrenew.web.deps import AppDep, CtxDep, IdempotencyKeyDep, LanguageDep
from simrenew.web.idempotency import idempotent
from simrenew.web.problem_docs import problem_responses
from simrenew.web.problems import Problem
from simrenew.web.routes.webhooks import require_provider
from simrenew.web.schemas_orders import (
    ORDER_ID_PATTERN,
    OrderOut,
    PaymentStartedOut,
    PayWithSavedMethodIn,
    StartPaymentIn,
)

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

OrderId = Annotated[
    str,
    Path(
        pattern=ORDER_ID_PATTERN,
        description="The id returned when the order was placed.",
        examples=["ord_019aa8e5d4400000a1b2c3d4e5f60718"],
    ),
]
ACTOR = "web:order-holder"
_IDEMPOTENCY = (
    (400, "idempotency_key_missing"),
    (400, "idempotency_key_invalid"),
    (400, "http_error"),  # a body that is not even JSON
)


@router.get(
    "/{order_id}",
    operation_id="get_order",
    summary="An order's state, its payment, and its receipt once fulfilled",
    response_model=OrderOut,
    responses=problem_responses((404, "order_not_found"), (422, "validation_error")),
)
def get_order(order_id: OrderId, ctx: CtxDep, language: LanguageDep) -> OrderOut:
    return OrderOut.of(order_status(ctx, order_id), language)


@router.post(
    "/{order_id}/payments",
    operation_id="start_order_payment",
    summary="Start paying an order: returns the provider's checkout page",
    status_code=201,
    response_model=PaymentStartedOut,
    responses=problem_responses(
        *_IDEMPOTENCY,
        (404, "order_not_found"),
        (409, "order_not_payable"),
        (409, "idempotency_in_progress"),
        (422, "idempotency_key_reused"),
        (422, "validation_error"),
        (404, "provider_not_found"),
        (401, "not_authenticated"),
        (409, "method_cannot_be_saved"),
        (503, "provider_unavailable"),
    ),
)
def start_order_payment(
    order_id: OrderId,
    body: StartPaymentIn,
    request: Request,
    app: AppDep,
    ctx: CtxDep,
    key: IdempotencyKeyDep,
    subscriber: OptionalSubscriberDep,
) -> Response:
    require_provider(app, body.pay_with)
    if body.save_method and subscriber is None:
        raise _login_to_save()

    def run() -> Response:
        payment = start_payment(
            ctx,
            order_id,
            body.pay_with,
            actor=ACTOR,
            save_for=subscriber.id if body.save_method and subscriber else None,
        )
        return _started(payment)

    return idempotent(request, key, run, body=body)


@router.post(
    "/{order_id}/payments/saved-method",
    operation_id="pay_order_with_saved_method",
    summary="Pay an order at once with one of my saved payment methods",
    description="The provider charges the saved method with no page to visit: the "
    "answer is `succeeded`, `failed` (declined: try another way), `pending`, or "
    "`unknown` (no answer yet: the order page follows it; it is never charged twice).",
    status_code=201,
    response_model=PaymentStartedOut,
    responses=problem_responses(
        *_IDEMPOTENCY,
        (401, "not_authenticated"),
        (404, "order_not_found"),
        (404, "payment_method_not_found"),
        (409, "order_not_payable"),
        (409, "payment_method_unusable"),
        (409, "idempotency_in_progress"),
        (422, "idempotency_key_reused"),
        (422, "validation_error"),
    ),
)
def pay_order_with_saved_method(
    order_id: OrderId,
    body: PayWithSavedMethodIn,
    request: Request,
    ctx: CtxDep,
    key: IdempotencyKeyDep,
    subscriber: SubscriberDep,
) -> Response:
    def run() -> Response:
        payment = pay_with_saved_method(
            ctx, order_id, body.payment_method_id, subscriber_id=subscriber.id, actor=ACTOR
        )
        return _started(payment)

    return idempotent(request, key, run, body=body)


def _started(payment: Payment) -> JSONResponse:
    out = PaymentStartedOut(
        order_id=payment.order_id,
        payment_id=payment.id,
        state=payment.state.value,
        checkout_url=payment.checkout_url,
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


def _login_to_save() -> Problem:
    return Problem(
        401,
        "not_authenticated",
        "Log in first: a payment method is kept for a logged-in subscriber.",
        title="Not authenticated",
    )


@router.post(
    "/{order_id}/cancel",
    operation_id="cancel_order",
    summary="Cancel an unpaid order",
    response_model=OrderOut,
    responses=problem_responses(
        *_IDEMPOTENCY,
        (404, "order_not_found"),
        (409, "illegal_transition"),
        (409, "idempotency_in_progress"),
        (422, "idempotency_key_reused"),
        (422, "validation_error"),
    ),
)
def cancel_order(
    order_id: OrderId, request: Request, ctx: CtxDep, language: LanguageDep, key: IdempotencyKeyDep
) -> Response:
    def run() -> Response:
        cancel_order_service(ctx, order_id, actor=ACTOR)
        out = OrderOut.of(order_status(ctx, order_id), language)
        return JSONResponse(out.model_dump(mode="json"))

    return idempotent(request, key, run)
