"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

PostgreSQL comes from ``SIMRENEW_TEST_POSTGRES_URL`` (default: the local server).
Each test run creates its own database and drops it at the end. Without a server the
PostgreSQL cases are skipped with the reason printed, except under CI (``CI=true``),
where a missing PostgreSQL is a failure: CI must never skip them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.db.engine import make_engine
from simrenew.db.migrate import upgrade
from tests import pci
from tests.support import FixedClock

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("SIMRENEW_TEST_POSTGRES_URL", DEFAULT_PG)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_admin_available() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "not available"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


_PG_PROBLEM = _pg_admin_available()


def pytest_report_header(config: pytest.Config) -> list[str]:
    if _PG_PROBLEM is None:
        return [f"postgresql: {make_url(PG_URL).render_as_string(hide_password=True)}"]
    return [f"postgresql: NOT AVAILABLE ({_PG_PROBLEM}); PostgreSQL tests will be skipped"]


def require_postgres() -> None:
    if _PG_PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not available at {PG_URL}: {_PG_PROBLEM}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "simrenew.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    require_postgres()
    name = f"simrenew_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in tables.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database: a copy of the SQLite template, or the run's own
    PostgreSQL database emptied."""
    if request.param == "sqlite":
        path = tmp_path / "simrenew.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        _truncate_postgres(url)
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def app(engine: Engine, clock: FixedClock) -> Iterator[App]:
    """The wired application on a fresh database, with the demo catalogue and demo
    cards (all in stock) loaded, and time standing still at ``tests.support.START``."""
    from simrenew.bootstrap import build
    from simrenew.config import Settings
    from simrenew.demo.seed import demo_text
    from simrenew.services.cards import import_cards
    from simrenew.services.catalog import import_catalog

    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sandbox_secrets=["test-secret-new", "test-secret-old"],
        smtp_host=None,
    )
    application = build(settings, clock=clock, engine=engine)
    import_catalog(application.ctx, demo_text("catalog.yaml"))
    import_cards(application.ctx, demo_text("cards.csv"))
    yield application
    application.sandbox.dispose()


# --- PCI: no payment card number in the database or the logs (tests/pci.py) ------------

_PCI_LOG_SCAN = pci.LogScan()


@pytest.fixture(scope="session", autouse=True)
def _pci_log_scan() -> Iterator[None]:
    """Every log record of the run, at DEBUG from every logger, is kept and scanned at
    the end; a card number in any of them is an error of the run."""
    _PCI_LOG_SCAN.attach()
    yield
    _PCI_LOG_SCAN.detach()
    findings = _PCI_LOG_SCAN.findings()
    if findings:
        pytest.fail(pci.report(findings, what="the logs of this test run"), pytrace=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Again before each test, in case something replaced the root logger's handlers.
    _PCI_LOG_SCAN.attach(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that used ``app`` and passed still fails if it left a card number in any
    text column of its database (outbox and dev inbox included)."""
    result = yield
    application = getattr(item, "funcargs", {}).get("app")
    if isinstance(application, App):
        findings = pci.scan_database(application.engine, tables.metadata)
        if findings:
            pytest.fail(pci.report(findings, what="the database"), pytrace=False)
    return result
