"""Request ids, structured access logs and Prometheus metrics.

Logs are one JSON object per line and carry no personal data beyond masked numbers:
paths are logged by their route template (``/api/v1/cards/{card_id}``), never with
the values in them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select

from simrenew.bootstrap import App
from simrenew.db import tables as t

log = logging.getLogger("simrenew.access")


class Metrics:
    """One registry per app, so that tests and several apps in one process do not
    share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "simrenew_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "simrenew_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            # Seconds, as the strings prometheus-client accepts: no float literals here.
            buckets=("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5"),
            registry=self.registry,
        )
        self.orders = Gauge("simrenew_orders", "Orders by state", ["state"], registry=self.registry)
        self.outbox = Gauge(
            "simrenew_outbox_messages",
            "Outbox messages by state",
            ["state"],
            registry=self.registry,
        )
        self.payments_open = Gauge(
            "simrenew_payments_not_final",
            "Payments pending or unknown (what the janitor re-checks)",
            ["state"],
            registry=self.registry,
        )
        self.payments_for_review = Gauge(
            "simrenew_payments_for_review",
            "Payments flagged for manual review: not final after the janitor's last check",
            registry=self.registry,
        )


def refresh_gauges(app: App, metrics: Metrics) -> None:
    with app.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
        orders = connection.execute(
            select(t.orders.c.state, func.count()).group_by(t.orders.c.state)
        ).all()
        outbox = connection.execute(
            select(t.outbox.c.state, func.count()).group_by(t.outbox.c.state)
        ).all()
        # Open payments, and how many of them are flagged (COUNT of a column skips NULL).
        open_payments = connection.execute(
            select(t.payments.c.state, func.count(), func.count(t.payments.c.review_since))
            .where(t.payments.c.state.in_(("pending", "unknown")))
            .group_by(t.payments.c.state)
        ).all()
    payments = [(state, count) for state, count, _ in open_payments]
    metrics.payments_for_review.set(sum(flagged for _, _, flagged in open_payments))
    for gauge, rows, states in (
        (metrics.orders, orders, ()),
        (metrics.outbox, outbox, ("pending", "delivered", "dead")),
        (metrics.payments_open, payments, ("pending", "unknown")),
    ):
        for state in states:
            gauge.labels(state=state).set(0)
        for state, count in rows:
            gauge.labels(state=state).set(count)


def install(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("x-request-id", "")
        request_id = (
            incoming if 8 <= len(incoming) <= 64 and incoming.isalnum() else uuid.uuid4().hex
        )
        request.state.request_id = request_id
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, template, str(response.status_code)).inc()
        metrics.latency.labels(request.method, template).observe(elapsed)
        response.headers["X-Request-Id"] = request_id
        log.info(
            json.dumps(
                {
                    "request_id": request_id,
                    "method": request.method,
                    "route": template,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 1),
                },
                separators=(",", ":"),
            )
        )
        return response
