"""How a request enters the service: each route's body limit, what is checked before a body is
read, and the one decoder of JSON bodies.

Every route of the app is an :class:`EdgeRoute` (FastAPI reads a body before it solves a route's
dependencies, so the order is kept here, around FastAPI's own handler). For a request:

1. its API key, where the route takes one: a bad key is answered 401 (429 past the
   ``auth-failures`` limit), a route that needs a key and got none 401, before any body is read;
2. the route's rate-limit bucket, if it has one (verification, progress), is charged;
3. the route's own check, if it has one (a page that needs a signed-in session);
4. a ``Content-Length`` over the route's limit is refused (413) without reading;
5. the body is read up to the limit and no further (a chunked body is cut off at the limit:
   413), then, where the route takes JSON, decoded once, by :func:`decode_json`.

The JSON verification, the hot path of every hall, is answered before routing by a fast lane
(``routers/verify.VerifyLane``) that takes these steps in this order itself, with the same
functions, and hands any request it does not answer on to its route, charged once
(:func:`charge_once`).

A malformed body (over the limit, not JSON, not the route's shape) is charged to the sender's
``bad-bodies`` bucket (its client, or its address without a key: ``app/guard.py``); past that
limit the answer is 429. Invariants: no route reads more than its limit (``limit`` of
:func:`edge`, else :data:`SMALL`); a request without a body reads nothing; the answers of routes
that take an API key carry ``Cache-Control: no-store`` (what they say depends on who asks).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncGenerator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from elicence.api.auth import (
    CLIENT_STATE,
    authenticate,
    cached_client,
    client_refused,
    needs_recheck,
    optional_client,
    required_client,
    service,
)
from elicence.api.context import client_address
from elicence.api.inputs import check_form, check_json, check_parameters
from elicence.domain import inputs
from elicence.errors import AuthenticationError, Error, MalformedBodyError, PayloadTooLargeError

KIB = 1024
SMALL = 16 * KIB  # verification, progress, grants, lifecycle reasons, hall steps, page forms
LICENCE = 64 * KIB  # one issuance request or amendment (its data items), the console's draft
BULK = 128 * KIB  # up to 1,000 identifiers
IMPORT_CHUNK = 1024 * KIB  # the console's import: up to 200 issuance requests
BATCH = 4096 * KIB  # a batch: up to 1,000 issuance requests
DECODE_IN_THREAD = 64 * KIB  # a larger JSON body is decoded off the event loop

F = TypeVar("F", bound=Callable[..., Any])
_UNDECODED: Any = object()


class Charge(StrEnum):
    """The rate-limit bucket a route charges before its body is read."""

    VERIFY = "verify"
    VERIFY_PDF = "verify-pdf"
    PROGRESS = "progress"


@dataclass(frozen=True, slots=True)
class Edge:
    limit: int = SMALL
    charge: Charge | None = None
    # a check before the body is read: a response answers the request (e.g. "sign in first")
    precheck: Callable[[Request], Response | None] | None = None
    # the route re-checks a cached key's client itself (api/auth.cached_client), so steps 1
    # and 2 run on the event loop, with no trip to the thread pool, when the key is cached and
    # the rate limits are counted in this process
    rechecks: bool = False


def edge(
    limit: int = SMALL,
    *,
    charge: Charge | None = None,
    precheck: Callable[[Request], Response | None] | None = None,
    rechecks: bool = False,
) -> Callable[[F], F]:
    """Declare a route's body limit, the bucket it charges, its check before reading, and
    whether it re-checks a cached key's client itself (``rechecks``)."""

    def mark(endpoint: F) -> F:
        endpoint.__elicence_edge__ = Edge(  # type: ignore[attr-defined]
            limit, charge, precheck, rechecks
        )
        return endpoint

    return mark


def edge_of(endpoint: Callable[..., Any]) -> Edge:
    found: Edge = getattr(endpoint, "__elicence_edge__", Edge())
    return found


def decode_json(data: bytes, *, field: str | None = None) -> Any:
    """The one decoder of JSON request bodies: strict UTF-8, no duplicate keys, no NaN or
    Infinity, nesting as deep as the parser allows; anything else is a :class:`MalformedBodyError`
    (400 for a whole body; 422 naming ``field`` for JSON inside a body, such as the ``application``
    part of a multipart upload). The body was bounded before (its route's limit), so this is too."""
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_object,
            parse_constant=_constant,
            parse_int=_int,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        what = "is not valid JSON" if field else "the request body is not valid JSON"
        raise MalformedBodyError(f"{what}: {_why(e)}", field=field) from None
    return check_json(value)  # the text rule on every decoded value (api/inputs.py): 422


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return out


def _int(digits: str) -> int:
    """An integer literal; one too long to be within ±2^53 is not converted at all (Python
    refuses over 4,300 digits, with a message about its own internals) but stands in as the
    first out-of-range value, so that :func:`check_json` refuses it with 422 naming its field."""
    if len(digits.lstrip("-")) > len(str(inputs.MAX_JSON_INT)):
        return inputs.MAX_JSON_INT + 1
    return int(digits)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _why(e: Exception) -> str:
    if isinstance(e, UnicodeDecodeError):
        return "it is not UTF-8"
    if isinstance(e, RecursionError):
        return "it is nested too deeply"
    return str(e)


class BodyRequest(Request):
    """A request whose body the edge has read (and, for JSON, decoded) already."""

    def __init__(self, request: Request, body: bytes, decoded: Any = _UNDECODED) -> None:
        super().__init__(request.scope, request.receive)
        self._read, self._decoded = body, decoded

    async def body(self) -> bytes:
        return self._read

    async def stream(self) -> AsyncGenerator[bytes, None]:
        yield self._read
        yield b""

    async def json(self) -> Any:
        if self._decoded is _UNDECODED:
            self._decoded = decode_json(self._read)
        return self._decoded


class EdgeRoute(APIRoute):
    """A route whose requests go through the steps of the module docstring.

    Its parameters, decoded JSON body and form fields pass the text rule (``api/inputs.py``);
    ``reads_forms``: also a URL-encoded form the operation reads itself (the pages).
    """

    reads_forms = False

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if (self.methods or set()) & {
            "POST",
            "PUT",
            "PATCH",
        }:  # the OpenAPI document states the limit
            limit = f"the request body is larger than {edge_of(endpoint).limit:,} bytes"
            known = self.responses.get(413, {}).get("description")
            self.responses[413] = {"description": f"{known}; {limit}" if known else limit}
            self.responses.setdefault(
                429, {"description": "too many malformed bodies from this sender (Retry-After)"}
            )

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        endpoint = self.endpoint
        needs = _client_need(self.dependant)
        json_body = self.body_field is not None and not isinstance(
            self.body_field.field_info, params.Form
        )
        form_body = self.body_field is not None and not json_body
        reads_forms = self.reads_forms

        async def gate(request: Request) -> Response:
            policy, client = edge_of(endpoint), None
            if needs == "required" and "authorization" not in request.headers:  # 1
                raise AuthenticationError(
                    "this call needs an API key: Authorization: Bearer <api key>",
                    field="Authorization",
                )
            if policy.charge is not None and policy.rechecks and on_the_loop(request, needs):
                client = request.scope.get("state", {}).get(CLIENT_STATE)
                charge_once(request, policy.charge, client)
            elif policy.charge is not None:  # 1 and 2 in one trip to the thread pool
                client = await run_in_threadpool(
                    _authenticate_and_charge, request, policy.charge, needs is not None
                )
            elif needs is not None:  # 1
                client = await run_in_threadpool(authenticate, request)
            if policy.precheck is not None:  # 3
                answer = await run_in_threadpool(policy.precheck, request)
                if answer is not None:
                    return answer
            check_parameters(request)  # the text rule on path and query parameters: 422
            try:
                if _has_body(request):
                    body = await _read(request, policy.limit)  # 4, 5
                    decoded: Any = _UNDECODED
                    if json_body and _is_json(request):
                        decoded = (
                            await run_in_threadpool(decode_json, body)
                            if len(body) > DECODE_IN_THREAD
                            else decode_json(body)
                        )
                    request = BodyRequest(request, body, decoded)
                    if (form_body or reads_forms) and _is_form(request):
                        form = await request.form()  # kept: the operation reads the same form
                        setattr(request, "_form", check_form(form))  # noqa: B010 (its cache)
                response = await handler(request)
            except (MalformedBodyError, PayloadTooLargeError):
                await run_in_threadpool(_bad_body, request, client)
                raise
            except RequestValidationError as e:
                if any(tuple(err.get("loc", ()))[:1] == ("body",) for err in e.errors()):
                    await run_in_threadpool(_bad_body, request, client)
                raise
            except Error:
                if needs_recheck(request):  # a disabled client hears 401, not the error
                    await run_in_threadpool(client_refused, request)
                raise
            if needs is not None and "cache-control" not in response.headers:
                response.headers["Cache-Control"] = "no-store"
            return response

        return gate


_HOT_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="elicence-hot")
R = TypeVar("R")


async def in_thread(fn: Callable[..., R], *args: Any) -> R:
    """``fn(*args)`` on a thread of the hot routes' own pool, in the caller's context (the
    request id): as Starlette's ``run_in_threadpool``, for less (asyncio's executor, without
    anyio's capacity limiter and worker bookkeeping on every call)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HOT_POOL, contextvars.copy_context().run, fn, *args)


def _client_need(dependant: Any) -> str | None:
    """``required`` or ``optional`` when the route (or a dependency of it) takes an API key."""
    calls, stack = set(), [dependant]
    while stack:
        d = stack.pop()
        calls.add(d.call)
        stack.extend(d.dependencies)
    if required_client in calls:
        return "required"
    return "optional" if optional_client in calls else None


def _authenticate_and_charge(request: Request, charge: Charge, takes_key: bool) -> Any:
    """Steps 1 and 2 for a route that charges a bucket: its client (None without a key, or
    for a route that takes none), then the charge."""
    client = authenticate(request) if takes_key else None
    charge_once(request, charge, client)
    return client


def on_the_loop(request: Request, needs: str | None) -> bool:
    """Whether steps 1 and 2 need no trip to the thread pool: the rate limits are counted in
    this process, and the request has no key (or the route takes none), or one whose look-up
    is cached (its client is then kept, unchecked: the route re-checks it)."""
    if not service(request).guard.local:
        return False
    if needs is None or "authorization" not in request.headers:
        request.scope.setdefault("state", {})[CLIENT_STATE] = None
        return True
    return cached_client(request) is not None


CHARGED = "elicence.charged"  # the request's rate-limit bucket is charged (scope state)


def charge_once(request: Request, charge: Charge, client: Any) -> None:
    """Charge the request to its bucket, once however many times it is asked (the fast lane of
    ``routers/verify.py`` charges before it reads, and may then hand the request on)."""
    state = request.scope.setdefault("state", {})
    if state.get(CHARGED):
        return
    state[CHARGED] = True
    guard, address = service(request).guard, client_address(request)
    if charge is Charge.PROGRESS:
        guard.progress_from(address=address)
    else:
        guard.verify(client=client, address=address, pdf=charge is Charge.VERIFY_PDF)


def _bad_body(request: Request, client: Any) -> None:
    service(request).guard.bad_body(client=client, address=client_address(request))


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind in ("application/x-www-form-urlencoded", "multipart/form-data")


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def _read(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise _too_large(limit)
        body += chunk
    return bytes(body)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the request body is larger than {limit:,} bytes, its limit here")
