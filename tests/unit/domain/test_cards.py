from __future__ import annotations

from dataclasses import replace

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simrenew.domain.cards import (
    CARD_TRANSITIONS,
    RENEWABLE_STATES,
    CardState,
    eid_valid,
    eid_with_check_digits,
    luhn_check_digit,
    luhn_valid,
    mask_number,
    normalize_number,
    validate_eid,
    validate_iccid,
)
from simrenew.domain.errors import IllegalTransition, InvalidEid, InvalidIccid, InvalidNumber
from tests.unit.domain.builders import hk, make_card, make_iccid

# --- ICCID -----------------------------------------------------------------------------------


def test_luhn_check_digit_of_the_textbook_example() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


@given(payload=st.text(alphabet="0123456789", min_size=1, max_size=25))
@settings(max_examples=200, deadline=None)
def test_luhn_check_digit_is_the_only_digit_that_fits(payload: str) -> None:
    digit = luhn_check_digit(payload)
    assert [d for d in "0123456789" if luhn_valid(payload + d)] == [digit]


def test_valid_iccids_of_19_and_20_digits() -> None:
    nineteen = make_iccid(42)
    twenty_payload = "8985201260000000042"
    twenty = twenty_payload + luhn_check_digit(twenty_payload)

    assert len(nineteen) == 19
    assert validate_iccid(nineteen) == nineteen
    assert validate_iccid(twenty) == twenty


def test_iccid_spaces_are_removed() -> None:
    iccid = make_iccid(7)
    spaced = f" {iccid[:4]} {iccid[4:8]} {iccid[8:]} "
    assert validate_iccid(spaced) == iccid


def test_iccid_with_a_wrong_check_digit_is_rejected() -> None:
    good = make_iccid(7)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(InvalidIccid) as caught:
        validate_iccid(bad)
    assert caught.value.code == "invalid_iccid"
    assert "Luhn" in caught.value.message


@pytest.mark.parametrize("length", [18, 21])
def test_iccid_of_the_wrong_length_is_rejected(length: int) -> None:
    payload = "89" + "1" * (length - 3)
    iccid = payload + luhn_check_digit(payload)
    with pytest.raises(InvalidIccid) as caught:
        validate_iccid(iccid)
    assert "19 or 20 digits" in caught.value.message


def test_iccid_not_starting_with_89_is_rejected() -> None:
    payload = "880000000000000001"
    iccid = payload + luhn_check_digit(payload)
    with pytest.raises(InvalidIccid) as caught:
        validate_iccid(iccid)
    assert "start with 89" in caught.value.message


@pytest.mark.parametrize(
    "text",
    ["8985-2012-6000-0000-01", "89852O1260000000001", "８９８５２０１２６０００００００００１"],
)
def test_iccid_with_non_ascii_digits_or_letters_is_rejected(text: str) -> None:
    with pytest.raises(InvalidIccid) as caught:
        validate_iccid(text)
    assert "only digits" in caught.value.message


# --- EID -------------------------------------------------------------------------------------


def test_the_gsma_sample_eid_is_valid() -> None:
    eid = "89049032123451234512345678901235"
    assert eid_valid(eid)
    assert validate_eid(eid) == eid
    assert eid_with_check_digits(eid[:30]) == eid


@given(payload=st.text(alphabet="0123456789", min_size=30, max_size=30))
@settings(max_examples=200, deadline=None)
def test_eid_check_digits_make_the_number_one_mod_97(payload: str) -> None:
    eid = eid_with_check_digits(payload)
    assert len(eid) == 32
    assert eid.startswith(payload)
    assert int(eid) % 97 == 1
    assert validate_eid(eid) == eid


@given(
    payload=st.text(alphabet="0123456789", min_size=30, max_size=30),
    position=st.integers(0, 31),
    shift=st.integers(1, 9),
)
@settings(max_examples=200, deadline=None)
def test_eid_detects_any_single_digit_change(payload: str, position: int, shift: int) -> None:
    eid = eid_with_check_digits(payload)
    changed = eid[:position] + str((int(eid[position]) + shift) % 10) + eid[position + 1 :]
    assert not eid_valid(changed)


@pytest.mark.parametrize(
    "text",
    [
        "8904903212345123451234567890123",  # 31 digits
        "890490321234512345123456789012350",  # 33 digits
        "89049032123451234512345678901236",  # wrong check digits
        "8904903212345123451234567890123X",
        "",
    ],
)
def test_invalid_eids_are_rejected(text: str) -> None:
    with pytest.raises(InvalidEid) as caught:
        validate_eid(text)
    assert caught.value.code == "invalid_eid"


# --- numbers ---------------------------------------------------------------------------------


def test_the_hong_kong_example_is_a_mobile_number_for_phonenumbers() -> None:
    parsed = phonenumbers.parse("+85251234567", None)
    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.region_code_for_number(parsed) == "HK"
    assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE


def test_the_landline_example_is_a_fixed_line_for_phonenumbers() -> None:
    parsed = phonenumbers.parse("+85221234567", None)
    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+852 5123 4567", "+85251234567"),
        ("51234567", "+85251234567"),
        ("5123-4567", "+85251234567"),
        ("0085251234567", "+85251234567"),
        ("13812345678", "+8613812345678"),
        ("+8613812345678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
    ],
)
def test_normalize_number_to_e164(text: str, e164: str) -> None:
    assert normalize_number(text) == e164


@pytest.mark.parametrize(
    "text",
    [
        "21234567",  # Hong Kong landline
        "+852 2123 4567",  # Hong Kong landline, international form
        "+1 650 253 0000",  # United States
        "+86 10 1234 5678",  # Beijing landline
        "+853 6612 3456",  # Macau mobile: not a region we sell in
        "1234567",  # 7 digits
        "23812345678",  # 11 digits not starting with 1
        "hello",
        "",
        "+",
    ],
)
def test_normalize_number_rejects_what_is_not_a_hk_or_cn_mobile(text: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize_number(text)
    assert caught.value.code == "invalid_number"


@pytest.mark.parametrize(
    ("e164", "masked"),
    [("+85251234567", "+852****4567"), ("+8613812345678", "+86138****5678")],
)
def test_mask_number_hides_the_middle(e164: str, masked: str) -> None:
    assert mask_number(e164) == masked
    assert e164[-8:-4] not in mask_number(e164)


# --- lifecycle -------------------------------------------------------------------------------

S = CardState
EXPECTED_MOVES = {
    (S.IN_STOCK, S.ACTIVE),
    (S.IN_STOCK, S.TERMINATED),
    (S.ACTIVE, S.GRACE),
    (S.ACTIVE, S.TERMINATED),
    (S.GRACE, S.ACTIVE),
    (S.GRACE, S.TERMINATED),
}
ALL_MOVES = [(a, b) for a in CardState for b in CardState]


def test_the_transition_table_is_exactly_the_lifecycle() -> None:
    table = {(a, b) for a, targets in CARD_TRANSITIONS.items() for b in targets}
    assert table == EXPECTED_MOVES
    assert CARD_TRANSITIONS[S.TERMINATED] == frozenset()
    assert frozenset({S.IN_STOCK, S.ACTIVE, S.GRACE}) == RENEWABLE_STATES


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED_MOVES))
def test_allowed_moves_are_recorded(current: CardState, target: CardState) -> None:
    card = make_card(state=current)
    at = hk(2026, 3, 1)

    moved = card.move_to(target, reason="because", actor="staff:7", at=at)

    assert moved.state is target
    assert moved.state_since == at
    assert len(moved.transitions) == 1
    transition = moved.transitions[0]
    assert (transition.from_state, transition.to_state) == (current, target)
    assert (transition.reason, transition.actor, transition.at) == ("because", "staff:7", at)
    assert transition.card_id == card.id


@pytest.mark.parametrize(("current", "target"), [m for m in ALL_MOVES if m not in EXPECTED_MOVES])
def test_illegal_moves_raise(current: CardState, target: CardState) -> None:
    card = make_card(state=current)
    with pytest.raises(IllegalTransition) as caught:
        card.move_to(target, reason="x", actor="y", at=hk(2026, 3, 1))
    assert caught.value.code == "illegal_transition"
    assert caught.value.params == {
        "entity": "card",
        "current": current.value,
        "target": target.value,
    }
    assert card.state is current


def test_transitions_accumulate_in_order() -> None:
    card = make_card(state=S.IN_STOCK)
    card = card.move_to(S.ACTIVE, reason="first activation", actor="a", at=hk(2026, 3, 1))
    card = card.move_to(S.GRACE, reason="validity ended", actor="b", at=hk(2026, 4, 1))
    card = card.move_to(S.ACTIVE, reason="renewed in grace", actor="c", at=hk(2026, 4, 2))

    assert [(t.from_state, t.to_state) for t in card.transitions] == [
        (S.IN_STOCK, S.ACTIVE),
        (S.ACTIVE, S.GRACE),
        (S.GRACE, S.ACTIVE),
    ]


def test_numbers_lists_the_second_number_only_when_there_is_one() -> None:
    card = make_card()
    assert card.numbers == ("+85251234567",)
    two = replace(card, second_number="+8613812345678")
    assert two.numbers == ("+85251234567", "+8613812345678")
