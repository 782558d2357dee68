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
        headers = (
            {"WWW-Authenticate": "Bearer"}
            if status == 401
            else {"Retry-After": "60"}
            if status == 429
            else None
        )
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
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal_error", "an internal error occurred"), 500)
