"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

from fastapi import FastAPI

from simrenew import __version__
from simrenew.bootstrap import App
from simrenew.web import idempotency, observability, problems
from simrenew.web.quick_limits import QuickLimits
from simrenew.web.routes import account, health, my_orders, orders, quick, sandbox, webhooks

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
    app.include_router(account.router)
    app.include_router(my_orders.router)
    app.state.quick_limits = QuickLimits()
    app.include_router(quick.router)
    app.include_router(orders.router)
    app.include_router(webhooks.router)
    if "sandbox" in application.ctx.providers:
        app.include_router(sandbox.router)
    idempotency.document_keys_as_required(app)
    return app
