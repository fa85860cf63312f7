"""FPS / bank transfer: the provider (a reference and our own instructions page, no
remote side, no callbacks), the payment flow through the payments service, and the
instructions page in three languages, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.db.reconciliation_queries import SqlReconciliationBooks
from simrenew.domain.errors import SignatureInvalid
from simrenew.domain.ids import new_id
from simrenew.domain.orders import OrderState
from simrenew.domain.payments import Payment, PaymentState
from simrenew.ports import PaymentProvider, PaymentRequest, RefundResult
from simrenew.providers.fps import FpsProvider, Payee
from simrenew.services.bank_statement import is_valid_reference, parse_bank_statement, reference_for
from simrenew.services.payments import handle_callback, recheck_payment, start_payment
from simrenew.services.reconciliation import reconcile_bank
from simrenew.web.app import create_app
from simrenew.web.pages import fps as fps_page
from tests.support import order, pay

CARD = "+85261234567"  # ONE2, in stock
OFFER = "ONE2-D7"
PAYEE = Payee(fps_id="1234567", name="SIMRENEW LIMITED", bank_account="HSBC 004-123-456789-838")


def with_fps(app: App) -> FpsProvider:
    """Offer FPS on ``app`` (what the registry does once ``fps_payee_id`` is set)."""
    provider = FpsProvider(PAYEE, instructions_base_url=app.settings.public_url)
    app.ctx = replace(app.ctx, providers={**app.ctx.providers, "fps": provider})
    return provider


def fps_payment(app: App, card: str = CARD, offer: str = OFFER) -> Payment:
    """An order paid for by FPS: pending, the buyer sent to the instructions page."""
    placed = order(app, card, offer)
    return start_payment(app.ctx, placed.id, "fps", actor="test")


def browser(app: App, language: str = "en") -> TestClient:
    """The web app with the FPS page's router (registered in ``web/pages/routers.py``
    by the lead; added here when it is not there yet)."""
    web = create_app(app)
    if not any(getattr(route, "path", "") == "/pay/fps/{payment_id}" for route in web.routes):
        web.include_router(fps_page.router)
    client = TestClient(web, base_url="https://testserver", follow_redirects=False)
    client.headers.update({"accept": "text/html", "accept-language": language})
    return client


def _request(**changes: object) -> PaymentRequest:
    request = PaymentRequest(
        payment_id=new_id("pay"),
        order_id=new_id("ord"),
        amount_minor=4800,
        currency="HKD",
        description="ONE2-D7 test",
        language="en",
        return_url="https://simrenew.example.hk/orders/x/result",
    )
    return replace(request, **changes)  # type: ignore[arg-type]


# --- the provider -----------------------------------------------------------------------


def test_create_gives_a_reference_and_our_instructions_page(app: App) -> None:
    provider: PaymentProvider = with_fps(app)
    request = _request()
    started = provider.create_payment(request)
    assert started.state is PaymentState.PENDING
    assert started.provider_ref == reference_for(request.payment_id)
    assert started.provider_ref is not None and is_valid_reference(started.provider_ref)
    assert started.checkout_url == f"{app.settings.public_url}/pay/fps/{request.payment_id}"
    # A retried start gives the same reference; another payment another one.
    assert provider.create_payment(request) == started
    assert provider.create_payment(_request()).provider_ref != started.provider_ref


def test_a_currency_it_does_not_take_is_declined_not_an_error(app: App) -> None:
    provider = FpsProvider(PAYEE, instructions_base_url="https://x", currencies=("HKD",))
    refused = provider.create_payment(_request(currency="CNY"))
    assert (refused.state, refused.failure_code) == (PaymentState.FAILED, "currency_not_accepted")
    assert provider.create_payment(_request(amount_minor=0)).state is PaymentState.FAILED


def test_status_is_pending_until_the_statement_says_otherwise(app: App) -> None:
    provider = with_fps(app)
    status = provider.fetch_status("pay_x", None)
    assert (status.state, status.provider_ref) == (PaymentState.PENDING, reference_for("pay_x"))
    assert provider.fetch_status("pay_x", "SRABC").provider_ref == "SRABC"


def test_refunds_are_made_by_hand(app: App) -> None:
    refund = with_fps(app).refund("pay_x", reference_for("pay_x"), 4800, "HKD")
    assert refund == RefundResult(False, failure_code="manual_refund_required")


@pytest.mark.parametrize(
    "body", [b"", b"{}", b'{"payment_id": "pay_x", "state": "succeeded", "amount": 4800}']
)
def test_every_callback_is_refused(app: App, body: bytes) -> None:
    with pytest.raises(SignatureInvalid, match="no callbacks"):
        with_fps(app).parse_callback(
            {"content-type": "application/json"}, body, app.ctx.clock.now()
        )


def test_a_payee_needs_an_fps_id_and_a_name() -> None:
    with pytest.raises(ValueError, match="FPS ID"):
        FpsProvider(replace(PAYEE, fps_id=" "), instructions_base_url="https://x")
    with pytest.raises(ValueError, match="name"):
        FpsProvider(replace(PAYEE, name=""), instructions_base_url="https://x")


# --- through the payments service ---------------------------------------------------------


def test_paying_by_fps_stores_the_reference_and_hands_back_the_same_page(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    assert payment.state is PaymentState.PENDING
    assert payment.provider_ref == reference_for(payment.id)
    assert payment.checkout_url == f"{app.settings.public_url}/pay/fps/{payment.id}"
    with app.uow(write=False) as uow:
        stored = uow.payments.get(payment.id)
    assert (stored.provider_ref, stored.checkout_url) == (
        payment.provider_ref,
        payment.checkout_url,
    )

    # "Pay" pressed again: the same payment, the same reference, the same page.
    again = start_payment(app.ctx, payment.order_id, "fps", actor="test")
    assert (again.id, again.provider_ref, again.checkout_url) == (
        payment.id,
        payment.provider_ref,
        payment.checkout_url,
    )


def test_a_recheck_leaves_the_transfer_pending(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    assert recheck_payment(app.ctx, payment.id).state is PaymentState.PENDING


def test_a_forged_callback_changes_nothing(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    forged = f'{{"payment_id": "{payment.id}", "state": "succeeded"}}'.encode()
    with pytest.raises(SignatureInvalid):
        handle_callback(app.ctx, "fps", {}, forged)
    response = browser(app).post("/webhooks/fps", content=forged, headers={"accept": "*/*"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "signature_invalid"
    with app.uow(write=False) as uow:
        assert uow.payments.get(payment.id).state is PaymentState.PENDING
        assert uow.orders.get(payment.order_id).state is OrderState.AWAITING_PAYMENT
    with app.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(t.payment_events)) == 0


# --- the instructions page ------------------------------------------------------------------

TEXTS = {
    "en": ("Pay by FPS or bank transfer", "HK$48.00", "usually the next working day"),
    "zh-Hant": ("以轉數快或銀行轉賬付款", "HK$48.00", "一般在下一個工作天"),
    "zh-Hans": ("以转数快或银行转账付款", "HK$48.00", "通常在下一个工作日"),
}


@pytest.mark.parametrize("language", ["en", "zh-Hant", "zh-Hans"])
def test_the_page_shows_payee_amount_and_reference_in_three_languages(
    app: App, language: str
) -> None:
    with_fps(app)
    payment = fps_payment(app)
    page = browser(app, language).get(f"/pay/fps/{payment.id}")
    assert page.status_code == 200, page.text
    assert page.headers["content-language"] == language
    heading, amount, next_step = TEXTS[language]
    text = page.text
    assert f"<h1>{heading}</h1>" in text
    assert f'<dd id="amount">{amount}</dd>' in text
    assert f'<dd id="reference" lang="en">{payment.provider_ref}</dd>' in text
    assert '<dd id="fps-id" lang="en">1234567</dd>' in text
    assert "SIMRENEW LIMITED" in text and "HSBC 004-123-456789-838" in text
    assert next_step in text
    assert f'href="/orders/{payment.order_id}/result"' in text
    assert 'data-stage="waiting"' in text
    # What the page must not show: the card, its number, its balance.
    assert "61234567" not in text and "****" not in text
    # The CSP allows no inline style or script: the page has none.
    assert "style=" not in text and "<script>" not in text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # The other languages' texts do not leak in.
    for other, (other_heading, _, _) in TEXTS.items():
        if other != language:
            assert other_heading not in text


def test_the_page_says_when_the_transfer_has_arrived(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    statement = parse_bank_statement(
        f"date,remarks,credit,currency\n23/11/2026,{payment.provider_ref},48.00,HKD\n"
    )
    reconcile_bank(app.ctx, SqlReconciliationBooks(app.engine), statement)
    page = browser(app, "zh-Hant").get(f"/pay/fps/{payment.id}")
    assert 'data-stage="received"' in page.text
    assert "我們已收到你的轉賬" in page.text
    assert str(payment.provider_ref) not in page.text


def test_the_page_of_a_closed_payment_offers_a_new_start(app: App) -> None:
    with_fps(app)
    started = fps_payment(app)
    with app.uow() as uow:  # given up, as an operator may
        payment = uow.payments.get(started.id, lock=True)
        uow.payments.update(
            payment.move_to(PaymentState.CANCELLED, app.ctx.clock.now()),
            payment.state,
            reason="test",
            actor="test",
        )
        uow.commit()
    page = browser(app).get(f"/pay/fps/{payment.id}")
    assert 'data-stage="closed"' in page.text
    assert str(payment.provider_ref) not in page.text


def test_no_page_for_an_unknown_payment_or_another_providers(app: App) -> None:
    with_fps(app)
    sandbox_payment, _ = pay(app, order(app, CARD, OFFER).id)
    client = browser(app)
    for payment_id in ("pay_unknown", sandbox_payment.id):
        page = client.get(f"/pay/fps/{payment_id}")
        assert page.status_code == 404, page.text
        assert "text/html" in page.headers["content-type"]
        assert re.search(r"<h1>[^<]*</h1>", page.text)


def test_no_page_when_fps_is_not_offered(app: App) -> None:
    with_fps(app)
    payment = fps_payment(app)
    app.ctx = replace(app.ctx, providers={k: v for k, v in app.ctx.providers.items() if k != "fps"})
    assert browser(app).get(f"/pay/fps/{payment.id}").status_code == 503
