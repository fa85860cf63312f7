"""The order-history CSV: reads back with the csv module, opens in Excel as UTF-8,
keeps amounts machine-readable and never hands a spreadsheet a formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from simrenew.documents.orders_csv import BOM, OrderRow, neutralise, orders_csv
from simrenew.domain.money import Money
from simrenew.web.i18n import Formatter, translations

HK = ZoneInfo("Asia/Hong_Kong")

ROWS = (
    OrderRow(
        order_id="ord_01J9Z3K6W8",
        created_at=datetime(2026, 3, 4, 17, 5, 6, tzinfo=UTC),  # the next day in HK
        number_masked="+852****4567",
        offer_name="港澳通 30日",
        state="已完成",
        price=Money(8800, "HKD"),
        receipt_number="R2026-00001234",
    ),
    OrderRow(
        order_id="ord_01J9Z3K6W9",
        created_at=datetime(2026, 3, 5, 1, 0, tzinfo=UTC),
        number_masked="+86****5678",
        offer_name='=HYPERLINK("http://evil.example/","點我"), 含逗號\n與換行',
        state="@SUM(1+1)",
        price=Money(123456, "CNY"),
        receipt_number=None,
    ),
)


def written(language: str = "zh-Hant", rows: tuple[OrderRow, ...] = ROWS) -> str:
    return orders_csv(rows, gettext=translations(language).gettext, fmt=Formatter(language, HK))


def read(text: str) -> list[list[str]]:
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[len(BOM) :], newline="")))


def test_the_file_starts_with_a_utf8_byte_order_mark() -> None:
    assert written().encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert written().count(BOM) == 1


def test_the_header_is_in_the_readers_language() -> None:
    header, *_ = read(written("zh-Hant"))
    assert header == [
        "訂單編號",
        "日期（香港時間）",
        "手機號碼",
        "產品",
        "狀態",
        "金額",
        "貨幣",
        "收據編號",
    ]
    assert read(written("zh-Hans"))[0][1] == "日期（香港时间）"
    assert read(written("en"))[0] == [
        "Order no.",
        "Date (Hong Kong time)",
        "Mobile number",
        "Offer",
        "Status",
        "Amount",
        "Currency",
        "Receipt no.",
    ]


def test_the_rows_read_back_machine_readable() -> None:
    _, first, second = read(written())
    assert first == [
        "ord_01J9Z3K6W8",
        "2026-03-05T01:05:06+08:00",
        "'+852****4567",
        "港澳通 30日",
        "已完成",
        "88.00",
        "HKD",
        "R2026-00001234",
    ]
    assert second[1] == "2026-03-05T09:00:00+08:00"
    assert second[5:7] == ["1234.56", "CNY"]
    assert second[7] == ""
    assert datetime.fromisoformat(first[1]) == ROWS[0].created_at


def test_formulas_are_neutralised_and_the_rest_survives() -> None:
    _, _, second = read(written())
    assert second[3] == "'" + ROWS[1].offer_name  # commas, quotes and the newline intact
    assert second[4] == "'@SUM(1+1)"
    assert second[2] == "'+86****5678"


def test_a_negative_amount_stays_a_number() -> None:
    refund = OrderRow(
        order_id="ord_refund",
        created_at=datetime(2026, 3, 4, tzinfo=UTC),
        number_masked="****4567",
        offer_name="退款",
        state="已退款",
        price=Money(-500, "HKD"),
        receipt_number=None,
    )
    _, row = read(written(rows=(refund,)))
    assert row[5] == "-5.00"


def test_lines_end_in_crlf() -> None:
    text = written(rows=ROWS[:1])
    assert text.endswith("\r\n")
    assert text.count("\r\n") == 2


def test_an_empty_history_is_just_the_header() -> None:
    assert len(read(written(rows=()))) == 1


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        ("港澳通", "港澳通"),
    ],
)
def test_neutralise(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe
