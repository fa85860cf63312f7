"""``simrenew vouchers``, ``staff`` and ``cash``, driven in-process with Typer's
CliRunner against a wired application on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import pytest
import typer
from sqlalchemy import select

from simrenew.bootstrap import App
from simrenew.cli_vouchers import cash_app, staff_app, vouchers_app
from simrenew.db import tables as t
from simrenew.domain.orders import OrderState
from simrenew.domain.vouchers import normalize_pin, parse_serial
from simrenew.services.vouchers import redeem_voucher
from tests.integration.cli.typer_cli import TyperCli
from tests.integration.services.test_vouchers import everything_stored, wired
from tests.support import order

CARD = "+85251234567"  # ONE2 (HKD), in stock
PASSWORD = "counter-password-1"

cli_app = typer.Typer()
cli_app.add_typer(vouchers_app, name="vouchers")
cli_app.add_typer(staff_app, name="staff")
cli_app.add_typer(cash_app, name="cash")


Cli = TyperCli


@pytest.fixture
def shop(app: App) -> App:
    return wired(app)


@pytest.fixture
def cli(shop: App) -> Cli:
    return Cli(cli_app, shop)


def read_pins(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_generate_writes_the_pins_once_and_only_to_the_file(
    cli: Cli, shop: App, tmp_path: Path
) -> None:
    out = tmp_path / "batch-1.csv"
    args = ["vouchers", "generate", "--count", "5", "--value", "HKD", "100"]
    result = cli(*args, "--expires", "2027-12-31", "--out", str(out))
    rows = read_pins(out)
    assert len(rows) == 5
    assert {r["pays"] for r in rows} == {"HK$100.00"} and {r["expires"] for r in rows} == {
        "2027-12-31"
    }
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "5 voucher(s) of HK$100.00" in result.stdout
    stored = everything_stored(shop.engine)
    for row in rows:
        pin = normalize_pin(row["pin"])
        assert len(row["pin"]) == 19  # 4-4-4-4
        assert pin not in result.stdout and pin not in result.stderr and pin not in stored

    # Never overwritten, and no batch made when the file cannot be written.
    before = out.read_bytes()
    refused = cli(*args, "--expires", "2027-12-31", "--out", str(out), code=2)
    assert "never overwritten" in refused.stderr
    assert out.read_bytes() == before
    with shop.engine.connect() as connection:
        assert len(connection.execute(select(t.voucher_batches)).all()) == 1

    # A PIN from the file pays an order.
    placed = order(shop, CARD, "ONE2-M1")
    redeem_voucher(shop.ctx, placed.id, rows[0]["pin"], number=CARD, ip="203.0.113.7")
    with shop.uow(write=False) as uow:
        assert uow.orders.get(placed.id).state is OrderState.FULFILLED


def test_generate_for_an_offer_and_bad_requests(cli: Cli, shop: App, tmp_path: Path) -> None:
    out = tmp_path / "offer.csv"
    cli("vouchers", "generate", "--count", "2", "--offer", "ONE2-M1", "--expires", "2027-06-30",
        "--out", str(out))  # fmt: skip
    assert {r["pays"] for r in read_pins(out)} == {"offer ONE2-M1"}

    neither = tmp_path / "neither.csv"
    cli("vouchers", "generate", "--count", "2", "--expires", "2027-06-30", "--out", str(neither),
        code=2)  # fmt: skip
    cli("vouchers", "generate", "--count", "2", "--value", "USD", "5", "--expires", "2027-06-30",
        "--out", str(neither), code=2)  # fmt: skip
    failed = cli("vouchers", "generate", "--count", "2", "--offer", "NOPE", "--expires",
                 "2027-06-30", "--out", str(neither), code=1)  # fmt: skip
    assert "offer_not_found" in failed.stderr
    assert not neither.exists()  # the empty file went again


def test_show_and_void(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "b.csv"
    cli("vouchers", "generate", "--count", "1", "--value", "HKD", "50", "--expires", "2027-12-31",
        "--out", str(out))  # fmt: skip
    row = read_pins(out)[0]
    shown = cli("vouchers", "show", row["serial"])
    assert "issued" in shown.stdout and "HK$50.00" in shown.stdout
    assert normalize_pin(row["pin"]) not in shown.stdout and row["pin"] not in shown.stdout
    assert "void" in cli("vouchers", "void", parse_serial(row["serial"])).stdout
    assert "void" in cli("vouchers", "show", row["serial"]).stdout
    missing = cli("vouchers", "show", "123", code=1)
    assert "voucher_serial_invalid" in missing.stderr


def test_staff_add_list_deactivate(cli: Cli, shop: App) -> None:
    # Asked twice at the prompt...
    added = cli("staff", "add", "alice", "--role", "agent", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert "alice added as agent" in added.stdout
    assert PASSWORD not in added.stdout
    # ...or read from stdin.
    cli("staff", "add", "bob", "--role", "cs", "--password-stdin", input=f"{PASSWORD}\n")
    weak = cli("staff", "add", "carol", "--role", "cs", "--password-stdin", input="short\n", code=1)
    assert "weak_password" in weak.stderr
    cli("staff", "add", "alice", "--role", "admin", "--password-stdin", input=f"{PASSWORD}x\n",
        code=1)  # fmt: skip

    listed = cli("staff", "list").stdout
    assert "alice" in listed and "agent" in listed and "bob" in listed and "carol" not in listed
    cli("staff", "deactivate", "bob")
    assert cli("staff", "deactivate", "nobody", code=1).stderr.count("staff_user_not_found") == 1
    with shop.engine.connect() as connection:
        query = select(t.staff_users.c.username, t.staff_users.c.active)
        active = {username: flag for username, flag in connection.execute(query)}
    assert active == {"alice": True, "bob": False}
    assert PASSWORD not in everything_stored(shop.engine)


def test_cash_open_take_close(cli: Cli, shop: App) -> None:
    cli("staff", "add", "alice", "--role", "agent", "--password-stdin", input=f"{PASSWORD}\n")
    placed = order(shop, CARD, "ONE2-M1")
    login = {"input": f"{PASSWORD}\n"}

    refused = cli("cash", "take", placed.id, "--staff", "alice", "--tendered", "100",
                  "--password-stdin", code=1, **login)  # fmt: skip
    assert "no_open_shift" in refused.stderr
    wrong = cli("cash", "open", "--staff", "alice", "--password-stdin", code=1,
                input="wrong-password\n")  # fmt: skip
    assert "staff_login_failed" in wrong.stderr

    assert "opened for alice" in cli("cash", "open", "--staff", "alice", "--password-stdin",
                                     **login).stdout  # fmt: skip
    # The password prompt, without --password-stdin.
    taken = cli("cash", "take", placed.id, "--staff", "alice", "--tendered", "100", **login)
    assert "change HK$12.00" in taken.stdout and "HK$100.00 tendered" in taken.stdout
    closed = cli("cash", "close", "--staff", "alice", "--password-stdin", **login).stdout
    assert "HKD" in closed and "HK$88.00" in closed and "│ 1 " in closed
    with shop.uow(write=False) as uow:
        assert uow.orders.get(placed.id).state is OrderState.FULFILLED


def test_cash_by_a_role_that_may_not(cli: Cli) -> None:
    cli("staff", "add", "bob", "--role", "cs", "--password-stdin", input=f"{PASSWORD}\n")
    refused = cli("cash", "open", "--staff", "bob", "--password-stdin", input=f"{PASSWORD}\n",
                  code=1)  # fmt: skip
    assert "not_permitted" in refused.stderr and "may not take cash" in refused.stderr
