"""``simrenew refunds``, driven in-process with Typer's CliRunner against a wired
application on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from simrenew.bootstrap import App
from simrenew.cli import app as simrenew_app
from simrenew.cli_refunds import refunds_app
from simrenew.cli_vouchers import staff_app
from simrenew.domain.orders import OrderState
from simrenew.ports import RefundResult
from simrenew.services.vouchers import redeem_voucher
from tests.integration.cli.typer_cli import TyperCli
from tests.integration.services.test_refunds import (
    ScriptedProvider,
    offering_everything,
    order_state,
    paid_by_scripted,
    refunds_of,
)
from tests.integration.services.test_vouchers import IP, one_pin
from tests.support import order, renew

CARD = "+85291234567"  # ONE2 (HKD), English
PASSWORD = "refund-password-1"

cli_app = typer.Typer()
cli_app.add_typer(refunds_app, name="refunds")
cli_app.add_typer(staff_app, name="staff")


class Cli(TyperCli):
    def add_staff(self, username: str, role: str) -> None:
        self("staff", "add", username, "--role", role, "--password-stdin", input=f"{PASSWORD}\n")


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider()


@pytest.fixture
def shop(app: App, scripted: ScriptedProvider) -> App:
    return offering_everything(app, scripted)


@pytest.fixture
def cli(shop: App) -> Cli:
    return Cli(cli_app, shop, columns=250)


def test_the_command_is_registered() -> None:
    result = CliRunner().invoke(simrenew_app, ["refunds", "--help"])
    assert result.exit_code == 0
    for command in ("list", "request", "retry", "paid-out"):
        assert command in result.stdout


def test_request_refunds_an_order_and_list_shows_it(cli: Cli, shop: App) -> None:
    cli.add_staff("carol", "cs")
    placed = renew(shop, CARD, "ONE2-D7")
    login = {"input": f"{PASSWORD}\n"}

    done = cli("refunds", "request", placed.id, "--staff", "carol", "--reason",
               "customer complaint", "--password-stdin", **login).stdout  # fmt: skip

    (refund,) = refunds_of(shop, placed.id)
    assert f"order {placed.id} refunded by carol" in done
    assert f"refund {refund.id} of HK$48.00 (sandbox): succeeded" in done
    assert order_state(shop, placed.id) is OrderState.REFUNDED
    # The password prompt, without --password-stdin; a repeat changes nothing.
    again = cli("refunds", "request", placed.id, "--staff", "carol", "--reason", "again",
                **login).stdout  # fmt: skip
    assert "already refunded; nothing changed" in again
    assert len(refunds_of(shop, placed.id)) == 1

    listed = cli("refunds", "list").stdout
    assert refund.id in listed and placed.id in listed
    assert "staff_refund: customer complaint" in listed and "staff:carol" in listed
    assert refund.id in cli("refunds", "list", "--state", "succeeded").stdout
    assert refund.id not in cli("refunds", "list", "--state", "failed").stdout
    assert "0 refund(s)" in cli("refunds", "list", "--state", "manual").stdout
    cli("refunds", "list", "--state", "lost", code=2)


def test_a_refused_refund_is_retried(
    cli: Cli,
    shop: App,
    scripted: ScriptedProvider,
) -> None:
    cli.add_staff("carol", "cs")
    placed, _ = paid_by_scripted(shop, CARD)
    scripted.answers.append(RefundResult(False, failure_code="charge_disputed"))
    login = {"input": f"{PASSWORD}\n"}

    refused = cli("refunds", "request", placed.id, "--staff", "carol", "--reason", "complaint",
                  "--password-stdin", **login).stdout  # fmt: skip
    (refund,) = refunds_of(shop, placed.id)
    assert f"refund {refund.id}" in refused and "failed (charge_disputed)" in refused
    assert "simrenew refunds retry" in refused

    retried = cli("refunds", "retry", refund.id, "--staff", "carol", "--password-stdin", **login)
    assert f"refund {refund.id} of HK$88.00 (scripted): succeeded" in retried.stdout
    assert len(scripted.calls) == 2
    assert order_state(shop, placed.id) is OrderState.REFUNDED
    # Not failed any more: nothing to retry.
    again = cli("refunds", "retry", refund.id, "--staff", "carol", "--password-stdin", code=1,
                **login)  # fmt: skip
    assert "illegal_transition" in again.stderr


def test_a_voucher_refund_is_paid_out_by_hand(cli: Cli, shop: App) -> None:
    cli.add_staff("dave", "admin")
    placed = order(shop, CARD, "ONE2-M1")
    _, pin = one_pin(shop)
    redeem_voucher(shop.ctx, placed.id, pin, number=CARD, ip=IP)
    login = {"input": f"{PASSWORD}\n"}

    manual = cli("refunds", "request", placed.id, "--staff", "dave", "--reason", "moving away",
                 "--password-stdin", **login).stdout  # fmt: skip
    (refund,) = refunds_of(shop, placed.id)
    assert "manual (manual_refund_required)" in manual and "refunds paid-out" in manual
    assert refund.id in cli("refunds", "list", "--state", "manual").stdout

    missing = cli("refunds", "paid-out", refund.id, "--staff", "dave", "--reference", " ",
                  "--password-stdin", code=1, **login)  # fmt: skip
    assert "payout_reference_invalid" in missing.stderr
    paid = cli("refunds", "paid-out", refund.id, "--staff", "dave", "--reference",
               "FPS-20261122-0001", "--password-stdin", **login).stdout  # fmt: skip

    assert f"refund {refund.id} of HK$88.00 (voucher): succeeded" in paid
    assert order_state(shop, placed.id) is OrderState.REFUNDED
    listed = cli("refunds", "list", "--state", "succeeded").stdout
    assert "FPS-20261122-0001 by staff:dave" in listed


def test_refused_logins_roles_and_requests(cli: Cli, shop: App) -> None:
    cli.add_staff("alice", "agent")
    cli.add_staff("carol", "cs")
    placed = renew(shop, CARD, "ONE2-D7")
    login = {"input": f"{PASSWORD}\n"}

    agent = cli("refunds", "request", placed.id, "--staff", "alice", "--reason", "x",
                "--password-stdin", code=1, **login)  # fmt: skip
    assert "not_permitted" in agent.stderr and "may not refund orders" in agent.stderr
    wrong = cli("refunds", "request", placed.id, "--staff", "carol", "--reason", "x",
                "--password-stdin", code=1, input="wrong-password\n")  # fmt: skip
    assert "staff_login_failed" in wrong.stderr
    unpaid = order(shop, CARD, "ONE2-D7")
    refused = cli("refunds", "request", unpaid.id, "--staff", "carol", "--reason", "x",
                  "--password-stdin", code=1, **login)  # fmt: skip
    assert "order_not_refundable" in refused.stderr
    unknown = cli("refunds", "retry", "rfd_nope", "--staff", "carol", "--password-stdin", code=1,
                  **login)  # fmt: skip
    assert "refund_not_found" in unknown.stderr
    assert refunds_of(shop, placed.id) == []
    assert "0 refund(s)" in cli("refunds", "list").stdout
