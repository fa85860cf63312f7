"""The Stripe itemized balance report parser: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simrenew.domain.money import Money
from simrenew.services.stripe_report import StripeReportInvalid, parse_stripe_report

# The columns of balance_change_from_activity.itemized.3 that we read, in Stripe's
# order, with one metadata column added when the report was run.
HEADER = (
    "balance_transaction_id,created_utc,created,available_on_utc,currency,gross,fee,net,"
    "reporting_category,source_id,description,customer_facing_amount,"
    "customer_facing_currency,charge_id,payment_intent_id,payment_metadata[payment_id]"
)


def report(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def problems(text: str) -> list[str]:
    with pytest.raises(StripeReportInvalid) as caught:
        parse_stripe_report(text)
    return [str(problem) for problem in caught.value.problems]


def test_a_charge_and_its_refund() -> None:
    lines = parse_stripe_report(
        report(
            "txn_1,2026-11-22 02:00:05,2026-11-22 10:00:05,2026-11-24 00:00:00,hkd,48.00,1.97,"
            "46.03,charge,ch_1,ONE2-D7 ord_1,48.00,hkd,ch_1,pi_1,pay_1",
            "txn_2,2026-11-23 03:00:00,,,hkd,-48.00,0.00,-48.00,refund,re_1,,48.00,hkd,ch_1,"
            "pi_1,pay_1",
        )
    )
    charge, refund = lines
    assert charge.line == 2
    assert charge.balance_transaction_id == "txn_1"
    assert charge.created == datetime(2026, 11, 22, 2, 0, 5, tzinfo=UTC)
    assert charge.category == "charge"
    assert (charge.gross, charge.fee, charge.net) == (
        Money(4800, "HKD"),
        Money(197, "HKD"),
        Money(4603, "HKD"),
    )
    assert charge.amount == Money(4800, "HKD")
    assert (charge.payment_intent_id, charge.payment_id, charge.charge_id) == (
        "pi_1",
        "pay_1",
        "ch_1",
    )
    assert refund.gross == Money(-4800, "HKD")


def test_the_customer_facing_amount_is_what_the_buyer_paid() -> None:
    (line,) = parse_stripe_report(
        report("txn_1,2026-11-22 02:00:00,,,hkd,33.10,1.00,32.10,charge,ch_1,,30.00,cny,ch_1,pi_1,")
    )
    assert line.gross == Money(3310, "HKD")
    assert line.amount == Money(3000, "CNY")
    assert line.payment_id is None


def test_columns_in_any_order_and_case_and_only_the_required_ones() -> None:
    text = (
        "Reporting_Category,Gross,Currency,Created_UTC,Balance_Transaction_ID,Other\n"
        "charge,1.00,HKD,2026-11-22T02:00:00Z,txn_9,x\n"
    )
    (line,) = parse_stripe_report("\ufeff" + text)
    assert line.balance_transaction_id == "txn_9"
    assert line.payment_intent_id is None and line.fee is None


def test_the_refunds_metadata_names_the_payment_too() -> None:
    header = (
        "balance_transaction_id,created_utc,currency,gross,reporting_category,"
        "refund_metadata[payment_id]"
    )
    (line,) = parse_stripe_report(
        report("txn_1,2026-11-22 02:00:00,hkd,-1.00,refund,pay_7", header=header)
    )
    assert line.payment_id == "pay_7"


def test_an_empty_file_and_a_foreign_file_are_refused() -> None:
    assert problems("") == ["line 1: the file is empty: no header"]
    (found,) = problems("date,description,credit\n23/11/2026,x,1.00\n")
    assert found.startswith("line 1: missing column(s) balance_transaction_id, created_utc")


def test_every_bad_line_is_listed_with_its_line() -> None:
    text = report(
        "txn_1,2026-11-22 02:00:00,,,hkd,1.00,,,charge,,,,,,,",
        "txn_2,yesterday,,,hkd,1.00,,,charge,,,,,,,",
        "txn_3,2026-11-22 02:00:00,,,usd,1.00,,,charge,,,,,,,",
        "txn_4,2026-11-22 02:00:00,,,hkd,1.0.0,,,charge,,,,,,,",
        "txn_1,2026-11-22 02:00:00,,,hkd,1.00,,,charge,,,,,,,",
        ",2026-11-22 02:00:00,,,hkd,1.00,,,charge,,,,,,,",
        "txn_5,2026-11-22 02:00:00,,,hkd,1.00,,,,,,,,,,",
        "txn_6,2026-11-22 02:00:00,,,hkd,1.00,,,charge,,,5.00,eur,,,",
        "txn_7,2026-11-22 02:00:00,,,hkd,1.001,,,charge,,,,,,,",
    )
    found = problems(text)
    assert [problem.split(":")[0] for problem in found] == [f"line {n}" for n in range(3, 11)]
    assert "created_utc 'yesterday'" in found[0]
    assert "'usd' is not HKD or CNY" in found[1]
    assert "'1.0.0' is not an amount" in found[2]
    assert "also on line 2" in found[3]
    assert "balance_transaction_id is empty" in found[4]
    assert "reporting_category is empty" in found[5]
    assert "'eur'" in found[6]
    assert "at most 2 decimal places" in found[7]
