"""The one place that maps elicence errors to HTTP. Every error body is
``{"error": {"code", "message", "field"?}}``; a 5xx is a bug (or an unavailable dependency).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from elicence import errors

log = logging.getLogger("elicence.api")

STATUS: list[tuple[type[errors.Error], int]] = [
    (errors.AuthenticationError, 401),
    (errors.PermissionDeniedError, 403),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.DuplicateSourceRefError, 409),
    (errors.PayloadTooLargeError, 413),
    (errors.RateLimitedError, 429),
    (errors.InputError, 422),
    (errors.SealError, 422),
    (errors.KeyCustodyError, 503),
    (errors.RegistryError, 503),
    (errors.DocumentError, 503),
    (errors.SettingsError, 503),
]


def status_of(exc: errors.Error) -> int:
    if isinstance(exc, errors.CatalogueError):
        return 422 if exc.field else 503
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return {"error": body}


def _loc(loc: tuple[Any, ...]) -> str | None:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.Error)
    async def _domain(_request: Request, exc: errors.Error) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("service unavailable: %s", exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, errors.RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(error_body(exc.code, exc.message, exc.field), status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        if first.get("type") == "json_invalid":
            return JSONResponse(
                error_body("invalid_json", "the request body is not valid JSON"), 400
            )
        field = _loc(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        if first.get("type") == "missing":
            message = "is required"
        elif first.get("type") == "extra_forbidden":
            message = "is not a field of this request"
        return JSONResponse(error_body("invalid_input", message, field), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthenticated",
        }.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal_error", "an internal error occurred"), 500)


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
