"""The receipt PDF: Chinese text really in the file (glyphs and ToUnicode), a page that
renders to something readable, and a clear error when no CJK font is installed.

Each language's page is saved as ``test-artifacts/receipts/receipt-<lang>.png`` for a
person to look at."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest

from simrenew.documents.receipt_pdf import (
    FONT_PACKAGE,
    ReceiptDocument,
    ReceiptFontMissing,
    find_cjk_font,
    render_receipt,
)
from simrenew.domain.money import Money
from simrenew.web.i18n import Formatter, translations

HK = ZoneInfo("Asia/Hong_Kong")
REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "test-artifacts" / "receipts"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

OFFER_NAMES = {"zh-Hant": "港澳通 30日", "zh-Hans": "港澳通 30日", "en": "HK-Macau Pass 30 Days"}
# (title, "paid" line, validity date as the language writes it)
EXPECTED = {
    "zh-Hant": ("付款收據", "已全數付清", "2026年4月3日"),
    "zh-Hans": ("付款收据", "已全额付清", "2026年4月3日"),
    "en": ("Payment receipt", "Paid in full", "3 April 2026"),
}


@pytest.fixture(scope="module")
def font() -> Path:
    try:
        return find_cjk_font()
    except ReceiptFontMissing as missing:
        if IN_CI:
            pytest.fail(f"CI must have a CJK font: {missing}")
        pytest.skip(f"no CJK font installed ({missing})")


def receipt(language: str, **changes: object) -> ReceiptDocument:
    document = ReceiptDocument(
        receipt_number="R2026-00001234",
        order_id="ord_01J9Z3K6W8",
        issued_at=datetime(2026, 3, 4, 2, 5, tzinfo=UTC),
        operator_name="SimRenew 跨境卡",
        official_domain="simrenew.example.hk",
        number_masked="+852****4567",
        offer_name=OFFER_NAMES[language],
        list_price=Money(9800, "HKD"),
        discount=Money(1000, "HKD"),
        price=Money(8800, "HKD"),
        promotions=("SPRING10",),
        payment_method="sandbox",
        paid_at=datetime(2026, 3, 4, 2, 4, tzinfo=UTC),
        validity_end=date(2026, 4, 3),
        language=language,
    )
    return replace(document, **changes)  # type: ignore[arg-type]


def render(document: ReceiptDocument, font: Path) -> bytes:
    language = document.language
    return render_receipt(
        document,
        gettext=translations(language).gettext,
        fmt=Formatter(language, HK),
        font_path=font,
    )


def page_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    try:
        assert len(pdf) == 1
        text = pdf[0].get_textpage().get_text_range()
    finally:
        pdf.close()
    # Babel's no-break spaces come back as they are; compare with plain spaces.
    return " ".join(text.replace("\u00a0", " ").split())


@pytest.mark.parametrize("language", ["zh-Hant", "zh-Hans", "en"])
def test_the_receipt_reads_back_in_its_language(language: str, font: Path) -> None:
    data = render(receipt(language), font)

    assert data.startswith(b"%PDF-")
    text = page_text(data)
    title, paid, valid_until = EXPECTED[language]
    assert title in text
    assert paid in text
    assert valid_until in text
    assert OFFER_NAMES[language] in text
    assert "SimRenew 跨境卡" in text  # Chinese in every language's receipt
    assert "HK$88.00" in text  # the total
    assert "-HK$10.00" in text  # the discount
    assert "SPRING10" in text
    assert "R2026-00001234" in text
    assert "+852****4567" in text
    assert text.count("simrenew.example.hk") >= 2  # header and the footer's warning


@pytest.mark.parametrize("language", ["zh-Hant", "zh-Hans", "en"])
def test_the_receipt_renders_to_a_readable_page(language: str, font: Path) -> None:
    pdf = pdfium.PdfDocument(render(receipt(language), font))
    try:
        image = pdf[0].render(scale=2).to_pil()
    finally:
        pdf.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.save(ARTIFACTS / f"receipt-{language}.png")

    # A5 at 144 dpi, portrait.
    assert (image.width, image.height) == (840, 1190)
    gray = image.convert("L")
    # The white body under the coloured header band has dark text in it...
    body = gray.crop((40, 180, 800, 700))
    dark = sum(count for level, count in enumerate(body.histogram()) if level < 100)
    assert dark > 4000, f"only {dark} dark pixels in the body: blank page?"
    # ...and the footer has the warning about the official domain.
    footer = gray.crop((40, 1040, 800, 1150))
    assert sum(footer.histogram()[:160]) > 1000


def test_the_receipt_is_the_same_bytes_every_time(font: Path) -> None:
    assert render(receipt("zh-Hant"), font) == render(receipt("zh-Hant"), font)


def test_the_metadata_names_the_receipt(font: Path) -> None:
    pdf = pdfium.PdfDocument(render(receipt("zh-Hant"), font))
    try:
        metadata = pdf.get_metadata_dict()
    finally:
        pdf.close()
    assert metadata["Title"] == "付款收據 R2026-00001234"
    assert metadata["Author"] == "SimRenew 跨境卡"


def test_without_a_discount_or_new_validity_the_receipt_says_so(font: Path) -> None:
    document = receipt(
        "zh-Hant",
        discount=Money(0, "HKD"),
        list_price=Money(8800, "HKD"),
        promotions=(),
        validity_end=None,
        payment_method="somepay",
    )
    text = page_text(render(document, font))

    assert "折扣" not in text
    assert "續期後有效期至" not in text
    assert "是次購買不會改變電話卡的有效期。" in text
    assert "somepay" in text  # an unknown provider is named as it is


def test_a_long_offer_name_wraps_inside_the_page(font: Path) -> None:
    name = "大灣區 5GB 數據附加包（香港、澳門及內地通用，30 日內有效，用完即止；不設自動續期）"
    data = render(receipt("zh-Hant", offer_name=name), font)
    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[0]
        width = page.get_width()
        textpage = page.get_textpage()
        boxes = [textpage.get_charbox(index) for index in range(textpage.count_chars())]
        text = textpage.get_text_range()
    finally:
        pdf.close()
    assert "不設自動續期" in text
    assert all(left >= 0 and right <= width for left, _, right, _ in boxes)


def test_a_missing_font_file_names_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(ReceiptFontMissing, match=FONT_PACKAGE):
        render(receipt("zh-Hant"), tmp_path / "no-such-font.ttc")


def test_no_installed_font_names_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(ReceiptFontMissing) as missing:
        find_cjk_font([tmp_path / "wqy-microhei.ttc"], font_dir=tmp_path)
    assert "apt-get install fonts-wqy-microhei" in str(missing.value)
    assert FONT_PACKAGE == "fonts-wqy-microhei"


def test_the_first_installed_font_wins_then_any_noto_cjk(tmp_path: Path) -> None:
    first, second = tmp_path / "a.ttc", tmp_path / "b.ttc"
    second.write_bytes(b"")
    assert find_cjk_font([first, second], font_dir=None) == second

    noto = tmp_path / "opentype" / "noto" / "NotoSansCJK-Regular.ttc"
    noto.parent.mkdir(parents=True)
    noto.write_bytes(b"")
    assert find_cjk_font([first], font_dir=tmp_path) == noto
