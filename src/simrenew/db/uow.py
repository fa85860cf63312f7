"""The unit of work: one transaction, its repositories, one commit."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from simrenew.db.account_repository import SqlAccountRepository
from simrenew.db.card_repository import SqlCardRepository
from simrenew.db.catalog_cache import CatalogCache
from simrenew.db.catalog_repository import SqlCatalogRepository
from simrenew.db.job_repository import SqlJobRepository
from simrenew.db.order_repository import (
    SqlIdempotencyStore,
    SqlOrderRepository,
    SqlPaymentRepository,
)
from simrenew.db.outbox_repository import SqlAuditLog, SqlOutboxRepository
from simrenew.db.payment_method_repository import SqlPaymentMethodRepository
from simrenew.db.refund_repository import SqlRefundRepository
from simrenew.db.staff_repository import SqlCashRepository, SqlStaffRepository
from simrenew.db.voucher_repository import SqlVoucherRepository
from simrenew.ports import AuditRecord


class SqlUnitOfWork:
    """``with uow:`` opens a transaction; ``commit()`` writes the buffered audit and
    outbox rows and commits; leaving the block otherwise rolls everything back.

    ``write=False`` opens a read transaction (a deferred BEGIN on SQLite, so readers
    never queue behind writers).
    """

    cards: SqlCardRepository
    catalog: SqlCatalogRepository
    orders: SqlOrderRepository
    payments: SqlPaymentRepository
    idempotency: SqlIdempotencyStore
    outbox: SqlOutboxRepository
    audit: SqlAuditLog
    accounts: SqlAccountRepository
    vouchers: SqlVoucherRepository
    staff: SqlStaffRepository
    cash: SqlCashRepository
    payment_methods: SqlPaymentMethodRepository
    refunds: SqlRefundRepository
    jobs: SqlJobRepository

    def __init__(
        self,
        engine: Engine,
        *,
        write: bool = True,
        max_attempts: int = 8,
        catalog_cache: CatalogCache | None = None,
    ) -> None:
        self._engine = engine
        self._catalog_cache = catalog_cache or CatalogCache()
        self._write = write
        self._max_attempts = max_attempts
        self._connection: Connection | None = None
        self._committed = False

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._connection

    def __enter__(self) -> Self:
        connection = self._engine.connect()
        if not self._write:
            connection = connection.execution_options(sqlite_begin="DEFERRED")
        connection.begin()
        self._connection = connection
        audit_buffer: list[AuditRecord] = []
        self.cards = SqlCardRepository(connection, audit_buffer)
        self.catalog = SqlCatalogRepository(connection, self._catalog_cache)
        self.orders = SqlOrderRepository(connection, audit_buffer)
        self.payments = SqlPaymentRepository(connection, audit_buffer)
        self.idempotency = SqlIdempotencyStore(connection)
        self.outbox = SqlOutboxRepository(connection, self._max_attempts)
        self.audit = SqlAuditLog(connection, audit_buffer)
        self.accounts = SqlAccountRepository(connection)
        self.vouchers = SqlVoucherRepository(connection)
        self.staff = SqlStaffRepository(connection)
        self.cash = SqlCashRepository(connection)
        self.payment_methods = SqlPaymentMethodRepository(connection)
        self.refunds = SqlRefundRepository(connection, audit_buffer)
        self.jobs = SqlJobRepository(connection)
        self._committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._connection
        self._connection = None
        if connection is None:
            return
        try:
            if not self._committed and connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()

    def commit(self) -> None:
        self.outbox.flush()
        self.audit.flush()
        self.connection.commit()
        self._committed = True

    def rollback(self) -> None:
        self.connection.rollback()


class SqlUnitOfWorkFactory:
    """Makes units of work on one engine; they share this process's catalogue cache."""

    def __init__(
        self, engine: Engine, *, max_attempts: int = 8, catalog_cache: CatalogCache | None = None
    ) -> None:
        self.engine = engine
        self._max_attempts = max_attempts
        self.catalog_cache = catalog_cache or CatalogCache()

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self.engine,
            write=write,
            max_attempts=self._max_attempts,
            catalog_cache=self.catalog_cache,
        )
