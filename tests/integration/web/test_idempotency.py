"""Idempotency-Key over HTTP: replays byte for byte, a reused key is refused, a
concurrent duplicate is told to retry, a crashed claim is taken over, and fifty
identical requests at once make one order, one charge and one fulfilment."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import cast

from httpx import Response

from simrenew.bootstrap import App
from simrenew.db import idempotent_requests as store
from simrenew.db import tables
from simrenew.domain.payments import PaymentState
from simrenew.ports import PaymentProvider, PaymentRequest, ProviderResult
from simrenew.web.idempotency import request_hash
from simrenew.web.schemas_orders import QuickOrderIn
from tests.integration.web.orders_http import (
    NUMBER,
    OFFER,
    client,
    count,
    new_key,
    pay_on_page,
    quick_order,
)
from tests.support import FixedClock

ORDERS_PATH = "/api/v1/quick-topup/orders"
SCOPE = "anonymous POST /api/v1/quick-topup/orders"


def test_a_repeat_replays_the_first_response_byte_for_byte(app: App) -> None:
    http = client(app)
    key = new_key()
    first = quick_order(http, key=key)
    second = quick_order(http, key=key)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert first.headers["content-type"] == second.headers["content-type"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert count(app, tables.orders) == 1


def test_key_order_and_whitespace_do_not_make_another_request(app: App) -> None:
    http = client(app)
    key = new_key()
    first = quick_order(http, key=key)
    same = http.post(
        ORDERS_PATH,
        content=f'{{ "offer_code" : "{OFFER}",  "number": "{NUMBER}" }}',
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert same.content == first.content


def test_the_same_key_with_another_body_is_refused(app: App) -> None:
    http = client(app)
    key = new_key()
    assert quick_order(http, key=key).status_code == 201
    responses = {
        language: http.post(
            ORDERS_PATH,
            json={"number": NUMBER, "offer_code": "ONE2-D7"},
            headers={"Idempotency-Key": key, **({"Accept-Language": language} if language else {})},
        )
        for language in (None, "en", "zh-Hans")
    }
    for response in responses.values():
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "idempotency_key_reused"
    details = {r.json()["detail"] for r in responses.values()}
    assert len(details) == 3
    assert responses["en"].json()["title"] == "Idempotency key reused"
    assert count(app, tables.orders) == 1


def test_a_missing_or_bad_key_is_a_problem(app: App) -> None:
    http = client(app)
    missing = http.post(ORDERS_PATH, json={"number": NUMBER, "offer_code": OFFER})
    assert missing.status_code == 400
    assert missing.json()["code"] == "idempotency_key_missing"
    bad = quick_order(http, key="has space")
    assert bad.status_code == 400
    assert bad.json()["code"] == "idempotency_key_invalid"
    assert count(app, tables.orders) == 0


def test_a_running_duplicate_gets_a_retryable_409_and_a_crashed_claim_is_taken_over(
    app: App, clock: FixedClock
) -> None:
    http = client(app)
    key = new_key()
    body = QuickOrderIn(number=NUMBER, offer_code=OFFER)
    # A first call claimed the key and then its process died.
    claim = store.claim(
        app.engine, SCOPE, key, request_hash("POST", ORDERS_PATH, body), clock.now()
    )
    assert claim.status is store.ClaimStatus.FRESH

    busy = quick_order(http, key=key)
    assert busy.status_code == 409
    assert busy.json()["code"] == "idempotency_in_progress"
    assert busy.headers["retry-after"] == "1"
    different = quick_order(http, key=key, offer="ONE2-D7")
    assert different.status_code == 422

    clock.advance(timedelta(seconds=61))
    taken = quick_order(http, key=key)
    assert taken.status_code == 201
    assert quick_order(http, key=key).content == taken.content


def test_keys_are_kept_24_hours(app: App, clock: FixedClock) -> None:
    http = client(app)
    key = new_key()
    first = quick_order(http, key=key, offer="ONE2-D1")
    clock.advance(timedelta(hours=23))
    assert store.purge(app.engine, clock.now()) == 0
    assert quick_order(http, key=key, offer="ONE2-D1").content == first.content
    clock.advance(timedelta(hours=1))
    assert store.purge(app.engine, clock.now()) == 1
    assert count(app, tables.idempotent_requests) == 0


def test_fifty_identical_requests_at_once_make_one_order_one_charge_one_fulfilment(
    app: App,
) -> None:
    http = client(app)
    key = new_key()

    def attempt(_: int) -> Response:
        return quick_order(http, key=key)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(attempt, range(50)))
    assert {r.status_code for r in responses} <= {201, 409}
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_in_progress"
            assert response.headers["retry-after"] == "1"
    created = [r for r in responses if r.status_code == 201]
    assert created, "at least the first request completes"
    assert len({r.content for r in created}) == 1

    # The ones told to retry get the same order when they do.
    deadline = time.monotonic() + 10
    retried = quick_order(http, key=key)
    while retried.status_code == 409 and time.monotonic() < deadline:
        retried = quick_order(http, key=key)
    assert retried.content == created[0].content

    placed = created[0].json()
    pay_on_page(http, placed["checkout_url"])
    pay_on_page(http, placed["checkout_url"])  # pressing Pay again takes nothing more
    assert count(app, tables.orders) == 1
    assert count(app, tables.payments) == 1
    assert count(app, tables.sandbox_charges) == 1
    assert count(app, tables.fulfilments) == 1
    assert http.get(f"/api/v1/orders/{placed['order_id']}").json()["state"] == "fulfilled"


class _BrokenProvider:
    """A provider whose SDK blows up with something nobody translated."""

    name = "broken"

    def create_payment(self, request: PaymentRequest) -> ProviderResult:
        raise RuntimeError("secret internals: /srv/provider.py line 42")

    def fetch_status(self, payment_id: str, provider_ref: str | None) -> ProviderResult:
        return ProviderResult(PaymentState.PENDING)


def test_an_unexpected_error_is_a_500_problem_without_a_stack_trace(app: App) -> None:
    cast(dict[str, PaymentProvider], app.ctx.providers)["broken"] = cast(
        PaymentProvider, _BrokenProvider()
    )
    http = client(app)
    key = new_key()
    response = quick_order(http, key=key, pay_with="broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "internal_error"
    assert problem["request_id"] == response.headers["x-request-id"]
    assert problem["request_id"] in problem["detail"]
    for leak in ("Traceback", "secret internals", "RuntimeError", "provider.py"):
        assert leak not in response.text
    # Not stored: the same key may be retried for real.
    assert count(app, tables.idempotent_requests) == 0
