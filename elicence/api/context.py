"""Where a request comes from: its client address (trusted proxies only, see ``app/guard.py``)
and its request id, set once per request for the rate limits and the audit trail.

The request id is the caller's (or the reverse proxy's) ``X-Request-ID`` when it is a short
token, else a new one; it is echoed in the response's ``X-Request-ID`` header and recorded with
every privileged action of the request.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elicence.app import metrics
from elicence.app.trail import CONTEXT, RequestContext

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
HEADER = b"x-request-id"


class RequestContextMiddleware:
    """ASGI middleware: the client address and request id of every HTTP request, and its
    latency by route template (app/metrics.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = None
        forwarded_for: list[str] = []
        for name, value in scope["headers"]:
            if name == HEADER:
                asked = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
        request_id = asked if asked and REQUEST_ID.match(asked) else uuid.uuid4().hex
        peer = scope.get("client")
        svc: Any = getattr(scope["app"].state, "elicence", None)
        host = peer[0] if peer else None
        address = (
            svc.guard.client_address(host, forwarded_for) if svc is not None else host
        ) or "unknown"
        state = scope.setdefault("state", {})
        state["client_address"], state["request_id"] = address, request_id
        token = CONTEXT.set(RequestContext(request_id=request_id, address=address))
        started, status = time.perf_counter(), 500  # 500: the app raised before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            CONTEXT.reset(token)
            route = scope.get("route")
            metrics.request_done(
                getattr(route, "path", "unmatched"),
                scope["method"],
                status,
                time.perf_counter() - started,
            )
            if svc is not None:
                metrics.pool_use(svc)


def client_address(request: Request) -> str:
    """The address :class:`RequestContextMiddleware` found for this request."""
    address: str = request.scope.get("state", {}).get("client_address") or (
        request.client.host if request.client else "unknown"
    )
    return address


def request_id(request: Request) -> str:
    """The request id :class:`RequestContextMiddleware` gave this request."""
    rid: str = request.scope.get("state", {}).get("request_id") or "unknown"
    return rid


def current_request_id() -> str:
    """The request id of the request being served (for code that has no ``Request``)."""
    return CONTEXT.get().request_id or "unknown"
