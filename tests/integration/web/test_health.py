"""Operations endpoints and the problem+json contract for unmatched routes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from simrenew.bootstrap import App
from simrenew.web.app import create_app


def test_health_ready_and_metrics(app: App) -> None:
    client = TestClient(create_app(app))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'simrenew_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in (
        metrics.text
    )
    assert 'simrenew_outbox_messages{state="dead"} 0.0' in metrics.text
    assert 'simrenew_payments_not_final{state="unknown"} 0.0' in metrics.text


def test_unknown_route_is_a_problem_in_the_callers_language(app: App) -> None:
    client = TestClient(create_app(app))
    default = client.get("/no/such/thing")
    english = client.get("/no/such/thing", headers={"Accept-Language": "en"})
    simplified = client.get("/no/such/thing", headers={"Accept-Language": "zh-CN"})
    for response in (default, english, simplified):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
        assert response.headers["x-request-id"] == response.json()["request_id"]
    assert english.json()["title"] == "Not found"
    assert default.json()["detail"] != english.json()["detail"]
    assert simplified.headers["content-language"] == "zh-Hans"
    assert default.headers["content-language"] == "zh-Hant"


def test_readyz_reports_pending_migrations(app: App) -> None:
    from simrenew.db.migrate import downgrade, upgrade

    downgrade(app.engine, "0001")
    try:
        response = TestClient(create_app(app)).get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "migrations pending"
    finally:
        upgrade(app.engine)
