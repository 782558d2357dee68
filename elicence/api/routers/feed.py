"""The change feed: the event log in order, with the latest signed checkpoint (halls, admins).

Wire format in docs/formats.md §7. A mirror (``elicence mirror``) checks every event's hash chain
and the checkpoint's signature against its pinned root.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query

from elicence.api.auth import RequiredClient, Service
from elicence.api.edge import EdgeRoute
from elicence.api.schemas import ROW_ID_MAX
from elicence.formats.eventlog import instant

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1", tags=["feed"])


@router.get("/feed")
def feed(
    client: RequiredClient,
    svc: Service,
    after: Annotated[
        int,
        Query(ge=0, le=ROW_ID_MAX, description="the last seq you hold (0: from the start)"),
    ] = 0,
    limit: Annotated[int, Query(description="at most this many events, 1-1000")] = 100,
) -> Any:
    """Events with ``seq > after`` in order, and the latest signed checkpoint."""
    page = svc.log.feed(client, after=after, limit=limit)
    cp = page.checkpoint
    return {
        "events": [e.to_json() for e in page.events],
        "size": page.size,
        "next_after": page.events[-1].seq if page.events else after,
        "checkpoint": None
        if cp is None
        else {
            "format": "EL-CP1",
            "size": cp.size,
            "head_hash": cp.head_hash,
            "issued_at": instant(cp.issued_at),
            "signed": base64.b64encode(cp.signed).decode(),
        },
    }
