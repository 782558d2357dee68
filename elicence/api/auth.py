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

from elicence.api.context import client_address
from elicence.app.service import Elicence
from elicence.domain.clients import Client
from elicence.errors import AuthenticationError

_bearer = HTTPBearer(auto_error=False, description="An API key from `elicence clients add`.")


def service(request: Request) -> Elicence:
    svc: Elicence = request.app.state.elicence
    return svc


_CLIENT = "elicence.client"  # where a request's authenticated client is kept (its scope state)


def authenticate(request: Request) -> Client | None:
    """The client of the request's API key, None without an ``Authorization`` header; looked up
    once a request (``api/edge.py`` does it before the body is read, the dependency reuses it)."""
    state = request.scope.setdefault("state", {})
    if _CLIENT in state:
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
    return client


def optional_client(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Client | None:
    del credentials  # declared for the OpenAPI document's security scheme
    return authenticate(request)


def required_client(client: Annotated[Client | None, Depends(optional_client)]) -> Client:
    if client is None:
        raise AuthenticationError(
            "this call needs an API key: Authorization: Bearer <api key>", field="Authorization"
        )
    return client


Service = Annotated[Elicence, Depends(service)]
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
