"""Schemathesis against the app's own OpenAPI: up to 150 generated requests per
operation (fewer only where the inputs allow fewer), no server error, no response
that breaks the documented schema.

Runs on SQLite with the demo data: the point is the contract, which does not depend
on the database (the API tests run on both).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from simrenew.bootstrap import build
from simrenew.config import Settings
from simrenew.db.engine import make_engine
from simrenew.db.migrate import upgrade
from simrenew.demo.seed import demo_text
from simrenew.services.cards import import_cards
from simrenew.services.catalog import import_catalog
from simrenew.web.app import create_app


def _demo_app() -> FastAPI:
    # Built when the module is collected: schemathesis needs the schema then. The
    # database is a throw-away SQLite file with the demo catalogue and cards.
    directory = tempfile.mkdtemp(prefix="simrenew-fuzz-")
    atexit.register(shutil.rmtree, directory, True)
    path = Path(directory) / "simrenew.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    application = build(Settings(database_url=url, smtp_host=None), engine=engine)
    import_catalog(application.ctx, demo_text("catalog.yaml"))
    import_cards(application.ctx, demo_text("cards.csv"))
    return create_app(application)


# Operations whose input is only valid with a signature made from a secret.
SIGNED_OPERATIONS = frozenset(
    {
        "receive_webhook",
        "show_sandbox_checkout",
        "complete_sandbox_checkout",
        "show_sandbox_checkout_result",
    }
)

# Operations whose input is only valid with a code sent by SMS, or with a number that
# the numbering plan (not a JSON schema) says is a mobile in an allowed country.
CODE_OPERATIONS = frozenset(
    {
        "request_login_code",
        "create_session",
        "request_card_binding_code",
        "confirm_card_binding",
    }
)

schema = schemathesis.openapi.from_asgi("/openapi.json", _demo_app())


@schema.parametrize()
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_keeps_its_documented_contract(case: schemathesis.Case) -> None:
    if case.headers and "Idempotency-Key" in case.headers:
        # A key names one intended operation; the generator would reuse "0" for
        # different bodies, which is (correctly) a 422 ``idempotency_key_reused``.
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    if case.operation.definition.raw.get("operationId") in SIGNED_OPERATIONS | CODE_OPERATIONS:
        # A generated request cannot carry a valid HMAC, so "schema-valid data is
        # accepted" cannot hold there; every other check still does.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])
    else:
        case.call_and_validate()
