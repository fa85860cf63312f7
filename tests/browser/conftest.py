"""Browser tests: Playwright drives Debian's Chromium against a live server.

* Chromium comes from ``$SIMRENEW_CHROMIUM`` or ``/usr/bin/chromium``
  (``make test`` installs Debian's as root through ``scripts/system-packages.sh``).
  Without it the browser tests are skipped with the reason printed, except in CI
  (``CI=true``), where a missing Chromium is a failure: CI must never skip them.
* ``live_server``: ``simrenew serve --demo`` in a subprocess on a free 127.0.0.1 port
  with its own SQLite file, fresh for each test module.
* ``page``: a new browser context and page per test; the test fails if the page logs
  a console error, throws, or violates its Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.browser.support import (
    CHROMIUM_ARGS,
    IN_CI,
    LiveServer,
    PageProblems,
    chromium_missing,
    chromium_path,
    start_live_server,
)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


def require_chromium() -> Path:
    problem = chromium_missing()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"Chromium is required in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    return chromium_path()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    require_chromium()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=require_chromium(), headless=True, args=CHROMIUM_ARGS, timeout=60_000
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_live_server(tmp_path_factory.mktemp("live-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def context(browser: Browser, page_problems: PageProblems) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", timezone_id="Asia/Hong_Kong"
    )
    context.set_default_timeout(15_000)
    page_problems.attach(context)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test that passed still fails if its pages had console errors or CSP
    violations."""
    result = yield
    problems = getattr(item, "funcargs", {}).get("page_problems")
    if isinstance(problems, PageProblems):
        problems.settle()
        if problems.problems:
            pytest.fail(problems.report(), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test shows the end of the live server's stderr."""
    report = yield
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and isinstance(server, LiveServer):
        report.sections.append(("live server stderr (last lines)", server.stderr_tail()))
    return report
