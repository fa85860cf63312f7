"""RFC 9457 ``application/problem+json`` for every error, in the caller's language.

Every body has ``type``, ``title``, ``status``, ``detail`` and our stable ``code``;
never a stack trace or an internal id. Domain errors map by their ``status``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from simrenew.domain.errors import DomainError, ImportInvalid
from simrenew.web.languages import negotiate
from simrenew.web.messages import translate

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://simrenew.example.hk/problems/"

# Paths that only machines call: their errors are always problem+json.
_MACHINE_PATHS = ("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi")


def wants_page(request: Request) -> bool:
    """A browser asking for a page gets its error as a page (see web/pages/errors.py)."""
    return (
        getattr(request.app.state, "page_errors", None) is not None
        and not request.url.path.startswith(_MACHINE_PATHS)
        and "text/html" in request.headers.get("accept", "")
    )


class Problem(Exception):
    """An HTTP-level problem raised by the web layer itself (auth, headers)."""

    def __init__(
        self, status: int, code: str, detail: str, *, title: str | None = None, **params: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or code.replace("_", " ").capitalize()
        self.params = params
        self.headers: dict[str, str] = {}


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    params: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_page(request):
        render: Any = request.app.state.page_errors
        page: Response = render(
            request, status=status, code=code, title=title, detail=detail, params=params or {}
        )
        page.headers.update(headers or {})
        return page
    language = negotiate(request.headers.get("accept-language"))
    title, detail = translate(code, language, params or {}, title=title, detail=detail)
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(
        body,
        status_code=status,
        media_type=MEDIA_TYPE,
        headers={"Content-Language": language, **(headers or {})},
    )


def domain_problem(request: Request, exc: DomainError) -> Response:
    """The problem for a domain error; also used where a response must be built before
    it leaves the route (the idempotency layer stores it)."""
    extra: dict[str, Any] = {}
    if isinstance(exc, ImportInvalid):
        extra["problems"] = [str(p) for p in exc.problems]
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=type(exc).__name__,
        detail=exc.message,
        params=dict(exc.params),
        extra=extra,
    )


def web_problem(request: Request, exc: Problem) -> Response:
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        params=exc.params,
        headers=exc.headers,
    )


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a problem."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return domain_problem(request, exc)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return web_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body"),
                "message": str(error.get("msg", "")),
            }
            for error in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(
            request,
            status=422,
            code="validation_error",
            title="Invalid input",
            detail=f"The request is not valid: {summary}",
            params={"errors": summary},
            extra={"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route that matched the
            # path; a path served by several routes (GET page, POST form) has more.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(
            request,
            status=exc.status_code,
            code=code,
            title=code.replace("_", " ").capitalize(),
            detail=str(exc.detail),
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "-")
        log.exception("unhandled error in request %s", request_id)
        return problem_response(
            request,
            status=500,
            code="internal_error",
            title="Internal error",
            detail=f"We could not handle the request; please try again later. "
            f"Reference: {request_id}",
            params={"request_id": request_id},
            # This answer is made outside the request-id middleware, so it sets the
            # header itself: the client quotes it to support.
            headers={"X-Request-Id": request_id},
        )
