"""Steps the browser tests share, taken through the pages as a person would: switch
the language with the page's own switcher, log in with the code the server's dev
inbox received, renew a card, pay on the sandbox's hosted page, and follow the order
on its result page.

Expected texts come from the pages' catalogs (``say(language, msgid)``), never
hard-coded Chinese, so a changed translation changes the test's expectation too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml
from playwright.sync_api import Locator, Page, Route, expect

from simrenew.domain.cards import mask_number
from simrenew.web.i18n import translations
from tests.browser.support import LiveServer, PageProblems, latest_sms, login_code, wait_for

LANGUAGES = ("zh-Hant", "zh-Hans", "en")
# Long enough for the worker to deliver and a result page to refresh (every 2 s) a few
# times; a passing step takes a fraction of it.
SETTLE_MS = 15_000
CATALOG = Path(__file__).resolve().parents[2] / "src" / "simrenew" / "demo" / "catalog.yaml"
RESULT_URL = re.compile(r"/orders/([^/?#]+)/result$")
KIOSK_DONE_URL = re.compile(r"/kiosk/orders/([^/?#]+)/done$")


# --- texts ----------------------------------------------------------------------------


def say(language: str, msgid: str, **values: Any) -> str:
    """``msgid`` as the pages write it in ``language`` (gettext, then the values)."""
    text = translations(language).gettext(msgid)
    return text % values if values else text


def say_pattern(language: str, msgid: str) -> re.Pattern[str]:
    """``msgid`` in ``language`` as a whole-text pattern, any value in its
    ``%(name)s`` places."""
    parts = re.split(r"%\(\w+\)s", translations(language).gettext(msgid))
    return re.compile("^" + ".+?".join(re.escape(part) for part in parts) + "$")


@cache
def _offers() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    return {
        offer["code"]: offer for line in data["product_lines"] for offer in line.get("offers", [])
    }


def offer_name(code: str, language: str) -> str:
    """An offer's name in ``language``, from the demo catalogue."""
    name: str = _offers()[code]["name"][language]
    return name


def masked(number: str) -> str:
    return mask_number(number)


def html_lang(page: Page) -> str:
    return str(page.locator("html").get_attribute("lang"))


def expect_language(page: Page, language: str, heading: str) -> None:
    """The page is in ``language``: its ``lang`` attribute and its translated h1."""
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("heading", level=1)).to_have_text(say(language, heading))


def switch_language(page: Page, language: str) -> None:
    """Choose ``language`` with the page's switcher: the nav labelled "Language" in the
    page's current language, and its link with that ``hreflang``."""
    current = html_lang(page)
    switcher = page.get_by_role("navigation", name=say(current, "Language"), exact=True)
    link = switcher.locator(f'a[hreflang="{language}"]')
    expect(link).to_have_count(1)
    link.click()
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(
        page.get_by_role("navigation", name=say(language, "Language"), exact=True).locator(
            f'a[hreflang="{language}"]'
        )
    ).to_have_attribute("aria-current", "true")


# --- logging in -----------------------------------------------------------------------


def request_code(page: Page, number: str, language: str) -> datetime:
    """On the login page: type the number, press "Send code"; the time just before."""
    expect_language(page, language, "Log in")
    page.get_by_label(say(language, "Mobile number"), exact=True).fill(number)
    asked = datetime.now(UTC)
    page.get_by_role("button", name=say(language, "Send code"), exact=True).click()
    expect_language(page, language, "Enter your code")
    return asked


def enter_code(page: Page, server: LiveServer, number: str, language: str, asked: datetime) -> None:
    """On the code page: the code from the dev inbox's SMS, then "Log in"."""
    code = login_code(latest_sms(server, number, since=asked))
    page.get_by_label(say(language, "6-digit code"), exact=True).fill(code)
    page.get_by_role("button", name=say(language, "Log in"), exact=True).click()


def log_in(page: Page, server: LiveServer, number: str, language: str = "en") -> None:
    """Log in through the pages and land on "My cards" in ``language``."""
    page.goto(f"{server.url}/login?lang={language}")
    asked = request_code(page, number, language)
    enter_code(page, server, number, language, asked)
    expect(page).to_have_url(re.compile(r"/cards$"))
    expect_language(page, language, "My cards")


# --- cards and renewing ---------------------------------------------------------------


def card_item(page: Page, number_spaced: str) -> Locator:
    """The card of "My cards" whose heading is the (spaced) number."""
    return page.locator("li.card").filter(
        has=page.get_by_role("heading", name=number_spaced, exact=True)
    )


def choose_offer(page: Page, code: str, language: str) -> Locator:
    """Check the offer's radio button by its label (name, description, price...)."""
    radio = page.get_by_role("radio", name=re.compile(re.escape(offer_name(code, language))))
    expect(radio).to_have_count(1)
    radio.check()
    expect(radio).to_be_checked()
    return radio


def offer_price(page: Page, code: str, language: str) -> str:
    """The price the offers page shows for ``code`` (the label's ``.price``)."""
    item = page.locator("li.offer").filter(has_text=offer_name(code, language))
    return item.locator(".price").first.inner_text().strip()


# --- paying ---------------------------------------------------------------------------


def choose_sandbox(page: Page, language: str) -> None:
    """Where the form offers more than one way to pay ("Pay with"), take the sandbox's
    test payment; with the sandbox alone there is nothing to choose."""
    choices = page.get_by_role("group", name=say(language, "Pay with"), exact=True)
    if choices.count():
        sandbox = choices.get_by_role(
            "radio", name=say(language, "Test payment (sandbox)"), exact=True
        )
        sandbox.check()
        expect(sandbox).to_be_checked()


def pay_on_sandbox(page: Page, *, amount: str | None = None, action: str = "Pay") -> None:
    """On the sandbox's hosted page: check the amount, press Pay (or Decline)."""
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/"))
    expect(page.get_by_role("heading", name="Sandbox checkout")).to_be_visible()
    if amount is not None:
        expect(page.locator("#amount")).to_have_text(amount)
    page.get_by_role("button", name=action, exact=True).click()


def result_order_id(page: Page) -> str:
    """On ``/orders/{id}/result``: the order's id."""
    expect(page).to_have_url(RESULT_URL)
    found = RESULT_URL.search(urlsplit(page.url).path)
    assert found, page.url
    return found.group(1)


def expect_outcome(page: Page, outcome: str) -> None:
    """``#outcome[data-outcome]`` reaches ``outcome``; the page refreshes itself while
    it waits, and ``expect`` follows it through the reloads."""
    expect(page.locator("#outcome")).to_have_attribute("data-outcome", outcome, timeout=SETTLE_MS)


@contextmanager
def reloads_held(page: Page, url: re.Pattern[str]) -> Iterator[None]:
    """Hold the page's own reloads of ``url`` at the network while the block runs: a
    page that refreshes itself every 2 s stays put while it is photographed and axe
    checks it (axe's script must not run across a reload). Released after."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(url, hold)
    try:
        yield
    finally:
        page.unroute(url)
        for route in held:
            route.continue_()


def forgive_error_status(problems: PageProblems, status: int, path: str) -> None:
    """A page served with an error status on purpose (a form sent back with its
    error, a "not found" page) makes Chromium log a failed load: drop exactly that,
    and fail on anything else the watcher saw."""
    problems.settle()
    expected = [
        p for p in problems.problems if f"status of {status}" in p and path in p.split(": ")[0]
    ]
    others = [p for p in problems.problems if p not in expected]
    assert expected, f"no failed load of {path} with {status} was seen"
    assert not others, problems.report()
    problems.clear()


# --- the server's side ----------------------------------------------------------------


def confirmation_sms(server: LiveServer, number: str, order_id: str) -> str:
    """The SMS to ``number`` that names ``order_id`` (the confirmation), waiting for it."""

    def found() -> str | None:
        for message in server.inbox().list(recipient=number, limit=20):
            if message.channel == "sms" and order_id in message.body:
                return message.body
        return None

    return wait_for(found, timeout=SETTLE_MS / 1000, what=f"an SMS to {number} about {order_id}")


def order_state(api: httpx.Client, order_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def activate_with_quick_topup(server: LiveServer, number: str, offer: str) -> str:
    """Renew ``number`` through the API and the sandbox's page (as a setup step, not
    under test here): the order's id once it is fulfilled."""
    with server.client() as api:
        placed = api.post(
            "/api/v1/quick-topup/orders",
            json={"number": number, "offer_code": offer, "pay_with": "sandbox"},
            headers={"Idempotency-Key": f"browser-setup-{number}-{offer}"},
        )
        assert placed.status_code == 201, placed.text
        checkout = placed.json()
        url = urlsplit(checkout["checkout_url"])
        (session,) = parse_qs(url.query)["session"]
        paid = api.post(url.path, data={"session": session, "action": "pay"})
        assert paid.status_code in (200, 303), paid.text
        order_id: str = checkout["order_id"]

        def fulfilled() -> str | None:
            return order_id if order_state(api, order_id)["state"] == "fulfilled" else None

        return wait_for(fulfilled, timeout=SETTLE_MS / 1000, what=f"{number} to be renewed")
