"""Login and the account API over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import replace
from datetime import timedelta

from fastapi.testclient import TestClient

from simrenew.bootstrap import App
from simrenew.domain.auth import AuthPolicy, SendLimit
from simrenew.ports import AuthConfig
from simrenew.ratelimit import LimitsRateLimiter
from simrenew.services import auth
from simrenew.web.app import create_app
from tests.support import FixedClock, order, remember_card

KNOWN = "+85251234567"
OTHER_CARD = "+85261234567"
UNKNOWN = "+85298765432"
COOKIE = "__Host-simrenew_session"


def client_for(app: App) -> TestClient:
    # https: the session cookie is Secure, so a client keeps it only over TLS.
    return TestClient(create_app(app), base_url="https://testserver")


def sms_code(app: App, number: str) -> str:
    app.relay.drain()
    found = re.search(r"#(\d{6})$", app.inbox.list(recipient=number)[0].body)
    assert found
    return found.group(1)


def log_in(client: TestClient, app: App, number: str) -> str:
    assert client.post("/api/v1/auth/code", json={"phone": number}).status_code == 202
    response = client.post(
        "/api/v1/auth/session", json={"phone": number, "code": sms_code(app, number)}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_flow_with_bearer_and_card_detail(app: App) -> None:
    client = client_for(app)
    token = log_in(client, app, KNOWN)
    cards = client.get("/api/v1/me/cards", headers=bearer(token))
    assert cards.status_code == 200
    [card] = cards.json()
    assert card["primary_number"] == KNOWN
    detail = client.get(f"/api/v1/me/cards/{card['id']}", headers=bearer(token))
    assert detail.status_code == 200
    body = detail.json()
    assert body["state"] == "in_stock"
    assert body["balance"] == {"amount_minor": 0, "currency": "HKD"}
    assert body["allowances"] == [] and body["periods"] == []


def test_the_session_cookie_is_host_only_secure_httponly_lax(app: App) -> None:
    client = client_for(app)
    client.post("/api/v1/auth/code", json={"phone": KNOWN})
    response = client.post(
        "/api/v1/auth/session", json={"phone": KNOWN, "code": sms_code(app, KNOWN)}
    )
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}={response.json()['token']};")
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"secure", "httponly", "path", "max-age"} <= attributes
    assert "domain" not in attributes  # __Host- cookies may not name a domain
    assert "Path=/" in header and "SameSite=lax" in header and "Max-Age=28800" in header
    assert response.headers["cache-control"] == "no-store"
    # The client now holds the cookie: it authenticates on its own.
    assert client.get("/api/v1/me/cards").status_code == 200
    assert client.delete("/api/v1/auth/session").status_code == 204
    client.cookies.clear()
    client.cookies.set(COOKIE, response.json()["token"])
    gone = client.get("/api/v1/me/cards")
    assert gone.status_code == 401
    assert gone.json()["code"] == "not_authenticated"


def test_no_session_is_a_401_problem(app: App) -> None:
    client = client_for(app)
    for headers in ({}, bearer("not-a-token")):
        response = client.get("/api/v1/me/cards", headers={**headers, "Accept-Language": "en"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "not_authenticated"
        assert response.json()["title"] == "Not authenticated"


def test_known_and_unknown_numbers_get_the_same_answer(app: App, clock: FixedClock) -> None:
    client = client_for(app)
    log_in(client, app, KNOWN)  # KNOWN now has an account
    clock.advance(timedelta(seconds=60))
    known = client.post("/api/v1/auth/code", json={"phone": KNOWN})
    unknown = client.post("/api/v1/auth/code", json={"phone": UNKNOWN})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert known.json() == {"status": "code_sent", "expires_in": 300, "resend_after": 60}


def test_enumeration_timing_gap_under_10_ms(app: App, clock: FixedClock) -> None:
    """Median latency of code requests for a number with an account and one without,
    interleaved, over 200 samples each: the gap stays under 10 ms."""
    client = client_for(app)
    log_in(client, app, KNOWN)
    # A fresh, generous budget: this measures the path, not the limiter.
    roomy = (SendLimit("number", 10_000, timedelta(hours=1)),)
    app.ctx = replace(
        app.ctx,
        auth=AuthConfig(limiter=LimitsRateLimiter(), policy=AuthPolicy(send_limits=roomy)),
    )
    timings: dict[str, list[int]] = {"known": [], "unknown": []}
    for sample in range(200):
        clock.advance(timedelta(seconds=61))  # past the resend cooldown
        pair = [("known", KNOWN), ("unknown", UNKNOWN)]
        for name, number in pair if sample % 2 else reversed(pair):
            started = time.perf_counter_ns()
            response = client.post("/api/v1/auth/code", json={"phone": number})
            timings[name].append(time.perf_counter_ns() - started)
            assert response.status_code == 202, response.text
    gap_ns = abs(statistics.median(timings["known"]) - statistics.median(timings["unknown"]))
    assert gap_ns < 10_000_000, f"median gap {gap_ns // 1000} µs"


def test_code_expiry_over_http(app: App, clock: FixedClock) -> None:
    client = client_for(app)
    client.post("/api/v1/auth/code", json={"phone": KNOWN})
    code = sms_code(app, KNOWN)
    clock.advance(timedelta(minutes=5, seconds=1))
    response = client.post(
        "/api/v1/auth/session",
        json={"phone": KNOWN, "code": code},
        headers={"Accept-Language": "zh-Hans"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "login_code_invalid"
    assert response.json()["title"] == "验证码无效"


def test_five_wrong_tries_lock_the_number_over_http(app: App, clock: FixedClock) -> None:
    client = client_for(app)
    client.post("/api/v1/auth/code", json={"phone": KNOWN})
    code = sms_code(app, KNOWN)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    statuses = [
        client.post("/api/v1/auth/session", json={"phone": KNOWN, "code": wrong}).status_code
        for _ in range(5)
    ]
    assert statuses == [400, 400, 400, 400, 429]
    locked = client.post("/api/v1/auth/session", json={"phone": KNOWN, "code": code})
    assert locked.status_code == 429
    assert locked.json()["code"] == "login_locked"
    assert locked.headers["retry-after"] == "900"
    clock.advance(timedelta(minutes=15))
    assert log_in(client, app, KNOWN)


def test_resend_cooldown_over_http(app: App, clock: FixedClock) -> None:
    client = client_for(app)
    assert client.post("/api/v1/auth/code", json={"phone": UNKNOWN}).status_code == 202
    clock.advance(timedelta(seconds=30))
    again = client.post("/api/v1/auth/code", json={"phone": UNKNOWN})
    assert again.status_code == 429
    assert again.json()["code"] == "resend_too_soon"
    assert again.headers["retry-after"] == "30"
    clock.advance(timedelta(seconds=30))
    assert client.post("/api/v1/auth/code", json={"phone": UNKNOWN}).status_code == 202


def test_per_prefix_cap_over_http(app: App) -> None:
    client = client_for(app)
    statuses = [
        client.post("/api/v1/auth/code", json={"phone": f"+8525123{n:04d}"}).status_code
        for n in range(31)
    ]
    # 20 per IP would trip first from one client: check the prefix cap on its own.
    assert statuses[:20] == [202] * 20 and statuses[20] == 429
    app.ctx = replace(
        app.ctx,
        auth=AuthConfig(
            limiter=LimitsRateLimiter(),
            policy=AuthPolicy(send_limits=(SendLimit("prefix", 30, timedelta(hours=1)),)),
        ),
    )
    statuses = [
        client.post("/api/v1/auth/code", json={"phone": f"+8525124{n:04d}"}).status_code
        for n in range(31)
    ]
    assert statuses == [202] * 30 + [429]
    capped = client.post("/api/v1/auth/code", json={"phone": "+85251249999"})
    assert capped.json()["code"] == "rate_limited"
    assert int(capped.headers["retry-after"]) > 3000
    assert client.post("/api/v1/auth/code", json={"phone": "+85261240000"}).status_code == 202


def test_a_country_outside_the_allow_list_is_refused(app: App) -> None:
    response = client_for(app).post("/api/v1/auth/code", json={"phone": "+447911123456"})
    assert response.status_code == 422
    assert response.json()["code"] == "country_not_allowed"


def test_someone_elses_card_is_404_card_not_found(app: App) -> None:
    client = client_for(app)
    theirs_token = log_in(client, app, OTHER_CARD)
    [theirs] = client.get("/api/v1/me/cards", headers=bearer(theirs_token)).json()
    mine = log_in(client, app, KNOWN)
    for path in (f"/api/v1/me/cards/{theirs['id']}", f"/api/v1/me/auto-renew/{theirs['id']}"):
        response = client.get(path, headers=bearer(mine))
        assert response.status_code == 404
        assert response.json()["code"] == "card_not_found"
    missing = client.get("/api/v1/me/cards/card_nope", headers=bearer(mine))
    assert missing.json()["code"] == "card_not_found"


def test_binding_a_card_needs_the_code_sent_to_its_number(app: App) -> None:
    client = client_for(app)
    token = log_in(client, app, KNOWN)
    sent = client.post("/api/v1/me/cards/bind", json={"number": OTHER_CARD}, headers=bearer(token))
    assert sent.status_code == 202
    wrong = client.post(
        "/api/v1/me/cards/bind/confirm",
        json={"number": OTHER_CARD, "code": sms_code(app, KNOWN)},  # my own login code
        headers=bearer(token),
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "login_code_invalid"
    bound = client.post(
        "/api/v1/me/cards/bind/confirm",
        json={"number": OTHER_CARD, "code": sms_code(app, OTHER_CARD)},
        headers=bearer(token),
    )
    assert bound.status_code == 200
    numbers = [
        c["primary_number"] for c in client.get("/api/v1/me/cards", headers=bearer(token)).json()
    ]
    assert numbers == [KNOWN, OTHER_CARD]


def test_settings_round_trip(app: App) -> None:
    client = client_for(app)
    headers = bearer(log_in(client, app, KNOWN))
    [card] = client.get("/api/v1/me/cards", headers=headers).json()
    preferences = {
        "language": "en",
        "email": "chan@example.com.hk",
        "channels": {"sms": True, "email": False, "in_app": True},
        "reminders": False,
        "marketing": False,
    }
    put = client.put("/api/v1/me/preferences", json=preferences, headers=headers)
    assert put.status_code == 200
    got = client.get("/api/v1/me/preferences", headers=headers).json()
    assert got == {**preferences, "security_messages": True}

    subscriber = auth.authenticate(app.ctx, headers["Authorization"].split()[1])
    method = remember_card(app, subscriber.id, KNOWN, "ONE2-M1")
    renew = {"enabled": True, "offer_code": "ONE2-M1", "payment_token_id": method.id}
    put = client.put(f"/api/v1/me/auto-renew/{card['id']}", json=renew, headers=headers)
    assert put.status_code == 200, put.text
    got = client.get(f"/api/v1/me/auto-renew/{card['id']}", headers=headers).json()
    assert {k: got[k] for k in renew} == renew
    assert got["last_try"] is None  # no automatic try yet
    no_offer = client.put(
        f"/api/v1/me/auto-renew/{card['id']}", json={"enabled": True}, headers=headers
    )
    assert no_offer.status_code == 422

    word = client.put("/api/v1/me/anti-phishing-word", json={"word": "龍貓"}, headers=headers)
    assert word.json() == {"word": "龍貓"}
    bad = client.put(
        "/api/v1/me/anti-phishing-word", json={"word": "evil.example"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "anti_phishing_word_invalid"


def test_idle_and_absolute_expiry_over_http(app: App, clock: FixedClock) -> None:
    client = client_for(app)
    headers = bearer(log_in(client, app, KNOWN))
    clock.advance(timedelta(minutes=14))
    assert client.get("/api/v1/me/cards", headers=headers).status_code == 200
    clock.advance(timedelta(minutes=15))
    assert client.get("/api/v1/me/cards", headers=headers).status_code == 401

    clock.advance(timedelta(minutes=1))
    headers = bearer(log_in(client, app, KNOWN))
    for _ in range(47):
        clock.advance(timedelta(minutes=10))
        assert client.get("/api/v1/me/cards", headers=headers).status_code == 200
    clock.advance(timedelta(minutes=10))
    assert client.get("/api/v1/me/cards", headers=headers).status_code == 401


def test_auto_renew_refuses_a_payment_method_that_was_never_saved(app: App) -> None:
    client = client_for(app)
    token = log_in(client, app, KNOWN)
    (card,) = client.get("/api/v1/me/cards", headers=bearer(token)).json()
    refused = client.put(
        f"/api/v1/me/auto-renew/{card['id']}",
        json={"enabled": True, "offer_code": "ONE2-M1", "payment_token_id": "pm_123"},
        headers={**bearer(token), "Accept-Language": "en"},
    )
    assert refused.status_code == 404
    assert refused.json()["code"] == "payment_method_not_found"
    assert refused.json()["detail"] == "No saved payment method pm_123."


def test_saved_payment_methods_are_listed_paid_with_and_deleted_over_http(app: App) -> None:
    client = client_for(app)
    token = log_in(client, app, KNOWN)
    subscriber = auth.authenticate(app.ctx, token)
    assert client.get("/api/v1/me/payment-methods", headers=bearer(token)).json() == []
    method = remember_card(app, subscriber.id, KNOWN, "ONE2-M1")

    (listed,) = client.get("/api/v1/me/payment-methods", headers=bearer(token)).json()
    assert {k: listed[k] for k in ("id", "provider", "brand", "last4", "expired")} == {
        "id": method.id,
        "provider": "sandbox",
        "brand": "sandbox",
        "last4": "4242",
        "expired": False,
    }
    assert listed["description"] == "SANDBOX •••• 4242"
    assert "token" not in listed  # the provider's token stays with us

    placed = {"order_id": order(app, KNOWN, "ONE2-M1").id}
    paid = client.post(
        f"/api/v1/orders/{placed['order_id']}/payments/saved-method",
        json={"payment_method_id": method.id},
        headers={**bearer(token), "Idempotency-Key": "pay-with-saved-1"},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["state"] == "succeeded"
    status = client.get(f"/api/v1/orders/{placed['order_id']}").json()
    assert status["state"] == "fulfilled"

    anonymous = client_for(app).post(
        f"/api/v1/orders/{placed['order_id']}/payments/saved-method",
        json={"payment_method_id": method.id},
        headers={"Idempotency-Key": "pay-with-saved-2"},
    )
    assert anonymous.status_code == 401

    gone = client.delete(f"/api/v1/me/payment-methods/{method.id}", headers=bearer(token))
    assert gone.status_code == 204
    assert client.get("/api/v1/me/payment-methods", headers=bearer(token)).json() == []
    someone_else = log_in(client, app, OTHER_CARD)
    refused = client.delete(
        f"/api/v1/me/payment-methods/{method.id}",
        headers={**bearer(someone_else), "Accept-Language": "en"},
    )
    assert refused.status_code == 404
    assert refused.json()["code"] == "payment_method_not_found"


def test_keeping_a_method_needs_a_session(app: App) -> None:
    client = client_for(app)
    placed = {"order_id": order(app, KNOWN, "ONE2-M1").id}
    refused = client_for(app).post(
        f"/api/v1/orders/{placed['order_id']}/payments",
        json={"pay_with": "sandbox", "save_method": True},
        headers={"Idempotency-Key": "pay-save-1"},
    )
    assert refused.status_code == 401
    assert refused.json()["code"] == "not_authenticated"
    token = log_in(client, app, KNOWN)
    started = client.post(
        f"/api/v1/orders/{placed['order_id']}/payments",
        json={"pay_with": "sandbox", "save_method": True},
        headers={**bearer(token), "Idempotency-Key": "pay-save-2"},
    )
    assert started.status_code == 201, started.text
    with app.uow(write=False) as uow:
        payment = uow.payments.get(started.json()["payment_id"])
    assert payment.save_for == auth.authenticate(app.ctx, token).id

    (card,) = client.get("/api/v1/me/cards", headers=bearer(token)).json()
    mine = client.post(
        "/api/v1/me/orders",
        json={"card_id": card["id"], "offer_code": "ONE2-M1", "save_method": True},
        headers={**bearer(token), "Idempotency-Key": "my-order-save-1"},
    )
    assert mine.status_code == 201, mine.text
    with app.uow(write=False) as uow:
        (payment,) = uow.payments.list_for_order(mine.json()["order_id"])
    assert payment.save_for == auth.authenticate(app.ctx, token).id
