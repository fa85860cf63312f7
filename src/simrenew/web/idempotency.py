"""HTTP idempotency: a repeated mutating request gets the first response, byte for byte.

``idempotent(request, key, run, body=...)`` wraps a route's work:

1. claim the key, in its own short transaction, for (caller, method, route template)
   and a hash of the method, the path and the canonical body;
2. same request already completed → its stored status, headers and body;
   same key with another request → 422 ``idempotency_key_reused``;
   same request still running → 409 ``idempotency_in_progress`` with ``Retry-After``;
3. otherwise run the work and store what it answered, problems included, since a
   client retrying a refused request should be told the same thing again.

Answers worth retrying (5xx, 429, a service-level "in progress") are not stored: the
claim is released so that the retry runs for real. A claim left unfinished for 60 s
(the process died) is taken over by the next repeat.

The claim lives outside the route's use-case transaction on purpose: it must be
visible to concurrent duplicates before the work starts, and it must survive the
work failing. This is web-edge plumbing, like the problem handlers, not a use case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from simrenew.bootstrap import App
from simrenew.db import idempotent_requests as store
from simrenew.domain.errors import DomainError, IdempotencyKeyReused
from simrenew.web.problems import Problem, domain_problem, web_problem

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers the server sets per response, never part of what is replayed.
_NOT_STORED = frozenset({"content-length", "x-request-id", "date", "server"})
_RETRYABLE_CODES = frozenset({"idempotency_in_progress", "rate_limited"})


def document_keys_as_required(app: FastAPI) -> None:
    """Say in the OpenAPI document what the routes enforce: ``Idempotency-Key`` is
    required, 1-128 visible ASCII characters. (The dependency takes it as optional so
    that a missing key is our 400 ``idempotency_key_missing`` problem, not a generic
    validation error.)"""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for parameter in operation.get("parameters", ()):
                    if parameter.get("in") == "header" and parameter.get("name") == HEADER:
                        parameter["required"] = True
                        parameter["schema"] = {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 128,
                            "pattern": "^[!-~]{1,128}$",
                            "title": HEADER,
                        }
                        parameter["example"] = "9b2c4a1e-6f0d-4c3b-8a7e-1d2f3a4b5c6d"
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def request_hash(method: str, path: str, body: BaseModel | None) -> str:
    """The request's identity: method, path, and the body as parsed, in canonical JSON
    (key order, whitespace and omitted defaults do not make two requests differ)."""
    canonical = json.dumps(
        [method.upper(), path, body.model_dump(mode="json") if body is not None else None],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def scope_for(request: Request, identity: str) -> str:
    """Keys are the caller's own: the same key from another caller, or on another
    route, is another key."""
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    scope = f"{identity} {request.method} {template}"
    # The column holds 96 characters; a long identity is hashed rather than cut, so
    # that two scopes never collide by truncation.
    return scope if len(scope) <= 96 else hashlib.sha256(scope.encode()).hexdigest()


def in_progress(key: str) -> Problem:
    problem = Problem(
        409,
        "idempotency_in_progress",
        f"A request with idempotency key {key!r} is still being processed; retry.",
        title="Request in progress",
        key=key,
    )
    problem.headers["Retry-After"] = "1"
    return problem


def idempotent(
    request: Request,
    key: str,
    run: Callable[[], Response],
    *,
    body: BaseModel | None = None,
    identity: str = "anonymous",
) -> Response:
    """Run ``run`` at most once per (caller, route, key); see the module docstring.
    Raises ``IdempotencyKeyReused`` and the 409 ``Problem``; every other error of
    ``run`` is turned into its problem response here, so that it can be stored."""
    app: App = request.app.state.simrenew
    engine = app.engine
    scope = scope_for(request, identity)
    digest = request_hash(request.method, request.url.path, body)
    claim = store.claim(engine, scope, key, digest, app.ctx.clock.now())
    if claim.status is store.ClaimStatus.REPLAY:
        assert claim.response_status is not None
        return Response(
            content=claim.body,
            status_code=claim.response_status,
            headers={**claim.headers, REPLAYED_HEADER: "true"},
        )
    if claim.status is store.ClaimStatus.MISMATCH:
        raise IdempotencyKeyReused(key=key)
    if claim.status is store.ClaimStatus.IN_PROGRESS:
        raise in_progress(key)

    retryable = False
    try:
        response = run()
    except DomainError as exc:
        response = domain_problem(request, exc)
        retryable = exc.status >= 500 or exc.code in _RETRYABLE_CODES
        if exc.code == "idempotency_in_progress":
            response.headers["Retry-After"] = "1"
    except Problem as exc:
        response = web_problem(request, exc)
        retryable = exc.status >= 500 or exc.code in _RETRYABLE_CODES
    except BaseException:
        # Unexpected: the problem handler answers 500; the key stays usable.
        store.release(engine, scope, key, digest)
        raise
    if retryable or response.status_code >= 500:
        store.release(engine, scope, key, digest)
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _NOT_STORED}
    store.complete(
        engine,
        scope,
        key,
        digest,
        status=response.status_code,
        headers=headers,
        body=bytes(response.body),
        now=app.ctx.clock.now(),
    )
    return response
