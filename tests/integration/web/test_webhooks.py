"""Provider callbacks over HTTP: verified first, applied once, never backwards."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from simrenew.bootstrap import App
from simrenew.db import tables
from simrenew.providers.sandbox import Callback
from simrenew.services.payments import start_payment
from tests.integration.web.orders_http import NUMBER, client, count
from tests.support import FixedClock, order


def _post(http: TestClient, callback: Callback, **overrides: object) -> tuple[int, dict]:
    headers = dict(callback.headers)
    body = callback.body
    if "body" in overrides:
        body = overrides["body"]  # type: ignore[assignment]
    if "signature" in overrides:
        headers["Sandbox-Signature"] = str(overrides["signature"])
    response = http.post("/webhooks/sandbox", content=body, headers=headers)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    return response.status_code, response.json()


def _started(app: App, scenario: str = "succeed") -> tuple[str, str]:
    placed = order(app, NUMBER, "ONE2-M1")
    payment = start_payment(app.ctx, placed.id, "sandbox", actor="test", scenario=scenario)
    return placed.id, payment.id


def _order_state(app: App, order_id: str) -> str:
    with app.uow(write=False) as uow:
        return uow.orders.get(order_id).state.value


def test_a_callback_is_applied_once_and_replays_are_duplicates(app: App) -> None:
    http = client(app)
    order_id, payment_id = _started(app)
    [callback] = app.sandbox.complete(payment_id)
    assert _post(http, callback) == (200, {"outcome": "applied"})
    assert _post(http, callback) == (200, {"outcome": "duplicate"})
    assert _post(http, callback) == (200, {"outcome": "duplicate"})
    assert _order_state(app, order_id) == "fulfilled"
    assert count(app, tables.fulfilments) == 1


def test_forged_tampered_and_stale_callbacks_are_rejected(app: App, clock: FixedClock) -> None:
    http = client(app)
    order_id, payment_id = _started(app)
    [callback] = app.sandbox.complete(payment_id)

    status, problem = _post(http, callback, signature="t=1,v1=" + "0" * 64)
    assert (status, problem["code"]) == (400, "signature_invalid")
    status, problem = _post(http, callback, signature="")
    assert (status, problem["code"]) == (400, "signature_invalid")
    changed = callback.body.replace(b'"amount_minor":', b'"amount_minor":1', 1)
    assert len(changed) == len(callback.body) + 1
    status, problem = _post(http, callback, body=changed)
    assert (status, problem["code"]) == (400, "signature_invalid")
    flipped = bytes([callback.body[0] ^ 1]) + callback.body[1:]
    assert _post(http, callback, body=flipped)[0] == 400
    assert _order_state(app, order_id) == "awaiting_payment"

    clock.advance(timedelta(seconds=301))
    status, problem = _post(http, callback)
    assert (status, problem["code"]) == (400, "signature_invalid")
    assert _order_state(app, order_id) == "awaiting_payment"
    assert count(app, tables.payment_events) == 0


def test_out_of_order_callbacks_never_move_anything_backwards(app: App) -> None:
    http = client(app)
    order_id, payment_id = _started(app, "pending_then_succeed")
    [processing] = app.sandbox.complete(payment_id)
    [succeeded] = app.sandbox.settle(payment_id)

    assert _post(http, succeeded) == (200, {"outcome": "applied"})
    assert _post(http, processing) == (200, {"outcome": "stale"})
    assert _post(http, processing) == (200, {"outcome": "duplicate"})
    assert _order_state(app, order_id) == "fulfilled"
    got = http.get(f"/api/v1/orders/{order_id}").json()
    assert got["payment"]["state"] == "succeeded"
    assert count(app, tables.fulfilments) == 1


def test_unknown_provider_is_a_404_problem(app: App) -> None:
    response = client(app).post("/webhooks/nosuchpay", content=b"{}")
    assert response.status_code == 404
    assert response.json()["code"] == "provider_not_found"
    assert response.headers["content-type"] == "application/problem+json"


def test_problem_messages_follow_accept_language(app: App) -> None:
    http = client(app)
    answers = {
        language: http.post(
            "/webhooks/sandbox",
            content=b"{}",
            headers={} if language is None else {"Accept-Language": language},
        )
        for language in (None, "en", "zh-Hans")
    }
    assert {a.json()["code"] for a in answers.values()} == {"signature_invalid"}
    assert len({a.json()["detail"] for a in answers.values()}) == 3
    assert answers[None].headers["content-language"] == "zh-Hant"
    assert "Traceback" not in answers["en"].text
