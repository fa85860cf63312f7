"""Auto-renew: one try of one period, and what the last tries came to.

A try orders the card's chosen offer (its own idempotency key, so a try run twice
orders once) and charges the saved method with nobody present. Exactly one charge per
period, whatever happens:

- every try of a period looks at the period's earlier tries first: one that paid
  ends the matter; one whose charge is still undecided (``pending``/``unknown``) is
  re-checked with its provider, and while it stays undecided nothing is charged again;
- a try whose period is no longer the card's (renewed by hand meanwhile) does nothing;
- a second payment that still gets through on an order already paid is refunded by
  the payments service (``duplicate_payment``).

Each failure tells the subscriber when the next try is; after the last, auto-renew is
turned off and the subscriber told how long the number is kept. The schedule itself
(when each try is due) is the job runner's; this module only runs a try.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from simrenew.domain.accounts import AutoRenewSetting
from simrenew.domain.auto_renew import (
    AutoRenewOutcome,
    AutoRenewTry,
    order_key,
    order_key_prefix,
    try_due_at,
    validity_ends_at,
)
from simrenew.domain.cards import Card
from simrenew.domain.errors import DomainError
from simrenew.domain.messages import MessageKind
from simrenew.domain.orders import Channel, Order, OrderState
from simrenew.domain.payment_methods import PaymentMethod
from simrenew.domain.payments import Payment, PaymentState
from simrenew.ports import AuditRecord, UnitOfWork
from simrenew.services.context import Context
from simrenew.services.notifications import enqueue_message
from simrenew.services.ordering import PlaceOrder, place_order
from simrenew.services.payment_methods import usable_method
from simrenew.services.payments import charge_saved_method, check_payment, new_payment

ACTOR = "system:auto-renew"
# Orders that count as "the period is paid for".
_PAID = frozenset({OrderState.PAID, OrderState.FULFILLED})


@dataclass(frozen=True, slots=True)
class TryResult:
    outcome: AutoRenewOutcome
    order_id: str | None = None
    failure_code: str | None = None


def run_auto_renew_try(
    ctx: Context, card_id: str, validity_end: date, attempt: AutoRenewTry
) -> TryResult:
    """Run try ``attempt`` of the period that ends on ``validity_end``. No lock is
    held across a provider call; the decision to charge and the pending payment that
    records it are made under the card's row lock, so two tries of a period that run
    at once (a worker outage left both due) charge at most once between them."""
    with ctx.uow(write=False) as uow:
        setting = uow.accounts.auto_renew(card_id)
        card = uow.cards.get(card_id)
        undecided = _undecided(uow, card_id, validity_end)
    if not _due(setting, card, validity_end):
        return TryResult(AutoRenewOutcome.NOT_DUE)
    assert setting is not None and setting.offer_code and setting.payment_token_id
    for payment in undecided:
        check_payment(ctx, payment, reason="re-checked before an auto-renew try")
    if undecided:
        with ctx.uow(write=False) as uow:
            paid = uow.cards.get(card_id).validity_end != validity_end
            still = _undecided(uow, card_id, validity_end)
        if paid:
            return TryResult(AutoRenewOutcome.ALREADY_RENEWED)
        if still:  # no second order while a charge of the period may have gone through
            return TryResult(AutoRenewOutcome.IN_DOUBT, still[0].order_id)

    try:
        order, _ = place_order(
            ctx,
            PlaceOrder(
                card.iccid,
                setting.offer_code,
                Channel.AUTO_RENEW,
                actor=ACTOR,
                idempotency_key=order_key(card_id, validity_end, attempt),
            ),
        )
        if order.state in _PAID:  # nothing to pay, or this try ran before and paid
            return TryResult(AutoRenewOutcome.RENEWED, order.id)
        opened = _open_charge(ctx, card_id, validity_end, order, setting)
    except DomainError as exc:
        return _failed(ctx, card, setting, validity_end, attempt, None, exc.code)
    if isinstance(opened, TryResult):
        if opened.outcome is AutoRenewOutcome.FAILED:
            return _failed(
                ctx, card, setting, validity_end, attempt, order, opened.failure_code or ""
            )
        return opened
    payment, method = opened
    payment = charge_saved_method(ctx, payment, order, method)
    if payment.state is PaymentState.SUCCEEDED:
        return TryResult(AutoRenewOutcome.RENEWED, order.id)
    if payment.state is PaymentState.FAILED:
        return _failed(
            ctx, card, setting, validity_end, attempt, order, payment.failure_code or "declined"
        )
    return TryResult(AutoRenewOutcome.IN_DOUBT, order.id)


def _undecided(uow: UnitOfWork, card_id: str, validity_end: date) -> list[Payment]:
    """The period's charges not decided yet (``pending``/``unknown``)."""
    return [
        p
        for o in uow.orders.list_by_key_prefix(card_id, order_key_prefix(card_id, validity_end))
        for p in uow.payments.list_for_order(o.id)
        if not p.state.is_final
    ]


def _open_charge(
    ctx: Context, card_id: str, validity_end: date, order: Order, setting: AutoRenewSetting
) -> tuple[Payment, PaymentMethod] | TryResult:
    """Under the card's row lock: look at the whole period once more and, if nothing
    of it is paid or undecided, record the pending charge of ``order``. Raises
    ``PaymentMethodNotFound``/``PaymentMethodUnusable`` for a method that cannot be
    charged."""
    assert setting.payment_token_id is not None
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.cards.get(card_id, lock=True)
        period = uow.orders.list_by_key_prefix(card_id, order_key_prefix(card_id, validity_end))
        if any(o.state in _PAID for o in period):
            return TryResult(AutoRenewOutcome.ALREADY_RENEWED)
        if _undecided(uow, card_id, validity_end):
            return TryResult(AutoRenewOutcome.IN_DOUBT, order.id)
        current = uow.orders.get(order.id)
        if current.state is not OrderState.AWAITING_PAYMENT:
            # This try ran before: its order ended unpaid (declined, then expired).
            return TryResult(AutoRenewOutcome.FAILED, order.id, "declined_before")
        method = usable_method(uow, ctx, setting.updated_by, setting.payment_token_id)
        payment = new_payment(current, method.provider, now=now, method_id=method.id)
        uow.payments.add(payment, actor=ACTOR)
        uow.commit()
    return payment, method


def _due(setting: AutoRenewSetting | None, card: Card, validity_end: date) -> bool:
    return (
        setting is not None
        and setting.enabled
        and setting.offer_code is not None
        and setting.payment_token_id is not None
        and card.validity_end == validity_end
    )


def _failed(
    ctx: Context,
    card: Card,
    setting: AutoRenewSetting,
    validity_end: date,
    attempt: AutoRenewTry,
    order: Order | None,
    failure_code: str,
) -> TryResult:
    """Tell the subscriber; after the last try, turn auto-renew off."""
    now = ctx.clock.now()
    follow_up = attempt.next()
    with ctx.uow() as uow:
        current = uow.accounts.auto_renew(card.id)
        offer = uow.catalog.offer(setting.offer_code or "")
        grace_days = uow.catalog.product_line(card.product_line).grace_days
        grace_ends = validity_ends_at(validity_end, ctx.clock.tz) + timedelta(days=grace_days)
        dedupe = f"{card.id}:{validity_end.isoformat()}:{attempt.value}"
        if follow_up is None:
            if current is not None and current.enabled:
                uow.accounts.save_auto_renew(replace(current, enabled=False, updated_at=now))
            uow.audit.record(
                AuditRecord(
                    "card",
                    card.id,
                    "auto_renew",
                    "auto_renew_paused",
                    f"auto-renew paused after try {attempt.value} failed ({failure_code})",
                    ACTOR,
                    now,
                )
            )
            enqueue_message(
                uow,
                ctx,
                card,
                MessageKind.AUTO_RENEW_PAUSED,
                at=now,
                dedupe=dedupe,
                number=card.primary_number,
                deadline=_local(ctx, grace_ends),
            )
        else:
            enqueue_message(
                uow,
                ctx,
                card,
                MessageKind.AUTO_RENEW_FAILED,
                at=now,
                dedupe=dedupe,
                number=card.primary_number,
                offer=offer.name.get(card.language) or offer.code,
                price=offer.price.display(),
                next=_local(ctx, try_due_at(validity_end, follow_up, ctx.clock.tz)),
            )
        uow.commit()
    outcome = AutoRenewOutcome.PAUSED if follow_up is None else AutoRenewOutcome.FAILED
    return TryResult(outcome, order.id if order else None, failure_code)


def _local(ctx: Context, instant: datetime) -> str:
    return instant.astimezone(ctx.clock.tz).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class LastTry:
    """What the newest auto-renew try of a card came to, for the API and the pages."""

    at: datetime
    order_id: str
    result: Literal["renewed", "failed", "in_progress"]
    failure_code: str | None = None


def last_try(ctx: Context, card_id: str) -> LastTry | None:
    with ctx.uow(write=False) as uow:
        tries = [o for o in uow.orders.list_for_card(card_id) if o.channel is Channel.AUTO_RENEW]
        if not tries:
            return None
        newest = tries[0]
        payments = uow.payments.list_for_order(newest.id)
    if newest.state in _PAID or newest.state in (OrderState.REFUNDING, OrderState.REFUNDED):
        return LastTry(newest.created_at, newest.id, "renewed")
    if any(not p.state.is_final for p in payments):
        return LastTry(newest.created_at, newest.id, "in_progress")
    failed = [p for p in payments if p.state is PaymentState.FAILED]
    code = failed[-1].failure_code if failed else None
    return LastTry(newest.created_at, newest.id, "failed", code)
