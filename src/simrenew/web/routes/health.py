"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from simrenew.db.migrate import current_revision, head_revision
from simrenew.web.deps import AppDep
from simrenew.web.observability import refresh_gauges

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="The database answers and its schema is current",
    responses={503: {"description": "Not ready: database unreachable or migrations pending"}},
)
def readyz(app: AppDep, response: Response) -> dict[str, str]:
    try:
        with app.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current, head = current_revision(app.engine), head_revision()
    except Exception as exc:  # any failure to reach the database means "not ready"
        response.status_code = 503
        return {"status": "unavailable", "reason": type(exc).__name__}
    if current != head:
        response.status_code = 503
        return {"status": "migrations pending", "schema": str(current), "code": str(head)}
    return {"status": "ready", "schema": str(current)}


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(app: AppDep, request: Request) -> Response:
    collected = request.app.state.metrics
    refresh_gauges(app, collected)
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)
