from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simrenew.domain.outbox import (
    MAX_DELAY,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    retry_delay,
)
from tests.unit.domain.builders import hk


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(0, 5), (1, 5), (2, 10), (3, 20), (4, 40), (8, 640), (10, 2560), (11, 3600), (12, 3600)],
)
def test_retry_delay_doubles_from_five_seconds(attempts: int, seconds: int) -> None:
    assert retry_delay(attempts) == timedelta(seconds=seconds)


def test_the_cap_is_an_hour() -> None:
    assert timedelta(hours=1) == MAX_DELAY


@given(attempts=st.integers(0, 40))
@settings(max_examples=200, deadline=None)
def test_retry_delay_grows_and_caps(attempts: int) -> None:
    delay, following = retry_delay(attempts), retry_delay(attempts + 1)
    assert timedelta(seconds=5) <= delay <= MAX_DELAY
    assert delay <= following
    if following < MAX_DELAY and attempts >= 1:
        assert following == 2 * delay


@pytest.mark.parametrize("attempts", [64])
def test_retry_delay_stays_capped_however_many_attempts(attempts: int) -> None:
    # ``outbox_max_attempts`` is a setting; a large value must not crash the relay.
    assert retry_delay(attempts) == MAX_DELAY


def test_a_new_message_is_pending_with_no_attempts() -> None:
    at = hk(2026, 6, 1)
    message = OutboxMessage("obx_1", OutboxKind.SMS, {"to": "+85251234567"}, at, at)
    assert message.state is OutboxState.PENDING
    assert message.attempts == 0
    assert message.last_error is None
    assert message.dedupe_key is None
