"""The delivery status transitions: a receipt only ever moves a status forwards."""

from __future__ import annotations

import pytest

from simrenew.domain.deliveries import DELIVERY_TRANSITIONS, DeliveryStatus, remote_id_variants
from simrenew.ports import DeliveryStatus as PortsDeliveryStatus

S = DeliveryStatus
DEFINITE = [S.DELIVERED, S.EXPIRED, S.DELETED, S.UNDELIVERABLE, S.REJECTED]


def test_the_ports_name_the_same_enum() -> None:
    assert PortsDeliveryStatus is DeliveryStatus


def test_every_status_has_a_row_and_only_the_open_ones_are_not_final() -> None:
    assert set(DELIVERY_TRANSITIONS) == set(DeliveryStatus)
    assert {s for s in DeliveryStatus if not s.final} == {S.ACCEPTED, S.ENROUTE}


@pytest.mark.parametrize("final", DEFINITE)
@pytest.mark.parametrize("late", list(DeliveryStatus))
def test_a_definite_final_status_never_moves(final: DeliveryStatus, late: DeliveryStatus) -> None:
    assert DeliveryStatus.advance(final, late) is final


@pytest.mark.parametrize("final", DEFINITE)
def test_accepted_and_enroute_move_to_any_definite_status(final: DeliveryStatus) -> None:
    assert DeliveryStatus.advance(S.ACCEPTED, final) is final
    assert DeliveryStatus.advance(S.ENROUTE, final) is final
    assert DeliveryStatus.advance(S.UNKNOWN, final) is final


def test_an_older_receipt_does_not_move_an_open_status_backwards() -> None:
    assert DeliveryStatus.advance(S.ACCEPTED, S.ENROUTE) is S.ENROUTE
    assert DeliveryStatus.advance(S.ENROUTE, S.ACCEPTED) is S.ENROUTE
    assert DeliveryStatus.advance(S.UNKNOWN, S.ENROUTE) is S.UNKNOWN
    assert DeliveryStatus.advance(S.UNKNOWN, S.ACCEPTED) is S.UNKNOWN
    assert DeliveryStatus.advance(S.DELIVERED, S.ENROUTE) is S.DELIVERED


def test_a_repeated_receipt_is_no_move() -> None:
    for status in DeliveryStatus:
        assert not DeliveryStatus.allowed(status, status)
        assert DeliveryStatus.advance(status, status) is status


def test_remote_id_variants_cover_decimal_and_hexadecimal_forms() -> None:
    assert list(remote_id_variants("0000ff")) == ["0000ff", "ff", "255"]
    assert "ff" in set(remote_id_variants("255"))
    assert "a1b2" in set(remote_id_variants("A1B2"))
    assert set(remote_id_variants("msg-7f3a")) == {"msg-7f3a"}
