"""How to pay by FPS or bank transfer: the page the FPS provider's "checkout" sends
the payer to, ``/pay/fps/{payment_id}``.

It shows what the payer's bank needs and nothing else: the payee (FPS ID, name,
bank account), the exact amount and the reference to type in the remarks, and what
happens next. Anyone holding the payment id may see it, as with the order result
page: the id is unguessable, and the page shows no number, card or balance.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from simrenew.domain.errors import ProviderUnavailable
from simrenew.domain.payments import PaymentState
from simrenew.providers.fps import NAME, FpsProvider
from simrenew.services.reconciliation import bank_transfer
from simrenew.web.pages.page import PageDep

router = APIRouter(include_in_schema=False)

PaymentId = Annotated[str, Path(max_length=64)]


@router.get("/pay/fps/{payment_id}")
def fps_instructions(payment_id: PaymentId, page: PageDep) -> Response:
    """The transfer to make for an FPS payment; 404 for any other payment."""
    transfer = bank_transfer(page.app.ctx, payment_id)
    provider = page.app.ctx.provider(NAME)
    if not isinstance(provider, FpsProvider):
        raise ProviderUnavailable(provider=NAME, reason="not an FPS provider")
    if transfer.state is PaymentState.SUCCEEDED:
        stage = "received"
    elif transfer.state in (PaymentState.PENDING, PaymentState.UNKNOWN):
        stage = "waiting"
    else:
        stage = "closed"
    return page.render(
        "fps_instructions.html", transfer=transfer, payee=provider.payee, stage=stage
    )
