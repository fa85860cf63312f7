"""Card stock import and the card view (step one: check what is left)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from simrenew.domain.buckets import Bucket
from simrenew.domain.cards import Card, CardState
from simrenew.domain.catalog import ProductLine
from simrenew.domain.errors import CardsImportInvalid, LocatedProblem
from simrenew.domain.ids import new_id
from simrenew.domain.money import Money
from simrenew.domain.orders import Order
from simrenew.domain.renewals import ValidityPeriod
from simrenew.ports import UnitOfWork
from simrenew.services.cards_file import CardRow, parse_cards_csv
from simrenew.services.context import Context
from simrenew.services.lookup import find_card

CHUNK = 1000


@dataclass(frozen=True, slots=True)
class CardsImported:
    imported: int
    skipped: tuple[LocatedProblem, ...]


def import_cards(
    ctx: Context,
    text: str,
    *,
    skip_bad: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> CardsImported:
    """Add the cards of a stock CSV as ``in_stock``, in one transaction.

    Every bad row is reported (``CardsImportInvalid``) and nothing is imported,
    unless ``skip_bad``: then the good rows go in and the bad ones are returned.
    """
    now = ctx.clock.now()
    with ctx.uow() as uow:
        lines = {line.code: line.currency for line in uow.catalog.product_lines()}
        parsed = parse_cards_csv(text, product_lines=lines)
        problems = list(parsed.problems)
        identifiers = [
            value
            for row in parsed.rows
            for value in (row.iccid, row.eid, row.primary_number, row.second_number)
            if value
        ]
        taken = uow.cards.existing_identifiers(identifiers, at=now)
        good: list[CardRow] = []
        for row in parsed.rows:
            clashes = [
                v
                for v in (row.iccid, row.eid, row.primary_number, row.second_number)
                if v and v in taken
            ]
            if clashes:
                problems.append(
                    LocatedProblem(f"line {row.line}", f"already in use: {', '.join(clashes)}")
                )
            else:
                good.append(row)
        problems.sort(
            key=lambda p: int(p.location.split()[-1]) if p.location.split()[-1].isdigit() else 0
        )
        if problems and not skip_bad:
            raise CardsImportInvalid(problems)
        for start in range(0, len(good), CHUNK):
            chunk = good[start : start + CHUNK]
            uow.cards.add_many([_card(row) for row in chunk], at=now)
            if on_progress:
                on_progress(start + len(chunk), len(good))
        uow.commit()
    return CardsImported(len(good), tuple(problems))


def _card(row: CardRow) -> Card:
    return Card(
        id=new_id("card"),
        iccid=row.iccid,
        primary_number=row.primary_number,
        product_line=row.product_line,
        form_factor=row.form_factor,
        state=CardState.IN_STOCK,
        second_number=row.second_number,
        eid=row.eid,
        imsi=row.imsi,
        language=row.language,
        email=row.email,
    )


@dataclass(frozen=True, slots=True)
class CardView:
    """Everything step one shows: state, validity, value, allowances left."""

    card: Card
    line: ProductLine
    balance: Money
    periods: list[ValidityPeriod]  # the running one and those queued after it
    buckets: list[Bucket]  # valid now or later
    orders: list[Order]
    as_of: datetime

    @property
    def days_left(self) -> int | None:
        today = self.as_of.date()
        if self.card.validity_end is None or self.card.state is not CardState.ACTIVE:
            return None
        return max((self.card.validity_end - today).days + 1, 0)

    @property
    def current_period(self) -> ValidityPeriod | None:
        today: date = self.as_of.date()
        return next((p for p in self.periods if p.contains(today)), None)


def show_card(ctx: Context, card_key: str) -> CardView:
    """The card found by number or ICCID, with what is left on it. Raises ``CardNotFound``."""
    with ctx.uow(write=False) as uow:
        return card_view(uow, ctx, find_card(uow, card_key))


def card_view(uow: UnitOfWork, ctx: Context, card: Card) -> CardView:
    """What is left on ``card``, read inside the caller's unit of work."""
    now = ctx.clock.now()
    today = now.astimezone(ctx.clock.tz).date()
    line = uow.catalog.product_line(card.product_line)
    return CardView(
        card=card,
        line=line,
        balance=Money(card.balance_minor, line.currency),
        periods=uow.cards.current_and_queued_periods(card.id, today),
        buckets=uow.cards.buckets(card.id, valid_at=now),
        orders=uow.orders.list_for_card(card.id, limit=20),
        as_of=now.astimezone(ctx.clock.tz),
    )
