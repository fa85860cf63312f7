"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

from fastapi import FastAPI

from simrenew import __version__
from simrenew.bootstrap import App
from simrenew.web import observability, problems
from simrenew.web.routes import health

DESCRIPTION = """\
The simrenew API: check a card, choose a renewal, pay, confirm.

Errors are RFC 9457 `application/problem+json` with a stable `code` and a message in
the language of `Accept-Language` (zh-Hant, zh-Hans, en). Every mutating call takes an
`Idempotency-Key`: a repeat replays the first response.
"""


def create_app(application: App) -> FastAPI:
    """The HTTP API over an already wired ``App`` (see ``simrenew.bootstrap.build``)."""
    app = FastAPI(
        title="simrenew",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.simrenew = application
    app.state.metrics = observability.Metrics()
    problems.install(app)
    observability.install(app, app.state.metrics)
    app.include_router(health.router)
    # routers: account (login, my cards, settings) — see routes/account*.py
    # routers: quick top-up, orders, webhooks, sandbox checkout — see routes/*.py
    return app
