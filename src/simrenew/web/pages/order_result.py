"""The page a buyer lands on after the provider's page: it follows the order until
it is fulfilled or failed, and says what to do next (pay again after a decline).

Anyone holding the order's id may see it, as with the API's order status: the id is
unguessable and the page shows a masked number, never the card's balance.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path
from fastapi.responses import Response

from simrenew.domain.errors import DomainError
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import PaymentState
from simrenew.services.order_status import OrderStatus, order_status
from simrenew.services.payments import recheck_payment, start_payment
from simrenew.web.pages.home import next_step, payment_choices, result_url
from simrenew.web.pages.page import CsrfDep, PageDep

router = APIRouter(include_in_schema=False)

OrderId = Annotated[str, Path(max_length=64)]
REFRESH_SECONDS = 2
# Paid outside any page (a bank transfer): known only from the statement, usually the
# next working day, so the result page points back to the instructions and does not
# keep reloading.
OFFLINE_PROVIDERS = frozenset({"fps"})
# Providers whose payment is completed by our status check once the buyer approved it
# (PayPal captures an approved order): the buyer's return is the moment to check.
CHECK_ON_RETURN = frozenset({"paypal"})


def outcome(status: OrderStatus) -> str:
    """One word the page (and its tests) key on: fulfilled, waiting, transfer (awaiting
    a bank transfer), declined, unknown, closed."""
    order, payment = status.order, status.payment
    if order.state is OrderState.FULFILLED:
        return "fulfilled"
    if order.state in (OrderState.PAID,):
        return "waiting"
    if order.state is not OrderState.AWAITING_PAYMENT:
        return "closed"
    if (
        payment is not None
        and payment.provider in OFFLINE_PROVIDERS
        and payment.state is PaymentState.PENDING
    ):
        return "transfer"
    if payment is None or payment.state is PaymentState.PENDING:
        return "waiting"
    if payment.state is PaymentState.UNKNOWN:
        return "unknown"
    return "declined"


@router.get("/orders/{order_id}/result")
def show_result(order_id: OrderId, page: PageDep) -> Response:
    status = order_status(page.app.ctx, order_id)
    payment = status.payment
    if (
        payment is not None
        and payment.provider in CHECK_ON_RETURN
        and payment.state is PaymentState.PENDING
    ):
        recheck_payment(page.app.ctx, payment.id)
        status = order_status(page.app.ctx, order_id)
    state = outcome(status)
    response = page.render(
        "order_result.html",
        order_status=status,
        outcome=state,
        providers=payment_choices(page),
        refresh=REFRESH_SECONDS if state in ("waiting", "unknown") else None,
    )
    return response


@router.post("/orders/{order_id}/pay", dependencies=[CsrfDep])
def pay_again(
    order_id: OrderId, page: PageDep, pay_with: Annotated[str, Form(max_length=32)] = "sandbox"
) -> Response:
    """Pay an order again after a declined or abandoned payment."""
    try:
        payment = start_payment(
            page.app.ctx,
            order_id,
            pay_with,
            actor=f"subscriber:{page.subscriber.id}" if page.subscriber else "web:anonymous",
            return_url=result_url(page),
        )
    except DomainError as exc:
        status = order_status(page.app.ctx, order_id)
        return page.render(
            "order_result.html",
            order_status=status,
            outcome=outcome(status),
            providers=payment_choices(page),
            refresh=None,
            error=page.error_text(exc),
        )
    return page.redirect(next_step(page, order_id, payment))
