"""Benchmark: full renewals over HTTP against real server processes on loopback.

- PostgreSQL: `simrenew api --workers 2` plus `simrenew worker`, and pgbench's built-in
  TPC-B on the same database in the same run.
- SQLite: `simrenew serve` (API and worker in one process).

A renewal is what a buyer's browser does: create the order (quick top-up, with an
Idempotency-Key) → pay on the sandbox's hosted page (which delivers the signed
callback through the webhook path) → read the order until it is fulfilled. The
load generator is bounded in requests and in time, and stops by itself.

Printed per database: renewals/s; p50/p99 of order creation; p99 from payment
confirmation to the order fulfilled (its confirmation SMS is then in the outbox,
written in the same transaction); p50/p99 of card detail at --detail-clients
concurrent logged-in clients; and, on PostgreSQL, pgbench tps and the ratio.

    python bench/http.py                      # both databases, ≈ 3 min
    python bench/http.py --db sqlite --seconds 10
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file has the name the issue gives it, which shadows the standard library's
# `http` package for anything imported while its folder leads sys.path: drop it first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib import util  # noqa: E402
from urllib.parse import parse_qs, urlsplit  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from simrenew.db import tables as t  # noqa: E402

_spec = util.spec_from_file_location("bench_renewals", _HERE / "renewals.py")
assert _spec and _spec.loader
_renewals = util.module_from_spec(_spec)
sys.modules["bench_renewals"] = _renewals
_spec.loader.exec_module(_renewals)
numbers, pgbench_args, pgbench_tps, prepare = (
    _renewals.numbers,
    _renewals.pgbench_args,
    _renewals.pgbench_tps,
    _renewals.prepare,
)

OFFER = "ONE2-D1"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SIMRENEW = str(Path(sys.executable).with_name("simrenew"))
# The bench is one client IP ordering for many numbers: lift the quick top-up limits
# that would (rightly) stop exactly that.
UNLIMITED = {
    "SIMRENEW_QUICK_ORDERS_PER_IP_MINUTE": "1000000",
    "SIMRENEW_QUICK_ORDERS_PER_NUMBER_MINUTE": "1000000",
    "SIMRENEW_QUICK_LOOKUPS_PER_IP_MINUTE": "1000000",
}


def pct(values: list[int], q: int) -> str:
    """The q-th percentile of nanosecond samples, in milliseconds, as text."""
    if not values:
        return "-"
    ordered = sorted(values)
    index = min(len(ordered) - 1, (len(ordered) * q) // 100)
    return f"{ordered[index] / 1e6:.1f}"


@dataclass
class Samples:
    renewals: int = 0
    create_ns: list[int] = field(default_factory=list)
    confirm_ns: list[int] = field(default_factory=list)
    detail_ns: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def renew_over_http(
    base: str, my_numbers: list[str], deadline: float, budget: int, out: Samples
) -> None:
    with httpx.Client(base_url=base, timeout=30) as http:
        index = 0
        while time.perf_counter() < deadline and index < budget:
            number = my_numbers[index % len(my_numbers)]
            index += 1
            started = time.perf_counter_ns()
            created = http.post(
                "/api/v1/quick-topup/orders",
                json={"number": number, "offer_code": OFFER, "pay_with": "sandbox"},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            created_at = time.perf_counter_ns()
            if created.status_code != 201:
                with out.lock:
                    out.errors.append(f"order {created.status_code} {created.text[:120]}")
                continue
            order = created.json()
            url = urlsplit(order["checkout_url"])
            session = parse_qs(url.query)["session"][0]
            confirm = time.perf_counter_ns()
            paid = http.post(url.path, data={"session": session, "action": "pay"})
            if paid.status_code not in (200, 303):
                with out.lock:
                    out.errors.append(f"pay {paid.status_code}")
                continue
            state = ""
            for _ in range(100):
                state = http.get(f"/api/v1/orders/{order['order_id']}").json()["state"]
                if state == "fulfilled":
                    break
            done = time.perf_counter_ns()
            with out.lock:
                out.create_ns.append(created_at - started)
                if state == "fulfilled":
                    out.renewals += 1
                    out.confirm_ns.append(done - confirm)
                else:
                    out.errors.append(f"order stayed {state}")


def card_detail_load(base: str, token: str, card_id: str, deadline: float, out: Samples) -> None:
    with httpx.Client(base_url=base, timeout=30) as http:
        headers = {"Authorization": f"Bearer {token}"}
        while time.perf_counter() < deadline:
            started = time.perf_counter_ns()
            response = http.get(f"/api/v1/me/cards/{card_id}", headers=headers)
            elapsed = time.perf_counter_ns() - started
            with out.lock:
                if response.status_code == 200:
                    out.detail_ns.append(elapsed)
                else:
                    out.errors.append(f"detail {response.status_code}")


def log_in(base: str, url: str, number: str) -> tuple[str, str]:
    """A real login: ask for a code, read it from the dev inbox the worker fills."""
    engine = create_engine(url)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.post("/api/v1/auth/code", json={"phone": number}).status_code == 202
            code = None
            deadline = time.perf_counter() + 30
            while code is None and time.perf_counter() < deadline:
                with engine.connect() as connection:
                    body = connection.scalar(
                        select(t.dev_inbox.c.body).where(t.dev_inbox.c.recipient == number)
                    )
                found = re.search(r"#(\d{6})$", body or "")
                code = found.group(1) if found else None
                if code is None:
                    time.sleep(0.2)  # the worker delivers within its poll interval
            assert code, "no login code arrived"
            session = http.post("/api/v1/auth/session", json={"phone": number, "code": code})
            token = session.json()["token"]
            cards = http.get("/api/v1/me/cards", headers={"Authorization": f"Bearer {token}"})
            return token, cards.json()[0]["id"]
    finally:
        engine.dispose()


@contextmanager
def servers(commands: list[list[str]], url: str, port: int) -> Iterator[str]:
    env = {
        **os.environ,
        **UNLIMITED,
        "SIMRENEW_DATABASE_URL": url,
        "SIMRENEW_WORKER_POLL_MS": "100",
    }
    logs = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the servers
    processes = [subprocess.Popen(c, env=env, stdout=logs, stderr=logs) for c in commands]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the server did not become ready")
        yield base
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def run(base: str, url: str, args: argparse.Namespace) -> Samples:
    out = Samples()
    token, card_id = log_in(base, url, "+85251000000")
    all_numbers = numbers(args.cards)[1:]
    budget = args.max_renewals // args.clients
    deadline = time.perf_counter() + args.seconds
    started = time.perf_counter()
    threads = [
        threading.Thread(
            target=renew_over_http,
            args=(base, all_numbers[i :: args.clients], deadline, budget, out),
        )
        for i in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.renewals_per_s = out.renewals / (time.perf_counter() - started)  # type: ignore[attr-defined]
    detail_deadline = time.perf_counter() + args.detail_seconds
    readers = [
        threading.Thread(target=card_detail_load, args=(base, token, card_id, detail_deadline, out))
        for _ in range(args.detail_clients)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    return out


def report(name: str, out: Samples, baseline: float | None) -> str:
    rate = out.renewals_per_s  # type: ignore[attr-defined]
    line = (
        f"{name:10} renewals/s {rate:7.1f}  create p50/p99 {pct(out.create_ns, 50)}/"
        f"{pct(out.create_ns, 99)} ms  confirm→fulfilled p99 {pct(out.confirm_ns, 99)} ms  "
        f"card detail p50/p99 {pct(out.detail_ns, 50)}/{pct(out.detail_ns, 99)} ms "
        f"({len(out.detail_ns)} reads)  errors {len(out.errors)}"
    )
    if baseline:
        line += f"  pgbench tps {baseline:.1f}  ratio {rate / baseline:.3f}"
    return line


def bench_sqlite(args: argparse.Namespace) -> str:
    directory = Path(tempfile.mkdtemp(prefix="simrenew-http-"))
    url = f"sqlite:///{directory / 'bench.db'}"
    prepare(url, args.cards)
    port = args.port
    with servers([[SIMRENEW, "serve", "--port", str(port)]], url, port) as base:
        return report("sqlite", run(base, url, args), None)


def bench_postgres(args: argparse.Namespace) -> str:
    name = f"simrenew_http_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        prepare(url, args.cards)
        subprocess.run(
            ["pgbench", "-i", "-q", "-s", "10", *pgbench_args(url)], check=True, capture_output=True
        )
        port = args.port + 1
        commands = [
            [SIMRENEW, "api", "--port", str(port), "--workers", str(args.api_workers)],
            [SIMRENEW, "worker"],
        ]
        with servers(commands, url, port) as base:
            out = run(base, url, args)
        baseline = statistics.median(pgbench_tps(url, args.clients, args.seconds) for _ in range(1))
        return report("postgresql", out, baseline)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=15, help="renewal load, per database")
    parser.add_argument("--clients", type=int, default=8, help="concurrent renewing clients")
    parser.add_argument("--max-renewals", type=int, default=20_000, help="hard request bound")
    parser.add_argument("--detail-clients", type=int, default=50)
    parser.add_argument("--detail-seconds", type=int, default=10)
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8130)
    parser.add_argument(
        "--pg-url", default=os.environ.get("SIMRENEW_BENCH_POSTGRES_URL", PG_DEFAULT)
    )
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        print(bench_sqlite(args), flush=True)
    if args.db in ("postgres", "both"):
        print(bench_postgres(args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
