"""My orders: the history page and its pages, the CSV export, the PDF receipts, and
nothing of anyone else's."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from httpx import Response

from simrenew.bootstrap import App
from simrenew.web.pages import orders as orders_page
from tests.integration.web.pages.pages_http import browser
from tests.integration.web.pages.test_renew_pages import NUMBER, OTHER, signed_in
from tests.support import order, pay, renew

RECEIPT = r"R2026-[0-9A-F]{12}"


def history_ids(page: Response) -> list[str]:
    return re.findall(r'<li class="card" id="order-(ord_\w+)"', page.text)


def test_the_history_lists_my_orders_newest_first_with_receipts_for_the_fulfilled(
    app: App,
) -> None:
    done = renew(app, NUMBER, "ONE2-M1", coupon="GBA2026")
    declined = order(app, NUMBER, "ONE2-D7")
    pay(app, declined.id, scenario="decline")
    unpaid = order(app, NUMBER, "ONE2-D1")
    renew(app, OTHER, "ONE2-M1")  # someone else's
    client = signed_in(app)

    page = client.get("/orders")

    assert page.status_code == 200
    assert set(history_ids(page)) == {done.id, declined.id, unpaid.id}
    assert history_ids(page) == sorted(history_ids(page), reverse=True)  # same instant: by id
    fulfilled = re.search(
        rf'<li class="card" id="order-{done.id}" data-state="fulfilled">(.*?)</li>', page.text, re.S
    )
    assert fulfilled
    assert "+852****4567" in fulfilled.group(1)
    assert "Monthly Plan" in fulfilled.group(1)
    assert "HK$70.40" in fulfilled.group(1)
    assert "Done" in fulfilled.group(1)
    assert re.search(
        rf'href="/orders/{done.id}/receipt.pdf"[^>]*>Receipt {RECEIPT} \(PDF\)<', fulfilled.group(1)
    )
    waiting = re.search(
        rf'<li class="card" id="order-{unpaid.id}" data-state="awaiting_payment">(.*?)</li>',
        page.text,
        re.S,
    )
    assert waiting and "Awaiting payment" in waiting.group(1)
    assert "receipt.pdf" not in waiting.group(1)
    assert f'href="/orders/{unpaid.id}/result"' in waiting.group(1)
    assert page.text.count("receipt.pdf") == 1
    assert 'href="/orders.csv"' in page.text


def test_the_history_is_paged_twenty_at_a_time(app: App) -> None:
    placed = {order(app, NUMBER, "ONE2-D1").id for _ in range(23)}
    client = signed_in(app, "zh-Hant")

    first = client.get("/orders")
    assert len(history_ids(first)) == 20
    older = re.search(r'href="/orders\?before=(ord_\w+)" id="older">較早的訂單<', first.text)
    assert older and older.group(1) == history_ids(first)[-1]
    assert 'id="newest"' not in first.text

    second = client.get(f"/orders?before={older.group(1)}")
    assert second.status_code == 200
    assert len(history_ids(second)) == 3
    assert 'id="older"' not in second.text
    assert 'href="/orders" id="newest"' in second.text
    assert set(history_ids(first)) | set(history_ids(second)) == placed


def test_an_empty_history_says_so(app: App) -> None:
    page = signed_in(app, "zh-Hans").get("/orders")
    assert page.status_code == 200
    assert 'id="no-orders"' in page.text and "你暂时还没有任何订单。" in page.text
    assert "<table" not in page.text


def test_the_receipt_is_a_pdf_named_after_its_number(app: App) -> None:
    done = renew(app, NUMBER, "ONE2-M1", coupon="GBA2026")
    client = signed_in(app)
    number = re.search(rf"Receipt ({RECEIPT}) \(PDF\)", client.get("/orders").text)
    assert number

    receipt = client.get(f"/orders/{done.id}/receipt.pdf")

    assert receipt.status_code == 200
    assert receipt.headers["content-type"] == "application/pdf"
    assert receipt.headers["content-disposition"] == f'inline; filename="{number.group(1)}.pdf"'
    assert receipt.headers["cache-control"] == "no-store"
    assert receipt.content.startswith(b"%PDF")
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(receipt.content)
    text = document[0].get_textpage().get_text_range()
    assert number.group(1) in text
    assert "+852****4567" in text
    assert "HK$70.40" in text


def test_no_receipt_for_an_unfulfilled_order_nor_for_someone_elses(app: App) -> None:
    unpaid = order(app, NUMBER, "ONE2-D1")
    theirs = renew(app, OTHER, "ONE2-M1")
    client = signed_in(app)
    for order_id in (unpaid.id, theirs.id, "ord_nothing"):
        page = client.get(f"/orders/{order_id}/receipt.pdf")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-code="order_not_found"' in page.text
    # Nor can someone else's order serve as a cursor.
    assert client.get(f"/orders?before={theirs.id}").status_code == 404


def test_without_a_cjk_font_the_receipt_is_an_error_page_naming_the_package(
    app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    done = renew(app, NUMBER, "ONE2-D7")
    monkeypatch.setattr(orders_page, "RECEIPT_FONT", tmp_path / "no-such-font.ttc")
    page = signed_in(app, "zh-Hant").get(f"/orders/{done.id}/receipt.pdf")
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "暫時未能發出收據" in page.text
    assert "fonts-wqy-microhei" in page.text


def test_the_csv_has_a_row_per_order_in_the_readers_language(app: App) -> None:
    done = renew(app, NUMBER, "ONE2-M1", coupon="GBA2026")
    unpaid = order(app, NUMBER, "ONE2-D1")
    renew(app, OTHER, "ONE2-M1")
    client = signed_in(app, "zh-Hant")

    export = client.get("/orders.csv")

    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="orders-\d{8}\.csv"', export.headers["content-disposition"]
    )
    table = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert table[0][0] == "訂單編號"
    by_id = {row[0]: row for row in table[1:]}
    assert set(by_id) == {done.id, unpaid.id}
    assert by_id[done.id][3] == "月費計劃"
    assert by_id[done.id][4] == "完成"
    assert by_id[done.id][5:7] == ["70.40", "HKD"]
    assert re.fullmatch(RECEIPT, by_id[done.id][7])
    assert by_id[unpaid.id][4] == "等待付款"
    assert by_id[unpaid.id][7] == ""


def test_the_order_pages_need_a_session(app: App) -> None:
    visitor = browser(app)
    for path in ("/orders", "/orders.csv", "/orders/ord_x/receipt.pdf"):
        away = visitor.get(path)
        assert away.status_code == 303
        assert away.headers["location"] == f"/login?next={path}"
