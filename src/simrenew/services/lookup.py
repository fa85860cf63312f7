"""Finding a card from what a person types: a number in any usual form, or an ICCID."""

from __future__ import annotations

from simrenew.domain.cards import Card, normalize_number
from simrenew.domain.errors import CardNotFound, InvalidNumber
from simrenew.ports import UnitOfWork


def normalize_card_key(text: str) -> str:
    """An ICCID as digits, or a number in E.164; raises ``InvalidNumber`` otherwise."""
    compact = text.strip().replace(" ", "")
    if compact.isdigit() and len(compact) in (19, 20) and compact.startswith("89"):
        return compact
    return normalize_number(text)


def find_card(uow: UnitOfWork, text: str) -> Card:
    try:
        key = normalize_card_key(text)
    except InvalidNumber:
        raise CardNotFound(key=text) from None
    card = uow.cards.find(key)
    if card is None:
        raise CardNotFound(key=text)
    return card
