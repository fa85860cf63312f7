"""The admin API over HTTP, on SQLite and PostgreSQL: staff HTTP Basic (one 401 for
every refusal, 403 for the wrong role, 429 after too many wrong passwords), the
outbox's and the jobs' backlog and dead letters, and retries written to the audit
log under the staff user's name."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from simrenew.bootstrap import App
from simrenew.db import tables as t
from simrenew.domain.jobs import MAX_ATTEMPTS, JobKind, JobState, PlannedJob
from simrenew.domain.outbox import OutboxKind
from simrenew.domain.staff import StaffRole
from simrenew.ports import PermanentDeliveryError
from simrenew.ratelimit import LimitsRateLimiter
from simrenew.services import auth
from simrenew.services.staff import add_staff, deactivate_staff
from simrenew.web.app import create_app
from simrenew.web.messages import MESSAGES
from simrenew.web.staff_auth import StaffGate
from tests.support import FixedClock

CARD = "+85251234567"
PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"


class RefusingSender:
    """An SmsSender whose gateway refuses every message for good."""

    def send_sms(self, to: str, text: str, *, message_id: str) -> None:
        raise PermanentDeliveryError(f"gateway refused {message_id}")


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture
def staffed(app: App) -> App:
    """The app with an admin, a customer-service user, an agent and a deactivated admin."""
    for username, role in (
        ("root.admin", StaffRole.ADMIN),
        ("cs.wong", StaffRole.CS),
        ("agent.chan", StaffRole.AGENT),
        ("gone.admin", StaffRole.ADMIN),
    ):
        add_staff(app.ctx, username, PASSWORD, role, actor="test")
    deactivate_staff(app.ctx, "gone.admin", actor="test")
    return app


def client_for(app: App, gate: StaffGate | None = None) -> TestClient:
    web = create_app(app)
    if gate is not None:
        web.state.staff_gate = gate
    return TestClient(web, base_url="https://testserver")


ADMIN = basic("root.admin", PASSWORD)


def dead_login_code(app: App) -> tuple[str, str]:
    """A login-code SMS that the gateway refused: its outbox id and the code's text."""
    auth.request_login_code(app.ctx, CARD, "203.0.113.9")
    assert replace(app.relay, sms=RefusingSender()).drain().dead == 1
    with app.engine.connect() as connection:
        row = connection.execute(select(t.outbox).where(t.outbox.c.state == "dead")).one()
    return row.id, row.payload["text"]


def dead_job(app: App, clock: FixedClock, kind: JobKind = JobKind.EXPIRE) -> str:
    """A job whose every attempt failed, through the repository as the worker does it."""
    now = clock.now()
    with app.uow() as uow:
        card = uow.cards.find(CARD)
        assert card is not None
        uow.jobs.add_many([PlannedJob(kind, card.id, "2026-12-21", now)], at=now)
        uow.commit()
    for _ in range(MAX_ATTEMPTS):
        with app.uow() as uow:
            [job] = uow.jobs.claim_due(
                worker="w1", now=clock.now(), lease_until=clock.now(), limit=1, kinds=[kind]
            )
            state = uow.jobs.fail(job.id, "w1", error="RuntimeError: gateway down", retry_at=now)
            uow.commit()
        clock.advance(timedelta(seconds=1))
    assert state is JobState.DEAD
    return job.id


def audit_actors(app: App, entity: str, entity_id: str) -> list[tuple[str, str, str]]:
    with app.uow(write=False) as uow:
        return [
            (row["to_state"], row["reason"], row["actor"])
            for row in uow.audit.list_for(entity, entity_id)  # type: ignore[attr-defined]
        ]


def problem(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


# --- authentication -----------------------------------------------------------------------


def test_every_refused_login_gets_the_same_401(staffed: App) -> None:
    client = client_for(staffed)
    refusals = {
        "none": {},
        "wrong password": basic("root.admin", "not the password"),
        "unknown user": basic("nobody.here", PASSWORD),
        "deactivated": basic("gone.admin", PASSWORD),
        "not a username": basic("Ö", PASSWORD),
        "malformed": {"Authorization": "Basic %%%not-base64"},
        "bearer": {"Authorization": "Bearer abc"},
    }
    answers = set()
    for headers in refusals.values():
        response = client.get("/api/v1/admin/outbox", headers=headers)
        body = problem(response, 401, "staff_login_failed")
        assert response.headers["www-authenticate"] == 'Basic realm="simrenew admin"'
        answers.add((body["title"], body["detail"], body["type"]))
    assert len(answers) == 1


def test_the_401_is_in_the_callers_language(staffed: App) -> None:
    response = client_for(staffed).get(
        "/api/v1/admin/outbox",
        headers={**basic("root.admin", "nope"), "Accept-Language": "zh-HK"},
    )
    body = problem(response, 401, "staff_login_failed")
    assert body["detail"] == MESSAGES["staff_login_failed"]["zh-Hant"][1]


@pytest.mark.parametrize("username", ["cs.wong", "agent.chan"])
def test_other_roles_are_refused_reading_and_retrying(staffed: App, username: str) -> None:
    client = client_for(staffed)
    credentials = basic(username, PASSWORD)
    for response in (
        client.get("/api/v1/admin/outbox", headers=credentials),
        client.get("/api/v1/admin/jobs/dead", headers=credentials),
        client.post("/api/v1/admin/outbox/dead/retry", headers={**credentials, **key()}),
        client.post("/api/v1/admin/jobs/dead/job_x/retry", headers={**credentials, **key()}),
    ):
        body = problem(response, 403, "staff_role_required")
        assert "admin" in body["detail"]


def test_wrong_passwords_for_one_user_are_limited_then_the_right_one_too(
    staffed: App,
) -> None:
    client = client_for(staffed, StaffGate(LimitsRateLimiter(), failures_per_user=3))
    wrong = basic("root.admin", "guess-guess-guess")
    for _ in range(3):
        problem(client.get("/api/v1/admin/outbox", headers=wrong), 401, "staff_login_failed")
    limited = client.get("/api/v1/admin/outbox", headers={**ADMIN, "Accept-Language": "en"})
    body = problem(limited, 429, "staff_login_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert f"retry in {limited.headers['retry-after']} seconds" in body["detail"]
    # Another user is not held back by someone guessing at root.admin.
    other = basic("cs.wong", PASSWORD)
    problem(client.get("/api/v1/admin/outbox", headers=other), 403, "staff_role_required")


def test_successful_calls_are_not_counted(staffed: App) -> None:
    client = client_for(staffed, StaffGate(LimitsRateLimiter(), failures_per_user=2))
    for _ in range(5):
        assert client.get("/api/v1/admin/outbox", headers=ADMIN).status_code == 200


def test_wrong_passwords_from_one_address_are_limited_across_usernames(staffed: App) -> None:
    gate = StaffGate(LimitsRateLimiter(), failures_per_user=10, failures_per_ip=3)
    client = client_for(staffed, gate)
    for username in ("a.one", "b.two", "c.three"):
        response = client.get("/api/v1/admin/outbox", headers=basic(username, "x" * 12))
        problem(response, 401, "staff_login_failed")
    limited = client.get("/api/v1/admin/outbox", headers=ADMIN)
    problem(limited, 429, "rate_limited")
    assert "retry-after" in limited.headers


# --- the outbox ----------------------------------------------------------------------------


def test_admin_sees_the_backlog_and_the_dead_letters_without_their_text(
    staffed: App, clock: FixedClock
) -> None:
    message_id, text = dead_login_code(staffed)
    with staffed.uow() as uow:
        uow.outbox.add(
            OutboxKind.SMS, {"to": CARD, "text": "due soon"}, at=clock.now() - timedelta(90)
        )
        uow.outbox.add(
            OutboxKind.SMS,
            {"to": CARD, "text": "later"},
            at=clock.now(),
            available_at=clock.now() + timedelta(hours=1),
        )
        uow.commit()
    client = client_for(staffed)

    backlog = client.get("/api/v1/admin/outbox", headers=ADMIN)
    assert backlog.status_code == 200, backlog.text
    assert backlog.json() == {
        "counts": {"pending": 2, "delivered": 0, "dead": 1},
        "oldest_due_seconds": 90 * 24 * 3600,
    }

    dead = client.get("/api/v1/admin/outbox/dead", headers=ADMIN)
    assert dead.status_code == 200
    [letter] = dead.json()
    assert letter["id"] == message_id
    assert (letter["kind"], letter["message_kind"], letter["attempts"]) == (
        "sms",
        "login_code",
        1,
    )
    assert letter["recipient"] == "+852****4567"
    assert letter["last_error"].startswith("PermanentDeliveryError: gateway refused")
    code = "".join(c for c in text if c.isdigit())[-6:]
    assert len(code) == 6 and code in text
    assert code not in dead.text
    assert text not in dead.text
    assert CARD not in dead.text


def test_admin_retries_one_dead_letter_and_the_audit_log_names_them(staffed: App) -> None:
    message_id, _ = dead_login_code(staffed)
    client = client_for(staffed)

    missing = client.post("/api/v1/admin/outbox/dead/msg_nope/retry", headers={**ADMIN, **key()})
    problem(missing, 404, "dead_letter_not_found")

    retried = client.post(
        f"/api/v1/admin/outbox/dead/{message_id}/retry", headers={**ADMIN, **key()}
    )
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"retried": 1}
    assert audit_actors(staffed, "outbox", message_id) == [
        ("pending", "retried", "staff:root.admin")
    ]
    counts = client.get("/api/v1/admin/outbox", headers=ADMIN).json()["counts"]
    assert (counts["pending"], counts["dead"]) == (1, 0)
    # Back in the queue: a working gateway delivers it.
    assert staffed.relay.drain().delivered == 1

    again = client.post(f"/api/v1/admin/outbox/dead/{message_id}/retry", headers={**ADMIN, **key()})
    problem(again, 404, "dead_letter_not_found")


def test_admin_retries_every_dead_letter(staffed: App, clock: FixedClock) -> None:
    first, _ = dead_login_code(staffed)
    clock.advance(timedelta(minutes=5))  # past the resend cooldown
    auth.request_login_code(staffed.ctx, CARD, "203.0.113.9")
    assert replace(staffed.relay, sms=RefusingSender()).drain().dead == 1
    client = client_for(staffed)

    response = client.post("/api/v1/admin/outbox/dead/retry", headers={**ADMIN, **key()})
    assert response.status_code == 200, response.text
    assert response.json() == {"retried": 2}
    with staffed.engine.connect() as connection:
        ids = connection.scalars(select(t.outbox.c.id).where(t.outbox.c.state == "pending"))
        pending = set(ids)
    assert first in pending and len(pending) == 2
    for message_id in pending:
        assert audit_actors(staffed, "outbox", message_id) == [
            ("pending", "retried", "staff:root.admin")
        ]
    again = client.post("/api/v1/admin/outbox/dead/retry", headers={**ADMIN, **key()})
    assert again.json() == {"retried": 0}


def test_a_retry_needs_an_idempotency_key_and_a_repeat_replays(staffed: App) -> None:
    message_id, _ = dead_login_code(staffed)
    client = client_for(staffed)
    path = f"/api/v1/admin/outbox/dead/{message_id}/retry"
    problem(client.post(path, headers=ADMIN), 400, "idempotency_key_missing")

    headers = {**ADMIN, **key()}
    first = client.post(path, headers=headers)
    repeat = client.post(path, headers=headers)
    assert (first.json(), repeat.json()) == ({"retried": 1}, {"retried": 1})
    assert repeat.headers["idempotent-replayed"] == "true"
    assert len(audit_actors(staffed, "outbox", message_id)) == 1


# --- scheduled jobs --------------------------------------------------------------------------


def test_admin_sees_dead_jobs_and_retries_one_then_all(staffed: App, clock: FixedClock) -> None:
    expire = dead_job(staffed, clock, JobKind.EXPIRE)
    remind = dead_job(staffed, clock, JobKind.REMIND_7D)
    client = client_for(staffed)

    backlog = client.get("/api/v1/admin/jobs", headers=ADMIN)
    assert backlog.status_code == 200, backlog.text
    assert backlog.json()["counts"]["dead"] == 2
    dead = client.get("/api/v1/admin/jobs/dead", headers=ADMIN)
    assert dead.status_code == 200
    assert {(j["id"], j["kind"], j["attempts"], j["last_error"]) for j in dead.json()} == {
        (expire, "expire", MAX_ATTEMPTS, "RuntimeError: gateway down"),
        (remind, "remind_7d", MAX_ATTEMPTS, "RuntimeError: gateway down"),
    }

    problem(
        client.post("/api/v1/admin/jobs/dead/job_nope/retry", headers={**ADMIN, **key()}),
        404,
        "dead_job_not_found",
    )
    one = client.post(f"/api/v1/admin/jobs/dead/{expire}/retry", headers={**ADMIN, **key()})
    assert one.json() == {"retried": 1}
    rest = client.post("/api/v1/admin/jobs/dead/retry", headers={**ADMIN, **key()})
    assert rest.json() == {"retried": 1}

    after = client.get("/api/v1/admin/jobs", headers=ADMIN).json()
    assert (after["counts"]["dead"], after["oldest_due_seconds"]) == (0, 0)
    for job_id in (expire, remind):
        assert audit_actors(staffed, "job", job_id) == [("pending", "retried", "staff:root.admin")]
        with staffed.uow(write=False) as uow:
            job = uow.jobs.get(job_id)
        assert job is not None and (job.state, job.attempts) == (JobState.PENDING, 0)


def test_the_new_problem_codes_speak_three_languages() -> None:
    for code in (
        "staff_login_failed",
        "staff_login_limited",
        "staff_role_required",
        "dead_letter_not_found",
        "dead_job_not_found",
    ):
        assert set(MESSAGES[code]) == {"zh-Hant", "zh-Hans", "en"}, code
