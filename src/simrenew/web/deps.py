"""Dependencies the routes declare, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from simrenew.bootstrap import App
from simrenew.services.context import Context
from simrenew.web.languages import negotiate
from simrenew.web.problems import Problem


def get_app(request: Request) -> App:
    application: App = request.app.state.simrenew
    return application


def get_ctx(request: Request) -> Context:
    return get_app(request).ctx


def get_language(accept_language: Annotated[str | None, Header()] = None) -> str:
    return negotiate(accept_language)


def get_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="A unique key per intended operation (1-128 visible ASCII characters); "
            "repeating a request with the same key replays its first response.",
        ),
    ] = None,
) -> str:
    if not idempotency_key:
        raise Problem(
            400, "idempotency_key_missing", "This request needs an Idempotency-Key header."
        )
    if not (1 <= len(idempotency_key) <= 128) or not all(
        33 <= ord(c) <= 126 for c in idempotency_key
    ):
        raise Problem(
            400,
            "idempotency_key_invalid",
            "An Idempotency-Key is 1 to 128 visible ASCII characters.",
        )
    return idempotency_key


AppDep = Annotated[App, Depends(get_app)]
CtxDep = Annotated[Context, Depends(get_ctx)]
LanguageDep = Annotated[str, Depends(get_language)]
IdempotencyKeyDep = Annotated[str, Depends(get_idempotency_key)]
