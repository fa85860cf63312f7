"""Settings through the pages: each form saves, redirects and says so; forms without
the CSRF token are refused; adding a card takes a code sent to that card."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from simrenew.bootstrap import App
from simrenew.domain.accounts import Subscriber
from simrenew.domain.auto_renew import AutoRenewTry
from simrenew.services import auth
from simrenew.services.auto_renew import run_auto_renew_try
from tests.integration.web.pages.pages_http import browser, log_in, submit
from tests.integration.web.test_account_api import sms_code
from tests.support import remember_card

ONE2 = "+85251234567"
OTHER = "+85261234567"


def signed_in(app: App, number: str = ONE2, language: str = "en") -> TestClient:
    client = browser(app, language)
    log_in(client, app, number)
    return client


def account(app: App, number: str = ONE2) -> Subscriber:
    with app.uow(write=False) as uow:
        found = uow.accounts.subscriber_by_phone(number)
        assert found is not None
        return found


def card_id_of(app: App, number: str) -> str:
    with app.uow(write=False) as uow:
        card = uow.cards.find(number)
        assert card is not None
        return card.id


def saved_notice(client: TestClient, location: str) -> str:
    page = client.get(location)
    assert page.status_code == 200
    found = re.search(r'<p class="notice ok" role="status" id="saved">([^<]+)</p>', page.text)
    assert found, "no success notice"
    return found.group(1)


def alert(page_text: str) -> str:
    found = re.search(r'role="alert" id="form-error">([^<]+)<', page_text)
    assert found, "no error shown"
    return found.group(1)


def test_without_a_session_settings_sends_to_the_login(app: App) -> None:
    response = browser(app).get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings"


def test_the_language_is_saved_to_the_account_and_remembered_here(app: App) -> None:
    client = signed_in(app)
    form = client.get("/settings")
    done = submit(client, form, "/settings/language", language="zh-Hans")
    assert done.status_code == 303
    assert done.headers["location"] == "/settings?saved=language"
    assert "simrenew_lang=zh-Hans" in done.headers["set-cookie"]
    assert auth.get_preferences(app.ctx, account(app)).language == "zh-Hans"
    # The next page is in the new language, whatever the browser asks for.
    assert saved_notice(client, done.headers["location"]) == "已保存你的语言。"
    assert "<h1>设置</h1>" in client.get("/settings").text


def test_an_unknown_language_is_refused(app: App) -> None:
    client = signed_in(app)
    refused = submit(client, client.get("/settings"), "/settings/language", language="fr")
    assert refused.status_code == 422
    assert alert(refused.text) == "Choose one of the languages listed."
    assert auth.get_preferences(app.ctx, account(app)).language == "zh-Hant"


def test_email_channels_and_opt_ins_are_saved(app: App) -> None:
    client = signed_in(app)
    form = client.get("/settings")
    assert "Security messages cannot be turned off" in form.text
    done = submit(
        client,
        form,
        "/settings/messages",
        email=" chan@example.com.hk ",
        by_sms="on",
        marketing="on",
    )
    assert done.status_code == 303
    assert saved_notice(client, done.headers["location"]) == "Your message choices are saved."
    saved = auth.get_preferences(app.ctx, account(app))
    assert saved.email == "chan@example.com.hk"
    n = saved.notifications
    assert (n.sms, n.email, n.reminders, n.marketing, n.in_app) == (True, False, False, True, True)
    page = client.get("/settings").text
    assert 'id="reminders" name="reminders" value="on" aria-describedby' in page  # unchecked
    assert 'id="marketing" name="marketing" value="on" checked' in page


def test_a_bad_email_is_shown_and_nothing_is_saved(app: App) -> None:
    client = signed_in(app)
    before = auth.get_preferences(app.ctx, account(app))
    refused = submit(client, client.get("/settings"), "/settings/messages", email="not-an-address")
    assert refused.status_code == 422
    assert "name@example.com" in alert(refused.text)
    assert 'value="not-an-address"' in refused.text  # what was typed stays
    assert auth.get_preferences(app.ctx, account(app)) == before


def test_the_anti_phishing_word_is_explained_saved_and_removed(app: App) -> None:
    client = signed_in(app)
    form = client.get("/settings")
    assert "Every real SMS and e-mail from us will carry it" in form.text
    done = submit(client, form, "/settings/anti-phishing", word="龍貓")
    assert done.headers["location"] == "/settings?saved=anti_phishing"
    assert saved_notice(client, done.headers["location"]) == "Your anti-phishing word is saved."
    assert account(app).anti_phishing_word == "龍貓"
    assert "<strong>龍貓</strong>" in client.get("/settings").text

    refused = submit(client, form, "/settings/anti-phishing", word="x")
    assert refused.status_code == 422
    assert "2 to 20" in alert(refused.text)
    assert account(app).anti_phishing_word == "龍貓"

    cleared = submit(client, form, "/settings/anti-phishing", word="", clear="1")
    assert (
        saved_notice(client, cleared.headers["location"]) == "Your anti-phishing word is removed."
    )
    assert account(app).anti_phishing_word is None


def test_auto_renew_is_stored_with_its_plan_and_saved_method_and_says_how_it_works(
    app: App,
) -> None:
    client = signed_in(app)
    card_id = card_id_of(app, ONE2)
    form = client.get("/settings")
    how = re.search(r'id="auto-renew-how">([^<]+)<', form.text)
    assert how and "at most once per period" in how.group(1)
    assert f'action="/settings/cards/{card_id}/auto-renew"' in form.text
    assert 'id="no-methods"' in form.text

    no_method = submit(
        client, form, f"/settings/cards/{card_id}/auto-renew", enabled="on", offer_code="ONE2-M1"
    )
    assert no_method.status_code == 422
    assert alert(no_method.text) == "Choose a saved payment method to charge."

    method = remember_card(app, account(app).id, ONE2, "ONE2-M1")
    form = client.get("/settings")
    assert f'<option value="{method.id}">SANDBOX •••• 4242</option>' in form.text
    done = submit(
        client,
        form,
        f"/settings/cards/{card_id}/auto-renew",
        enabled="on",
        offer_code="ONE2-M1",
        method_id=method.id,
    )
    assert done.status_code == 303
    assert saved_notice(client, done.headers["location"]) == "Your auto-renew choice is saved."
    setting = auth.get_auto_renew(app.ctx, account(app), card_id)
    assert (setting.enabled, setting.offer_code, setting.payment_token_id) == (
        True,
        "ONE2-M1",
        method.id,
    )
    page = client.get("/settings").text
    assert '<option value="ONE2-M1" selected>' in page
    assert f'<option value="{method.id}" selected>' in page

    refused = submit(client, form, f"/settings/cards/{card_id}/auto-renew", enabled="on")
    assert refused.status_code == 422
    assert alert(refused.text) == "Choose a plan to renew with."

    card = auth.list_cards(app.ctx, account(app))[0]
    assert card.validity_end is not None
    run_auto_renew_try(app.ctx, card_id, card.validity_end, AutoRenewTry.DAY_BEFORE)
    shown = re.search(rf'id="last-try-{card_id}">([^<]+)<', client.get("/settings").text)
    assert shown and "Last automatic renewal: " in shown.group(1)
    assert shown.group(1).split("·")[-1].strip() == "renewed"

    off = submit(client, form, f"/settings/cards/{card_id}/auto-renew", offer_code="ONE2-M1")
    assert off.status_code == 303
    assert auth.get_auto_renew(app.ctx, account(app), card_id).enabled is False


def test_a_saved_method_is_listed_and_deleted_and_auto_renew_pauses(app: App) -> None:
    client = signed_in(app)
    card_id = card_id_of(app, ONE2)
    method = remember_card(app, account(app).id, ONE2, "ONE2-M1")
    auth.set_auto_renew(
        app.ctx, account(app), card_id, enabled=True, offer_code="ONE2-M1",
        payment_token_id=method.id,
    )  # fmt: skip
    form = client.get("/settings")
    listed = re.search(rf'<li id="method-{method.id}">(.*?)</li>', form.text, re.S)
    assert listed and "SANDBOX •••• 4242" in listed.group(1)
    assert "Expires 11/2029" in listed.group(1)
    done = submit(client, form, f"/settings/payment-methods/{method.id}/delete")
    assert done.status_code == 303
    assert saved_notice(client, done.headers["location"].split("#")[0]) == (
        "The payment method is deleted. It will not be charged again."
    )
    assert 'id="no-methods"' in client.get("/settings").text
    assert auth.get_auto_renew(app.ctx, account(app), card_id).enabled is False


def test_auto_renew_of_someone_elses_card_is_not_found(app: App) -> None:
    theirs = card_id_of(app, OTHER)
    client = signed_in(app)
    refused = submit(
        client,
        client.get("/settings"),
        f"/settings/cards/{theirs}/auto-renew",
        enabled="on",
        offer_code="ONE2-M1",
    )
    assert refused.status_code == 404
    assert 'data-code="card_not_found"' in refused.text


def test_another_card_is_added_with_the_code_sent_to_its_own_number(app: App) -> None:
    client = signed_in(app)
    form = client.get("/settings/cards/bind")
    assert form.status_code == 200
    sent = submit(client, form, "/settings/cards/bind", number="6123 4567")
    assert sent.status_code == 200
    assert 'action="/settings/cards/bind/confirm"' in sent.text

    wrong = submit(client, sent, "/settings/cards/bind/confirm", number="6123 4567", code="000000")
    assert wrong.status_code == 400
    alert(wrong.text)
    assert len(auth.list_cards(app.ctx, account(app))) == 1

    code = sms_code(app, OTHER)
    done = submit(client, sent, "/settings/cards/bind/confirm", number="6123 4567", code=code)
    assert done.status_code == 303
    other_id = card_id_of(app, OTHER)
    assert done.headers["location"] == f"/cards?added={other_id}"
    assert saved_notice(client, done.headers["location"]) == (
        "Card +852 6123 4567 is now in your account."
    )
    assert [c.id for c in auth.list_cards(app.ctx, account(app))][-1] == other_id


def test_an_unknown_card_is_said_on_the_form(app: App) -> None:
    client = signed_in(app)
    refused = submit(client, client.get("/settings"), "/settings/cards/bind", number="98765432")
    assert refused.status_code == 404
    assert 'id="bind-number"' in refused.text
    alert(refused.text)


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("/settings/language", {"language": "en"}),
        ("/settings/messages", {"email": "a@example.com"}),
        ("/settings/anti-phishing", {"word": "龍貓"}),
        ("/settings/cards/{card_id}/auto-renew", {"enabled": "on", "offer_code": "ONE2-M1"}),
        ("/settings/cards/bind", {"number": "61234567"}),
        ("/settings/cards/bind/confirm", {"number": "61234567", "code": "123456"}),
    ],
)
def test_a_form_without_its_csrf_token_is_refused(
    app: App, action: str, fields: dict[str, str]
) -> None:
    client = signed_in(app)
    client.get("/settings")
    before = auth.get_preferences(app.ctx, account(app))
    response = client.post(action.format(card_id=card_id_of(app, ONE2)), data=fields)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert auth.get_preferences(app.ctx, account(app)) == before
    assert account(app).anti_phishing_word is None


@pytest.mark.parametrize(
    ("language", "heading"), [("zh-Hant", "設定"), ("zh-Hans", "设置"), ("en", "Settings")]
)
def test_the_settings_heading_is_in_each_language(app: App, language: str, heading: str) -> None:
    page = signed_in(app, language=language).get("/settings")
    assert f"<h1>{heading}</h1>" in page.text
