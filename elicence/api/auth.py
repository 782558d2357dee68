"""Bearer API keys: ``Authorization: Bearer <key>``.

A key that does not work (unknown, expired, rotated out, disabled client, malformed header) is
charged to the caller's address; past the ``auth-failures`` limit the answer is 429 instead of
401 (``app/guard.py``). A working key is never charged, so it is never refused for what others
at its address sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from elicence.api.context import client_address
from elicence.app.service import Elicence
from elicence.domain.clients import Client
from elicence.errors import AuthenticationError

_bearer = HTTPBearer(auto_error=False, description="An API key from `elicence clients add`.")


def service(request: Request) -> Elicence:
    svc: Elicence = request.app.state.elicence
    return svc


CLIENT_STATE = _CLIENT = (
    "elicence.client"  # where a request's authenticated client is kept (its scope state)
)
_RECHECK = "elicence.recheck"  # its client came from the cache, not yet re-checked (see below)


def authenticate(request: Request) -> Client | None:
    """The client of the request's API key, None without an ``Authorization`` header; looked up
    once a request (``api/edge.py`` does it before the body is read, the dependency reuses it).
    A client taken from the cache by :func:`cached_client` is re-checked here, in full."""
    state = request.scope.setdefault("state", {})
    if _CLIENT in state and not state.get(_RECHECK):
        known: Client | None = state[_CLIENT]
        return known
    header = request.headers.get("authorization")
    client = None
    if header is not None:
        svc = service(request)
        scheme, _, key = header.partition(" ")
        key = key.strip()
        try:
            if scheme.lower() != "bearer" or not key:
                raise AuthenticationError(
                    "the Authorization header must be 'Bearer <api key>'", field="Authorization"
                )
            client = svc.clients.authenticate(key)
        except AuthenticationError:
            svc.guard.failed_authentication(address=client_address(request))  # 429 past limit
            raise
    state[_CLIENT] = client
    state.pop(_RECHECK, None)
    return client


def cached_client(request: Request) -> Client | None:
    """The client of the request's API key if the key's look-up is cached (no database trip,
    so fit to run on the event loop), else None (the caller then runs :func:`authenticate`).

    Its client's disabled flag is *not* re-read: the request is marked, and the route must
    re-check it before it answers — the verification does, in its one query
    (:func:`needs_recheck`); any other answer first calls :func:`authenticate`."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return None
    client = service(request).clients.cached(key)
    if client is not None:
        state = request.scope.setdefault("state", {})
        state[_CLIENT], state[_RECHECK] = client, True
    return client


def needs_recheck(request: Request) -> bool:
    """Whether the request's client came from :func:`cached_client` and is not re-checked yet."""
    return bool(request.scope.get("state", {}).get(_RECHECK))


def client_refused(request: Request) -> None:
    """The route's own re-check found the request's cached client disabled: look its key up in
    full (which refreshes the cache, charges the address and raises the 401)."""
    state = request.scope.setdefault("state", {})
    state[_RECHECK] = True
    try:
        authenticate(request)
    finally:
        state.pop(_RECHECK, None)  # checked now: not again on the way out


async def _service(request: Request) -> Elicence:
    return service(request)  # a coroutine: FastAPI runs a plain function in the thread pool


async def optional_client(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Client | None:
    """The request's client: found by ``api/edge.py`` before the body was read (no trip to the
    thread pool here); looked up only for a route outside the edge."""
    del credentials  # declared for the OpenAPI document's security scheme
    state = request.scope.get("state", {})
    if _CLIENT in state:
        known: Client | None = state[_CLIENT]
        return known
    return await run_in_threadpool(authenticate, request)


async def required_client(client: Annotated[Client | None, Depends(optional_client)]) -> Client:
    if client is None:
        raise AuthenticationError(
            "this call needs an API key: Authorization: Bearer <api key>", field="Authorization"
        )
    return client


Service = Annotated[Elicence, Depends(_service)]
OptionalClient = Annotated[Client | None, Depends(optional_client)]
RequiredClient = Annotated[Client, Depends(required_client)]


def public_limit(request: Request) -> None:
    """Charge a public read to the caller's address (429 past the limit)."""
    service(request).guard.public(address=client_address(request))


PublicLimit = Depends(public_limit)
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "rate limited: try again after the Retry-After header's seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}
