"""My cards, one card, the reminder calendar file and the expired-card help, through
the pages as a browser sees them, on both databases."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from simrenew.bootstrap import App
from simrenew.domain.catalog import BucketKind
from simrenew.services.lifecycle import SweepResult, sweep_lifecycle
from simrenew.services.usage import record_usage
from tests.integration.web.pages.pages_http import browser, log_in
from tests.support import HKT, FixedClock, renew

ONE2 = "+85251234567"
ONE2_SHOWN = "+852 5123 4567"
OTHER = "+85261234567"
NO_CARD = "+85298765432"


def signed_in(app: App, number: str = ONE2, language: str = "en") -> TestClient:
    client = browser(app, language)
    log_in(client, app, number)
    return client


def card_id_of(app: App, number: str) -> str:
    with app.uow(write=False) as uow:
        card = uow.cards.find(number)
        assert card is not None
        return card.id


def main(html: str) -> str:
    return html[html.index("<main") : html.index("</main>")]


def renew_links(html: str) -> list[str]:
    return re.findall(r'href="(/cards/[^"/]+/renew)"', html)


# --- who may see what ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/cards", "/cards/card_x", "/cards/card_x/reminder.ics"])
def test_without_a_session_the_pages_send_to_the_login(app: App, path: str) -> None:
    response = browser(app).get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


def test_someone_elses_card_is_a_not_found_page(app: App) -> None:
    renew(app, ONE2, "ONE2-M1")
    theirs = card_id_of(app, ONE2)
    stranger = signed_in(app, OTHER)
    for path in (f"/cards/{theirs}", f"/cards/{theirs}/reminder.ics"):
        response = stranger.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert 'data-code="card_not_found"' in response.text
        assert "5123 4567" not in response.text and "5123" not in main(response.text)
    assert theirs not in stranger.get("/cards").text


def test_an_account_without_cards_is_offered_to_add_one(app: App) -> None:
    page = signed_in(app, NO_CARD).get("/cards")
    assert page.status_code == 200
    assert 'id="no-cards"' in page.text
    assert 'href="/settings/cards/bind"' in page.text


# --- an active card -----------------------------------------------------------------


def test_an_active_card_in_the_list(app: App) -> None:
    renew(app, ONE2, "ONE2-M1")
    card_id = card_id_of(app, ONE2)
    with app.uow(write=False) as uow:
        data = [b for b in uow.cards.buckets(card_id) if b.kind is BucketKind.DATA_MB]
    total = sum(b.initial for b in data)

    page = signed_in(app).get("/cards")
    assert page.status_code == 200
    html = main(page.text)
    assert "<h1>My cards</h1>" in html
    assert ONE2_SHOWN in html and "+86 138 1234 5678" in html
    assert 'class="badge active"' in html and "In service" in html
    assert 'data-validity-end="2026-12-21"' in html and "21 Dec 2026" in html
    assert 'data-days-left="30"' in html
    assert "HK$0.00" in html
    assert "Monthly Plan" in html
    meter = re.search(r'<meter id="[^"]+" min="0" max="(\d+)" value="(\d+)" data-zone="GBA">', html)
    assert meter and (int(meter.group(1)), int(meter.group(2))) == (total, total)
    assert "Greater Bay Area (Hong Kong, Mainland, Macau)" in html
    assert "Calls in Hong Kong: 1,000 of 1,000 minutes left" in html
    assert renew_links(html) == [f"/cards/{card_id}/renew"]
    assert f'href="/cards/{card_id}"' in html
    assert "data-notice" not in html


def test_an_active_card_in_detail(app: App) -> None:
    placed = renew(app, ONE2, "ONE2-M1")
    queued = renew(app, ONE2, "ONE2-M3")
    page = signed_in(app).get(f"/cards/{placed.card_id}")
    assert page.status_code == 200
    html = main(page.text)
    assert f"<h1>Card {ONE2_SHOWN}</h1>" in html
    assert renew_links(html) == [f"/cards/{placed.card_id}/renew"]
    assert f'href="/cards/{placed.card_id}/reminder.ics"' in html
    # The running period and the one queued after it, with their orders.
    rows = re.findall(r'<li data-period="(\w+)">(.*?)</li>', html, re.S)
    assert [state for state, _ in rows] == ["running", "queued"]
    assert "Monthly Plan" in rows[0][1] and placed.id[-8:] in rows[0][1]
    assert "22 Nov 2026" in rows[0][1] and "21 Dec 2026" in rows[0][1]
    assert "Quarterly Plan" in rows[1][1] and queued.id[-8:] in rows[1][1]
    assert "22 Dec 2026" in rows[1][1] and "21 Mar 2027" in rows[1][1]
    orders = re.findall(r'<tr data-order-state="(\w+)">', html)
    assert orders == ["fulfilled", "fulfilled"]
    assert "HK$238.00" in html


def use(app: App, record_id: str, at: datetime, amount: int, zone: str = "HK") -> None:
    record_usage(
        app.ctx,
        record_id=record_id,
        card_key=ONE2,
        zone=zone,
        kind=BucketKind.DATA_MB,
        amount=amount,
        at=at,
    )


def test_the_chart_has_a_bar_per_day_as_high_as_the_use(app: App) -> None:
    placed = renew(app, ONE2, "ONE2-M1")
    use(app, "today", datetime(2026, 11, 22, 0, 0, tzinfo=HKT), 1024)
    use(app, "five-days-ago", datetime(2026, 11, 17, 12, 0, tzinfo=HKT), 512)
    use(app, "ten-days-ago-hk", datetime(2026, 11, 12, 8, 0, tzinfo=HKT), 256)
    use(app, "ten-days-ago-cn", datetime(2026, 11, 12, 20, 0, tzinfo=HKT), 256, zone="CN")
    use(app, "yesterday-late", datetime(2026, 11, 21, 23, 59, 59, tzinfo=HKT), 3)

    html = signed_in(app).get(f"/cards/{placed.card_id}").text
    chart = re.search(r'<svg class="chart".*?</svg>', html, re.S)
    assert chart
    svg = chart.group(0)
    assert 'role="img"' in svg and "<title>" in svg
    assert 'aria-label="Data used per day over the last 30 days: 2 GB in all."' in svg
    bars = re.findall(
        r'<rect class="bar" x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)" '
        r'data-day="([\d-]+)" data-mb="(\d+)">',
        svg,
    )
    assert len(bars) == 30
    assert bars[0][4] == "2026-10-24" and bars[-1][4] == "2026-11-22"
    heights = {day: (int(height), int(mb)) for _, _, _, height, day, mb in bars}
    # The top of the scale is 1 GB (1024 MB) over 120 units.
    assert heights["2026-11-22"] == (120, 1024)
    assert heights["2026-11-17"] == (60, 512)
    assert heights["2026-11-12"] == (60, 512)
    assert heights["2026-11-21"] == (1, 3)  # a little use still shows
    assert sum(1 for height, _ in heights.values() if height == 0) == 26
    # Every bar stands on the same baseline.
    assert {int(y) + int(height) for _, y, _, height, _, _ in bars} == {130}
    # The numbers for screen readers (and anyone), in a table.
    table = re.search(r'<table id="usage-table">.*?</table>', html, re.S)
    assert table and len(re.findall(r"<tr><td>", table.group(0))) == 30
    assert '<td data-mb="1024">1 GB</td>' in table.group(0)


def test_the_reminder_downloads_as_a_calendar_file(app: App) -> None:
    placed = renew(app, ONE2, "ONE2-M1")
    response = signed_in(app).get(f"/cards/{placed.card_id}/reminder.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="simrenew-reminder.ics"'
    body = response.content.decode("utf-8")
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert "DTSTART;TZID=Asia/Hong_Kong:20261221T100000" in body
    assert "+852****4567" in body.replace("\r\n ", "")


def test_a_card_without_a_validity_end_has_no_reminder(app: App) -> None:
    card_id = card_id_of(app, ONE2)  # in stock: never renewed
    client = signed_in(app)
    detail = client.get(f"/cards/{card_id}")
    assert 'data-notice="in_stock"' in detail.text
    assert "reminder.ics" not in detail.text
    response = client.get(f"/cards/{card_id}/reminder.ics")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No date to remind you of" in response.text


# --- expired cards ------------------------------------------------------------------


def test_a_card_in_grace_says_what_stopped_until_when_and_offers_renewal(
    app: App, clock: FixedClock
) -> None:
    placed = renew(app, ONE2, "ONE2-M1")  # valid until 21 December 2026
    clock.advance(timedelta(days=30))  # 22 December
    assert sweep_lifecycle(app.ctx).to_grace == 1
    client = signed_in(app)
    for path in ("/cards", f"/cards/{placed.card_id}"):
        html = main(client.get(path).text)
        assert 'data-notice="grace"' in html
        assert 'class="badge grace"' in html
        assert "Outgoing service is stopped." in html
        assert "ended on 21 Dec 2026" in html
        # The line's grace is 30 days: the last day to renew is 20 January.
        assert "You can still renew it until 20 Jan 2027." in html
        assert "reactivates it at once" in html
        assert renew_links(html) == [f"/cards/{placed.card_id}/renew"]
        assert 'href="/help/expired"' in html
        assert "data-days-left" not in html
    assert client.get(f"/cards/{placed.card_id}/reminder.ics").status_code == 404


def test_a_terminated_card_says_a_new_card_is_needed_and_offers_no_renewal(
    app: App, clock: FixedClock
) -> None:
    placed = renew(app, ONE2, "ONE2-M1")
    signed_in(app)  # binds the card to the account while it lives
    clock.advance(timedelta(days=61))  # past 20 January 2027, the last day of grace
    assert sweep_lifecycle(app.ctx) == SweepResult(to_grace=1, terminated=1)
    client = signed_in(app)  # the old session is long gone
    for path in ("/cards", f"/cards/{placed.card_id}"):
        html = main(client.get(path).text)
        assert 'data-notice="terminated"' in html
        assert 'class="badge terminated"' in html
        assert "This number is closed." in html
        assert "can no longer be renewed" in html
        assert "you need a new card" in html and "shops or airport counters" in html
        assert renew_links(html) == []
        assert "/renew" not in html
        assert 'href="/help/expired"' in html


def test_the_expired_card_help_is_public(app: App) -> None:
    page = browser(app).get("/help/expired")
    assert page.status_code == 200
    html = main(page.text)
    assert "<h1>When a card expires</h1>" in html
    for state in ("active", "grace", "terminated"):
        assert f'class="badge {state}"' in html


# --- languages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "heading", "help_heading"),
    [
        (None, "電話卡 +852 5123 4567", "電話卡到期後會怎樣"),
        ("zh-Hant", "電話卡 +852 5123 4567", "電話卡到期後會怎樣"),
        ("zh-Hans", "电话卡 +852 5123 4567", "电话卡到期后会怎样"),
        ("en", "Card +852 5123 4567", "When a card expires"),
    ],
)
def test_the_headings_are_in_the_visitors_language(
    app: App, language: str | None, heading: str, help_heading: str
) -> None:
    placed = renew(app, ONE2, "ONE2-M1")
    client = browser(app, language or "en")
    if language is None:
        del client.headers["accept-language"]  # zh-Hant is the default
    log_in(client, app, ONE2)
    detail = client.get(f"/cards/{placed.card_id}")
    assert f"<h1>{heading}</h1>" in detail.text
    assert f'<html lang="{language or "zh-Hant"}">' in detail.text
    assert f"<h1>{help_heading}</h1>" in client.get("/help/expired").text
