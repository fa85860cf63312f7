"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from simrenew import __version__
from simrenew.bootstrap import App
from simrenew.ratelimit import LimitsRateLimiter
from simrenew.web import idempotency, observability, problems
from simrenew.web.pages import errors as page_errors
from simrenew.web.pages.routers import ROUTERS
from simrenew.web.quick_limits import QuickLimitPolicy, QuickLimits
from simrenew.web.routes import (
    account,
    admin,
    health,
    my_orders,
    orders,
    quick,
    sandbox,
    sms_receipts,
    webhooks,
)
from simrenew.web.staff_auth import StaffGate

DESCRIPTION = """\
The simrenew API: check a card, choose a renewal, pay, confirm.

Errors are RFC 9457 `application/problem+json` with a stable `code` and a message in
the language of `Accept-Language` (zh-Hant, zh-Hans, en). Every mutating call takes an
`Idempotency-Key`: a repeat replays the first response.
"""


STATIC = Path(__file__).parent.joinpath("static")


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
    settings = application.settings
    limiter = application.ctx.auth.limiter if application.ctx.auth else LimitsRateLimiter()
    app.state.quick_limits = QuickLimits(
        limiter,
        QuickLimitPolicy(
            lookup_per_ip=settings.quick_lookups_per_ip_minute,
            lookup_per_number=settings.quick_lookups_per_number_minute,
            order_per_ip=settings.quick_orders_per_ip_minute,
            order_per_number=settings.quick_orders_per_number_minute,
        ),
    )
    app.include_router(quick.router)
    app.include_router(orders.router)
    app.include_router(sms_receipts.router)
    app.include_router(webhooks.router)
    app.state.staff_gate = StaffGate(limiter)
    app.include_router(admin.router)
    if "sandbox" in application.ctx.providers:
        app.include_router(sandbox.router)
    idempotency.document_keys_as_required(app)
    page_errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
