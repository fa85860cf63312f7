"""Card lifecycle over time: ``active → grace`` when validity ends, ``grace →
terminated`` when grace ends. Each move is recorded with reason and actor, and the
network told through the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from simrenew.domain.cards import CardState
from simrenew.domain.outbox import ProvisionAction
from simrenew.domain.timeutil import start_of_day
from simrenew.services.context import Context
from simrenew.services.provisioning import enqueue_provision

ACTOR = "system:lifecycle"


@dataclass(frozen=True, slots=True)
class SweepResult:
    to_grace: int
    terminated: int


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
                moved = card.move_to(
                    CardState.GRACE,
                    reason=f"validity ended {card.validity_end.isoformat()}",
                    actor=ACTOR,
                    at=now,
                )
                uow.cards.update(moved, at=now)
                enqueue_provision(
                    uow, moved, ProvisionAction.SUSPEND, at=now, cause=card.validity_end.isoformat()
                )
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
                    ended = card.validity_end.isoformat() if card.validity_end else "-"
                    moved = card.move_to(
                        CardState.TERMINATED,
                        reason=f"grace of {line.grace_days} days after {ended} ended",
                        actor=ACTOR,
                        at=now,
                    )
                    uow.cards.update(moved, at=now)
                    uow.cards.release_numbers(
                        moved,
                        at=now,
                        reusable_from=start_of_day(
                            today + timedelta(days=line.cooling_off_days), ctx.clock.tz
                        ),
                    )
                    enqueue_provision(uow, moved, ProvisionAction.TERMINATE, at=now, cause=ended)
                    terminated += 1
                uow.commit()
            if len(due) < batch:
                break
    return SweepResult(to_grace, terminated)
