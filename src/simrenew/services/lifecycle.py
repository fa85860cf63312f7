"""Card lifecycle over time: ``active → grace`` when validity ends, ``grace →
terminated`` when grace ends. Each move is recorded with reason and actor, and the
network told through the outbox.

The scheduled ``expire`` and ``terminate`` jobs (services/scheduled_jobs.py) make
each move at its second; ``sweep_lifecycle`` is the backstop that finds any card
whose time has passed without its job (it runs with the worker's other sweeps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from simrenew.domain.cards import Card, CardState
from simrenew.domain.catalog import ProductLine
from simrenew.domain.outbox import ProvisionAction
from simrenew.domain.timeutil import start_of_day
from simrenew.ports import UnitOfWork
from simrenew.services.context import Context
from simrenew.services.provisioning import enqueue_provision

ACTOR = "system:lifecycle"


@dataclass(frozen=True, slots=True)
class SweepResult:
    to_grace: int
    terminated: int


def expire_card(uow: UnitOfWork, card: Card, *, now: datetime) -> Card:
    """``active → grace`` for ``card`` (locked by the caller, validity passed): the
    move recorded and the network told to suspend outgoing service."""
    ended = card.validity_end.isoformat() if card.validity_end else "-"
    moved = card.move_to(CardState.GRACE, reason=f"validity ended {ended}", actor=ACTOR, at=now)
    uow.cards.update(moved, at=now)
    enqueue_provision(uow, moved, ProvisionAction.SUSPEND, at=now, cause=ended)
    return moved


def terminate_card(
    uow: UnitOfWork, ctx: Context, card: Card, line: ProductLine, *, now: datetime
) -> Card:
    """``grace → terminated`` for ``card`` (locked by the caller, grace passed): the
    numbers rest in the cooling-off pool for the product line's days, and the
    network is told."""
    ended = card.validity_end.isoformat() if card.validity_end else "-"
    moved = card.move_to(
        CardState.TERMINATED,
        reason=f"grace of {line.grace_days} days after {ended} ended",
        actor=ACTOR,
        at=now,
    )
    uow.cards.update(moved, at=now)
    today = now.astimezone(ctx.clock.tz).date()
    uow.cards.release_numbers(
        moved,
        at=now,
        reusable_from=start_of_day(today + timedelta(days=line.cooling_off_days), ctx.clock.tz),
    )
    enqueue_provision(uow, moved, ProvisionAction.TERMINATE, at=now, cause=ended)
    return moved


def sweep_lifecycle(ctx: Context, *, batch: int = 500) -> SweepResult:
    """Move every card whose time has come; safe to run as often as wanted."""
    now = ctx.clock.now()
    today = now.astimezone(ctx.clock.tz).date()
    to_grace = 0
    while True:
        with ctx.uow() as uow:
            due = uow.cards.due_for_grace(today, batch)
            for candidate in due:
                card = uow.cards.get(candidate.id, lock=True)
                if (
                    card.state is not CardState.ACTIVE
                    or not card.validity_end
                    or card.validity_end >= today
                ):
                    continue
                expire_card(uow, card, now=now)
                to_grace += 1
            uow.commit()
        if len(due) < batch:
            break

    terminated = 0
    with ctx.uow(write=False) as uow:
        lines = uow.catalog.product_lines()
    for line in lines:
        last_day_before = today - timedelta(days=line.grace_days)
        while True:
            with ctx.uow() as uow:
                due = uow.cards.due_for_termination(line.code, last_day_before, batch)
                for candidate in due:
                    card = uow.cards.get(candidate.id, lock=True)
                    if card.state is not CardState.GRACE:
                        continue
                    terminate_card(uow, ctx, card, line, now=now)
                    terminated += 1
                uow.commit()
            if len(due) < batch:
                break
    return SweepResult(to_grace, terminated)
