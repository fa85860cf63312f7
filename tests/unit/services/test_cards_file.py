from __future__ import annotations

from importlib import resources

import pytest

from simrenew.domain.cards import FormFactor, eid_with_check_digits, luhn_check_digit
from simrenew.domain.errors import CardsImportInvalid
from simrenew.services.cards_file import CardRow, parse_cards_csv

LINES = {"ONE2": "HKD", "HKDATA": "HKD", "GBATRAVEL": "CNY"}
HEADER = "iccid,eid,imsi,primary_number,second_number,product_line,form_factor,language,email"


def iccid(serial: int) -> str:
    payload = f"898520126{serial:09d}"
    return payload + luhn_check_digit(payload)


def eid(serial: int) -> str:
    return eid_with_check_digits(f"890490320000{serial:018d}")


def bad_luhn(serial: int) -> str:
    good = iccid(serial)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def row(
    serial: int,
    primary: str,
    *,
    eid_: str = "",
    imsi: str = "",
    second: str = "",
    line: str = "ONE2",
    form: str = "",
    language: str = "",
    email: str = "",
    iccid_: str | None = None,
) -> str:
    return ",".join(
        [iccid_ or iccid(serial), eid_, imsi, primary, second, line, form, language, email]
    )


def parse(*rows: str, header: str = HEADER) -> tuple[list[CardRow], list[str]]:
    result = parse_cards_csv("\n".join([header, *rows]) + "\n", product_lines=LINES)
    return list(result.rows), [str(p) for p in result.problems]


# --- valid files -----------------------------------------------------------------------------


def test_the_demo_cards_parse_cleanly() -> None:
    text = resources.files("simrenew.demo").joinpath("cards.csv").read_text(encoding="utf-8")
    result = parse_cards_csv(text, product_lines=LINES)

    assert result.problems == ()
    assert result.ok
    assert len(result.rows) == 12
    assert {r.product_line for r in result.rows} == set(LINES)
    assert {r.form_factor for r in result.rows} == {FormFactor.PHYSICAL, FormFactor.ESIM}
    assert any(r.second_number and r.second_number.startswith("+86") for r in result.rows)
    assert all(r.iccid.startswith("89852") for r in result.rows)
    assert [r.line for r in result.rows] == list(range(2, 14))


def test_a_row_is_normalised() -> None:
    rows, found = parse(
        row(
            1,
            "5123 4567",
            eid_=eid(1),
            imsi="454001000000001",
            second="138 1234 5678",
            form="eSIM",
            language="EN",
            email="chan@example.com.hk",
        )
    )

    assert found == []
    assert rows == [
        CardRow(
            line=2,
            iccid=iccid(1),
            eid=eid(1),
            imsi="454001000000001",
            primary_number="+85251234567",
            second_number="+8613812345678",
            product_line="ONE2",
            form_factor=FormFactor.ESIM,
            language="en",
            email="chan@example.com.hk",
        )
    ]


def test_optional_columns_may_be_left_out_and_default() -> None:
    rows, found = parse(
        f"{iccid(1)},+85261234567,HKDATA", header="ICCID,Primary_Number,product_line"
    )

    assert found == []
    (card,) = rows
    assert (card.form_factor, card.language, card.eid, card.second_number, card.email) == (
        FormFactor.PHYSICAL,
        "zh-Hant",
        None,
        None,
        None,
    )


def test_a_byte_order_mark_and_windows_line_ends_are_fine() -> None:
    text = "\ufeff" + HEADER + "\r\n" + row(1, "+85291234567") + "\r\n"
    result = parse_cards_csv(text, product_lines=LINES)
    assert result.problems == ()
    assert [r.iccid for r in result.rows] == [iccid(1)]


# --- one problem at a time --------------------------------------------------------------------

CASES = [
    pytest.param(
        row(1, "+85251234567", iccid_=bad_luhn(1)),
        f"iccid: ICCID '{bad_luhn(1)}' is not valid: the Luhn check digit is wrong.",
        id="iccid-luhn",
    ),
    pytest.param(
        row(1, "+85251234567", iccid_="8985201260000001"),
        "iccid: ICCID '8985201260000001' is not valid: it must be 19 or 20 digits.",
        id="iccid-length",
    ),
    pytest.param(
        row(1, "+85251234567", eid_=eid(1)[:-1] + "0", form="esim"),
        f"eid: EID '{eid(1)[:-1]}0' is not valid: it must be 32 digits with valid check digits.",
        id="eid-check-digits",
    ),
    pytest.param(
        row(1, "+85251234567", eid_=eid(1)),
        "an EID is only for eSIM cards: set form_factor to esim",
        id="eid-on-physical",
    ),
    pytest.param(
        row(1, "+85241234567"),
        "primary_number: '+85241234567' is not a valid Hong Kong or Mainland China mobile number.",
        id="bad-number",
    ),
    pytest.param(
        row(1, "+85251234567", second="+85261234567"),
        "the two numbers must be one +852 and one +86 number",
        id="second-number-same-region",
    ),
    pytest.param(
        row(1, "+85251234567", second="5123 4567"),
        "second_number is the same as primary_number",
        id="second-number-repeats-primary",
    ),
    pytest.param(
        row(1, "+85251234567", line="ONE3"),
        "unknown product line 'ONE3' (known: GBATRAVEL, HKDATA, ONE2)",
        id="unknown-product-line",
    ),
    pytest.param(
        row(1, "+85251234567", email="chan.example.com"),
        "email: 'chan.example.com' does not look like an e-mail address",
        id="bad-email",
    ),
    pytest.param(
        row(1, "+85251234567", language="fr"),
        "language: 'fr' is not one of zh-Hant, zh-Hans, en",
        id="bad-language",
    ),
    pytest.param(
        row(1, "+85251234567", form="nano"),
        "form_factor: 'nano' is not physical or esim",
        id="bad-form-factor",
    ),
    pytest.param(
        row(1, "+85251234567", imsi="45400-123"),
        "imsi: '45400-123' is not an IMSI: 6 to 15 digits",
        id="bad-imsi",
    ),
    pytest.param(
        row(1, ""),
        "primary_number is required",
        id="missing-primary-number",
    ),
    pytest.param(
        row(1, "+85251234567") + ",extra",
        "10 fields, but the header has 9",
        id="too-many-fields",
    ),
]


@pytest.mark.parametrize(("bad_row", "message"), CASES)
def test_each_problem_is_reported_on_its_line(bad_row: str, message: str) -> None:
    rows, found = parse(row(2, "+85291234567"), bad_row, row(3, "+85291234568"))

    assert found == [f"line 3: {message}"]
    assert [r.line for r in rows] == [2, 4]


def test_line_numbers_are_physical_lines() -> None:
    text = "\n".join(
        [
            HEADER,
            row(1, "+85251234567"),
            "",
            "",
            row(2, "+85241234567"),
            row(3, "+85291234568"),
        ]
    )
    result = parse_cards_csv(text, product_lines=LINES)
    assert [str(p).split(":")[0] for p in result.problems] == ["line 5"]
    assert [r.line for r in result.rows] == [2, 6]


def test_a_quoted_field_spanning_lines_is_located_at_its_first_line() -> None:
    text = "\n".join([HEADER, row(1, '"+852\n41234567"'), row(2, "+85291234568")])
    result = parse_cards_csv(text, product_lines=LINES)
    assert [str(p).split(":")[0] for p in result.problems] == ["line 2"]
    assert [r.line for r in result.rows] == [4]


# --- repeats within the file ------------------------------------------------------------------


def test_repeated_iccid_eid_and_imsi_are_reported_against_the_first_line() -> None:
    rows, found = parse(
        row(1, "+85251234567", eid_=eid(1), imsi="454001000000001", form="esim"),
        row(1, "+85261234567"),
        row(2, "+85291234567", eid_=eid(1), form="esim"),
        row(3, "+85291234568", imsi="454001000000001"),
    )

    assert found == [
        f"line 3: ICCID {iccid(1)} is already on line 2",
        f"line 4: EID {eid(1)} is already on line 2",
        "line 5: IMSI 454001000000001 is already on line 2",
    ]
    assert [r.line for r in rows] == [2]


def test_a_number_may_not_appear_twice_even_in_different_roles() -> None:
    rows, found = parse(
        row(1, "+85251234567", second="+8613812345678"),
        row(2, "13812345678"),
        row(3, "+85261234567", second="+86 138 1234 5678"),
        row(4, "+85251234567"),
    )

    assert found == [
        "line 3: number +8613812345678 is already on line 2",
        "line 4: number +8613812345678 is already on line 2",
        "line 5: number +85251234567 is already on line 2",
    ]
    assert [r.line for r in rows] == [2]


# --- the header and the file as a whole ---------------------------------------------------


def test_an_unknown_column_is_reported_and_no_row_is_returned() -> None:
    result = parse_cards_csv(
        "iccid,primary_number,product_line,emial\n"
        f"{iccid(1)},+85251234567,ONE2,a@example.com\n"
        f"{iccid(2)},+85241234567,ONE2,\n",
        product_lines=LINES,
    )

    assert [str(p) for p in result.problems] == [
        "line 1: unknown column 'emial'; the columns are: iccid, primary_number, product_line, "
        "eid, imsi, second_number, form_factor, language, email",
        "line 3: primary_number: '+85241234567' is not a valid Hong Kong or Mainland China "
        "mobile number.",
    ]
    assert result.rows == ()


def test_missing_and_repeated_columns_are_reported() -> None:
    rows, found = parse(f"{iccid(1)},ONE2,ONE2", header="iccid,product_line,product_line")
    assert found == [
        "line 1: column 'product_line' appears twice",
        "line 1: missing column 'primary_number'",
    ]
    assert rows == []


def test_an_empty_file_and_a_file_without_cards_are_reported() -> None:
    assert [str(p) for p in parse_cards_csv("", product_lines=LINES).problems] == [
        "line 1: the file is empty"
    ]
    assert [str(p) for p in parse_cards_csv(HEADER + "\n\n", product_lines=LINES).problems] == [
        "line 1: the file has no cards"
    ]


def test_every_problem_is_reported_and_good_rows_are_kept_for_skip_bad() -> None:
    result = parse_cards_csv(
        "\n".join(
            [
                HEADER,
                row(1, "+85251234567", iccid_=bad_luhn(1), language="fr"),
                row(2, "+85261234567"),
                row(3, "+85291234567", line="NOPE", email="x@"),
                row(4, "+85291234568", second="+8613812345678"),
            ]
        ),
        product_lines=LINES,
    )

    assert [str(p) for p in result.problems] == [
        f"line 2: iccid: ICCID '{bad_luhn(1)}' is not valid: the Luhn check digit is wrong.",
        "line 2: language: 'fr' is not one of zh-Hant, zh-Hans, en",
        "line 4: email: 'x@' does not look like an e-mail address",
        "line 4: unknown product line 'NOPE' (known: GBATRAVEL, HKDATA, ONE2)",
    ]
    assert [r.line for r in result.rows] == [3, 5]
    assert not result.ok
    with pytest.raises(CardsImportInvalid) as caught:
        result.raise_if_problems()
    assert len(caught.value.problems) == 4
