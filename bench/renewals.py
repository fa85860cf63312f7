"""Benchmark: full renewals through the service layer against the database's own
baseline, measured in the same run on the same database.

A renewal is what a subscriber's payment costs us end to end: quote → order →
sandbox payment → signed callback verified → fulfilment with its outbox rows
(SMS, e-mail, provisioning). Baselines:

- SQLite: a raw-SQL TPC-B-like loop (update account, read it, update teller and
  branch, insert history, commit) with Python's sqlite3 on the same file, with the
  same pragmas (WAL, synchronous=FULL).
- PostgreSQL: pgbench's built-in TPC-B on the same database at the same client count.

Each side runs ``--rounds`` times, alternating; medians and the ratio are printed.

    python bench/renewals.py                       # both databases
    python bench/renewals.py --db sqlite --seconds 10
    python bench/renewals.py --db postgres --workers 8 --pg-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's `http` package: drop this folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from simrenew.bootstrap import build  # noqa: E402
from simrenew.config import Settings  # noqa: E402
from simrenew.db.engine import make_engine  # noqa: E402
from simrenew.db.migrate import upgrade  # noqa: E402
from simrenew.demo.seed import demo_text  # noqa: E402
from simrenew.domain.cards import luhn_check_digit  # noqa: E402
from simrenew.domain.orders import Channel  # noqa: E402
from simrenew.services.cards import import_cards  # noqa: E402
from simrenew.services.catalog import import_catalog  # noqa: E402
from simrenew.services.ordering import PlaceOrder, checkout  # noqa: E402
from simrenew.services.payments import handle_callback  # noqa: E402
from simrenew.services.quoting import quote  # noqa: E402

OFFER = "ONE2-D1"  # a day pass: 12 months of them fit the queue limit (365 per card)
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def card_csv(count: int) -> str:
    lines = ["iccid,primary_number,product_line"]
    for i in range(count):
        payload = f"898520126009{i:06d}"
        lines.append(f"{payload}{luhn_check_digit(payload)},+8525{i + 1000000:07d},ONE2")
    return "\n".join(lines) + "\n"


def numbers(count: int) -> list[str]:
    return [f"+8525{i + 1000000:07d}" for i in range(count)]


def prepare(url: str, cards: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    app = build(Settings(database_url=url), engine=engine)
    import_catalog(app.ctx, demo_text("catalog.yaml"))
    import_cards(app.ctx, card_csv(cards))
    engine.dispose()


def renew_once(app, number: str) -> None:  # type: ignore[no-untyped-def]
    ctx = app.ctx
    quote(ctx, number, OFFER)
    command = PlaceOrder(number, OFFER, Channel.APP, actor="bench")
    placed = checkout(ctx, command, pay_with="sandbox")
    assert placed.payment is not None
    for callback in app.sandbox.complete(placed.payment.id):
        handle_callback(ctx, "sandbox", callback.headers, callback.body)


def renewal_worker(url: str, my_numbers: list[str], seconds: float, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    app = build(Settings(database_url=url))
    deadline = time.perf_counter() + seconds
    done = 0
    rng = random.Random(os.getpid())
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        renew_once(app, rng.choice(my_numbers))
        done += 1
    queue.put((done, time.perf_counter() - started))
    app.close()


def run_renewals(url: str, workers: int, seconds: float, all_numbers: list[str]) -> float:
    """Renewals per second over ``workers`` processes, each on its own cards."""
    if workers == 1:
        queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        renewal_worker(url, all_numbers, seconds, queue)
        done, elapsed = queue.get()
        return done / elapsed
    context = mp.get_context("spawn")
    queue = context.Queue()
    shares = [all_numbers[i::workers] for i in range(workers)]
    processes = [
        context.Process(target=renewal_worker, args=(url, share, seconds, queue))
        for share in shares
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    return sum(done for done, _ in results) / max(elapsed for _, elapsed in results)


# --- baselines ----------------------------------------------------------------------


def sqlite_tpcb(path: Path, seconds: float) -> float:
    """TPC-B-like transactions per second with raw sqlite3, same pragmas as simrenew."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(
        """
        DROP TABLE IF EXISTS bench_accounts; DROP TABLE IF EXISTS bench_tellers;
        DROP TABLE IF EXISTS bench_branches; DROP TABLE IF EXISTS bench_history;
        CREATE TABLE bench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER, filler TEXT);
        CREATE TABLE bench_tellers (tid INTEGER PRIMARY KEY, bid INTEGER, tbalance INTEGER,
                                    filler TEXT);
        CREATE TABLE bench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER, abalance INTEGER,
                                     filler TEXT);
        CREATE TABLE bench_history (tid INTEGER, bid INTEGER, aid INTEGER, delta INTEGER,
                                    mtime TEXT, filler TEXT);
        """
    )
    connection.execute("BEGIN")
    connection.execute("INSERT INTO bench_branches VALUES (1, 0, '')")
    connection.executemany(
        "INSERT INTO bench_tellers VALUES (?, 1, 0, '')", [(i,) for i in range(1, 11)]
    )
    connection.executemany(
        "INSERT INTO bench_accounts VALUES (?, 1, 0, '')", [(i,) for i in range(1, 100_001)]
    )
    connection.execute("COMMIT")
    rng = random.Random(1)
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    done = 0
    while time.perf_counter() < deadline:
        aid, tid, delta = rng.randint(1, 100_000), rng.randint(1, 10), rng.randint(-5000, 5000)
        run = connection.execute
        run("BEGIN IMMEDIATE")
        run("UPDATE bench_accounts SET abalance = abalance + ? WHERE aid = ?", (delta, aid))
        run("SELECT abalance FROM bench_accounts WHERE aid = ?", (aid,)).fetchone()
        run("UPDATE bench_tellers SET tbalance = tbalance + ? WHERE tid = ?", (delta, tid))
        run("UPDATE bench_branches SET bbalance = bbalance + ? WHERE bid = 1", (delta,))
        run(
            "INSERT INTO bench_history VALUES (?, 1, ?, ?, CURRENT_TIMESTAMP, '')",
            (tid, aid, delta),
        )
        run("COMMIT")
        done += 1
    elapsed = time.perf_counter() - started
    connection.executescript(
        "DROP TABLE bench_accounts; DROP TABLE bench_tellers; DROP TABLE bench_branches; "
        "DROP TABLE bench_history;"
    )
    connection.close()
    return done / elapsed


def pgbench_args(url: str) -> list[str]:
    parsed = make_url(url)
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    if parsed.username:
        args += ["-U", parsed.username]
    return [*args, parsed.database or "postgres"]


def pgbench_tps(url: str, clients: int, seconds: float) -> float:
    output = subprocess.run(
        [
            "pgbench",
            "-n",
            "-c",
            str(clients),
            "-j",
            str(min(clients, os.cpu_count() or 1)),
            "-T",
            str(int(seconds)),
            *pgbench_args(url),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in output.splitlines():
        if line.startswith("tps"):
            return float(line.split("=")[1].split()[0])
    raise RuntimeError(f"no tps in pgbench output:\n{output}")


# --- driver --------------------------------------------------------------------------


@dataclass
class Figures:
    database: str
    workers: int
    renewals: list[float]
    baseline: list[float]

    def line(self) -> str:
        ours, base = statistics.median(self.renewals), statistics.median(self.baseline)
        ratios = [r / b for r, b in zip(self.renewals, self.baseline, strict=True)]
        return (
            f"{self.database:10} workers={self.workers}  renewals/s median {ours:8.1f} "
            f"{[round(r, 1) for r in self.renewals]}  baseline tx/s median {base:8.1f} "
            f"{[round(b, 1) for b in self.baseline]}  ratio median {statistics.median(ratios):.3f}"
        )


def bench_sqlite(args: argparse.Namespace) -> Figures:
    directory = Path(tempfile.mkdtemp(prefix="simrenew-bench-"))
    path = directory / "bench.db"
    url = f"sqlite:///{path}"
    prepare(url, args.cards)
    figures = Figures("sqlite", 1, [], [])
    try:
        for _ in range(args.rounds):
            figures.renewals.append(run_renewals(url, 1, args.seconds, numbers(args.cards)))
            figures.baseline.append(sqlite_tpcb(path, args.seconds))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return figures


def bench_postgres(args: argparse.Namespace) -> Figures:
    name = f"simrenew_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        prepare(url, args.cards)
        subprocess.run(
            ["pgbench", "-i", "-q", "-s", str(args.pg_scale), *pgbench_args(url)],
            check=True,
            capture_output=True,
        )
        figures = Figures("postgresql", args.workers, [], [])
        for _ in range(args.rounds):
            figures.renewals.append(
                run_renewals(url, args.workers, args.seconds, numbers(args.cards))
            )
            figures.baseline.append(pgbench_tps(url, args.workers, args.seconds))
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
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8, help="PostgreSQL client processes")
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument(
        "--pg-url", default=os.environ.get("SIMRENEW_BENCH_POSTGRES_URL", PG_DEFAULT)
    )
    parser.add_argument("--pg-scale", type=int, default=10)
    args = parser.parse_args()
    results = []
    if args.db in ("sqlite", "both"):
        results.append(bench_sqlite(args))
        print(results[-1].line(), flush=True)
    if args.db in ("postgres", "both"):
        results.append(bench_postgres(args))
        print(results[-1].line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
