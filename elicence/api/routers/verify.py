"""HTTP: verification (anyone; halls authenticated) and the trust list."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elicence.api.auth import (
    CLIENT_STATE,
    RATE_LIMITED,
    OptionalClient,
    PublicLimit,
    Service,
    client_refused,
    needs_recheck,
    service,
)
from elicence.api.context import request_id
from elicence.api.edge import (
    SMALL,
    Charge,
    EdgeRoute,
    charge_once,
    decode_json,
    edge,
    in_thread,
    on_the_loop,
)
from elicence.api.errors import domain_response
from elicence.api.schemas import VerificationOut, VerifyIn, verification_json
from elicence.app.service import Elicence
from elicence.domain.clients import Client
from elicence.errors import AuthenticationError, Error, InputError

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1", tags=["verification"])


@router.post("/verify", response_model=VerificationOut, responses=RATE_LIMITED)
@edge(SMALL, charge=Charge.VERIFY, rechecks=True)
async def verify(
    body: VerifyIn, client: OptionalClient, svc: Service, request: Request
) -> Response:
    """Verify a seal (text or QR URL) or an identifier. The holder is masked except for an admin,
    the issuing department, the holder, and a hall holding a grant of the licence in force.
    Charged to the verification limits before the body is read."""
    if (body.seal is None) == (body.identifier is None):
        raise InputError("give exactly one of seal and identifier", field="seal")
    recheck = needs_recheck(request)  # a key from the cache: its client re-checked in the query
    try:
        # the hot path of every hall, in one trip to the thread pool: one registry read, the
        # usage record committed, the answer serialised
        data = await in_thread(_verify, svc, body.seal, body.identifier, client, recheck)
    except AuthenticationError:
        if not recheck:
            raise
        await run_in_threadpool(client_refused, request)  # 401 (or 429), the address charged
        raise
    return Response(data, media_type="application/json")


def _verify(
    svc: Elicence, seal: str | None, identifier: str | None, client: Client | None, recheck: bool
) -> bytes:
    seen = svc.verification.verify_seen(
        seal=seal, identifier=identifier, client=client, recheck=recheck
    )
    # a hall sees it in full under a grant only (found by the verification's registry read)
    masked = svc.holder.masked(client, seen.report, granted=seen.hall_granted)
    return verification_json(seen.report, catalogue=svc.catalogue(), masked=masked)


@router.get("/trust-list", dependencies=[PublicLimit], responses=RATE_LIMITED)
def trust_list(svc: Service) -> Any:
    """The signed trust list (``signed``: base64 COSE_Sign1, docs/formats.md) and its content."""
    tl = svc.keys.trust_list()
    der = serialization.Encoding.DER
    return {
        "format": "EL-TL1",
        "signed": base64.b64encode(tl.signed).decode(),
        "issued_at": tl.issued_at,
        "next_update": tl.next_update,
        "sequence": tl.sequence,
        "root_certificate": base64.b64encode(tl.root.public_bytes(der)).decode(),
        "entries": [
            {
                "kid": e.kid.hex(),
                "department": e.department,
                "name": e.name,
                "status": e.status,
                "status_since": e.status_since,
                "licence_types": list(e.licence_types),
                "certificate": base64.b64encode(e.certificate.public_bytes(der)).decode(),
                "not_before": e.certificate.not_valid_before_utc,
                "not_after": e.certificate.not_valid_after_utc,
            }
            for e in tl.entries
        ],
    }


@router.get(
    "/trust-list.cose",
    response_class=Response,
    dependencies=[PublicLimit],
    responses=RATE_LIMITED,
)
def trust_list_cose(svc: Service) -> Response:
    """The signed trust list as raw COSE_Sign1 bytes."""
    return Response(svc.keys.trust_list().signed, media_type="application/cose")


@router.get(
    "/root.crt", response_class=Response, dependencies=[PublicLimit], responses=RATE_LIMITED
)
def root_certificate(svc: Service) -> Response:
    """The root CA certificate (PEM). Pin it out of band: fetching it here proves nothing."""
    pem = svc.keys.root_certificate().public_bytes(serialization.Encoding.PEM)
    return Response(pem, media_type="application/x-pem-file")


# -- the fast lane ------------------------------------------------------------------------------

VERIFY_PATH = "/api/v1/verify"
# VerifyIn's fields and their max_length, read from the model (one place says them)
_FIELDS = {
    name: next(m.max_length for m in field.metadata if hasattr(m, "max_length"))
    for name, field in VerifyIn.model_fields.items()
}


class VerifyLane:
    """ASGI middleware: the well-formed JSON verification answered without FastAPI's routing,
    dependency solving and model validation, the same way and in the same order as the route
    above (``api/edge.py``'s steps, then :func:`verify`), for about a third less CPU.

    It takes a request only when the steps before the body need no trip to the thread pool
    (the rate limits are counted in this process; no key, or a key whose look-up is cached):
    ``POST /api/v1/verify`` with no query, ``Content-Type: application/json`` and a
    ``Content-Length`` within the route's limit. It charges the request to the verification
    bucket before it reads the body (a 429 reads nothing), reads it, and decodes it with the
    one decoder (:func:`~elicence.api.edge.decode_json`, the text rule included). A body that
    is not exactly ``{"seal": "…"}`` or ``{"identifier": "…"}`` within VerifyIn's lengths, a
    request it does not take, or a client that hangs up goes on to the route with the body
    read so far handed on, and is not charged twice: every error but the verification's own
    (and a disabled key's 401) is the route's, word for word. The answer is the route's: the
    same JSON bytes, ``Cache-Control: no-store``, and the route's template in the metrics.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = _declared(scope)
        if length is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        svc = service(request)
        if not on_the_loop(request, "optional"):
            await self.app(scope, receive, send)
            return
        client: Client | None = scope["state"].get(CLIENT_STATE)
        try:
            charge_once(request, Charge.VERIFY, client)
        except Error as e:
            await domain_response(e, request_id(request))(scope, receive, send)
            return
        body, read = await _read_all(receive, length)
        fields = _plain(body) if body is not None else None
        if fields is None:  # the route's way, and its words, with what was read handed on

            async def replay() -> Message:
                return read.pop(0) if read else await receive()

            await self.app(scope, replay, send)
            return
        scope["route"] = VERIFY_ROUTE  # its template in the metrics
        recheck = needs_recheck(request)
        try:
            data = await in_thread(_verify, svc, *fields, client, recheck)
        except Error as e:
            error = e
            if needs_recheck(request):  # a disabled client hears 401, not the error
                try:
                    await run_in_threadpool(client_refused, request)
                except Error as refused:
                    error = refused
            await domain_response(error, request_id(request))(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(data)).encode()),
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})


VERIFY_ROUTE = next(r for r in router.routes if getattr(r, "path", None) == VERIFY_PATH)


def _declared(scope: Scope) -> int | None:
    """The body's declared length, when the lane takes the request: a JSON verification with
    one ``Content-Length`` within the route's limit, not chunked, and no query; else None."""
    if (
        scope["type"] != "http"
        or scope["method"] != "POST"
        or scope["path"] != VERIFY_PATH
        or scope["query_string"]
    ):
        return None
    length = json_body = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            if length is not None:
                return None  # two lengths: the route's to refuse
            length = value
        elif name == b"content-type":
            json_body = value.split(b";")[0].strip().lower() == b"application/json"
        elif name == b"transfer-encoding":
            return None
    if not json_body or length is None or not length.isdigit() or not 0 < int(length) <= SMALL:
        return None
    return int(length)


async def _read_all(receive: Receive, length: int) -> tuple[bytes | None, list[Message]]:
    """The body and the messages it came in; None for the body when they did not bring exactly
    ``length`` bytes (a disconnect, or more than was said: stopped past the route's limit)."""
    read: list[Message] = []
    body = b""
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None, read
        body += message.get("body", b"")
        if len(body) > length:
            return None, read
        if not message.get("more_body", False):
            return (body if len(body) == length else None), read


def _plain(body: bytes) -> tuple[str | None, str | None] | None:
    """(seal, identifier) of a body the route would take as it is, else None."""
    try:
        value = decode_json(body)
    except Error:
        return None
    if not isinstance(value, dict) or not value.keys() <= _FIELDS.keys():
        return None
    given = [(k, v) for k, v in value.items() if v is not None]
    if len(given) != 1:
        return None
    name, text = given[0]
    if not isinstance(text, str) or len(text) > _FIELDS[name]:
        return None
    return (text, None) if name == "seal" else (None, text)
