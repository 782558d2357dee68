"""HTTP: verification (anyone; halls authenticated) and the trust list."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from elicence.api.auth import (
    RATE_LIMITED,
    OptionalClient,
    PublicLimit,
    Service,
    client_refused,
    needs_recheck,
)
from elicence.api.edge import SMALL, Charge, EdgeRoute, edge, in_thread
from elicence.api.schemas import VerificationOut, VerifyIn, verification_json
from elicence.app.service import Elicence
from elicence.domain.clients import Client
from elicence.errors import AuthenticationError, InputError

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
        data = await in_thread(_verify, svc, body, client, recheck)
    except AuthenticationError:
        if not recheck:
            raise
        await run_in_threadpool(client_refused, request)  # 401 (or 429), the address charged
        raise
    return Response(data, media_type="application/json")


def _verify(svc: Elicence, body: VerifyIn, client: Client | None, recheck: bool) -> bytes:
    seen = svc.verification.verify_seen(
        seal=body.seal, identifier=body.identifier, client=client, recheck=recheck
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
