"""Quick top-up: anyone with a number may pay for it, without logging in.

What it shows is deliberately thin (a masked number, the product line and the offers
that fit): paying for a relative must not tell the payer the relative's balance,
validity or card state.
"""

from __future__ import annotations

from dataclasses import dataclass

from simrenew.domain.cards import CardState, mask_number, normalize_number
from simrenew.domain.catalog import Texts
from simrenew.domain.errors import CardNotFound, CardNotRenewable, InvalidNumber
from simrenew.domain.orders import Channel
from simrenew.services.context import Context
from simrenew.services.ordering import Checkout, PlaceOrder, checkout
from simrenew.services.quoting import Quote, offers_for_card

ACTOR = "quick:anonymous"


@dataclass(frozen=True, slots=True)
class QuickOffers:
    number_masked: str
    product_line: Texts
    quotes: list[Quote]  # only the offers this card can buy now


def quick_offers(ctx: Context, number: str) -> QuickOffers:
    """The offers that fit the card holding ``number``, priced with the best promotion.

    Raises ``CardNotFound`` (also for text that is no mobile number: no card has it),
    and ``CardNotRenewable`` for a terminated card (a new card is needed).
    """
    e164 = _number(number)
    card, quotes = offers_for_card(ctx, e164)
    masked = mask_number(e164)
    if card.state is CardState.TERMINATED:
        raise CardNotRenewable(card=masked, state=card.state.value)
    with ctx.uow(write=False) as uow:
        line = uow.catalog.product_line(card.product_line)
    return QuickOffers(masked, line.name, [q for q in quotes if q.available])


def _number(text: str) -> str:
    # Only numbers, not ICCIDs: a payer knows the number, and an ICCID is printed on
    # the card, which the payer does not hold.
    try:
        return normalize_number(text)
    except InvalidNumber:
        raise CardNotFound(key=text) from None


def quick_checkout(
    ctx: Context,
    number: str,
    offer_code: str,
    *,
    coupon: str | None,
    pay_with: str,
    idempotency_key: str | None,
    return_url: str = "",
) -> Checkout:
    """Order ``offer_code`` for ``number`` through the quick channel and open its
    payment (``ordering.checkout``). Raises what ``checkout`` raises."""
    e164 = _number(number)
    command = PlaceOrder(
        e164, offer_code, Channel.QUICK, actor=ACTOR, coupon=coupon, idempotency_key=idempotency_key
    )
    return checkout(ctx, command, pay_with=pay_with, return_url=return_url)
