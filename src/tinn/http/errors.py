"""Altinn's three error families, as exceptions any layer may raise.

Clients depend on which family an endpoint answers with (app notes 0.6), so the route decides
the family and the handler renders it exactly:

* :class:`Problem`: RFC 7807 ProblemDetails, null members omitted, extensions flattened.
* :class:`PlainError`: a bare message, as ``text/plain`` or as a JSON string literal.
* :class:`EmptyError`: status only (401/403 from authentication and authorization).
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json; charset=utf-8"
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

# The RFC 9110 section ASP.NET links for framework-generated problems.
RFC9110_TYPES = {
    400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
    403: "https://tools.ietf.org/html/rfc9110#section-15.5.4",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    405: "https://tools.ietf.org/html/rfc9110#section-15.5.6",
    406: "https://tools.ietf.org/html/rfc9110#section-15.5.7",
    409: "https://tools.ietf.org/html/rfc9110#section-15.5.10",
    412: "https://tools.ietf.org/html/rfc9110#section-15.5.13",
    413: "https://tools.ietf.org/html/rfc9110#section-15.5.14",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
    422: "https://tools.ietf.org/html/rfc9110#section-15.5.21",
    500: "https://tools.ietf.org/html/rfc9110#section-15.6.1",
}
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    428: "Precondition Required",
    500: "Internal Server Error",
}


def trace_id(request: Request | None = None) -> str:
    """W3C traceparent-style id, stable for one request."""
    if request is not None:
        existing: str | None = getattr(request.state, "trace_id", None)
        if existing:
            return existing
    value = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
    if request is not None:
        request.state.trace_id = value
    return value


class ApiError(Exception):
    """Base for errors rendered into an HTTP response."""

    status: int
    headers: dict[str, str] | None = None

    def render(self, request: Request) -> Response:
        raise NotImplementedError


class Problem(ApiError):
    def __init__(
        self,
        status: int,
        title: str | None = None,
        detail: str | None = None,
        *,
        type: str | None = None,
        instance: str | None = None,
        extensions: dict[str, Any] | None = None,
        media_type: str = JSON,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.instance = instance
        self.extensions = extensions or {}
        self.media_type = media_type
        self.headers = headers

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.type is not None:
            body["type"] = self.type
        if self.title is not None:
            body["title"] = self.title
        body["status"] = self.status
        if self.detail is not None:
            body["detail"] = self.detail
        if self.instance is not None:
            body["instance"] = self.instance
        body.update(self.extensions)
        return body

    def render(self, request: Request) -> Response:
        return Response(orjson.dumps(self.body()), self.status, self.headers, media_type=self.media_type)


def framework_problem(status: int, request: Request | None = None, **extensions: Any) -> Problem:
    """The problem ASP.NET writes for a bare ``NotFound()``/``Conflict()``/``BadRequest()``."""
    return Problem(
        status,
        REASONS.get(status, "Error"),
        type=RFC9110_TYPES.get(status),
        extensions={**extensions, "traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )


class PlainError(ApiError):
    """A bare message: ``text/plain`` or, where the controller produces JSON, a JSON string."""

    def __init__(self, status: int, message: str, *, json: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.json = json

    def render(self, request: Request) -> Response:
        if self.json:
            return Response(orjson.dumps(self.message), self.status, self.headers, media_type=JSON)
        return Response(self.message.encode(), self.status, self.headers, media_type=TEXT)


class EmptyError(ApiError):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(status))
        self.status = status
        self.headers = headers

    def render(self, request: Request) -> Response:
        return Response(b"", self.status, self.headers)


def unauthorized() -> EmptyError:
    return EmptyError(401, {"WWW-Authenticate": "Bearer"})


def forbidden() -> EmptyError:
    return EmptyError(403)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.render(request)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    """Model-binding failures: ASP.NET's ValidationProblemDetails."""
    assert isinstance(exc, RequestValidationError)
    errors: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        key = ".".join(loc) or "$"
        errors.setdefault(key, []).append(str(err.get("msg", "invalid value")))
    problem = Problem(
        400,
        "One or more validation errors occurred.",
        type=RFC9110_TYPES[400],
        extensions={"errors": errors, "traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )
    return problem.render(request)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Routing misses and method mismatches: empty body, as ASP.NET answers unmatched routes."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    return Response(b"", exc.status_code, headers)
