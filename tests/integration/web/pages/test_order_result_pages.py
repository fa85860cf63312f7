"""The result page for a bank transfer: it points back to the transfer details and
does not keep reloading for the day a transfer takes."""

from __future__ import annotations

from simrenew.bootstrap import App
from simrenew.providers.fps import FpsProvider, Payee
from simrenew.services.payments import start_payment
from tests.integration.web.orders_http import NUMBER, OFFER
from tests.integration.web.pages.pages_http import browser
from tests.support import order


def test_a_pending_bank_transfer_shows_its_details_and_stops_reloading(app: App) -> None:
    app.ctx.providers["fps"] = FpsProvider(  # type: ignore[index]
        Payee(fps_id="1234567", name="SIMRENEW LTD", bank_account="004-123-456789-001"),
        instructions_base_url="https://testserver",
    )
    placed = order(app, NUMBER, OFFER)
    payment = start_payment(app.ctx, placed.id, "fps", actor="test")

    page = browser(app).get(f"/orders/{placed.id}/result")
    assert 'data-outcome="transfer"' in page.text
    assert f'href="/pay/fps/{payment.id}"' in page.text
    assert "data-follow" not in page.text and "follow.js" not in page.text


def test_a_card_payment_in_progress_is_followed(app: App) -> None:
    placed = order(app, NUMBER, OFFER)
    start_payment(app.ctx, placed.id, "sandbox", actor="test")
    page = browser(app).get(f"/orders/{placed.id}/result")
    assert 'data-outcome="waiting"' in page.text
    assert 'data-follow="2"' in page.text and "/static/follow.js" in page.text
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page.text
