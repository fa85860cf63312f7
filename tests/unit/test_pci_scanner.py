"""The PCI scanner of tests/pci.py: it finds payment card numbers however they are
written, and nothing else of ours (ICCIDs, IMSIs, ids, timestamps, phone numbers);
and the database scan that tests/conftest.py runs after every test does fail."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from simrenew.db import tables
from simrenew.db.engine import make_engine
from simrenew.domain.cards import luhn_check_digit
from simrenew.domain.ids import new_id
from tests.pci import LogScan, brand, find_pans, luhn_valid, mask, redact, scan_database

# Published test numbers of the card brands (Stripe's and the brands' own).
TEST_PANS = {
    "4242424242424242": "Visa",
    "4000056655665556": "Visa",
    "4222222222222": "Visa",  # 13 digits
    "5555555555554444": "Mastercard",
    "2223003122003222": "Mastercard",
    "378282246310005": "American Express",
    "371449635398431": "American Express",
    "6011111111111117": "Discover",
    "6200000000000005": "UnionPay",
    "3566002020360505": "JCB",
    "30569309025904": "Diners Club",
    "36227206271667": "Diners Club",
}


@pytest.mark.parametrize("pan", sorted(TEST_PANS))
def test_test_card_numbers_are_found_with_their_brand(pan: str) -> None:
    assert luhn_valid(pan)
    assert brand(pan) == TEST_PANS[pan]
    assert find_pans(pan) == [pan]
    assert find_pans(f"paid with {pan}, thanks") == [pan]


@pytest.mark.parametrize(
    "text",
    [
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "card: 4242 4242 4242 4242.",
        '{"pan":"4242424242424242"}',
        "https://pay.example/?card=4242424242424242&cvc=123",
        "卡號4242424242424242。",  # Chinese text right against it
    ],
)
def test_the_ways_card_numbers_are_written_are_found(text: str) -> None:
    assert find_pans(text) == ["4242424242424242"]


def test_13_and_19_digit_numbers_are_found_whole_and_grouped() -> None:
    visa_19 = _luhn("424242424242424242")
    assert find_pans(visa_19) == [visa_19]
    assert find_pans(" ".join([visa_19[i : i + 4] for i in range(0, 19, 4)])) == [visa_19]
    assert find_pans("4222-2222-2222-2") == ["4222222222222"]


def test_amex_and_diners_groupings_are_found() -> None:
    assert find_pans("3782 822463 10005") == ["378282246310005"]
    assert find_pans("3056-930902-5904") == ["30569309025904"]


def test_several_numbers_in_one_text_are_all_found_in_order() -> None:
    text = "first 5555555555554444\nthen 4242 4242 4242 4242"
    assert find_pans(text) == ["5555555555554444", "4242424242424242"]


def _luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


@pytest.mark.parametrize(
    "iccid",
    [
        "8985200012345678901",  # not even Luhn-valid
        _luhn("898520001234567890"),  # 19 digits, Luhn-valid
        _luhn("8985201260001000001"),  # 20 digits, Luhn-valid
        "8985201260001000018",  # the demo cards'
    ],
)
def test_sim_card_serials_are_not_card_numbers(iccid: str) -> None:
    assert find_pans(iccid) == []
    assert find_pans(f"iccid={iccid}") == []


def test_the_iccids_in_the_demo_data_are_luhn_valid_and_still_not_reported() -> None:
    iccid = _luhn("898520126000100001")
    assert luhn_valid(iccid)
    assert find_pans(f"SIM {iccid} activated") == []


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # Luhn fails
        "5555555555554440",
        "4242 4242 4242 4241",
        "424242424242",  # 12 digits
        _luhn("42424242424242424242")[:20],  # 20 digits
        _luhn("4242424242424242424"),  # 20 digits, Luhn-valid
        "4242 4242 4242 4242 4242",  # a longer group
        "0000 4242 4242 4242 4242",
    ],
)
def test_non_luhn_and_wrong_lengths_are_not_found(text: str) -> None:
    assert find_pans(text) == []


def test_a_brand_prefix_with_a_length_the_brand_does_not_issue_is_not_found() -> None:
    visa_15 = _luhn("42424242424242")  # Visa issues 13, 16 and 19 digits
    mastercard_19 = _luhn("555555555555444444")
    assert luhn_valid(visa_15)
    assert find_pans(visa_15) == []
    assert find_pans(mastercard_19) == []


def test_luhn_valid_numbers_outside_every_brand_are_not_found() -> None:
    for payload in ("100000000000000", "700000000000000", "1795000000000000"):
        assert find_pans(_luhn(payload)) == []


@pytest.mark.parametrize(
    "text",
    [
        "454001000000001",  # an IMSI (15 digits, Hong Kong)
        _luhn("45400100000000"),  # a Luhn-valid IMSI
        _luhn("35209900176148"),  # an IMEI (15 digits, Luhn by design)
        "+8613812345678",  # phone numbers
        "+" + _luhn("424242424242424"),
        "8613812345678",
        "89049032000000000000000000700115",  # an EID
        "1795311234567",  # ms since the epoch
        "1795311234567890",  # µs since the epoch
        "0.4242424242424242",  # decimals
        "pay_4242424242424242",  # a digit run inside one of our ids
        "ord_019a4242424242424242aa",
        "evt_" + "4" * 15 + "2",
        "2026-11-22T10:00:00+08:00 order 20261122100000",
        "12345678-4242-4242-4242-424242424242",  # a UUID
    ],
)
def test_our_own_numbers_are_not_card_numbers(text: str) -> None:
    assert find_pans(text) == []


def test_ids_never_look_like_card_numbers() -> None:
    text = " ".join(new_id(prefix) for prefix in ("pay", "ord", "evt", "aud") for _ in range(500))
    assert find_pans(text) == []


def test_mask_shows_first_six_and_last_four_and_redact_masks_in_place() -> None:
    assert mask("4242424242424242") == "424242******4242"
    assert mask("378282246310005") == "378282*****0005"
    assert redact("card 4242 4242 4242 4242 and 8985201260001000018") == (
        "card 424242******4242 and 8985201260001000018"
    )


# --- the database scan (what tests/conftest.py runs after every test using ``app``) -------


@pytest.fixture
def throwaway(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'throwaway.db'}")
    tables.metadata.create_all(engine)
    yield engine
    engine.dispose()


NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def _card(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(tables.cards),
            {
                "id": "crd_1",
                "iccid": "8985201260001000018",
                "eid": "89049032000000000000000000700115",
                "imsi": "454001000000001",
                "primary_number": "+85251234567",
                "second_number": "+8613812345678",
                "product_line": "ONE2",
                "form_factor": "physical",
                "state": "in_stock",
                "language": "en",
                "email": "chan@example.com",
                "created_at": NOW,
                "updated_at": NOW,
            },
        )


def _product_line(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(tables.product_lines),
            {
                "code": "ONE2",
                "currency": "HKD",
                "grace_days": 30,
                "cooling_off_days": 90,
                "order_min_minor": 1000,
                "order_max_minor": 100000,
                "per_30_days_minor": 300000,
                "names": {"en": "One Card, Two Numbers"},
                "validity_bands": [],
                "updated_at": NOW,
            },
        )


def test_a_database_with_sim_cards_and_no_card_numbers_is_clean(throwaway: Engine) -> None:
    _product_line(throwaway)
    _card(throwaway)
    assert scan_database(throwaway, tables.metadata) == []


def test_the_scan_reports_a_card_number_in_any_text_column(throwaway: Engine) -> None:
    _product_line(throwaway)
    _card(throwaway)
    with throwaway.begin() as connection:
        connection.execute(
            insert(tables.dev_inbox),
            {
                "message_id": "msg_1",
                "channel": "sms",
                "recipient": "+85251234567",
                "body": "Your card 4242 4242 4242 4242 was charged.",
                "created_at": NOW,
            },
        )
        connection.execute(
            insert(tables.outbox),
            {
                "id": "out_1",
                "kind": "sms",
                "payload": {"to": "+85251234567", "text": "paid by 5555555555554444"},
                "state": "pending",
                "created_at": NOW,
                "available_at": NOW,
            },
        )
        connection.execute(
            insert(tables.idempotent_requests),
            {
                "scope": "orders",
                "key": "k1",
                "request_hash": "0" * 64,
                "status": 201,
                "headers": {},
                "body": json.dumps({"card": "378282246310005"}).encode(),
                "created_at": NOW,
            },
        )

    findings = scan_database(throwaway, tables.metadata)

    assert sorted((f.where, f.key, f.masked) for f in findings) == [
        ("dev_inbox.body", "message_id=msg_1", "424242******4242"),
        ("idempotent_requests.body", "scope=orders, key=k1", "378282*****0005"),
        ("outbox.payload", "id=out_1", "555555******4444"),
    ]
    shown = "\n".join(str(f) for f in findings)
    assert "4242424242424242" not in shown
    assert "5555555555554444" not in shown


# --- the log scan ---------------------------------------------------------------------------


def test_the_log_scan_finds_a_card_number_in_a_message_or_a_traceback() -> None:
    # Not through the root logger: the run's own log scan would (rightly) fail on it.
    scan = LogScan()
    logger = logging.getLogger("tests.unit.test_pci_scanner.isolated")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(scan)
    try:
        logger.debug("charged %s", "4242 4242 4242 4242")
        logger.info("payment for order ord_019a4242424242424242aa")
        try:
            raise ValueError("bad card 5555555555554444")
        except ValueError:
            logger.exception("provider error")
    finally:
        logger.removeHandler(scan)

    findings = scan.findings()

    assert [(f.where, f.masked) for f in findings] == [
        ("a log record of (no test)", "424242******4242"),
        ("a log record of (no test)", "555555******4444"),
    ]
    assert findings[0].key == f"{logger.name} DEBUG charged 424242******4242"
    assert findings[1].key.startswith(f"{logger.name} ERROR provider error\nTraceback")
    assert "4242424242424242" not in str(findings)
    assert "5555555555554444" not in str(findings)
