"""The ``simrenew`` command line, driven in-process against a real database (a SQLite
file, and PostgreSQL), as an operator would type it."""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, func, select
from typer.testing import CliRunner, Result

from simrenew.bootstrap import build
from simrenew.cli import app as cli_app
from simrenew.config import Settings
from simrenew.db import tables as t
from simrenew.db.engine import make_engine
from simrenew.db.migrate import is_current
from simrenew.domain.cards import luhn_check_digit
from simrenew.domain.outbox import OutboxKind

CARD = "+85251234567"  # ONE2, in stock, with an e-mail address
CARDS_HEADER = "iccid,eid,imsi,primary_number,second_number,product_line,form_factor,language,email"
DEMO_SECONDS_LIMIT = 10  # the demo command must finish within this on a fresh database


def demo_file(name: str, stack: ExitStack) -> Path:
    return stack.enter_context(resources.as_file(resources.files("simrenew.demo") / name))


@dataclass
class Cli:
    """``simrenew`` against one database; ``cli("card", "show", ...)`` runs a command
    and checks its exit code. Anything but a clean exit (e.g. a traceback) fails."""

    url: str
    files: Path

    def __call__(self, *args: str, code: int = 0) -> Result:
        env = {
            "SIMRENEW_DATABASE_URL": self.url,
            "SIMRENEW_SMTP_HOST": None,
            "COLUMNS": "200",  # no wrapped lines to search through
            "FORCE_COLOR": None,
            "TTY_COMPATIBLE": None,
        }
        result = CliRunner().invoke(cli_app, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            assert result.exc_info is not None
            shown = "".join(traceback.format_exception(*result.exc_info))
            pytest.fail(f"`simrenew {' '.join(args)}` raised instead of exiting:\n{shown}")
        assert result.exit_code == code, (
            f"`simrenew {' '.join(args)}` exited {result.exit_code}, expected {code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        return result

    def write(self, name: str, text: str) -> str:
        path = self.files / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def count(self, table: str) -> int:
        counted: int = self.scalar(select(func.count()).select_from(t.metadata.tables[table]))
        return counted

    def scalar(self, query: Select[Any]) -> Any:
        engine = make_engine(self.url)
        try:
            with engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
                return connection.scalar(query)
        finally:
            engine.dispose()


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """A migrated, empty database (a temporary SQLite file, or PostgreSQL)."""
    monkeypatch.chdir(tmp_path)  # no stray .env or var/ from the working tree
    files = tmp_path / "files"
    files.mkdir()
    return Cli(db_url, files)


@pytest.fixture
def fresh_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """A SQLite file that does not exist yet: no schema at all."""
    monkeypatch.chdir(tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    return Cli(f"sqlite:///{tmp_path / 'data' / 'simrenew.db'}", files)


@pytest.fixture
def demo_files() -> Iterator[tuple[str, str]]:
    with ExitStack() as stack:
        yield str(demo_file("catalog.yaml", stack)), str(demo_file("cards.csv", stack))


@pytest.fixture
def seeded(cli: Cli, demo_files: tuple[str, str]) -> Cli:
    catalog, cards = demo_files
    cli("catalog", "import", catalog)
    cli("cards", "import", cards)
    return cli


def iccid(serial: int) -> str:
    payload = f"898520126{serial:09d}"
    return payload + luhn_check_digit(payload)


def card_state(cli: Cli, number: str) -> str | None:
    state: str | None = cli.scalar(
        select(t.cards.c.state).where(t.cards.c.primary_number == number)
    )
    return state


def order_id(output: str) -> str:
    match = re.search(r"order (ord_\w+) placed", output)
    assert match, output
    return match.group(1)


# --- schema and imports ---------------------------------------------------------------


def test_db_upgrade_creates_the_schema_on_a_new_file_and_is_repeatable(
    fresh_sqlite: Cli,
) -> None:
    result = fresh_sqlite("db", "upgrade")
    assert "latest schema" in result.stdout
    fresh_sqlite("db", "upgrade")  # nothing to do the second time

    engine = make_engine(fresh_sqlite.url)
    try:
        assert is_current(engine)
    finally:
        engine.dispose()
    assert fresh_sqlite.count("cards") == 0


def test_db_upgrade_on_a_current_database(cli: Cli) -> None:
    cli("db", "upgrade")
    engine = make_engine(cli.url)
    try:
        assert is_current(engine)
    finally:
        engine.dispose()


def test_catalog_import_of_the_demo_catalogue(cli: Cli, demo_files: tuple[str, str]) -> None:
    result = cli("catalog", "import", demo_files[0])
    assert "catalogue imported" in result.stdout
    assert cli.count("product_lines") == 3
    assert cli.count("offers") > 0

    cli("catalog", "import", demo_files[0])  # the same file again changes nothing
    assert cli.count("product_lines") == 3


def test_a_bad_catalogue_names_the_line_and_changes_nothing(
    cli: Cli, demo_files: tuple[str, str]
) -> None:
    catalog = demo_files[0]
    cli("catalog", "import", catalog)
    counted = ("product_lines", "offers", "offer_versions", "promotions", "zone_sets")
    before = {name: cli.count(name) for name in counted}
    price = select(t.offer_versions.c.price_minor).where(t.offer_versions.c.code == "ONE2-D7")
    assert cli.scalar(price) == 4800

    text = Path(catalog).read_text(encoding="utf-8")
    changed = text.replace('price: "48.00"', 'price: "58.00"', 1)  # a valid price change
    changed = changed.replace('price: "88.00"', "price: 88.5", 1)  # and a float: refused
    bad_line = changed.splitlines().index("        price: 88.5") + 1
    result = cli("catalog", "import", cli.write("bad.yaml", changed), code=1)

    assert f"line {bad_line}" in result.stderr
    assert "catalog_invalid" in result.stderr
    assert "Traceback" not in result.output
    assert {name: cli.count(name) for name in counted} == before
    assert cli.scalar(price) == 4800


def test_a_catalogue_with_broken_yaml_names_the_line(cli: Cli) -> None:
    path = cli.write(
        "broken.yaml", "zone_sets:\n  GBA: [HK, CN, MO]\n  bad: x: y\nproduct_lines: []\n"
    )
    result = cli("catalog", "import", path, code=1)
    assert "line 3: YAML syntax" in result.stderr
    assert cli.count("product_lines") == 0


def bad_cards_csv() -> str:
    good_iccid = iccid(990002)
    wrong_check_digit = good_iccid[:-1] + str((int(good_iccid[-1]) + 1) % 10)
    return "\n".join(
        [
            CARDS_HEADER,
            f"{iccid(990001)},,,+85251239001,,ONE2,physical,en,",
            f"{wrong_check_digit},,,+85261239002,,ONE2,physical,en,",  # line 3: bad ICCID
            f"{iccid(990003)},,,+85291239003,,HKDATA,esim,en,",
            f"{iccid(990004)},,,12345,,ONE2,physical,en,",  # line 5: bad number
            f"{iccid(990005)},,,+8613812349005,,GBATRAVEL,physical,zh-Hans,",
        ]
    )


def test_cards_import_with_bad_rows_reports_both_and_imports_nothing(
    cli: Cli, demo_files: tuple[str, str]
) -> None:
    cli("catalog", "import", demo_files[0])
    result = cli("cards", "import", cli.write("stock.csv", bad_cards_csv()), code=1)

    assert "cards_import_invalid" in result.stderr
    assert "line 3" in result.stderr and "Luhn" in result.stderr
    assert "line 5" in result.stderr and "12345" in result.stderr
    assert "line 2" not in result.stderr and "line 4" not in result.stderr
    assert cli.count("cards") == 0
    assert cli.count("card_numbers") == 0


def test_cards_import_with_skip_bad_imports_the_good_rows_and_lists_the_bad(
    cli: Cli, demo_files: tuple[str, str]
) -> None:
    cli("catalog", "import", demo_files[0])
    result = cli("cards", "import", "--skip-bad", cli.write("stock.csv", bad_cards_csv()))

    assert "3 card(s) imported" in result.stdout
    assert "2 row(s) skipped" in result.stderr
    assert "line 3" in result.stderr and "line 5" in result.stderr
    assert cli.count("cards") == 3
    numbers = select(func.count()).where(
        t.cards.c.primary_number.in_(["+85251239001", "+85291239003", "+8613812349005"])
    )
    assert cli.scalar(numbers) == 3


@pytest.mark.parametrize(
    "args",
    [
        ("catalog", "import", "no-such-catalog.yaml"),
        ("cards", "import", "no-such-stock.csv"),
    ],
)
def test_a_missing_file_exits_2(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args, code=2)
    assert "cannot read" in result.stderr
    assert args[-1] in result.stderr


# --- the four steps ----------------------------------------------------------------------


def test_card_show_and_offers(seeded: Cli) -> None:
    shown = seeded("card", "show", CARD)
    assert "8985201260001000018" in shown.stdout
    assert "in_stock" in shown.stdout

    offered = seeded("offers", CARD)
    for code in ("ONE2-D1", "ONE2-D7", "ONE2-M1"):
        assert code in offered.stdout
    assert "HKDATA" not in offered.stdout


def test_renew_activates_the_card_and_the_sms_is_in_the_inbox(seeded: Cli) -> None:
    result = seeded("renew", CARD, "ONE2-D7")
    placed = order_id(result.stdout)
    assert f"order {placed}: fulfilled" in result.stdout

    assert card_state(seeded, CARD) == "active"
    assert "active" in seeded("card", "show", CARD).stdout
    inbox = seeded("inbox", "--to", CARD).stdout
    assert f"sms → {CARD}" in inbox
    assert placed in inbox
    assert placed in seeded("orders", CARD).stdout


def test_renew_with_a_declined_payment_leaves_the_order_awaiting_payment(
    seeded: Cli,
) -> None:
    result = seeded("renew", CARD, "ONE2-D7", "--scenario", "decline")
    placed = order_id(result.stdout)

    state = select(t.orders.c.state).where(t.orders.c.id == placed)
    assert seeded.scalar(state) == "awaiting_payment"
    assert f"order {placed}: awaiting_payment" in result.stdout
    assert card_state(seeded, CARD) == "in_stock"


def test_an_unknown_scenario_is_a_usage_error(seeded: Cli) -> None:
    result = seeded("renew", CARD, "ONE2-D7", "--scenario", "maybe", code=2)
    assert "--scenario" in result.stderr
    assert seeded.count("orders") == 0


@pytest.mark.parametrize("command", ["card show", "offers", "orders", "renew {} ONE2-D7"])
def test_an_unknown_number_is_a_clear_error_without_traceback(seeded: Cli, command: str) -> None:
    unknown = "+85298765432"
    args = command.format(unknown).split() if "{}" in command else [*command.split(), unknown]
    result = seeded(*args, code=1)
    assert "card_not_found" in result.stderr
    assert unknown in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_user_input_is_printed_literally_not_as_markup(seeded: Cli) -> None:
    # The key the operator typed comes back in the error message; square brackets in
    # it must be shown as typed, not read as console markup (or crash on it).
    result = seeded("card", "show", "[/x]", code=1)
    assert "[/x]" in result.stderr


def test_orders_lists_the_cards_orders(seeded: Cli) -> None:
    assert seeded("orders", CARD).stdout.count("ord_") == 0
    first = order_id(seeded("renew", CARD, "ONE2-D7").stdout)
    second = order_id(seeded("renew", CARD, "ONE2-D1", "--scenario", "decline").stdout)
    listed = seeded("orders", CARD).stdout
    assert first in listed and second in listed
    assert "fulfilled" in listed and "awaiting_payment" in listed


def test_sweep(seeded: Cli) -> None:
    result = seeded("sweep")
    assert "0 order(s) expired, 0 card(s) to grace, 0 terminated" in result.stdout


def test_worker_once_delivers_what_is_due(seeded: Cli) -> None:
    assert "0 delivered, 0 to retry, 0 dead" in seeded("worker", "--once").stdout

    queued = build(Settings(database_url=seeded.url, smtp_host=None))
    try:
        with queued.uow() as uow:
            uow.outbox.add(OutboxKind.SMS, {"to": CARD, "text": "hello"}, at=queued.ctx.clock.now())
            uow.commit()
    finally:
        queued.close()

    assert "1 delivered, 0 to retry, 0 dead" in seeded("worker", "--once").stdout
    assert "hello" in seeded("inbox", "--to", CARD).stdout
    assert "0 delivered" in seeded("worker", "--once").stdout


# --- the demo ---------------------------------------------------------------------------


def run_demo_timed(cli: Cli) -> tuple[Result, float]:
    started = time.perf_counter()
    result = cli("demo")
    return result, time.perf_counter() - started


def check_demo_output(result: Result) -> None:
    assert "4. confirm" in result.stdout
    assert re.search(r"order ord_\w+ is fulfilled", result.stdout), result.stdout
    assert "SMS to +85291234567" in result.stdout
    assert "demo finished" in result.stdout


def test_demo_on_a_new_sqlite_file_is_quick_and_can_run_again(fresh_sqlite: Cli) -> None:
    result, seconds = run_demo_timed(fresh_sqlite)
    check_demo_output(result)
    # The functional requirement for `simrenew demo`, not a benchmark.
    assert seconds < DEMO_SECONDS_LIMIT, f"demo took {seconds:.1f} s"
    cards = fresh_sqlite.count("cards")

    again, _ = run_demo_timed(fresh_sqlite)
    check_demo_output(again)
    assert fresh_sqlite.count("cards") == cards  # seeded once, not twice


def test_demo_on_an_empty_database_and_again(cli: Cli) -> None:
    result, seconds = run_demo_timed(cli)
    check_demo_output(result)
    assert seconds < DEMO_SECONDS_LIMIT, f"demo took {seconds:.1f} s"
    again, _ = run_demo_timed(cli)
    check_demo_output(again)


def test_outbox_lists_dead_letters_and_retries_them(tmp_path: Path) -> None:
    from simrenew.bootstrap import build
    from simrenew.config import Settings
    from simrenew.domain.outbox import OutboxKind

    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    env = {"SIMRENEW_DATABASE_URL": url}
    assert CliRunner().invoke(cli_app, ["db", "upgrade"], env=env).exit_code == 0
    application = build(Settings(database_url=url))
    now = application.ctx.clock.now()
    with application.uow() as uow:
        uow.outbox.add(OutboxKind.SMS, {"to": "+85251234567", "text": "hi"}, at=now)
        uow.commit()
    with application.uow() as uow:
        (message,) = uow.outbox.claim(now=now, lease_until=now, worker="w", limit=1)
        uow.outbox.mark_failed(message.id, "w", error="gateway said no", retry_at=None)
        uow.commit()
    application.close()

    listed = CliRunner().invoke(cli_app, ["outbox", "--dead"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "dead 1" in listed.output
    assert message.id in listed.output and "gateway said no" in listed.output
    retried = CliRunner().invoke(cli_app, ["outbox", "--retry", message.id], env=env)
    assert retried.exit_code == 0 and "1 message(s) back" in retried.output
    assert "pending 1" in CliRunner().invoke(cli_app, ["outbox"], env=env).output
    missing = CliRunner().invoke(cli_app, ["outbox", "--retry", "msg_nope"], env=env)
    assert missing.exit_code == 1
