"""Benchmark: the daily sweep of scheduled jobs over a million cards, against the
database's own cost of reading the same rows, measured in the same run.

The cards (``--cards``, default 1,000,000) are bulk-loaded straight into a throwaway
database (PostgreSQL: ``COPY``; SQLite: ``executemany``), spread over the demo
catalogue's three product lines with validity ends spread evenly from 45 days ago to
a year ahead: ended more than the line's grace ago → terminated, ended since → grace,
else active. One card in ten has auto-renew on.

Each round empties ``scheduled_jobs`` (not timed), then times ``sweep_jobs`` at 03:00
Hong Kong time: one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` per product line
and job kind that records every reminder, expiry, termination and auto-renew attempt
due in the next two days. The baseline is the bare indexed range scan of the same
rows: for each product line and job kind, ``SELECT id, validity_end FROM cards WHERE
state IN (...) AND validity_end BETWEEN ... AND product_line = ...`` with every row
fetched. Medians over ``--rounds``, and the ratio, are printed.

Target (issue 6): the sweep < 30 s on each database.

    python bench/sweep.py                           # both databases, 1,000,000 cards
    python bench/sweep.py --db sqlite --cards 50000 # a quick run
    python bench/sweep.py --db postgres --pg-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's `http` package: drop this folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, date, datetime, timedelta, tzinfo  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from sqlalchemy import Engine, bindparam, create_engine, delete, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from simrenew.bootstrap import build  # noqa: E402
from simrenew.config import Settings  # noqa: E402
from simrenew.db import tables  # noqa: E402
from simrenew.db.engine import make_engine  # noqa: E402
from simrenew.db.job_repository import card_states, validity_bounds  # noqa: E402
from simrenew.db.migrate import upgrade  # noqa: E402
from simrenew.db.types import UtcDateTime  # noqa: E402
from simrenew.demo.seed import demo_text  # noqa: E402
from simrenew.domain.jobs import SweepWindow, period_specs  # noqa: E402
from simrenew.services.catalog import import_catalog  # noqa: E402
from simrenew.services.scheduled_jobs import SWEEP_LOOKAHEAD, sweep_jobs  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HKT = ZoneInfo("Asia/Hong_Kong")
TODAY = date(2026, 12, 1)
SWEEP_AT = datetime(2026, 12, 1, 3, 0, tzinfo=HKT).astimezone(UTC)
EARLIEST, LATEST = -45, 365  # validity ends, in days from TODAY
TARGET_SECONDS = 30.0
CARD_COLUMNS = (
    "id",
    "iccid",
    "primary_number",
    "product_line",
    "form_factor",
    "state",
    "validity_end",
    "language",
    "balance_minor",
    "renewal_count",
    "created_at",
    "updated_at",
)


@dataclass
class StandingClock:
    current: datetime = SWEEP_AT
    tz: tzinfo = field(default=HKT)

    def now(self) -> datetime:
        return self.current


def card_rows(count: int, lines: dict[str, int]) -> Iterator[tuple[object, ...]]:
    """Cards with validity ends spread evenly over [TODAY-45, TODAY+365]."""
    codes = sorted(lines)
    span = LATEST - EARLIEST + 1
    created = SWEEP_AT - timedelta(days=400)
    for i in range(count):
        line = codes[i % len(codes)]
        offset = EARLIEST + (i * 7919) % span  # a fixed stride: spread, repeatable
        end = TODAY + timedelta(days=offset)
        if offset >= 0:
            state = "active"
        elif -offset <= lines[line]:
            state = "grace"
        else:
            state = "terminated"
        yield (
            f"card_bench{i:026x}",
            f"89852{i:015d}",
            f"+8525{i % 10_000_000:07d}",
            line,
            "physical",
            state,
            end,
            "zh-Hant",
            0,
            1,
            created,
            created,
        )


def prepare(url: str, count: int) -> Engine:
    """A migrated database with the demo catalogue and ``count`` cards, one in ten
    with auto-renew on."""
    engine = make_engine(url)
    upgrade(engine)
    app = build(Settings(database_url=url), engine=engine, clock=StandingClock())
    import_catalog(app.ctx, demo_text("catalog.yaml"))
    with engine.connect() as connection:
        lines = dict(
            connection.execute(
                select(tables.product_lines.c.code, tables.product_lines.c.grace_days)
            ).all()
        )
    rows = card_rows(count, lines)
    if engine.dialect.name == "postgresql":
        load_postgres(engine, rows)
    else:
        load_sqlite(Path(make_url(url).database or ""), rows)
    with engine.begin() as connection:
        connection.execute(
            tables.subscribers.insert().values(
                id="sub_bench", phone="+85250000000", language="en", created_at=SWEEP_AT
            )
        )
        connection.execute(
            text(
                "INSERT INTO auto_renew_settings "
                "(card_id, enabled, offer_code, payment_token_id, updated_by, updated_at) "
                "SELECT id, :on, product_line || '-M1', NULL, 'sub_bench', :at FROM cards "
                "WHERE substr(iccid, 20, 1) = '7'"
            ).bindparams(bindparam("at", type_=UtcDateTime)),
            {"on": True, "at": SWEEP_AT},
        )
        connection.execute(text("ANALYZE"))
    return engine


def load_postgres(engine: Engine, rows: Iterator[tuple[object, ...]]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY cards ({', '.join(CARD_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def load_sqlite(path: Path, rows: Iterator[tuple[object, ...]]) -> None:
    connection = sqlite3.connect(path)
    placeholders = ", ".join("?" for _ in CARD_COLUMNS)
    statement = f"INSERT INTO cards ({', '.join(CARD_COLUMNS)}) VALUES ({placeholders})"

    def as_text(row: tuple[object, ...]) -> tuple[object, ...]:
        # What SQLAlchemy stores on SQLite: ISO dates, naive UTC with microseconds.
        return tuple(
            v.strftime("%Y-%m-%d %H:%M:%S.%f")
            if isinstance(v, datetime)
            else v.isoformat()
            if isinstance(v, date)
            else v
            for v in row
        )

    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(as_text(row))
        if len(batch) == 50_000:
            connection.executemany(statement, batch)
            batch.clear()
    connection.executemany(statement, batch)
    connection.commit()
    connection.close()


def bare_scan(engine: Engine) -> tuple[float, int]:
    """Seconds and rows for the sweep's own range scans as plain SELECTs."""
    window = SweepWindow(SWEEP_AT, SWEEP_AT + SWEEP_LOOKAHEAD)
    started = time.perf_counter()
    rows = 0
    with engine.connect() as connection:
        lines = connection.execute(
            select(tables.product_lines.c.code, tables.product_lines.c.grace_days)
        ).all()
        for code, grace_days in lines:
            for spec in period_specs(grace_days, auto_renew=True):
                bounds = validity_bounds(spec, window, HKT)
                if bounds is None:
                    continue
                c = tables.cards
                found = connection.execute(
                    select(c.c.id, c.c.validity_end).where(
                        c.c.state.in_(card_states(spec.kind)),
                        c.c.validity_end.between(*bounds),
                        c.c.product_line == code,
                    )
                ).all()
                rows += len(found)
    return time.perf_counter() - started, rows


@dataclass
class Figures:
    database: str
    cards: int
    sweep: list[float] = field(default_factory=list)
    scan: list[float] = field(default_factory=list)
    jobs: int = 0
    scanned: int = 0

    def line(self) -> str:
        ours, base = statistics.median(self.sweep), statistics.median(self.scan)
        met = "met" if ours < TARGET_SECONDS else "MISSED"
        return (
            f"{self.database:10} cards={self.cards:,}  sweep median {ours:7.3f} s "
            f"{[round(s, 3) for s in self.sweep]} ({self.jobs:,} jobs)  "
            f"bare scan median {base:7.3f} s {[round(s, 3) for s in self.scan]} "
            f"({self.scanned:,} rows)  ratio {ours / base:6.1f}  target < 30 s: {met}"
        )


def measure(url: str, engine: Engine, figures: Figures, rounds: int) -> None:
    app = build(Settings(database_url=url), engine=engine, clock=StandingClock())
    for _ in range(rounds):
        with engine.begin() as connection:
            connection.execute(delete(tables.scheduled_jobs))
        started = time.perf_counter()
        figures.jobs = sweep_jobs(app.ctx)
        figures.sweep.append(time.perf_counter() - started)
        seconds, figures.scanned = bare_scan(engine)
        figures.scan.append(seconds)
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(tables.scheduled_jobs))
    assert stored == figures.jobs, (stored, figures.jobs)


def bench_sqlite(args: argparse.Namespace) -> Figures:
    directory = Path(tempfile.mkdtemp(prefix="simrenew-bench-"))
    url = f"sqlite:///{directory / 'bench.db'}"
    try:
        engine = prepare(url, args.cards)
        figures = Figures("sqlite", args.cards)
        measure(url, engine, figures, args.rounds)
        engine.dispose()
        return figures
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def bench_postgres(args: argparse.Namespace) -> Figures:
    name = f"simrenew_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = prepare(url, args.cards)
        figures = Figures("postgresql", args.cards)
        measure(url, engine, figures, args.rounds)
        engine.dispose()
        return figures
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--pg-url", default=os.environ.get("SIMRENEW_BENCH_POSTGRES_URL", PG_DEFAULT)
    )
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        print(bench_sqlite(args).line(), flush=True)
    if args.db in ("postgres", "both"):
        print(bench_postgres(args).line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
