"""HTTP: the audit trail of privileged actions, for admins (docs/abuse.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from elicence.api.auth import RequiredClient, Service
from elicence.api.edge import EdgeRoute
from elicence.api.schemas import ROW_ID_MAX, Instant
from elicence.domain.trailquery import TrailQuery

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1", tags=["operations"])


class TrailRecordOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    role: str | None
    action: str
    target: str | None
    outcome: str
    detail: dict[str, Any]
    request_id: str | None
    address: str | None


class TrailPageOut(BaseModel):
    records: list[TrailRecordOut]
    next_after: int


@router.get(
    "/audit-trail",
    response_model=TrailPageOut,
    responses={
        401: {"description": "missing or unknown API key"},
        403: {"description": "only admins read the audit trail"},
    },
)
def audit_trail(
    client: RequiredClient,
    svc: Service,
    after: Annotated[
        int,
        Query(ge=0, le=ROW_ID_MAX, description="the last record id you hold (0: from the start)"),
    ] = 0,
    limit: Annotated[int, Query(description="at most this many records, 1-1000")] = 100,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[
        str | None, Query(max_length=48, description="e.g. licence.revoke, or licence for all")
    ] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(description="ok, refused or failed")] = None,
    since: Annotated[Instant | None, Query(description="ISO 8601 with a time zone")] = None,
    until: Annotated[Instant | None, Query(description="ISO 8601 with a time zone")] = None,
) -> Any:
    """Privileged actions in the order they were recorded, oldest first."""
    query = TrailQuery(
        after=after,
        limit=limit,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        since=since,
        until=until,
    )
    records = svc.trail.records(client, query)
    return TrailPageOut(
        records=[TrailRecordOut.model_validate(r, from_attributes=True) for r in records],
        next_after=records[-1].id if records else after,
    )
