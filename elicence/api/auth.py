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


def optional_client(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Client | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    svc = service(request)
    try:
        if (
            credentials is None
            or credentials.scheme.lower() != "bearer"
            or not credentials.credentials
        ):
            raise AuthenticationError(
                "the Authorization header must be 'Bearer <api key>'", field="Authorization"
            )
        return svc.authenticate(credentials.credentials)
    except AuthenticationError:
        svc.guard.failed_authentication(address=client_address(request))  # 429 past the limit
        raise


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
