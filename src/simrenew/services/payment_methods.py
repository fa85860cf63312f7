"""Saved payment methods: kept when a buyer asks, listed, deleted, and charged with
no buyer present (one-tap renewals now, auto-renew later).

A method is saved after the payment that used it succeeded, by an outbox message
(``save_method``): the provider is asked which reusable token the payment left, with
no transaction open, and the answer is stored in one. Deleting a method marks it
deleted at once, pauses the auto-renew settings that charged it, and asks the
provider to delete its token through the outbox (``forget_method``).
"""

from __future__ import annotations

from datetime import datetime

from simrenew.domain.accounts import AutoRenewSetting, Subscriber
from simrenew.domain.errors import Conflict, PaymentMethodNotFound
from simrenew.domain.ids import new_id
from simrenew.domain.outbox import OutboxKind
from simrenew.domain.payment_methods import PaymentMethod
from simrenew.domain.payments import Payment
from simrenew.ports import (
    AuditRecord,
    SavedMethodRef,
    SavesPaymentMethods,
    UnitOfWork,
)
from simrenew.services.context import Context


class MethodCannotBeSaved(Conflict):
    code = "method_cannot_be_saved"
    template = "Payments with {provider} cannot be kept for later."


class PaymentMethodUnusable(Conflict):
    code = "payment_method_unusable"
    template = "The saved payment method {method} cannot be charged: {reason}."


def saver(ctx: Context, provider_name: str) -> SavesPaymentMethods:
    """``provider_name`` as a provider that keeps methods; ``MethodCannotBeSaved``
    otherwise (``ProviderUnavailable`` when it is not configured at all)."""
    provider = ctx.provider(provider_name)
    if not isinstance(provider, SavesPaymentMethods):
        raise MethodCannotBeSaved(provider=provider_name)
    return provider


def providers_that_save(ctx: Context) -> list[str]:
    return [name for name, p in ctx.providers.items() if isinstance(p, SavesPaymentMethods)]


def list_methods(ctx: Context, subscriber: Subscriber) -> list[PaymentMethod]:
    """The subscriber's methods that are not deleted, newest first."""
    with ctx.uow(write=False) as uow:
        return uow.payment_methods.list_live(subscriber.id)


def usable_method(
    uow: UnitOfWork, ctx: Context, subscriber_id: str, method_id: str
) -> PaymentMethod:
    """``method_id`` if it is the subscriber's and can be charged today. Someone else's
    method and no method get the same ``PaymentMethodNotFound``; a deleted or expired
    one, or one whose provider is gone, is ``PaymentMethodUnusable``."""
    method = uow.payment_methods.get(method_id)
    if method.subscriber_id != subscriber_id:
        raise PaymentMethodNotFound(key=method_id)
    if not method.is_live:
        raise PaymentMethodUnusable(method=method_id, reason="it was deleted")
    if method.expired_on(ctx.clock.now().astimezone(ctx.clock.tz).date()):
        raise PaymentMethodUnusable(method=method_id, reason="it has expired")
    if method.provider not in providers_that_save(ctx):
        raise PaymentMethodUnusable(method=method_id, reason="its provider is not offered")
    return method


def delete_method(ctx: Context, subscriber: Subscriber, method_id: str) -> None:
    """Delete one of the subscriber's methods: never charged again, auto-renew that
    used it paused, the provider asked to delete it. Deleting twice is harmless.
    Raises ``PaymentMethodNotFound`` for a method that is not theirs."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        method = uow.payment_methods.get(method_id, lock=True)
        if method.subscriber_id != subscriber.id:
            raise PaymentMethodNotFound(key=method_id)
        if not uow.payment_methods.delete(method_id, now):
            return
        for setting in uow.accounts.auto_renew_using(method_id):
            _pause_auto_renew(uow, setting, subscriber, now)
        uow.outbox.add(
            OutboxKind.FORGET_METHOD,
            {"method_id": method.id},
            at=now,
            dedupe_key=f"forget_method:{method.id}",
        )
        uow.audit.record(
            AuditRecord(
                "payment_method",
                method.id,
                "saved",
                "deleted",
                "deleted by its owner",
                f"subscriber:{subscriber.id}",
                now,
            )
        )
        uow.commit()


def _pause_auto_renew(
    uow: UnitOfWork, setting: AutoRenewSetting, subscriber: Subscriber, now: datetime
) -> None:
    uow.accounts.save_auto_renew(
        AutoRenewSetting(
            card_id=setting.card_id,
            enabled=False,
            offer_code=setting.offer_code,
            payment_token_id=None,
            updated_by=subscriber.id,
            updated_at=now,
        )
    )
    uow.audit.record(
        AuditRecord(
            "card",
            setting.card_id,
            "auto_renew",
            "auto_renew_paused",
            "auto-renew paused: its saved payment method was deleted",
            f"subscriber:{subscriber.id}",
            now,
        )
    )


def enqueue_save(uow: UnitOfWork, payment: Payment, *, now: datetime) -> None:
    """After ``payment`` succeeded: keep its method if the buyer asked to."""
    if payment.save_for is None or payment.method_id is not None:
        return
    uow.outbox.add(
        OutboxKind.SAVE_METHOD,
        {"payment_id": payment.id},
        at=now,
        dedupe_key=f"save_method:{payment.id}",
    )


def save_method_of(ctx: Context, payment_id: str) -> PaymentMethod | None:
    """Ask the provider which method ``payment_id`` left for later and keep it (the
    outbox's ``save_method``). None when the provider kept none (the buyer chose a
    method that cannot be kept). ``ProviderError`` propagates: the outbox retries."""
    with ctx.uow(write=False) as uow:
        payment = uow.payments.get(payment_id)
    if payment.save_for is None:
        return None
    details = saver(ctx, payment.provider).saved_method(payment.id, payment.provider_ref)
    if details is None:
        return None
    now = ctx.clock.now()
    with ctx.uow() as uow:
        method = uow.payment_methods.add(
            PaymentMethod(
                id=new_id("pm"),
                subscriber_id=payment.save_for,
                provider=payment.provider,
                token=details.token,
                customer_ref=details.customer_ref,
                brand=details.brand[:24],
                last4=details.last4,
                exp_month=details.exp_month,
                exp_year=details.exp_year,
                label=details.label[:64] if details.label else None,
                created_at=now,
            )
        )
        uow.commit()
    return method


def forget_method(ctx: Context, method_id: str) -> None:
    """Ask the provider to delete a deleted method's token (the outbox's
    ``forget_method``). ``ProviderError`` propagates and the outbox retries; a
    provider no longer configured cannot be asked, and the outbox dead-letters the
    message for an operator."""
    with ctx.uow(write=False) as uow:
        method = uow.payment_methods.get(method_id)
    saver(ctx, method.provider).forget_method(
        SavedMethodRef(token=method.token, customer_ref=method.customer_ref)
    )
