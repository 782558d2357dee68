"""HTTP: issuance and reading of licences (departments and admins)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from elicence.api.auth import RequiredClient, Service
from elicence.api.edge import BATCH, LICENCE, EdgeRoute, edge
from elicence.api.errors import render
from elicence.api.schemas import (
    MAX_POSITION,
    BatchIn,
    BatchItemOut,
    BatchOut,
    BatchRaw,
    Day,
    IssuanceIn,
    IssuedOut,
    LicenceOut,
    documented_as,
    licence_out,
)
from elicence.domain.catalogue import HolderIdType
from elicence.domain.codes import check_type_code, check_uscc
from elicence.domain.licence import CHINA_TZ
from elicence.errors import InputError

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1/licences", tags=["licences"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "this client may not do this"},
    409: {"description": "source_ref already used for a different request"},
    422: {"description": "a field breaks a rule: the error names the field and the rule"},
}


@router.post(
    "",
    status_code=201,
    response_model=IssuedOut,
    responses=ERRORS,
    openapi_extra=documented_as(IssuanceIn),
)
@edge(LICENCE)
def issue_licence(
    body: Annotated[dict[str, Any], Body()],
    client: RequiredClient,
    svc: Service,
    response: Response,
) -> Any:
    """Issue one licence. Idempotent by ``source_ref``: a retry answers the same licence (200)."""
    result = svc.licences.issue(client, body)
    if not result.created:
        response.status_code = 200
    lic = result.licence
    out = licence_out(
        lic, catalogue=svc.catalogue(), url=svc.licences.verification_url(lic.seal), now=svc.clock()
    )
    return {**out, "created": result.created}


@router.post(
    "/batch", response_model=BatchOut, responses=ERRORS, openapi_extra=documented_as(BatchIn)
)
@edge(BATCH)
def issue_batch(body: BatchRaw, client: RequiredClient, svc: Service) -> Any:
    """Issue up to 1,000 licences; each item has its own result (created, existing or error)."""
    results = svc.licences.issue_batch(client, body.items)
    out = []
    for r in results:
        if r.result is not None:
            lic = r.result.licence
            out.append(
                BatchItemOut(
                    index=r.index,
                    outcome="created" if r.result.created else "existing",
                    identifier=lic.identifier,
                    seal=lic.seal,
                    verification_url=svc.licences.verification_url(lic.seal),
                    status=str(lic.status),
                    version=lic.version,
                )
            )
        else:
            assert r.error is not None
            status, shaped = render(r.error)
            err = shaped["error"]
            err["status"] = status
            out.append(BatchItemOut(index=r.index, outcome="error", error=err))
    return BatchOut(
        created=sum(o.outcome == "created" for o in out),
        existing=sum(o.outcome == "existing" for o in out),
        failed=sum(o.outcome == "error" for o in out),
        results=out,
    )


@router.get("/{identifier}", response_model=LicenceOut, responses=ERRORS)
def get_licence(identifier: str, client: RequiredClient, svc: Service) -> Any:
    """The licence with its seal and status (its own department, or an admin)."""
    lic = svc.licences.get(client, identifier)
    return licence_out(
        lic, catalogue=svc.catalogue(), url=svc.licences.verification_url(lic.seal), now=svc.clock()
    )


@router.get("", response_model=list[LicenceOut], responses=ERRORS)
def search_licences(
    client: RequiredClient,
    svc: Service,
    holder_id_type: str | None = None,
    holder_id: str | None = None,
    type_code: str | None = None,
    department: str | None = None,
    issued_from: Day | None = None,
    issued_until: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
) -> Any:
    """Search by holder, type, department and issue date (a department sees only its own)."""
    if holder_id_type is not None and holder_id_type not in set(HolderIdType):
        raise InputError("is not a holder id type code", field="holder_id_type")
    if (holder_id is None) != (holder_id_type is None):
        raise InputError("holder_id and holder_id_type go together", field="holder_id")
    if type_code is not None:
        check_type_code(type_code)
    if department is not None:
        check_uscc(department, field="department")
    found = svc.licences.search(
        client,
        holder_id_type=holder_id_type,
        holder_id=holder_id.strip().upper() if holder_id else None,
        type_code=type_code,
        department=department,
        issued_from=_start(issued_from),
        issued_until=_start(issued_until + dt.timedelta(days=1)) if issued_until else None,
        limit=limit,
        offset=offset,
    )
    catalogue, now = svc.catalogue(), svc.clock()
    return [
        licence_out(lic, catalogue=catalogue, url=svc.licences.verification_url(lic.seal), now=now)
        for lic in found
    ]


def _start(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time(), CHINA_TZ) if day else None
