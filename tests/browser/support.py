"""Browser-test helpers: Debian's Chromium, a live ``simrenew serve --demo`` in a
subprocess, the dev inbox, screenshots, axe-core and the page-problem watcher.

Nothing here downloads a browser: Playwright drives the Chromium found at
``$SIMRENEW_CHROMIUM`` or ``/usr/bin/chromium`` (``scripts/system-packages.sh --browser``
installs Debian's).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, ViewportSize

from simrenew.db.engine import make_engine
from simrenew.notify.dev_inbox import DevInbox

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Headless, as root in CI, with nothing phoning home (the machine has no network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORTS: dict[str, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    "desktop": {"width": 1280, "height": 800},
}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21aa"]

# The demo data (src/simrenew/demo/seed.py and cards.csv).
DEMO_ACTIVE = "+85291234567"  # active, English, with past orders and usage
DEMO_GRACE = "+85261234567"  # validity ran out: in grace
DEMO_STOCK = "+85251234567"  # never renewed: still in stock, Traditional Chinese

_T = TypeVar("_T")


# --- Chromium ------------------------------------------------------------------------


def chromium_path() -> Path:
    return Path(os.environ.get("SIMRENEW_CHROMIUM") or DEFAULT_CHROMIUM)


def chromium_missing() -> str | None:
    """None if Chromium can be launched from ``chromium_path()``, else why not."""
    path = chromium_path()
    if path.is_file() and os.access(path, os.X_OK):
        return None
    if os.environ.get("SIMRENEW_CHROMIUM"):
        return (
            f"Chromium not found at {path} (SIMRENEW_CHROMIUM): point it at a Chromium, "
            "or unset it and install Debian's chromium (apt-get install chromium) "
            "to run the browser tests"
        )
    return (
        f"Chromium not found at {path}: install Debian's chromium "
        "(apt-get install chromium) to run the browser tests"
    )


# --- waiting -------------------------------------------------------------------------


def wait_for(
    probe: Callable[[], _T | None],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
    page: Page | None = None,
) -> _T:
    """Call ``probe`` until it returns something other than None; fail after ``timeout``.

    Pass ``page`` when the probe waits on browser events: Playwright's sync API
    delivers them only while it is called, so the wait is the page's own, not a sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            told = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {told}")
        if page is not None:
            page.wait_for_timeout(interval * 1000)
        else:
            time.sleep(interval)


# --- the live server -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """``simrenew serve --demo`` on its own port and its own SQLite file."""

    url: str
    database: Path
    workdir: Path
    process: subprocess.Popen[bytes]
    _engine: Any = field(default=None, repr=False)

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / "server.stderr"

    def stderr_tail(self, lines: int = 60) -> str:
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"(no stderr: {exc})"
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

    def inbox(self) -> DevInbox:
        """The server's dev inbox, read straight from its database file."""
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return DevInbox(self._engine)

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 10.0)
        kwargs.setdefault("headers", {"Accept-Language": "en"})
        return httpx.Client(base_url=self.url, **kwargs)

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # uvicorn shuts down cleanly
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _server_env(port: int, database: Path) -> dict[str, str]:
    # The developer's own SIMRENEW_* (a PostgreSQL URL, Redis, SMTP...) stay out.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMRENEW_")}
    env.update(
        SIMRENEW_DATABASE_URL=f"sqlite:///{database}",
        SIMRENEW_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SIMRENEW_OFFICIAL_DOMAIN="simrenew.example.hk",
        # JSON: pydantic-settings decodes list settings as JSON before any validator.
        SIMRENEW_SANDBOX_SECRETS='["browser-test-sandbox-secret"]',
        SIMRENEW_LOGIN_SECRET="browser-test-login-secret",
        SIMRENEW_WORKER_POLL_MS="50",  # SMS reach the dev inbox quickly
        PYTHONUNBUFFERED="1",
    )
    return env


def _start(workdir: Path, port: int) -> LiveServer:
    database = workdir / "simrenew.db"
    command = [
        sys.executable,
        "-c",
        "from simrenew.cli import app; app(prog_name='simrenew')",
        "serve",
        "--demo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with (
        (workdir / "server.stdout").open("wb") as stdout,
        (workdir / "server.stderr").open("wb") as stderr,
    ):
        process = subprocess.Popen(
            command,
            cwd=workdir,  # no .env of the developer's is read
            env=_server_env(port, database),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    return LiveServer(f"http://127.0.0.1:{port}", database, workdir, process)


def _ready(server: LiveServer, deadline: float) -> None:
    with httpx.Client(timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"the live server exited with {server.process.returncode} before it was "
                    f"ready; its stderr:\n{server.stderr_tail()}"
                )
            try:
                if client.get(f"{server.url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"the live server at {server.url} was not ready in time; "
                    f"its stderr:\n{server.stderr_tail()}"
                )
            time.sleep(0.05)


def start_live_server(workdir: Path, *, timeout: float = 60.0) -> LiveServer:
    """Start the server, seed the demo and wait for ``/readyz``. Another process may
    take the free port first: then it is tried again on another."""
    for attempt in range(3):
        server = _start(workdir, free_port())
        try:
            _ready(server, time.monotonic() + timeout)
        except RuntimeError:
            server.stop()
            if attempt < 2 and "address already in use" in server.stderr_tail().lower():
                continue
            raise
        return server
    raise AssertionError("unreachable")


# --- the dev inbox -------------------------------------------------------------------


def latest_sms(
    server: LiveServer, number: str, *, since: datetime | None = None, timeout: float = 10.0
) -> str:
    """The text of the newest SMS to ``number`` (E.164) in the server's dev inbox,
    waiting for one to arrive (sent at or after ``since``, when given)."""

    def newest() -> str | None:
        messages = [m for m in server.inbox().list(recipient=number, limit=5) if m.channel == "sms"]
        if messages and (since is None or messages[0].created_at >= since):
            return messages[0].body
        return None

    return wait_for(newest, timeout=timeout, what=f"an SMS to {number} in the dev inbox")


def login_code(sms: str) -> str:
    """The code of a login or binding SMS (it ends with ``@domain #123456``)."""
    found = re.search(r"#(\d{6})\s*$", sms)
    assert found, f"no login code in the SMS: {sms!r}"
    return found.group(1)


# --- screenshots ---------------------------------------------------------------------


def screenshot(page: Page, name: str) -> list[Path]:
    """The whole page at phone (390×844) and desktop (1280×800) size, saved as
    ``test-artifacts/screenshots/<name>-phone.png`` and ``<name>-desktop.png``."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"screenshot name must be a plain file name: {name!r}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    saved = []
    try:
        for label, size in VIEWPORTS.items():
            page.set_viewport_size(size)
            path = SCREENSHOTS / f"{name}-{label}.png"
            page.screenshot(path=path, full_page=True)
            saved.append(path)
    finally:
        if original is not None:
            page.set_viewport_size(original)
    return saved


# --- accessibility -------------------------------------------------------------------


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page for WCAG 2.0 A/AA and 2.1 AA. Injected with
    ``page.evaluate``, which the page's Content-Security-Policy does not block."""
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    results = Axe().run(page, options=options)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation.get('impact') or 'n/a'}): {violation['help']}"
            f" [{violation.get('helpUrl', '')}]"
        )
        for node in violation["nodes"][:10]:
            lines.append(f"    at {' >> '.join(map(str, node['target']))}")
        if len(violation["nodes"]) > 10:
            lines.append(f"    ... and {len(violation['nodes']) - 10} more")
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    if violations:
        raise AssertionError(
            f"{len(violations)} accessibility violation(s) ({', '.join(AXE_TAGS)}) on "
            f"{page.url}:\n{describe_violations(violations)}"
        )


# --- console errors and CSP violations -----------------------------------------------

_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__simrenewCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"}` +
    (event.sourceFile ? ` at ${event.sourceFile}:${event.lineNumber}` : "") +
    (event.sample ? ` (${event.sample})` : ""));
});
"""


def _implicit_favicon(message: ConsoleMessage) -> bool:
    """Chromium asks every origin for ``/favicon.ico`` on its own, and logs the 404 as
    a console error; a page that names its icon gets that one checked like any other."""
    return urlsplit(message.location.get("url", "")).path == "/favicon.ico"


@dataclass
class PageProblems:
    """Console errors, uncaught page errors and CSP violations of every page of a
    browser context. A test using the ``page`` fixture fails if any were seen; one
    that expects some reads ``problems`` and calls ``clear()``."""

    problems: list[str] = field(default_factory=list)
    _context: BrowserContext | None = field(default=None, repr=False)

    def attach(self, context: BrowserContext) -> None:
        self._context = context
        context.expose_function("__simrenewCspViolation", self._on_csp)
        context.add_init_script(_CSP_LISTENER)
        context.on("page", self._watch)

    def settle(self, ms: float = 50) -> None:
        """Let events the browser already sent reach the listeners (the sync API
        delivers them only while it is called)."""
        pages = self._context.pages if self._context is not None else []
        if pages and not pages[0].is_closed():
            pages[0].wait_for_timeout(ms)

    def _watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if _implicit_favicon(message):
                return
            if message.type == "error" or "Content Security Policy" in message.text:
                self.problems.append(f"console {message.type} on {page.url}: {message.text}")

        def on_page_error(error: Error) -> None:
            self.problems.append(f"uncaught error on {page.url}: {error.message}")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)

    def _on_csp(self, description: str) -> None:
        self.problems.append(f"Content Security Policy violation: {description}")

    def clear(self) -> None:
        self.problems.clear()

    def report(self) -> str:
        return f"{len(self.problems)} problem(s) in the browser:\n" + "\n".join(
            f"- {problem}" for problem in self.problems
        )
