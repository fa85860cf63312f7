from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import pytest

from simrenew.domain.catalog import Allowance, BucketKind, OfferKind, Period
from simrenew.domain.errors import CatalogInvalid
from simrenew.domain.money import Money
from simrenew.domain.promotions import PromotionKind
from simrenew.services.catalog_file import parse_catalog

BASE = """\
zone_sets:
  GBA: [HK, CN, MO]
product_lines:
  - code: ONE2
    name: {zh-Hant: 一卡兩號, zh-Hans: 一卡两号, en: Two Numbers}
    currency: HKD
    grace_days: 30
    cooling_off_days: 90
    order_limits: {min: "10.00", max: "1000.00", per_30_days: "3000.00"}
    validity_bands: [{min: "50.00", days: 180}, {min: "100.00", days: 365}]
    offers:
      - code: ONE2-M1
        kind: plan
        name: {zh-Hant: 月費計劃, zh-Hans: 月费套餐, en: Monthly Plan}
        description: {zh-Hant: 二十GB, zh-Hans: 二十GB, en: 20 GB}
        price: "88.00"
        period: {months: 1}
        allowances:
          - {zone: GBA, data_mb: 20480}
          - {zone: HK, voice_min: 500}
      - code: ONE2-CR50
        kind: credit
        name: {zh-Hant: 儲值, zh-Hans: 储值, en: Credit}
        description: {zh-Hant: 儲值, zh-Hans: 储值, en: Credit}
        price: "50.00"
  - code: GBATRAVEL
    name: {zh-Hant: 旅遊卡, zh-Hans: 旅游卡, en: Travel SIM}
    currency: CNY
    grace_days: 7
    cooling_off_days: 30
    order_limits: {min: "5.00", max: "800.00", per_30_days: "2000.00"}
    offers:
      - code: GBATRAVEL-D7
        kind: plan
        name: {zh-Hant: 七日, zh-Hans: 七日, en: 7 Days}
        description: {zh-Hant: 六GB, zh-Hans: 六GB, en: 6 GB}
        price: "58.00"
        period: {days: 7}
        allowances:
          - {zone: GBA, data_mb: 6144}
promotions:
  - code: SPRING
    name: {zh-Hant: 春季, zh-Hans: 春季, en: Spring}
    kind: percent_off
    percent: 10
    starts_at: "2026-01-01T00:00:00+08:00"
    ends_at: "2027-01-01T00:00:00+08:00"
    coupon: SPRING
    offers: [ONE2-M1]
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based line on which ``needle`` occurs (exactly once) in ``text``."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(lines) == 1, f"{needle!r} is on lines {lines}"
    return lines[0]


def problems(text: str) -> list[str]:
    with pytest.raises(CatalogInvalid) as caught:
        parse_catalog(text)
    return [str(problem) for problem in caught.value.problems]


# --- valid files ------------------------------------------------------------------------


def test_the_demo_catalogue_parses_cleanly() -> None:
    text = resources.files("simrenew.demo").joinpath("catalog.yaml").read_text(encoding="utf-8")
    catalog = parse_catalog(text)

    assert set(catalog.product_lines) == {"ONE2", "HKDATA", "GBATRAVEL"}
    assert catalog.product_lines["GBATRAVEL"].currency == "CNY"
    assert catalog.zones.expand("GBA") == {"HK", "CN", "MO"}
    one2_plan_periods = {
        (o.period.count, o.period.unit)
        for o in catalog.offers.values()
        if o.product_line == "ONE2" and o.kind is OfferKind.PLAN and o.period is not None
    }
    assert one2_plan_periods == {
        (1, "days"),
        (7, "days"),
        (1, "months"),
        (3, "months"),
        (6, "months"),
        (12, "months"),
    }
    for line in catalog.product_lines:
        periods = {o.period for o in catalog.offers.values() if o.product_line == line}
        assert {Period(7, "days"), Period(1, "months")} <= periods, line
    credits = sorted(o.price for o in catalog.offers.values() if o.kind is OfferKind.CREDIT)
    assert credits == [Money.parse(a, "HKD") for a in ("50", "100", "200")]
    assert catalog.product_lines["ONE2"].credit_validity_days(Money.parse("50", "HKD")) == 180
    assert catalog.product_lines["ONE2"].credit_validity_days(Money.parse("200", "HKD")) == 365
    assert any(o.until_plan_end for o in catalog.offers.values() if o.kind is OfferKind.ADDON)
    assert any(o.kind is OfferKind.VALIDITY for o in catalog.offers.values())
    coupon = next(p for p in catalog.promotions if p.coupon == "GBA2026")
    assert coupon.percent == 20
    assert coupon.starts_at == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert coupon.ends_at == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)
    assert any(
        p.first_renewal_only and p.kind is PromotionKind.BONUS_DATA for p in catalog.promotions
    )


def test_a_small_catalogue_builds_the_domain_objects() -> None:
    catalog = parse_catalog(BASE)

    monthly = catalog.offers["ONE2-M1"]
    assert monthly.version == 1
    assert monthly.product_line == "ONE2"
    assert monthly.sort_order == 0
    assert monthly.price == Money(8800, "HKD")
    assert monthly.period == Period(1, "months")
    assert monthly.allowances == (
        Allowance("GBA", BucketKind.DATA_MB, 20480),
        Allowance("HK", BucketKind.VOICE_MIN, 500),
    )
    assert monthly.name.get("zh-Hans") == "月费套餐"
    assert monthly.active is True
    assert catalog.offers["ONE2-CR50"].sort_order == 1
    assert catalog.offers["ONE2-CR50"].period is None
    assert catalog.offers["GBATRAVEL-D7"].price == Money(5800, "CNY")
    line = catalog.product_lines["ONE2"]
    assert line.limits.per_30_days == Money(300000, "HKD")
    assert [(b.minimum.amount_minor, b.days) for b in line.validity_bands] == [
        (5000, 180),
        (10000, 365),
    ]
    (promotion,) = catalog.promotions
    assert promotion.kind is PromotionKind.PERCENT_OFF
    assert promotion.offers == {"ONE2-M1"}
    assert promotion.starts_at == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


def test_an_integer_price_is_whole_major_units() -> None:
    catalog = parse_catalog(edit('price: "88.00"', "price: 88"))
    assert catalog.offers["ONE2-M1"].price == Money(8800, "HKD")


def test_unquoted_timestamps_with_an_offset_are_accepted() -> None:
    text = edit('starts_at: "2026-01-01T00:00:00+08:00"', "starts_at: 2026-01-01T00:00:00+08:00")
    (promotion,) = parse_catalog(text).promotions
    assert promotion.starts_at == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)


# --- one problem at a time -----------------------------------------------------------------

PRICE = "product_lines[0].offers[0].price"
OFFER0 = "product_lines[0].offers[0]"
PROMO = "promotions[0]"

CASES = [
    pytest.param(
        'price: "88.00"',
        "price: 88.5",
        "price: 88.5",
        f'{PRICE}: 88.5 is a YAML float, which can lose cents; quote the amount: "88.5"',
        id="float-price",
    ),
    pytest.param(
        'min: "10.00"',
        "min: 10.5",
        "min: 10.5",
        "product_lines[0].order_limits.min: 10.5 is a YAML float, which can lose cents; "
        'quote the amount: "10.5"',
        id="float-limit",
    ),
    pytest.param(
        'price: "88.00"',
        'price: "88.001"',
        "88.001",
        f"{PRICE}: '88.001' is not a valid amount: at most 2 decimal places.",
        id="too-many-decimals",
    ),
    pytest.param(
        'price: "88.00"',
        'price: "-88.00"',
        "-88.00",
        f"{PRICE}: -HK$88.00 must be more than 0",
        id="negative-price",
    ),
    pytest.param(
        'price: "88.00"',
        'price: "1888.00"',
        "1888.00",
        f"{PRICE}: HK$1888.00 is outside the line's order limits (HK$10.00 to HK$1000.00), "
        "so it could never be sold",
        id="price-above-order-max",
    ),
    pytest.param(
        'price: "88.00"',
        'pirce: "88.00"',
        "pirce",
        f"{OFFER0}.pirce: unknown key 'pirce'; did you mean 'price'?",
        id="typo-key",
    ),
    pytest.param(
        "promotions:",
        "promotion:",
        "promotion:",
        "promotion: unknown key 'promotion'; did you mean 'promotions'?",
        id="typo-top-level-key",
    ),
    pytest.param(
        "        kind: credit\n",
        "        kind: credit\n        colour: red\n",
        "colour",
        "product_lines[0].offers[1].colour: unknown key 'colour'; expected one of: active, "
        "allowances, code, description, kind, name, period, price, rollover, until_plan_end",
        id="unknown-key",
    ),
    pytest.param(
        "    grace_days: 30\n",
        "    grace_days: 30\n    grace_days: 60\n",
        "grace_days: 60",
        "product_lines[0].grace_days: 'grace_days' appears twice (first on line 7)",
        id="duplicate-key",
    ),
    pytest.param(
        "    name: {zh-Hant: 一卡兩號, zh-Hans: 一卡两号, en: Two Numbers}",
        "    name: {zh-Hant: 一卡兩號, en: Two Numbers}",
        "一卡兩號",
        "product_lines[0].name: 'zh-Hans' is required",
        id="missing-language",
    ),
    pytest.param(
        "en: Monthly Plan}",
        'en: ""}',
        "月费套餐",
        f"{OFFER0}.name.en: must not be empty",
        id="empty-text",
    ),
    pytest.param(
        "    currency: HKD",
        "    currency: USD",
        "USD",
        "product_lines[0].currency: unknown currency 'USD': use HKD or CNY",
        id="currency",
    ),
    pytest.param(
        "kind: plan\n        name: {zh-Hant: 月費",
        "kind: plann\n        name: {zh-Hant: 月費",
        "plann",
        f"{OFFER0}.kind: unknown kind 'plann'; did you mean 'plan'?",
        id="offer-kind",
    ),
    pytest.param(
        "      - code: GBATRAVEL-D7",
        "      - code: ONE2-M1",
        33,
        "product_lines[1].offers[0].code: offer ONE2-M1 is defined twice",
        id="duplicate-offer-code-across-lines",
    ),
    pytest.param(
        "  - code: GBATRAVEL\n",
        "  - code: ONE2\n",
        26,
        "product_lines[1].code: product line ONE2 is defined twice",
        id="duplicate-line-code",
    ),
    pytest.param(
        "      - code: ONE2-CR50",
        "      - code: one2-cr50",
        "one2-cr50",
        "product_lines[0].offers[1].code: 'one2-cr50' is not a valid code: use capital "
        "letters, digits, "
        "'-' and '_', at most 48 characters",
        id="bad-code",
    ),
    pytest.param(
        "{zone: HK, voice_min: 500}",
        "{zone: SG, voice_min: 500}",
        "SG",
        f"{OFFER0}.allowances[1].zone: unknown zone 'SG': use one of CN, HK, MO, GBA",
        id="unknown-zone",
    ),
    pytest.param(
        "  GBA: [HK, CN, MO]",
        "  GBA: [HK, CN, TW]",
        "TW",
        "zone_sets.GBA[2]: unknown zone 'TW': use one of CN, HK, MO",
        id="zone-set-member",
    ),
    pytest.param(
        "{zone: HK, voice_min: 500}",
        "{zone: HK, voice_min: 500, sms: 100}",
        "sms: 100",
        f"{OFFER0}.allowances[1]: give exactly one of data_mb, voice_min, sms",
        id="allowance-two-kinds",
    ),
    pytest.param(
        "{zone: HK, voice_min: 500}",
        "{zone: HK, voice_min: 0}",
        "voice_min: 0",
        f"{OFFER0}.allowances[1].voice_min: 0 is out of range: must be at least 1",
        id="allowance-zero",
    ),
    pytest.param(
        "{zone: HK, voice_min: 500}",
        "{zone: GBA, data_mb: 1024}",
        "data_mb: 1024",
        f"{OFFER0}.allowances[1]: data_mb in GBA is already given on line 19",
        id="allowance-repeated",
    ),
    pytest.param(
        "period: {months: 1}",
        "period: {months: 1, days: 3}",
        17,
        f"{OFFER0}.period: give exactly one of days or months",
        id="period-both-units",
    ),
    pytest.param(
        "period: {months: 1}",
        "period: {months: 13}",
        "months: 13",
        f"{OFFER0}.period.months: 13 is out of range: must be 1 to 12",
        id="period-too-long",
    ),
    pytest.param(
        "        period: {months: 1}\n",
        "",
        "- code: ONE2-M1",
        f"{OFFER0}: a plan offer needs 'period'",
        id="plan-without-period",
    ),
    pytest.param(
        '        price: "50.00"\n',
        '        price: "50.00"\n        period: {days: 30}\n',
        26,
        "product_lines[0].offers[1].period: not allowed for a credit offer",
        id="credit-with-period",
    ),
    pytest.param(
        "          - {zone: HK, voice_min: 500}\n",
        "          - {zone: HK, voice_min: 500}\n        until_plan_end: true\n",
        "until_plan_end",
        f"{OFFER0}.until_plan_end: not allowed for a plan offer",
        id="until-plan-end-on-plan",
    ),
    pytest.param(
        "          - {zone: HK, voice_min: 500}\n",
        "          - {zone: HK, voice_min: 500}\n        rollover: sometimes\n",
        "rollover",
        f"{OFFER0}.rollover: expected true or false, got 'sometimes'",
        id="rollover-not-boolean",
    ),
    pytest.param(
        '{min: "10.00", max: "1000.00", per_30_days: "3000.00"}',
        '{min: "10.00", max: "1000.00", per_30_days: "500.00"}',
        9,
        "product_lines[0].order_limits: need min <= max <= per_30_days, "
        "got HK$10.00 / HK$1000.00 / HK$500.00",
        id="order-limits-order",
    ),
    pytest.param(
        '{min: "100.00", days: 365}',
        '{min: "100.00", days: 90}',
        10,
        "product_lines[0].validity_bands[1]: "
        "bands must rise: each min and days above the previous band's",
        id="bands-not-rising",
    ),
    pytest.param(
        '    validity_bands: [{min: "50.00", days: 180}, {min: "100.00", days: 365}]\n',
        "",
        'price: "50.00"',
        "product_lines[0].offers[1].price: credit needs validity_bands on its product line",
        id="credit-without-bands",
    ),
    pytest.param(
        "    grace_days: 30",
        "    grace_days: -1",
        "grace_days: -1",
        "product_lines[0].grace_days: -1 is out of range: must be at least 0",
        id="negative-grace",
    ),
    pytest.param(
        "    offers: [ONE2-M1]",
        "    offers: [ONE2-M2]",
        "ONE2-M2",
        f"{PROMO}.offers[0]: unknown offer 'ONE2-M2'; did you mean 'ONE2-M1'?",
        id="promotion-unknown-offer",
    ),
    pytest.param(
        "    offers: [ONE2-M1]",
        "    offers: [ONE2-M1]\n    product_lines: [HKDATA]",
        "HKDATA",
        f"{PROMO}.product_lines[0]: unknown product line 'HKDATA'; expected one of: "
        "GBATRAVEL, ONE2",
        id="promotion-unknown-line",
    ),
    pytest.param(
        "    offers: [ONE2-M1]",
        "    offers: [ONE2-M1]\n    product_lines: [GBATRAVEL]",
        "offers: [ONE2-M1]",
        f"{PROMO}.offers: offer ONE2-M1 is on ONE2, not in product_lines",
        id="promotion-offer-outside-its-lines",
    ),
    pytest.param(
        'starts_at: "2026-01-01T00:00:00+08:00"',
        'starts_at: "2026-01-01T00:00:00"',
        "starts_at",
        f"{PROMO}.starts_at: '2026-01-01T00:00:00' needs a UTC offset, e.g. +08:00 for Hong Kong",
        id="naive-timestamp",
    ),
    pytest.param(
        'ends_at: "2027-01-01T00:00:00+08:00"',
        'ends_at: "2025-12-31T00:00:00+08:00"',
        "ends_at",
        f"{PROMO}.ends_at: must be after starts_at",
        id="ends-before-start",
    ),
    pytest.param(
        "    percent: 10",
        "    percent: 101",
        45,
        f"{PROMO}.percent: 101 is out of range: must be 1 to 100",
        id="percent-over-100",
    ),
    pytest.param(
        "    percent: 10",
        "    percent: 10\n    amount: '5.00'",
        "amount",
        f"{PROMO}.amount: not allowed for a percent_off promotion",
        id="amount-on-percent-promotion",
    ),
    pytest.param(
        "    kind: percent_off\n    percent: 10",
        "    kind: amount_off\n    amount: '10.00'\n    currency: CNY",
        "offers: [ONE2-M1]",
        f"{PROMO}.offers: offer ONE2-M1 is priced in HKD, not CNY",
        id="amount-off-in-the-wrong-currency",
    ),
    pytest.param(
        "    kind: percent_off\n    percent: 10",
        "    kind: bonus_data\n    bonus: {zone: GBA, data_mb: 1.5}",
        45,
        f"{PROMO}.bonus.data_mb: expected a whole number, got the decimal number 1.5",
        id="bonus-not-whole",
    ),
    pytest.param(
        "    coupon: SPRING",
        "    coupon: yes",
        "coupon",
        f"{PROMO}.coupon: expected text, got the boolean yes (quote it if you meant text)",
        id="coupon-boolean",
    ),
]


@pytest.mark.parametrize(("old", "new", "where", "message"), CASES)
def test_each_problem_is_reported_on_its_line(
    old: str, new: str, where: str | int, message: str
) -> None:
    """``where`` is a text found on the problem's line only, or the line number itself."""
    text = edit(old, new)
    line = where if isinstance(where, int) else line_of(text, where)
    assert problems(text) == [f"line {line}: {message}"]


def test_a_yaml_syntax_error_is_located() -> None:
    text = edit("    currency: HKD", "    currency: [HKD")
    (problem,) = problems(text)
    assert problem.startswith("line ")
    assert "YAML syntax" in problem
    assert int(problem.split(":")[0].removeprefix("line ")) >= line_of(text, "[HKD")


def test_tabs_are_a_syntax_error_on_their_line() -> None:
    text = edit("    grace_days: 30", "\tgrace_days: 30")
    assert problems(text) == [
        "line 7: YAML syntax: found character '\\t' that cannot start any token"
    ]


def test_an_empty_file_is_reported() -> None:
    assert problems("# nothing yet\n") == ["line 1: the catalogue file is empty"]


def test_the_root_must_be_a_mapping() -> None:
    assert problems("- ONE2\n") == ["line 1: expected a mapping (key: value), got a list"]


def test_a_coupon_differing_only_in_case_clashes() -> None:
    second = """\
  - code: SPRING2
    name: {zh-Hant: 春, zh-Hans: 春, en: Spring}
    kind: percent_off
    percent: 5
    starts_at: "2026-01-01T00:00:00+08:00"
    ends_at: "2027-01-01T00:00:00+08:00"
    coupon: spring
"""
    text = BASE + second
    assert problems(text) == [
        f"line {line_of(text, 'coupon: spring')}: promotions[1].coupon: "
        f"coupon spring is already used on line {line_of(text, 'coupon: SPRING')}"
    ]


def test_a_promotion_code_may_be_used_once() -> None:
    second = """\
  - code: SPRING
    name: {zh-Hant: 春, zh-Hans: 春, en: Spring}
    kind: bonus_data
    bonus: {zone: HK, data_mb: 1024}
    starts_at: "2026-01-01T00:00:00+08:00"
    ends_at: "2027-01-01T00:00:00+08:00"
"""
    assert problems(BASE + second) == [
        "line 50: promotions[1].code: promotion SPRING is defined twice"
    ]


def test_numbers_beyond_the_database_columns_are_refused() -> None:
    text = edit("data_mb: 20480", "data_mb: 99999999999")
    assert problems(text) == [f"line 19: {OFFER0}.allowances[0].data_mb: 99999999999 is too large"]


def test_every_problem_in_a_file_is_reported_in_line_order() -> None:
    text = edit('price: "88.00"', "price: 88.5")
    text = edit("    currency: CNY", "    currency: RMB", text)
    text = edit("{zone: HK, voice_min: 500}", "{zone: HK, voice_mins: 500}", text)
    text = edit("    offers: [ONE2-M1]", "    offers: [NOPE]", text)
    text = edit("  GBA: [HK, CN, MO]", "  GBA: [HK, CN, MO]\n  extra_key: 1", text)

    found = problems(text)

    lines = [int(p.split(":")[0].removeprefix("line ")) for p in found]
    assert lines == sorted(lines)
    assert len(found) == 6, found
    assert [p.split(": ", 1)[1] for p in found] == [
        "zone_sets.extra_key: 'extra_key' is not a valid zone set name: capital letters, "
        "digits, '-', '_', at most 16 characters, and not HK, CN or MO themselves",
        f'{PRICE}: 88.5 is a YAML float, which can lose cents; quote the amount: "88.5"',
        f"{OFFER0}.allowances[1].voice_mins: unknown key 'voice_mins'; did you mean 'voice_min'?",
        f"{OFFER0}.allowances[1]: give exactly one of data_mb, voice_min, sms",
        "product_lines[1].currency: unknown currency 'RMB': use HKD or CNY",
        f"{PROMO}.offers[0]: unknown offer 'NOPE'; expected one of: GBATRAVEL-D7, ONE2-CR50, "
        "ONE2-M1",
    ]


def test_a_broken_offer_does_not_cascade_into_its_references() -> None:
    # The offer is invalid (float price) but declared: the promotion naming it is fine.
    text = edit('price: "88.00"', "price: 88.5")
    assert len(problems(text)) == 1
