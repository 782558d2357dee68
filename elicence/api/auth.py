"""Bearer API keys: ``Authorization: Bearer <key>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise AuthenticationError(
            "the Authorization header must be 'Bearer <api key>'", field="Authorization"
        )
    return service(request).authenticate(credentials.credentials)


def required_client(client: Annotated[Client | None, Depends(optional_client)]) -> Client:
    if client is None:
        raise AuthenticationError(
            "this call needs an API key: Authorization: Bearer <api key>", field="Authorization"
        )
    return client


Service = Annotated[Elicence, Depends(service)]
OptionalClient = Annotated[Client | None, Depends(optional_client)]
RequiredClient = Annotated[Client, Depends(required_client)]
