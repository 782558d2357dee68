"""HTTP: status lists (anyone): each department's signed revocation, suspension and supersession
lists.

Wire format in docs/formats.md §8. The COSE bytes are what an offline hall keeps and checks;
the ``.json`` view is for people and is not signed.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from elicence.api.auth import RATE_LIMITED, PublicLimit, Service
from elicence.api.edge import EdgeRoute
from elicence.formats.statuslist import FORMAT

router = APIRouter(
    route_class=EdgeRoute,
    prefix="/api/v1",
    tags=["status lists"],
    dependencies=[PublicLimit],
    responses=RATE_LIMITED,
)

# Halls and caches revalidate often (the ETag makes that cheap): a revocation should reach them
# well before the list's validity ends.
CACHE_CONTROL = "public, max-age=60"


# Declared before the COSE route: "{purpose}" would also match "revocation.json".
@router.get("/status-lists/{department}/{purpose}.json")
def status_list_json(department: str, purpose: str, svc: Service) -> Any:
    """The content of a status list, decoded (``signed``: the COSE bytes in base64)."""
    sl = svc.keys.status_list(department, purpose)
    indices = sl.set_indices()
    return {
        "format": FORMAT,
        "department": sl.department,
        "purpose": str(sl.purpose),
        "issued_at": sl.issued_at,
        "valid_until": sl.valid_until,
        "sequence": sl.sequence,
        "size": sl.size,
        "compressed_size": sl.compressed_size,
        "set_count": len(indices),
        "set_indices": indices,
        "signed": base64.b64encode(sl.signed).decode(),
    }


@router.get(
    "/status-lists/{department}/{purpose}",
    response_class=Response,
    responses={200: {"content": {"application/cose": {}}}, 304: {"description": "unchanged"}},
)
def status_list_cose(department: str, purpose: str, request: Request, svc: Service) -> Response:
    """The signed status list as raw COSE_Sign1 bytes (cacheable: ETag, If-None-Match)."""
    sl = svc.keys.status_list(department, purpose)
    etag = '"' + hashlib.sha256(sl.signed).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    asked = request.headers.get("if-none-match", "")
    if etag in (t.strip().removeprefix("W/") for t in asked.split(",")) or asked.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(sl.signed, media_type="application/cose", headers=headers)
