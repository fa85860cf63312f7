"""The receipt a buyer downloads after an order is fulfilled: one A5 page, PDF.

Chinese needs a CJK font embedded in the file (the PDF core fonts are Latin only), so
the receipt is drawn with a system TrueType / OpenType font: ``font_path`` when given,
else the first installed of ``KNOWN_FONTS``. fpdf2 subsets it, so the file stays small
and copying text out of it gives back the characters (ToUnicode map).

All lengths are whole PDF points (1/72 inch; A5 is 420 x 595 pt): the code base has no
floats, and a point is fine enough for a layout grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from fontTools.ttLib import TTCollection
from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, WrapMode, XPos, YPos

from simrenew.domain.money import Money
from simrenew.web.i18n import Formatter

FONT_PACKAGE = "fonts-wqy-microhei"

# Debian / Ubuntu packages, most compact first: fonts-wqy-microhei, fonts-wqy-zenhei,
# fonts-noto-cjk (which some images ship as separate .otf files).
KNOWN_FONTS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKtc-Regular.otf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
    Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"),
)
FONT_DIR = Path("/usr/share/fonts")
_NOTO_PATTERNS = ("NotoSansCJK*-Regular.ttc", "NotoSansCJK*-Regular.otf")

# Which face of a collection to use: Noto CJK puts Japanese first, and Han characters
# drawn in Japanese forms look wrong to a Hong Kong or Mainland reader.
_FACE_PREFERENCE = {"zh-Hant": ("HK", "TC"), "zh-Hans": ("SC",), "en": ("HK", "TC")}
_PDF_LANG = {"zh-Hant": "zh-Hant-HK", "zh-Hans": "zh-Hans-CN", "en": "en-HK"}

# Payment provider names as the buyer should read them; others are shown as they are.
PAYMENT_METHODS = {"sandbox": "Sandbox (test payment)"}


class ReceiptFontMissing(RuntimeError):
    """No CJK font to draw the receipt with: install one (see the message)."""


@dataclass(frozen=True, slots=True)
class ReceiptDocument:
    """What a receipt shows; texts already in ``language``, times aware (shown in HK time)."""

    receipt_number: str  # e.g. "R2026-00001234", built by the caller
    order_id: str
    issued_at: datetime
    operator_name: str
    official_domain: str
    number_masked: str
    offer_name: str
    list_price: Money
    discount: Money
    price: Money
    promotions: tuple[str, ...]
    payment_method: str  # the payment provider's name, e.g. "sandbox"
    paid_at: datetime
    validity_end: date | None  # None: the purchase does not move validity (add-ons)
    language: str


def find_cjk_font(
    candidates: Sequence[Path] = KNOWN_FONTS, font_dir: Path | None = FONT_DIR
) -> Path:
    """The first installed CJK font of ``candidates``, else any Noto Sans CJK under
    ``font_dir``. Raises ``ReceiptFontMissing`` naming the package to install."""
    for path in candidates:
        if path.is_file():
            return path
    if font_dir is not None and font_dir.is_dir():
        for pattern in _NOTO_PATTERNS:
            found = sorted(font_dir.rglob(pattern))
            if found:
                return found[0]
    looked = ", ".join(str(path) for path in candidates)
    raise ReceiptFontMissing(
        f"no CJK font found for receipts (looked at {looked}); "
        f"install one with: apt-get install {FONT_PACKAGE}"
    )


def collection_face(path: Path, language: str) -> int:
    """The face of a font collection (.ttc / .otc) that suits ``language``; 0 otherwise."""
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 0
    with TTCollection(str(path), lazy=True) as collection:
        names = [str(font["name"].getDebugName(1) or "") for font in collection.fonts]
    proportional = [index for index, name in enumerate(names) if "mono" not in name.lower()]
    for script in _FACE_PREFERENCE.get(language, ()):
        for index in proportional:
            if names[index].split()[-1:] == [script]:
                return index
    return proportional[0] if proportional else 0


# --- layout --------------------------------------------------------------------------------

_A5 = (420, 595)  # 148 x 210 mm in whole points
_MARGIN = 32
_BAND_HEIGHT = 76
_LABEL_WIDTH = 104
_AMOUNT_WIDTH = 112

_INK = (33, 37, 41)
_MUTED = (108, 117, 125)
_RULE = (206, 212, 218)
_ACCENT = (0, 84, 102)
_ON_ACCENT = (204, 229, 234)
_WHITE = (255, 255, 255)
_SHADE = (241, 243, 245)
_PAID = (25, 111, 61)
_PAID_BACKGROUND = (232, 245, 236)

_FAMILY = "receipt-cjk"

Colour = tuple[int, int, int]

# Babel puts narrow no-break spaces in times ("10:05 am"); CJK fonts rarely have the
# glyph, and a missing glyph is dropped: a plain no-break space keeps the gap.
_SPACES = str.maketrans({"\u202f": "\u00a0"})


def _printable(text: str) -> str:
    return text.translate(_SPACES)


def _moment(fmt: Formatter, moment: datetime) -> str:
    """Date and time to the minute, in the formatter's zone: seconds are noise on paper."""
    return f"{fmt.date(moment.astimezone(fmt.tz).date())} {fmt.time(moment)}"


class _Page:
    """An A5 page with the CJK font, and the few drawing moves the receipt needs."""

    def __init__(self, font: Path, language: str) -> None:
        self.pdf = FPDF(orientation="P", unit="pt", format=_A5)
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.pdf.c_margin = 0
        self.pdf.add_font(
            _FAMILY, fname=font, collection_font_number=collection_face(font, language)
        )
        # Chinese has no spaces to break lines at: break between any two characters.
        self.wrap = WrapMode.WORD if language == "en" else WrapMode.CHAR
        self.pdf.add_page()

    @property
    def width(self) -> int:
        return int(self.pdf.w) - 2 * _MARGIN

    def style(self, size: int, colour: Colour = _INK) -> None:
        self.pdf.set_font(_FAMILY, size=size)
        self.pdf.set_text_color(*colour)

    def text(self, x: int, y: int, w: int, h: int, text: str, align: Align = Align.L) -> None:
        self.pdf.set_xy(x, y)
        self.pdf.cell(w, h, _printable(text), align=align, new_x=XPos.RIGHT, new_y=YPos.TOP)

    def paragraph(self, x: int, y: int, w: int, h: int, text: str, align: Align = Align.L) -> int:
        """Wrapped ``text`` from (x, y); returns the y below it."""
        self.pdf.set_xy(x, y)
        self.pdf.multi_cell(w, h, _printable(text), align=align, wrapmode=self.wrap)
        return int(self.pdf.get_y()) + 1

    def height_of(self, w: int, h: int, text: str) -> int:
        measured = self.pdf.multi_cell(
            w,
            h,
            _printable(text),
            wrapmode=self.wrap,
            dry_run=True,
            output=MethodReturnValue.LINES,
        )
        assert isinstance(measured, list)  # what output=LINES returns
        return len(measured) * h + 1

    def rule(self, y: int, colour: Colour = _RULE, width: int | None = None) -> None:
        self.pdf.set_draw_color(*colour)
        if width is not None:
            self.pdf.set_line_width(width)
        self.pdf.line(_MARGIN, y, _MARGIN + self.width, y)

    def box(self, x: int, y: int, w: int, h: int, fill: Colour, border: Colour | None) -> None:
        self.pdf.set_fill_color(*fill)
        if border is None:
            self.pdf.rect(x, y, w, h, style="F", round_corners=True, corner_radius=6)
        else:
            self.pdf.set_draw_color(*border)
            self.pdf.set_line_width(1)
            self.pdf.rect(x, y, w, h, style="DF", round_corners=True, corner_radius=6)


def render_receipt(
    receipt: ReceiptDocument,
    *,
    gettext: Callable[[str], str],
    fmt: Formatter,
    font_path: Path | None = None,
) -> bytes:
    """The receipt as a one-page A5 PDF. Raises ``ReceiptFontMissing`` when ``font_path``
    does not exist or, without it, no known CJK font is installed."""
    _ = gettext
    if font_path is None:
        font_path = find_cjk_font()
    elif not font_path.is_file():
        raise ReceiptFontMissing(
            f"receipt font {font_path} not found; install a CJK font, e.g. "
            f"apt-get install {FONT_PACKAGE}"
        )

    page = _Page(font_path, receipt.language)
    pdf = page.pdf
    title = _("Payment receipt")
    pdf.set_title(f"{title} {receipt.receipt_number}")
    pdf.set_author(receipt.operator_name)
    pdf.set_subject(receipt.official_domain)
    pdf.set_creator("simrenew")
    pdf.set_lang(_PDF_LANG.get(receipt.language, receipt.language))
    # Same receipt, same bytes: the creation date also seeds the file identifier.
    pdf.set_creation_date(receipt.issued_at)

    left, width = _MARGIN, page.width
    right = left + width

    # Header band: who issued it, where to find them, what it is.
    pdf.set_fill_color(*_ACCENT)
    pdf.rect(0, 0, int(pdf.w) + 1, _BAND_HEIGHT, style="F")
    page.style(17, _WHITE)
    page.text(left, 22, width, 20, receipt.operator_name)
    page.style(9, _ON_ACCENT)
    page.text(
        left, 44, width, 12, _("Official website: {domain}").format(domain=receipt.official_domain)
    )
    page.style(17, _WHITE)
    page.text(left, 22, width, 20, title, Align.R)
    page.style(9, _ON_ACCENT)
    page.text(left, 44, width, 12, receipt.receipt_number, Align.R)

    # Who and what the receipt is for.
    y = _BAND_HEIGHT + 20
    details = (
        (_("Receipt no."), receipt.receipt_number),
        (_("Issued on"), _moment(fmt, receipt.issued_at)),
        (_("Order no."), receipt.order_id),
        (_("Mobile number"), receipt.number_masked),
    )
    for label, value in details:
        page.style(9, _MUTED)
        page.text(left, y, _LABEL_WIDTH, 16, label)
        page.style(10)
        page.text(left + _LABEL_WIDTH, y, width - _LABEL_WIDTH, 16, value)
        y += 17

    # The lines: the offer at its list price, the discount, the total.
    y += 14
    pdf.set_fill_color(*_SHADE)
    pdf.rect(left, y, width, 20, style="F")
    page.style(9, _MUTED)
    page.text(left + 8, y, width - _AMOUNT_WIDTH - 8, 20, _("Item"))
    page.text(right - _AMOUNT_WIDTH, y, _AMOUNT_WIDTH - 8, 20, _("Amount"), Align.R)
    y += 20

    lines: list[tuple[str, str, Colour]] = [
        (receipt.offer_name, fmt.money(receipt.list_price), _INK)
    ]
    if not receipt.discount.is_zero():
        label = _("Discount")
        if receipt.promotions:
            label = _("Discount ({codes})").format(codes=", ".join(receipt.promotions))
        lines.append((label, fmt.money(-receipt.discount), _PAID))
    item_width = width - _AMOUNT_WIDTH - 8
    for number, (label, amount, colour) in enumerate(lines, start=1):
        page.style(10)
        height = max(26, page.height_of(item_width, 14, label) + 12)
        page.paragraph(left + 8, y + 6, item_width, 14, label)
        page.style(10, colour)
        page.text(right - _AMOUNT_WIDTH, y + 6, _AMOUNT_WIDTH - 8, 14, amount, Align.R)
        y += height
        if number < len(lines):
            page.rule(y)

    page.rule(y, _INK, width=1)
    page.style(12)
    page.text(left + 8, y + 8, item_width, 18, _("Total"))
    page.style(14)
    page.text(
        right - _AMOUNT_WIDTH, y + 7, _AMOUNT_WIDTH - 8, 20, fmt.money(receipt.price), Align.R
    )
    y += 38

    # Paid: how and when.
    page.box(left, y, width, 62, _PAID_BACKGROUND, _PAID)
    page.style(13, _PAID)
    page.text(left + 12, y + 10, width - 24, 18, _("Paid in full"))
    page.text(left + 12, y + 10, width - 24, 18, fmt.money(receipt.price), Align.R)
    method = receipt.payment_method
    method = _(PAYMENT_METHODS[method]) if method in PAYMENT_METHODS else method
    page.style(9, _INK)
    page.text(left + 12, y + 32, _LABEL_WIDTH, 12, _("Payment method"))
    page.text(left + 12 + _LABEL_WIDTH, y + 32, width - 24 - _LABEL_WIDTH, 12, method)
    page.text(left + 12, y + 45, _LABEL_WIDTH, 12, _("Paid on"))
    page.text(
        left + 12 + _LABEL_WIDTH,
        y + 45,
        width - 24 - _LABEL_WIDTH,
        12,
        _moment(fmt, receipt.paid_at),
    )
    y += 74

    # The card's validity after this purchase.
    if receipt.validity_end is not None:
        page.box(left, y, width, 52, _SHADE, None)
        page.style(9, _MUTED)
        page.text(left + 12, y + 9, width - 24, 12, _("Valid until (after this renewal)"))
        page.style(15, _ACCENT)
        page.text(left + 12, y + 23, width - 24, 20, fmt.date(receipt.validity_end, "long"))
    else:
        unchanged = _("This purchase does not change the card's validity.")
        page.style(10)
        page.box(left, y, width, page.height_of(width - 24, 14, unchanged) + 22, _SHADE, None)
        page.paragraph(left + 12, y + 11, width - 24, 14, unchanged)

    # Footer: the only domain to trust, and why there is no signature.
    footer = int(pdf.h) - 78
    page.rule(footer)
    page.style(9, _ACCENT)
    below = page.paragraph(
        left,
        footer + 10,
        width,
        13,
        _(
            "Only trust {domain}. We never ask you to pay through any other website, "
            "link or QR code."
        ).format(domain=receipt.official_domain),
        Align.C,
    )
    page.style(8, _MUTED)
    page.paragraph(
        left,
        below + 3,
        width,
        11,
        _("This receipt was issued electronically and is valid without a signature."),
        Align.C,
    )
    return bytes(pdf.output())
