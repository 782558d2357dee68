"""HTTP: the one place that maps elicence errors to HTTP. Every error body is
``{"error": {"code", "message", "field"?}}``; a 5xx is a bug (or an unavailable dependency).

Invariants: a 5xx body never carries an exception's own text (SQL, parameters, hosts, ports,
file paths): it says in fixed words what is unavailable and what to do, with the request id
(``"request_id"``, also the ``X-Request-ID`` header), and the exception with its causes goes to
the log under that id. An error body is always encodable: text that cannot be written as UTF-8
(a lone surrogate echoed from the input) is replaced, never turned into a 500.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from elicence import errors
from elicence.api.context import HEADER as REQUEST_ID_HEADER
from elicence.api.context import current_request_id, request_id

log = logging.getLogger("elicence.api")
CLIENT_CLOSED = 499  # the client hung up before its request was read (never sent: it is gone)

# The HTTP status of each kind of error (elicence.errors.Kind; docs/errors.md).
STATUS: dict[errors.Kind, int] = {
    errors.Kind.BAD_INPUT: 422,
    errors.Kind.UNREADABLE: 400,
    errors.Kind.TOO_LARGE: 413,
    errors.Kind.UNAUTHENTICATED: 401,
    errors.Kind.FORBIDDEN: 403,
    errors.Kind.NOT_FOUND: 404,
    errors.Kind.CONFLICT: 409,
    errors.Kind.RATE_LIMITED: 429,
    errors.Kind.UNAVAILABLE: 503,
    errors.Kind.INTEGRITY: 503,
}


def status_of(exc: errors.Error) -> int:
    """The HTTP status of ``exc``: its kind's."""
    return STATUS[exc.kind]


# What a caller is told when a dependency fails: fixed words, never the exception's text.
UNAVAILABLE: list[tuple[type[errors.Error], str]] = [
    (errors.KeyCustodyError, "the signing keys are unavailable"),
    (errors.RegistryError, "the licence registry is unavailable"),
    (errors.DocumentError, "the document service is unavailable"),
    (errors.CatalogueError, "the licence catalogue is unavailable"),
    (errors.SettingsError, "this service is not configured for this request"),
    (errors.MirrorError, "the upstream registry is unavailable"),
    (errors.LogIntegrityError, "the event log failed its integrity check"),
]
# The codes this transport makes itself, not an elicence error's (docs/errors.md lists them).
INVALID_JSON, INVALID_INPUT, INTERNAL_ERROR, HTTP_ERROR = (
    "invalid_json",
    "invalid_input",
    "internal_error",
    "http_error",
)
HTTP_EXCEPTION_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
}
TRANSPORT_CODES = frozenset(
    {INVALID_JSON, INVALID_INPUT, INTERNAL_ERROR, HTTP_ERROR, *HTTP_EXCEPTION_CODES.values()}
)
_UNENCODABLE = re.compile("[\ud800-\udfff]")


def safe_text(text: str) -> str:
    """``text`` with what UTF-8 cannot carry (lone surrogates) replaced by U+FFFD."""
    return _UNENCODABLE.sub("\ufffd", text)


def error_body(
    code: str, message: str, field: str | None = None, *, request: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": safe_text(message)}
    if field:
        body["field"] = safe_text(field)
    if request:
        body["request_id"] = request
    return {"error": body}


def unavailable_message(exc: errors.Error | None, rid: str) -> str:
    """The words a caller gets for a 5xx: what failed and what to do, with the request id."""
    what = next((m for cls, m in UNAVAILABLE if isinstance(exc, cls)), "an internal error occurred")
    return f"{what}: try again later; if it persists, give the operator the request id {rid}"


def render(exc: errors.Error, rid: str | None = None) -> tuple[int, dict[str, Any]]:
    """``exc``'s status and error body; a 5xx's details go to the log under the request id
    (``rid``, or the current request's)."""
    status = status_of(exc)
    rid = rid or current_request_id()
    if status < 500:
        return status, error_body(exc.code, exc.message, exc.field)
    log.error(
        "request %s: %s (%s): %s",
        rid,
        status,
        exc.code,
        exc,
        exc_info=exc,
        extra={"request_id": rid},
    )
    return status, error_body(exc.code, unavailable_message(exc, rid), request=rid)


class ErrorResponse(JSONResponse):
    """A JSON error body that can always be sent (unencodable text replaced, not raised)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", errors="replace")


def _loc(loc: tuple[Any, ...]) -> str | None:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


def domain_response(exc: errors.Error, rid: str) -> JSONResponse:
    """The answer to a domain error: its status, its body, and the headers its status asks for
    (``WWW-Authenticate`` with a 401, ``Retry-After`` with a 429)."""
    status, body = render(exc, rid)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, errors.RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    return ErrorResponse(body, status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.Error)
    async def _domain(request: Request, exc: errors.Error) -> JSONResponse:
        return domain_response(exc, request_id(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        if first.get("type") == "json_invalid":
            return ErrorResponse(
                error_body(INVALID_JSON, "the request body is not valid JSON"), 400
            )
        field = _loc(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        if first.get("type") == "missing":
            message = "is required"
        elif first.get("type") == "extra_forbidden":
            message = "is not a field of this request"
        return ErrorResponse(error_body(INVALID_INPUT, message, field), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_EXCEPTION_CODES.get(exc.status_code, HTTP_ERROR)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        if exc.status_code >= 500:
            rid = request_id(request)
            log.error(
                "request %s: %s: %s", rid, exc.status_code, exc.detail, extra={"request_id": rid}
            )
            body = error_body(code, unavailable_message(None, rid), request=rid)
            return ErrorResponse(body, exc.status_code, headers=headers)
        return ErrorResponse(error_body(code, str(exc.detail)), exc.status_code, headers=headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _exc: ClientDisconnect) -> Response:
        # The client hung up before its request was read (a load generator stopping, a timed
        # out caller): nothing to answer, nothing wrong here. One line, no traceback; 499 (the
        # status nginx logs for it) in the metrics.
        rid = request_id(request)
        log.info(
            "request %s: the client disconnected before its request was read (%s %s)",
            rid,
            request.method,
            request.url.path,
            extra={"request_id": rid},
        )
        return Response(status_code=CLIENT_CLOSED)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # Runs outside the request's middleware (Starlette's ServerErrorMiddleware): the request
        # id comes from the scope, and the response carries its header itself.
        rid = request_id(request)
        log.error("request %s: unhandled error", rid, exc_info=exc, extra={"request_id": rid})
        body = error_body(INTERNAL_ERROR, unavailable_message(None, rid), request=rid)
        return ErrorResponse(body, 500, headers={REQUEST_ID_HEADER.decode(): rid})


def allowed_methods(request: Request) -> str:
    """Every method some route of the app answers at this request's path (``Allow`` of a
    405: Starlette names only the methods of the first route that matched the path)."""
    scope = {k: v for k, v in request.scope.items() if k in ("type", "path", "root_path", "app")}
    allowed = [
        method
        for method in METHODS
        if any(
            route.matches({**scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "fit to show a user"},
                "field": {"type": "string", "description": "the input that was wrong"},
                "request_id": {
                    "type": "string",
                    "description": "on a 5xx: the request id to give the operator (the log "
                    "holds the details under it; also the X-Request-ID header)",
                },
            },
        }
    },
}
_DESCRIPTIONS = {
    "400": "the body is not readable (not JSON, not UTF-8, not the declared type)",
    "401": "missing, unknown, expired or rotated-out API key",
    "404": "no such resource for this client",
    "422": "a field breaks a rule: the error names the field and the rule",
    "429": "rate limited: try again after the Retry-After header's seconds",
    "503": "a dependency (registry, keys, time-stamping) is unavailable",
}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}


def document(schema: dict[str, Any]) -> None:
    """Declare in an OpenAPI document every error status an operation can answer, each with
    the one error body (``Error``) instead of FastAPI's own validation error shape.

    What can happen, by operation: 400 and 422 where there is a body or a parameter, 401 and
    429 (bad API keys are rate limited) where an API key is accepted, 404 where the path names
    something, 503 everywhere.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            added = {"503"}
            if "requestBody" in operation:
                added |= {"400", "422"}
            if operation.get("parameters"):
                added.add("422")
            if operation.get("security"):
                added |= {"401", "429"}
            if "{" in path:
                added.add("404")
            for code in added:
                responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {"application/json": {"schema": ref}}
                    if code == "422":
                        response["description"] = _DESCRIPTIONS["422"]
                    if code == "429":
                        response["headers"] = _RETRY_AFTER
