"""Wiring: ports to adapters, from settings. Nothing happens at import time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import Engine

from simrenew.config import Settings
from simrenew.db.delivery_repository import SqlDeliveryStatusSink
from simrenew.db.engine import make_engine
from simrenew.db.uow import SqlUnitOfWorkFactory
from simrenew.documents.reminder_ics import reminder_ics
from simrenew.domain.auth import AuthPolicy, SendLimit
from simrenew.domain.vouchers import VoucherPolicy
from simrenew.network.recording import RecordingNetworkGateway
from simrenew.notify.dev_inbox import DevInbox
from simrenew.notify.http_sms import HttpSmsSender
from simrenew.notify.smpp import SmppSender
from simrenew.notify.smtp import SmtpEmailSender
from simrenew.ports import (
    AuthConfig,
    Clock,
    DeliveryStatusSink,
    EmailSender,
    PaymentProvider,
    SmsSender,
)
from simrenew.providers.cash import CashProvider
from simrenew.providers.registry import close_providers, configured_providers
from simrenew.providers.sandbox import SandboxGateway, SandboxProvider
from simrenew.providers.voucher import VoucherProvider
from simrenew.ratelimit import LimitsRateLimiter
from simrenew.services.context import Context
from simrenew.worker.relay import OutboxRelay


class SystemClock:
    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    engine: Engine
    uow: SqlUnitOfWorkFactory
    ctx: Context
    sandbox: SandboxGateway
    inbox: DevInbox
    network: RecordingNetworkGateway
    relay: OutboxRelay

    def close(self) -> None:
        close_providers(self.ctx.providers)
        close_sms = getattr(self.relay.sms, "close", None)  # SMPP unbinds, HTTP frees its pool
        if callable(close_sms):
            close_sms()
        self.sandbox.dispose()
        self.engine.dispose()


def auth_config(settings: Settings) -> AuthConfig:
    """Login policy from settings, and the rate limiter the services share."""
    hour = timedelta(hours=1)
    policy = AuthPolicy(
        secret=settings.login_secret.get_secret_value().encode(),
        allowed_country_codes=frozenset(settings.login_country_codes),
        send_limits=(
            SendLimit("number", settings.login_codes_per_number_hour, hour),
            SendLimit("ip", settings.login_codes_per_ip_hour, hour),
            SendLimit("prefix", settings.login_codes_per_prefix_hour, hour),
        ),
    )
    return AuthConfig(limiter=LimitsRateLimiter(settings.redis_url), policy=policy)


class ChannelMisconfigured(ValueError):
    """The chosen SMS channel lacks some of its settings."""


def sms_sender(
    settings: Settings, inbox: DevInbox, receipts: DeliveryStatusSink | None = None
) -> SmsSender:
    """The SMS channel ``sms_channel`` names. Nothing connects yet: SMPP binds on its
    first message (or the worker's ``connect``). Submissions and delivery receipts go
    to ``receipts``; without one, receipts are only logged."""
    s = settings
    required = {
        "smpp": {"smpp_host": s.smpp_host, "smpp_system_id": s.smpp_system_id,
                 "smpp_password": s.smpp_password},
        "http": {"http_sms_url": s.http_sms_url, "http_sms_token": s.http_sms_token},
    }.get(s.sms_channel, {})  # fmt: skip
    missing = [f"SIMRENEW_{name.upper()}" for name, value in required.items() if not value]
    if missing:
        raise ChannelMisconfigured(
            f"sms_channel={s.sms_channel} needs {', '.join(missing)} to be set"
        )
    if s.sms_channel == "smpp":
        return SmppSender.from_settings(s, receipts)
    if s.sms_channel == "http":
        return HttpSmsSender.from_settings(s, receipts)
    return inbox


def build(
    settings: Settings | None = None, *, clock: Clock | None = None, engine: Engine | None = None
) -> App:
    settings = settings or Settings()
    engine = engine or make_engine(settings.database_url)
    clock = clock or SystemClock(settings.tz)
    uow = SqlUnitOfWorkFactory(engine, max_attempts=settings.outbox_max_attempts)
    secrets = [s.get_secret_value() for s in settings.sandbox_secrets]
    # The sandbox keeps its books in the same database; on SQLite through its own
    # connections, which need not flush to disk (see SandboxGateway._write).
    sandbox_engine = (
        make_engine(settings.database_url, durable=False)
        if engine.dialect.name == "sqlite"
        else engine
    )
    sandbox = SandboxGateway(sandbox_engine, secrets, now=clock.now)
    providers: dict[str, PaymentProvider] = {
        "sandbox": SandboxProvider(
            sandbox,
            secrets,
            checkout_base_url=settings.public_url,
            tolerance_seconds=settings.callback_tolerance_seconds,
        ),
        **configured_providers(settings, clock.now),
        # Taken at a counter and by PIN: always offered to staff and the PIN form.
        "cash": CashProvider(engine),
        "voucher": VoucherProvider(engine),
    }
    ctx = Context(
        uow=uow,
        clock=clock,
        providers=providers,
        brand=settings.brand,
        official_domain=settings.official_domain,
        order_ttl=settings.order_ttl,
        auth=auth_config(settings),
        vouchers=VoucherPolicy(
            pepper=settings.voucher_pepper.get_secret_value().encode(),
            tries_per_number=settings.voucher_tries_per_number_hour,
            tries_per_ip=settings.voucher_tries_per_ip_hour,
        ),
        calendar=reminder_ics,
    )
    inbox = DevInbox(engine, now=clock.now)
    email: EmailSender = SmtpEmailSender.from_settings(settings) if settings.smtp_host else inbox
    network = RecordingNetworkGateway(engine, now=clock.now)
    relay = OutboxRelay(
        ctx,
        uow,
        sms=sms_sender(settings, inbox, SqlDeliveryStatusSink(engine, now=clock.now)),
        email=email,
        network=network,
        batch_size=settings.worker_batch_size,
        lease=settings.worker_lease,
    )
    return App(settings, engine, uow, ctx, sandbox, inbox, network, relay)
