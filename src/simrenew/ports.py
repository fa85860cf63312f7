"""What the services need from the outside world, as Protocols.

Adapters live in ``db/``, ``providers/`` and ``notify/``; ``bootstrap.py`` wires them.
Services import this module and ``domain`` only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from simrenew.domain.accounts import (
    AutoRenewSetting,
    BoundCard,
    NotificationPreferences,
    Subscriber,
)
from simrenew.domain.auth import AuthPolicy, CodePurpose, LoginCode, Session
from simrenew.domain.buckets import Bucket
from simrenew.domain.cards import Card, CardState
from simrenew.domain.catalog import BucketKind, Catalog, Offer, ProductLine, ZoneMap
from simrenew.domain.deliveries import DeliveryStatus as DeliveryStatus  # re-exported
from simrenew.domain.jobs import Job, JobKind, JobState, PlannedJob, SweepWindow
from simrenew.domain.ledger import LedgerEntry
from simrenew.domain.orders import Order, OrderState
from simrenew.domain.outbox import OutboxKind, OutboxMessage, OutboxState
from simrenew.domain.payment_methods import PaymentMethod
from simrenew.domain.payments import Payment, PaymentEvent, PaymentState
from simrenew.domain.promotions import Promotion
from simrenew.domain.refunds import Refund, RefundState
from simrenew.domain.renewals import ValidityPeriod
from simrenew.domain.staff import CashReceipt, CashShift, CurrencyTotal, StaffUser
from simrenew.domain.vouchers import Voucher, VoucherBatch, VoucherGuard

# --- time ---------------------------------------------------------------------------


class Clock(Protocol):
    @property
    def tz(self) -> tzinfo: ...

    def now(self) -> datetime: ...


# --- persistence --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditRecord:
    entity: str
    entity_id: str
    from_state: str | None
    to_state: str
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """The outcome of claiming an idempotency key inside a transaction."""

    fresh: bool  # True: ours to process; False: seen before
    request_hash: str
    result_ref: str | None  # what the first request produced (e.g. an order id)


class CardRepository(Protocol):
    def get(self, card_id: str, *, lock: bool = False) -> Card: ...
    def find(self, number_or_iccid: str, *, lock: bool = False) -> Card | None: ...
    def add(self, card: Card, *, at: datetime) -> None: ...
    def add_many(self, cards: Sequence[Card], *, at: datetime) -> None: ...
    def existing_identifiers(self, identifiers: Iterable[str], *, at: datetime) -> set[str]: ...
    def update(self, card: Card, *, at: datetime) -> None: ...
    def periods(self, card_id: str) -> list[ValidityPeriod]: ...
    def current_and_queued_periods(self, card_id: str, today: date) -> list[ValidityPeriod]: ...
    def add_period(self, period: ValidityPeriod) -> None: ...
    def buckets(self, card_id: str, *, valid_at: datetime | None = None) -> list[Bucket]: ...
    def add_buckets(self, buckets: Sequence[Bucket]) -> None: ...
    def set_bucket_use(self, changes: Sequence[tuple[str, int]]) -> None: ...
    def extend_data_buckets(self, card_id: str, ending: datetime, until: datetime) -> None: ...
    def record_usage(
        self,
        record_id: str,
        card_id: str,
        zone: str,
        kind: BucketKind,
        amount: int,
        overage: int,
        at: datetime,
    ) -> bool: ...
    def usage_totals(self, card_id: str, kind: BucketKind, edges: Sequence[datetime]) -> list[int]:
        """Usage of ``kind`` summed per interval ``[edges[i], edges[i + 1])``."""
        ...

    def add_ledger_entry(self, entry: LedgerEntry) -> None: ...
    def ledger(self, card_id: str) -> list[LedgerEntry]: ...
    def due_for_grace(self, today: date, limit: int) -> list[Card]: ...
    def due_for_termination(
        self, product_line: str, last_day_before: date, limit: int
    ) -> list[Card]: ...
    def release_numbers(self, card: Card, *, at: datetime, reusable_from: datetime) -> None: ...
    def count_by_state(self) -> dict[CardState, int]: ...
    def redemptions_by_card(self, card_id: str, codes: Iterable[str]) -> dict[str, int]: ...


class CatalogRepository(Protocol):
    def zones(self) -> ZoneMap: ...
    def product_line(self, code: str) -> ProductLine: ...
    def product_lines(self) -> list[ProductLine]: ...
    def offer(self, code: str, version: int | None = None) -> Offer: ...
    def offers_for(self, product_line: str) -> list[Offer]: ...
    def promotions(self) -> list[Promotion]: ...
    def global_redemptions(self, codes: Iterable[str]) -> dict[str, int]: ...
    def reserve_redemption(
        self, promotion: Promotion, card_id: str, order_id: str, at: datetime
    ) -> bool: ...
    def release_redemptions(self, order_id: str) -> None: ...
    def replace(self, catalog: Catalog, *, at: datetime) -> dict[str, int]: ...


class OrderRepository(Protocol):
    def get(self, order_id: str, *, lock: bool = False) -> Order: ...
    def add(self, order: Order, *, reason: str) -> None: ...
    def update(
        self,
        order: Order,
        previous: OrderState,
        *,
        reason: str,
        actor: str,
        audit_from: OrderState | None = None,
    ) -> None: ...
    def note(self, order: Order, previous: OrderState, *, reason: str, actor: str) -> None: ...
    def list_for_card(self, card_id: str, limit: int = 50) -> list[Order]: ...
    def list_for_cards(
        self,
        card_ids: Sequence[str],
        *,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[Order]: ...
    def list_by_key_prefix(self, card_id: str, prefix: str) -> list[Order]: ...
    def committed_total(self, card_id: str, since: datetime) -> int: ...
    def due_for_expiry(self, now: datetime, limit: int) -> list[Order]: ...
    def add_fulfilment(self, order_id: str, card_id: str, at: datetime) -> None: ...
    def count_by_state(self) -> dict[OrderState, int]: ...


class PaymentRepository(Protocol):
    def get(self, payment_id: str, *, lock: bool = False) -> Payment: ...
    def add(self, payment: Payment, *, actor: str) -> None: ...
    def update(
        self, payment: Payment, previous: PaymentState, *, reason: str, actor: str
    ) -> None: ...
    def list_for_order(self, order_id: str) -> list[Payment]: ...
    def list_succeeded_for_orders(self, order_ids: Sequence[str]) -> list[Payment]: ...
    def list_in_states(self, states: Iterable[PaymentState], limit: int) -> list[Payment]: ...
    def claim_due_rechecks(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Payment]:
        """Up to ``limit`` payments due for a re-check, their ``recheck_at`` moved to
        ``lease_until`` so that no other janitor takes them meanwhile."""
        ...

    def record_check(
        self, payment_id: str, *, next_at: datetime | None, review_since: datetime | None
    ) -> None:
        """Count a re-check; the next one at ``next_at``, or flagged for manual review
        since ``review_since``."""
        ...

    def list_for_review(self, limit: int = 100) -> list[Payment]: ...
    def record_event(
        self, event: PaymentEvent, payload: str, at: datetime, *, outcome: str
    ) -> bool: ...


class IdempotencyStore(Protocol):
    def claim(
        self, key: str, scope: str, request_hash: str, at: datetime, *, result_ref: str
    ) -> IdempotencyClaim: ...
    def purge(self, before: datetime) -> int: ...


class OutboxRepository(Protocol):
    def add(
        self,
        kind: OutboxKind,
        payload: Mapping[str, Any],
        *,
        at: datetime,
        available_at: datetime | None = None,
        dedupe_key: str | None = None,
    ) -> str: ...
    def claim(
        self, *, now: datetime, lease_until: datetime, worker: str, limit: int
    ) -> list[OutboxMessage]: ...
    def mark_delivered(self, message_id: str, worker: str, at: datetime) -> None: ...
    def mark_failed(
        self, message_id: str, worker: str, *, error: str, retry_at: datetime | None
    ) -> OutboxState: ...
    def list(self, *, state: str | None = None, limit: int = 50) -> list[OutboxMessage]: ...
    def retry_dead(self, message_id: str | None, at: datetime) -> int: ...
    def purge_delivered(self, before: datetime) -> int: ...
    def counts(self) -> dict[str, int]: ...
    def oldest_due(self, now: datetime) -> datetime | None: ...


class AuditLog(Protocol):
    def record(self, record: AuditRecord) -> None: ...


class VoucherRepository(Protocol):
    """Voucher batches, vouchers (found by serial or by PIN hash) and the per-number
    lock on wrong PINs."""

    def next_batch_prefix(self) -> int: ...
    def add_batch(self, batch: VoucherBatch) -> None: ...
    def add_vouchers(
        self, batch_id: str, cards: Sequence[tuple[str, str]], *, at: datetime
    ) -> None:
        """Store (serial, PIN hash) pairs as ``issued`` vouchers of ``batch_id``."""
        ...

    def existing_pin_hashes(self, pin_hashes: Iterable[str]) -> set[str]: ...
    def get(self, serial: str, *, lock: bool = False) -> Voucher: ...
    def find_by_pin_hash(self, pin_hash: str, *, lock: bool = False) -> Voucher | None: ...
    def update(self, voucher: Voucher, previous: Voucher) -> None: ...
    def guard(self, number: str, *, at: datetime) -> VoucherGuard:
        """The number's wrong-PIN record, made if missing, row-locked until the end of
        the transaction: tries for one number are taken one at a time."""
        ...

    def save_guard(self, guard: VoucherGuard, *, at: datetime) -> None: ...


class StaffRepository(Protocol):
    def add(self, user: StaffUser, password_hash: str) -> bool:
        """False if the username is taken."""
        ...

    def get(self, staff_id: str) -> StaffUser: ...
    def find(self, username: str) -> tuple[StaffUser, str] | None:
        """The user and the password hash."""
        ...

    def list_all(self) -> list[StaffUser]: ...
    def set_active(self, staff_id: str, active: bool) -> None: ...
    def set_password_hash(self, staff_id: str, password_hash: str) -> None: ...


class CashRepository(Protocol):
    def open_shift(self, shift: CashShift) -> bool:
        """False if the user already has an open shift."""
        ...

    def open_shift_for(self, staff_id: str, *, lock: bool = False) -> CashShift | None: ...
    def get_shift(self, shift_id: str) -> CashShift: ...
    def close_shift(self, shift: CashShift) -> None: ...
    def add_receipt(self, receipt: CashReceipt) -> None: ...
    def totals(self, shift_id: str) -> list[CurrencyTotal]: ...


class PaymentMethodRepository(Protocol):
    def add(self, method: PaymentMethod) -> PaymentMethod:
        """Store ``method``, or return the one already saved with its token."""
        ...

    def get(self, method_id: str, *, lock: bool = False) -> PaymentMethod: ...
    def list_live(self, subscriber_id: str) -> list[PaymentMethod]: ...
    def customer_ref(self, subscriber_id: str, provider: str) -> str | None: ...
    def delete(self, method_id: str, at: datetime) -> bool: ...


class RefundRepository(Protocol):
    def add(self, refund: Refund) -> bool:
        """False (nothing written) if the payment has a refund already."""
        ...

    def get(self, refund_id: str, *, lock: bool = False) -> Refund: ...
    def for_payment(self, payment_id: str, *, lock: bool = False) -> Refund | None: ...
    def list_for_order(self, order_id: str) -> list[Refund]: ...
    def list_in_state(self, state: RefundState | None = None, limit: int = 100) -> list[Refund]: ...
    def update(self, refund: Refund, previous: RefundState, *, reason: str, actor: str) -> None: ...


class JobRepository(Protocol):
    """Scheduled jobs (``domain.jobs``), one per (card, period, kind)."""

    def add_many(self, jobs: Sequence[PlannedJob], *, at: datetime) -> None: ...
    def get(self, job_id: str) -> Job | None: ...
    def claim_due(
        self,
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        kinds: Collection[JobKind],
    ) -> list[Job]: ...
    def hold(self, job_id: str, worker: str) -> Job | None: ...
    def finish(
        self, job_id: str, worker: str, *, state: JobState, outcome: str, at: datetime
    ) -> None: ...
    def defer(self, job_id: str, worker: str, *, until: datetime, outcome: str) -> None: ...
    def fail(self, job_id: str, worker: str, *, error: str, retry_at: datetime) -> JobState: ...
    def list(
        self,
        *,
        state: JobState | None = None,
        card_id: str | None = None,
        due_before: datetime | None = None,
        limit: int = 100,
    ) -> list[Job]: ...
    def retry_dead(self, job_id: str | None, at: datetime) -> int: ...
    def counts(self) -> dict[str, int]: ...
    def sweep(self, window: SweepWindow, tz: tzinfo) -> int: ...


class UnitOfWork(Protocol):
    """One transaction. ``with uow:`` begins it (write transactions take their locks
    at once); leaving the block without ``commit()`` rolls back."""

    @property
    def cards(self) -> CardRepository: ...
    @property
    def catalog(self) -> CatalogRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    @property
    def payments(self) -> PaymentRepository: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def vouchers(self) -> VoucherRepository: ...
    @property
    def staff(self) -> StaffRepository: ...
    @property
    def cash(self) -> CashRepository: ...
    @property
    def payment_methods(self) -> PaymentMethodRepository: ...
    @property
    def refunds(self) -> RefundRepository: ...
    @property
    def jobs(self) -> JobRepository: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork: ...


# --- payment providers --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    payment_id: str
    order_id: str
    amount_minor: int
    currency: str
    description: str
    language: str
    return_url: str
    scenario: str | None = None  # sandbox only: which outcome to simulate
    # Keep the buyer's method for later charges (``SavesPaymentMethods`` providers
    # only), filed at the provider under ``customer_ref`` when the subscriber has one
    # there already, else under a new customer the provider makes.
    save_method: bool = False
    customer_ref: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """What a provider said about a payment, in our terms; SDK types never leave
    ``providers/``."""

    state: PaymentState
    provider_ref: str | None = None
    checkout_url: str | None = None
    failure_code: str | None = None
    amount_minor: int | None = None


@dataclass(frozen=True, slots=True)
class RefundResult:
    succeeded: bool
    provider_ref: str | None = None
    failure_code: str | None = None


@dataclass(frozen=True, slots=True)
class SavedMethodDetails:
    """A method the provider keeps for us: its reusable ``token`` (a Stripe
    PaymentMethod id, a PayPal vault id, ...), the provider's customer it is filed
    under, and what a person needs to recognise it. Never a card number or CVV."""

    token: str
    customer_ref: str | None
    brand: str  # "visa", "mastercard", "paypal", ... (lower case)
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    label: str | None = None  # e.g. a masked PayPal e-mail address


@dataclass(frozen=True, slots=True)
class SavedMethodRef:
    """Which saved method to charge: as ``SavedMethodDetails`` gave it."""

    token: str
    customer_ref: str | None


class ProviderError(Exception):
    """The provider could not be asked or did not answer; the outcome is unknown."""


class PaymentProvider(Protocol):
    name: str

    def create_payment(self, request: PaymentRequest) -> ProviderResult: ...
    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult: ...
    def refund(
        self, payment_id: str, provider_ref: str | None, amount_minor: int, currency: str
    ) -> RefundResult: ...
    def parse_callback(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentEvent: ...


@runtime_checkable
class SavesPaymentMethods(Protocol):
    """A provider that can keep a buyer's method and charge it later without the buyer
    (auto-renew, one-tap renewals). Providers without it are not offered for saving."""

    def saved_method(self, payment_id: str, provider_ref: str | None) -> SavedMethodDetails | None:
        """The method a succeeded payment started with ``save_method`` was saved as;
        None when the provider kept none (the buyer paid with a method that cannot be
        kept). Raises ``ProviderError`` when the provider cannot be asked."""
        ...

    def charge_saved(self, request: PaymentRequest, method: SavedMethodRef) -> ProviderResult:
        """Charge ``method`` for ``request`` with no buyer present. Idempotent per
        ``request.payment_id``: asking twice charges once. A decline is ``failed``
        with the provider's code; no answer raises ``ProviderError`` (then the payment
        is ``unknown`` and the janitor asks ``fetch_status``)."""
        ...

    def forget_method(self, method: SavedMethodRef) -> None:
        """Ask the provider to delete the method; one already gone is not an error.
        Raises ``ProviderError`` when the provider cannot be asked (the outbox retries)."""
        ...


# --- notifications and the network -------------------------------------------------


class SmsSender(Protocol):
    def send_sms(self, to: str, text: str, *, message_id: str) -> None: ...


# (file name, MIME type, content), e.g. ("renewal.ics", "text/calendar", b"BEGIN:...")
Attachment = tuple[str, str, bytes]


class ReminderCalendar(Protocol):
    """An ``.ics`` file (UTF-8) with the renewal date, in ``language``: the last valid
    day, or with ``grace_end`` the last day of grace; reminder e-mails carry it
    (documents/reminder_ics.py)."""

    def __call__(
        self,
        *,
        uid: str,
        number_masked: str,
        validity_end: date,
        language: str,
        official_domain: str,
        tz: tzinfo,
        now: datetime,
        grace_end: date | None = None,
    ) -> bytes: ...


class EmailSender(Protocol):
    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        message_id: str,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """A gateway's report on one message (or one part of a long SMS)."""

    channel: str  # "smpp", "http"
    provider_message_id: str  # the SMSC's or gateway's id for it
    message_id: str | None  # ours (the outbox id), when the channel still knows it
    status: DeliveryStatus
    error_code: str | None = None  # the gateway's own code, e.g. SMPP "err:" text
    done_at: datetime | None = None


class DeliveryStatusSink(Protocol):
    """Where SMS channels report what became of their messages. Called from the
    channel's own thread (the SMPP listener) or a callback request; an exception
    makes the channel ask the gateway to report again later where it can."""

    def record_submission(
        self, message_id: str, provider_message_id: str, channel: str, part: int = 1
    ) -> None:
        """The gateway accepted ``message_id`` (or its ``part``-th part, counted from 1)
        as ``provider_message_id``."""
        ...

    def record_receipt(self, receipt: DeliveryReceipt) -> None: ...


@dataclass(frozen=True, slots=True)
class NetworkCommand:
    command_id: str
    action: str
    iccid: str
    imsi: str | None
    numbers: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)


class NetworkGateway(Protocol):
    def send(self, command: NetworkCommand) -> None: ...


class DeliveryError(Exception):
    """A channel failed to deliver; the outbox retries with backoff."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (e.g. the address is rejected): dead-letter at once."""


# --- subscriber accounts and rate limits ----------------------------------------------


class AccountRepository(Protocol):
    """Subscribers, their cards, login codes, sessions and settings."""

    def subscriber_by_phone(self, phone: str) -> Subscriber | None: ...
    def get_subscriber(self, subscriber_id: str) -> Subscriber | None: ...
    def add_subscriber(self, subscriber: Subscriber) -> None: ...
    def update_subscriber(self, subscriber: Subscriber) -> None: ...
    def latest_code(
        self, phone: str, purpose: CodePurpose, *, lock: bool = False
    ) -> LoginCode | None: ...
    def locked_since(
        self, phone: str, purpose: CodePurpose, *, after: datetime, max_attempts: int
    ) -> datetime | None:
        """When the latest code killed by ``max_attempts`` wrong tries after ``after``
        was killed, if any."""
        ...

    def add_code(self, code: LoginCode, *, supersede_at: datetime) -> None:
        """Store ``code``; the live codes it replaces end at ``supersede_at``."""
        ...

    def save_code_check(self, code: LoginCode) -> bool:
        """Record a try (attempts, consumed_at). False if the code was used meanwhile."""
        ...

    def add_session(self, session: Session) -> None: ...
    def get_session(self, session_id: str) -> Session | None: ...
    def touch_session(self, session_id: str, at: datetime) -> None: ...
    def revoke_session(self, session_id: str, at: datetime) -> None: ...
    def bind_card(self, subscriber_id: str, card_id: str, at: datetime) -> bool: ...
    def bound_cards(self, subscriber_id: str) -> list[BoundCard]: ...
    def is_bound(self, subscriber_id: str, card_id: str) -> bool: ...
    def subscribers_of_card(self, card_id: str) -> list[Subscriber]: ...
    def preferences(self, subscriber_id: str) -> NotificationPreferences: ...
    def save_preferences(
        self, subscriber_id: str, preferences: NotificationPreferences, at: datetime
    ) -> None: ...
    def auto_renew(self, card_id: str) -> AutoRenewSetting | None: ...
    def auto_renew_using(self, method_id: str) -> list[AutoRenewSetting]: ...
    def save_auto_renew(self, setting: AutoRenewSetting) -> None: ...


@dataclass(frozen=True, slots=True)
class Throttle:
    """A rate limiter's answer: ``allowed``, or how long to wait."""

    allowed: bool
    retry_after: int = 0  # seconds


class RateLimiter(Protocol):
    """Counts hits per (scope, key) in a moving window, shared by every process that
    shares the backing store."""

    def hit(self, scope: str, key: str, *, limit: int, window: timedelta) -> Throttle: ...
    def peek(self, scope: str, key: str, *, limit: int, window: timedelta) -> Throttle:
        """Whether a hit would be allowed now, without counting one."""
        ...


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """What the login services need besides the unit of work: the policy (and its
    secret) and the shared rate limiter."""

    limiter: RateLimiter
    policy: AuthPolicy = field(default_factory=AuthPolicy)
