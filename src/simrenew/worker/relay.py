"""The outbox relay: claims due messages, delivers each with no lock held, and
records the outcome. Delivery is at least once; every handler tolerates repeats
(the message id travels with each delivery as its de-duplication key)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from simrenew.db.uow import SqlUnitOfWorkFactory
from simrenew.domain.auto_renew import AutoRenewOutcome, AutoRenewTry
from simrenew.domain.outbox import OutboxKind, OutboxMessage, OutboxState, retry_delay
from simrenew.ports import (
    DeliveryError,
    EmailSender,
    NetworkCommand,
    NetworkGateway,
    PermanentDeliveryError,
    SmsSender,
)
from simrenew.services.auto_renew import run_auto_renew_try
from simrenew.services.context import Context
from simrenew.services.payment_methods import forget_method, save_method_of
from simrenew.services.refunds import record_refund_answer, refund_to_ask

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RelayStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0


@dataclass
class OutboxRelay:
    ctx: Context
    uow: SqlUnitOfWorkFactory
    sms: SmsSender
    email: EmailSender | None
    network: NetworkGateway
    worker_id: str = field(default_factory=default_worker_id)
    batch_size: int = 50
    lease: timedelta = timedelta(seconds=60)

    def run_once(self) -> RelayStats:
        """Claim one batch and deliver it; returns what happened."""
        now = self.ctx.clock.now()
        with self.uow() as uow:
            messages = uow.outbox.claim(
                now=now, lease_until=now + self.lease, worker=self.worker_id, limit=self.batch_size
            )
            uow.commit()
        stats = RelayStats()
        for message in messages:
            self._deliver_one(message, stats)
        return stats

    def drain(self, *, max_batches: int = 1000) -> RelayStats:
        """Deliver until nothing is due (messages waiting for a retry stay queued)."""
        total = RelayStats()
        for _ in range(max_batches):
            stats = self.run_once()
            total.delivered += stats.delivered
            total.retried += stats.retried
            total.dead += stats.dead
            if not (stats.delivered or stats.retried or stats.dead):
                break
        return total

    def _deliver_one(self, message: OutboxMessage, stats: RelayStats) -> None:
        try:
            self._handler(message.kind)(message)
        except PermanentDeliveryError as exc:
            self._fail(message, f"{type(exc).__name__}: {exc}", permanent=True, stats=stats)
        except Exception as exc:  # any failure is retried with backoff, then dead-lettered
            log.warning(
                "outbox %s (%s) failed: %s", message.id, message.kind.value, type(exc).__name__
            )
            self._fail(message, f"{type(exc).__name__}: {exc}", permanent=False, stats=stats)
        else:
            with self.uow() as uow:
                uow.outbox.mark_delivered(message.id, self.worker_id, self.ctx.clock.now())
                uow.commit()
            stats.delivered += 1

    def _fail(
        self, message: OutboxMessage, error: str, *, permanent: bool, stats: RelayStats
    ) -> None:
        now = self.ctx.clock.now()
        # ``attempts`` already counts this attempt: it is raised when a message is claimed.
        retry_at = None if permanent else now + retry_delay(message.attempts)
        with self.uow() as uow:
            state = uow.outbox.mark_failed(
                message.id, self.worker_id, error=error, retry_at=retry_at
            )
            uow.commit()
        if state is OutboxState.DEAD:
            log.error(
                "outbox %s dead-lettered after %d attempt(s)", message.id, message.attempts + 1
            )
            stats.dead += 1
        else:
            stats.retried += 1

    def _handler(self, kind: OutboxKind) -> Callable[[OutboxMessage], None]:
        return {
            OutboxKind.SMS: self._send_sms,
            OutboxKind.EMAIL: self._send_email,
            OutboxKind.PROVISION: self._provision,
            OutboxKind.REFUND: self._refund,
            OutboxKind.SAVE_METHOD: self._save_method,
            OutboxKind.FORGET_METHOD: self._forget_method,
            OutboxKind.AUTO_RENEW: self._auto_renew,
        }[kind]

    def _send_sms(self, message: OutboxMessage) -> None:
        self.sms.send_sms(message.payload["to"], message.payload["text"], message_id=message.id)

    def _send_email(self, message: OutboxMessage) -> None:
        if self.email is None:
            raise PermanentDeliveryError("no e-mail channel configured")
        payload = message.payload
        # Attachments travel as text in the payload (reminders' .ics calendar files).
        attachments = [
            (item["filename"], item["content_type"], item["text"].encode("utf-8"))
            for item in payload.get("attachments") or ()
        ]
        self.email.send_email(
            payload["to"],
            payload["subject"],
            payload["text"],
            message_id=message.id,
            attachments=attachments,
        )

    def _provision(self, message: OutboxMessage) -> None:
        payload = message.payload
        self.network.send(
            NetworkCommand(
                command_id=message.id,
                action=payload["action"],
                iccid=payload["iccid"],
                imsi=payload.get("imsi"),
                numbers=tuple(payload.get("numbers") or ()),
                details=payload.get("details") or {},
            )
        )

    def _save_method(self, message: OutboxMessage) -> None:
        save_method_of(self.ctx, message.payload["payment_id"])

    def _forget_method(self, message: OutboxMessage) -> None:
        forget_method(self.ctx, message.payload["method_id"])

    def _auto_renew(self, message: OutboxMessage) -> None:
        payload = message.payload
        attempt = AutoRenewTry(payload["attempt"])
        result = run_auto_renew_try(
            self.ctx, payload["card_id"], date.fromisoformat(payload["validity_end"]), attempt
        )
        log.info(
            "auto-renew try %d of %s (%s): %s",
            attempt.value,
            payload["card_id"],
            payload["validity_end"],
            result.outcome.value,
        )
        if result.outcome is AutoRenewOutcome.IN_DOUBT and attempt.is_last:
            # No later try will look again: retry this one (it re-checks, never
            # charges again) until the charge is decided.
            raise DeliveryError("the period's charge is still undecided")

    def _refund(self, message: OutboxMessage) -> None:
        # A refund already answered (a repeated delivery) is asked of nobody again.
        ask = refund_to_ask(self.ctx, message.payload["payment_id"])
        if ask is None:
            return
        provider = self.ctx.provider(ask.provider)
        result = provider.refund(
            ask.payment_id, ask.provider_ref, ask.amount.amount_minor, ask.amount.currency
        )
        # A refusal is an answer, not a delivery error: the refund becomes "failed"
        # (or "manual") for staff, and the message is done rather than retried.
        record_refund_answer(self.ctx, ask.refund_id, result)
