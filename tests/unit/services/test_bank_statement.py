"""The FPS reference and the bank statement parser: pure, no database."""

from __future__ import annotations

from datetime import date

import pytest

from simrenew.domain.errors import InvalidMoney
from simrenew.domain.money import Money
from simrenew.services.bank_statement import (
    ALPHABET,
    StatementInvalid,
    check_character,
    find_references,
    is_valid_reference,
    parse_amount,
    parse_bank_statement,
    reference_for,
)

REF = reference_for("pay_0001")


def problems(text: str, **kwargs: str) -> list[str]:
    with pytest.raises(StatementInvalid) as caught:
        parse_bank_statement(text, **kwargs)
    return [str(problem) for problem in caught.value.problems]


# --- the reference ------------------------------------------------------------------


def test_a_reference_is_sr_eight_characters_and_a_check_character() -> None:
    assert len(REF) == 11
    assert REF.startswith("SR")
    assert set(REF[2:]) <= set(ALPHABET)
    assert not set(REF[2:]) & set("01OI")
    assert REF[-1] == check_character(REF[2:10])
    assert is_valid_reference(REF)


def test_the_documented_example_is_a_valid_reference() -> None:
    assert is_valid_reference("SR4K7M9QX2Y")  # docs/payments.md, bank_statement.py
    assert not is_valid_reference("SR4K7M9QX2H")


def test_the_same_payment_gets_the_same_reference_and_others_get_others() -> None:
    assert reference_for("pay_0001") == REF
    references = {reference_for(f"pay_{i:05d}") for i in range(2000)}
    assert len(references) == 2000


@pytest.mark.parametrize("payment_id", ["pay_0001", "pay_0002", "pay_zz", "pay_long" * 5])
def test_the_check_character_catches_every_single_typo(payment_id: str) -> None:
    reference = reference_for(payment_id)
    for position in range(2, len(reference)):
        for wrong in ALPHABET:
            if wrong == reference[position]:
                continue
            typo = reference[:position] + wrong + reference[position + 1 :]
            assert not is_valid_reference(typo), typo


def test_the_check_character_catches_swapped_neighbours() -> None:
    swaps = caught = 0
    for i in range(200):
        body = reference_for(f"pay_{i}")[2:]
        for k in range(len(body) - 1):
            if body[k] == body[k + 1]:
                continue
            swaps += 1
            caught += not is_valid_reference(
                "SR" + body[:k] + body[k + 1] + body[k] + body[k + 2 :]
            )
    assert swaps > 1000
    assert caught == swaps


def test_letters_that_look_like_digits_are_never_valid() -> None:
    for wrong in "01OI":
        assert not is_valid_reference(REF[:5] + wrong + REF[6:])


@pytest.mark.parametrize(
    "remarks",
    [
        REF,
        REF.lower(),
        f"FPS PAYMENT {REF} THANKS",
        f"{REF[:2]} {REF[2:6]} {REF[6:]}",
        f"{REF[:2]}-{REF[2:6]}-{REF[6:10]}-{REF[10]}",
        f"chan tai man / {REF[:6].lower()} {REF[6:]} / renew",
        # Typed with a Chinese input method: full-width letters and an ideographic space.
        "".join(chr(ord(c) + 0xFEE0) for c in REF[:6]) + "\u3000" + REF[6:],
        f"轉數快 {REF} 續期",
        REF[2:],  # the payer left out "SR" and wrote nothing else
    ],
)
def test_the_reference_is_found_however_it_was_typed(remarks: str) -> None:
    assert find_references(remarks) == ((REF,), ())


def test_a_mistyped_reference_is_reported_as_a_typo() -> None:
    typo = REF[:4] + ("A" if REF[4] != "A" else "B") + REF[5:]
    assert find_references(f"payment {typo}") == ((), (typo,))


def test_remarks_without_a_reference() -> None:
    assert find_references("") == ((), ())
    assert find_references("TRANSFER FROM CHAN TAI MAN") == ((), ())
    assert find_references("SR12") == ((), ())


def test_a_reference_cannot_span_punctuation() -> None:
    assert find_references(f"{REF[:6]}/{REF[6:]}") == ((), ())


def test_two_references_in_one_line_are_both_found() -> None:
    other = reference_for("pay_0002")
    assert find_references(f"{REF} and {other}") == ((REF, other), ())


# --- amounts and dates --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minor"),
    [("88", 8800), ("88.5", 8850), ("1,234.50", 123450), (" 12,345,678.90 ", 1234567890),
     ("+10.00", 1000), ("(88.00)", -8800), ("-5.00", -500)],
)  # fmt: skip
def test_amounts_read_exactly_to_the_cent(text: str, minor: int) -> None:
    assert parse_amount(text, "HKD") == Money(minor, "HKD")


@pytest.mark.parametrize("text", ["", "abc", "88.001", "1,23", "12,34.00", "8 8", "HK$", "1e3"])
def test_amounts_that_do_not_read_are_refused(text: str) -> None:
    with pytest.raises(InvalidMoney):
        parse_amount(text, "HKD")


# --- the statement ------------------------------------------------------------------


def test_the_hong_kong_bank_export_shape() -> None:
    text = (
        "Date,Transaction Details,Deposit,Withdrawal,Balance\n"
        f"23/11/2026,FPS CHAN TAI MAN {REF},48.00,,1048.00\n"
        "24/11/2026,ELECTRICITY,,200.00,848.00\n"
        '25/11/2026,"FPS WONG, ALEX",1,234.50,,2082.50\n'.replace("1,234.50", '"1,234.50"')
    )
    statement = parse_bank_statement(text, currency="HKD")
    assert statement.other_lines == 1
    first, second = statement.lines
    assert (first.line, first.booked_on, first.amount) == (
        2,
        date(2026, 11, 23),
        Money(4800, "HKD"),
    )
    assert REF in first.description
    assert (second.line, second.amount) == (4, Money(123450, "HKD"))
    assert first.line_id.startswith("h") and first.line_id != second.line_id


def test_a_currency_column_a_line_id_and_every_remarks_column() -> None:
    text = (
        "\ufeffTransaction ID;Value Date;Description;Remarks;Credit Amount;CCY\n"
        f"TX-1;2026-11-23;FPS CREDIT;{REF};48.00;hkd\n"
        "TX-2;2026-11-23;FPS CREDIT;;30;RMB\n"
    )
    first, second = parse_bank_statement(text).lines
    assert first.line_id == "TX-1"
    assert first.description == f"FPS CREDIT / {REF}"
    assert second.amount == Money(3000, "CNY")


def test_a_signed_amount_column_keeps_only_money_in() -> None:
    text = (
        "date,remarks,amount,currency\n"
        "2026-11-23 10:15:00,in,48.00,HKD\n"
        "2026-11-23T11:00,out,-10.00,HKD\n"
        "23 Nov 2026,in again,(5.00),HKD\n"
        "20261124,in three,5.00,HKD\n"
    )
    statement = parse_bank_statement(text)
    assert [(line.line, line.amount.amount_minor) for line in statement.lines] == [
        (2, 4800),
        (5, 500),
    ]
    assert statement.lines[1].booked_on == date(2026, 11, 24)
    assert statement.other_lines == 2


def test_identical_lines_get_different_ids_that_do_not_change_between_reads() -> None:
    text = "date,description,credit,currency\n23/11/2026,FPS,48.00,HKD\n23/11/2026,FPS,48.00,HKD\n"
    first = parse_bank_statement(text).lines
    again = parse_bank_statement(text).lines
    assert first[0].line_id != first[1].line_id
    assert [line.line_id for line in first] == [line.line_id for line in again]


def test_a_quoted_remark_over_two_lines_keeps_the_physical_line_numbers() -> None:
    text = (
        "date,description,credit,currency\n"
        '23/11/2026,"two\nlines",48.00,HKD\n'
        "23/11/2026,bad,4x,HKD\n"
    )
    assert problems(text) == [
        "line 4: credit '4x' is not an amount: expected a decimal like 1,234.50"
    ]


def test_a_long_bank_line_id_is_hashed_to_fit() -> None:
    text = f"date,description,credit,currency,line id\n23/11/2026,x,1.00,HKD,{'9' * 300}\n"
    (line,) = parse_bank_statement(text).lines
    assert len(line.line_id) <= 100


def test_an_empty_file_is_refused() -> None:
    assert problems("") == ["line 1: the file is empty: no header"]
    assert problems("\n\n") == ["line 1: the file is empty: no header"]


def test_a_header_without_the_needed_columns_is_refused_with_its_line() -> None:
    found = problems("\nfoo,bar\n1,2\n")
    assert all(problem.startswith("line 2: no column for") for problem in found)
    assert len(found) == 4  # date, description, money in, currency


def test_a_file_without_currency_needs_the_accounts_currency() -> None:
    text = "date,description,credit\n23/11/2026,x,1.00\n"
    assert problems(text)[0].startswith("line 1: no column for the currency")
    assert parse_bank_statement(text, currency="hkd").lines[0].amount == Money(100, "HKD")
    with pytest.raises(ValueError, match="not HKD or CNY"):
        parse_bank_statement(text, currency="USD")


def test_every_problem_is_listed_with_its_line() -> None:
    text = (
        "date,description,credit,currency,transaction id\n"
        "23/11/2026,ok,1.00,HKD,A\n"
        "31/02/2026,bad date,1.00,HKD,B\n"
        "not a date,bad date,1.00,HKD,C\n"
        "23/11/2026,bad amount,1.2.3,HKD,D\n"
        "23/11/2026,bad currency,1.00,USD,E\n"
        "23/11/2026,negative,-1.00,HKD,F\n"
        "23/11/2026,repeated id,1.00,HKD,A\n"
        "23/11/2026,too many cells,1.00,HKD,G,extra\n"
        "23/11/2026,too precise,1.001,HKD,H\n"
    )
    found = problems(text)
    assert [problem.split(":")[0] for problem in found] == [f"line {n}" for n in range(3, 11)]
    assert "USD" in found[3]
    assert "negative" in found[4]
    assert "also on line 2" in found[5]
