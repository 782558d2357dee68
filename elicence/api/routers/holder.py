"""HTTP: the holder side over the API: dynamic presentations, authorised use (授权用证), usage
records.

A holder (a ``holder`` API key, e.g. an enterprise's own system) makes presentations of its
licences, grants a hall or a case the use of one licence and withdraws it, and reads who used
which licence when. A hall verifies presentations, lists the grants made to it, and reads a
granted licence in full (and its PDF) while the grant is in force. Anyone may verify a
presentation; only the caller the licence's disclosure rule allows sees it unmasked.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from elicence.api.auth import RATE_LIMITED, OptionalClient, RequiredClient, Service
from elicence.api.edge import SMALL, Charge, EdgeRoute, edge
from elicence.api.schemas import Instant, LicenceOut, VerificationOut, licence_out, verification_out
from elicence.app.service import Elicence
from elicence.domain.clients import Client
from elicence.domain.grants import MAX_PURPOSE, Grant, UsageEntry, parse_grantee_kind
from elicence.domain.licence import holder_ref
from elicence.errors import InputError
from elicence.verifier.presentation import PresentationReport

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1", tags=["holders"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "this client may not do this (holders grant; halls use grants)"},
    404: {"description": "no such licence or grant for this client"},
    409: {"description": "the grant was already withdrawn, or the licence is not in force"},
    422: {"description": "a field breaks a rule: the error names the field and the rule"},
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GranteeIn(_In):
    kind: str = Field(
        description="'hall' (a hall client's id), 'case' (a case number) or 'holder' (another "
        "holder, who may then cite the licence in its own applications)"
    )
    ref: str = Field(
        description="the hall client's id, the case number (办件编号), or the holder as "
        "id type and id number (001:91350100M000100Y43)"
    )


class GrantIn(_In):
    identifier: str = Field(description="the licence (one version) to grant")
    grantee: GranteeIn
    purpose: str = Field(
        max_length=MAX_PURPOSE,
        description="what the licence will be used for",
        examples=["开办餐饮店"],
    )
    valid_from: Instant | None = Field(default=None, description="default: now")
    valid_until: Instant = Field(description="when the grant ends (at most 366 days)")


class GrantOut(BaseModel):
    id: str
    identifier: str
    grantee_kind: str
    grantee: str
    purpose: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    created_at: dt.datetime
    withdrawn_at: dt.datetime | None
    state: str


class UsageOut(BaseModel):
    at: dt.datetime
    identifier: str
    channel: str
    verdict: str
    client_id: str | None
    client_name: str | None
    client_role: str | None
    grant_id: str | None


class PresentationOut(BaseModel):
    identifier: str
    presentation: str = Field(description="EP1:… (docs/formats.md §9), for a QR code")
    not_before: dt.datetime
    not_after: dt.datetime


class PresentationVerifyIn(_In):
    presentation: str = Field(description="EP1:… as scanned")
    holder_id_type: str | None = Field(default=None, description="the presenter's id type")
    holder_id: str | None = Field(default=None, description="the presenter's id number")


class PresentationCheckOut(BaseModel):
    name: str
    passed: bool
    detail: str


class PresentationResultOut(BaseModel):
    verdict: str
    checks: list[PresentationCheckOut]
    not_before: dt.datetime
    not_after: dt.datetime


class PresentationVerifiedOut(BaseModel):
    accepted: bool = Field(description="the presentation is accepted and the licence valid")
    presentation: PresentationResultOut
    verification: VerificationOut


class GrantedLicenceOut(BaseModel):
    grant: GrantOut
    licence: LicenceOut


def grant_out(grant: Grant, now: dt.datetime) -> GrantOut:
    return GrantOut(
        id=grant.id,
        identifier=grant.identifier,
        grantee_kind=str(grant.grantee.kind),
        grantee=grant.grantee.ref,
        purpose=grant.purpose,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        created_at=grant.created_at,
        withdrawn_at=grant.withdrawn_at,
        state=str(grant.state(now)),
    )


def usage_out(entry: UsageEntry) -> UsageOut:
    return UsageOut(
        at=entry.at,
        identifier=entry.identifier,
        channel=entry.channel,
        verdict=entry.verdict,
        client_id=entry.client_id,
        client_name=entry.client_name,
        client_role=entry.client_role,
        grant_id=entry.grant_id,
    )


def presentation_verified_out(
    svc: Elicence, report: PresentationReport, client: Client | None
) -> PresentationVerifiedOut:
    return PresentationVerifiedOut(
        accepted=report.accepted,
        presentation=PresentationResultOut(
            verdict=str(report.verdict),
            checks=[
                PresentationCheckOut(name=c.name, passed=c.passed, detail=c.detail)
                for c in report.checks
            ],
            not_before=report.not_before,
            not_after=report.not_after,
        ),
        verification=verification_out(
            report.seal, catalogue=svc.catalogue(), masked=svc.holder.masked(client, report.seal)
        ),
    )


@router.get("/licences/{identifier}/presentation", response_model=PresentationOut, responses=ERRORS)
def presentation(identifier: str, client: RequiredClient, svc: Service) -> Any:
    """A fresh dynamic presentation of one of the holder's licences (valid 90 s)."""
    made = svc.holder.present(client, identifier)
    return PresentationOut(
        identifier=made.identifier,
        presentation=made.text,
        not_before=made.not_before,
        not_after=made.not_after,
    )


@router.post(
    "/presentations/verify",
    response_model=PresentationVerifiedOut,
    responses={**ERRORS, **RATE_LIMITED},
)
@edge(SMALL, charge=Charge.VERIFY)
def verify_presentation(body: PresentationVerifyIn, client: OptionalClient, svc: Service) -> Any:
    """Verify a presentation: signature, window (a screenshot is ``expired``), nonce (a second
    use is ``replayed``), then its seal against the registry. Leaves a usage record. Charged to
    the verification limits like ``POST /verify``, before the body is read."""
    holder = None
    if body.holder_id_type is not None or body.holder_id is not None:
        holder = holder_ref(body.holder_id_type, body.holder_id or "", field="holder")
    report = svc.holder.verify_presentation(body.presentation, client=client, holder=holder)
    return presentation_verified_out(svc, report, client)


@router.get("/grants", response_model=list[GrantOut], responses=ERRORS)
def list_grants(client: RequiredClient, svc: Service, identifier: str | None = None) -> Any:
    """A holder's grants (of one licence with ``identifier``); a hall's grants in force."""
    now = svc.clock()
    return [grant_out(g, now) for g in svc.holder.grants(client, identifier=identifier)]


@router.post("/grants", status_code=201, response_model=GrantOut, responses=ERRORS)
def make_grant(body: GrantIn, client: RequiredClient, svc: Service) -> Any:
    """Grant a hall or a case the use of one of the holder's licences, for a purpose and a
    period. While it is in force the hall sees the licence in full."""
    grant = svc.holder.grant(
        client,
        identifier=body.identifier,
        grantee_kind=parse_grantee_kind(body.grantee.kind),
        grantee=body.grantee.ref,
        purpose=body.purpose,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )
    return grant_out(grant, svc.clock())


@router.post("/grants/{grant_id}/withdraw", response_model=GrantOut, responses=ERRORS)
def withdraw_grant(grant_id: str, client: RequiredClient, svc: Service) -> Any:
    """Withdraw a grant: from now on the hall sees only the public masked answer."""
    return grant_out(svc.holder.withdraw(client, grant_id), svc.clock())


@router.get("/grants/{grant_id}/licence", response_model=GrantedLicenceOut, responses=ERRORS)
def granted_licence(grant_id: str, client: RequiredClient, svc: Service) -> Any:
    """The licence a grant in force lets this hall read in full."""
    grant, lic = svc.holder.granted_licence(client, grant_id)
    now = svc.clock()
    return GrantedLicenceOut(
        grant=grant_out(grant, now),
        licence=LicenceOut(
            **licence_out(
                lic, catalogue=svc.catalogue(), url=svc.licences.verification_url(lic.seal), now=now
            )
        ),
    )


@router.get(
    "/grants/{grant_id}/pdf",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"application/pdf": {}}}},
)
def granted_pdf(grant_id: str, client: RequiredClient, svc: Service) -> Response:
    """The signed PDF of the licence a grant in force lets this hall fetch."""
    pdf = svc.holder.granted_pdf(client, grant_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{_safe(grant_id)}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/usage", response_model=list[UsageOut], responses=ERRORS)
def usage(
    client: RequiredClient,
    svc: Service,
    identifier: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
) -> Any:
    """Who checked or used which of the holder's licences, and when (用证记录)."""
    if identifier is not None and not identifier.strip():
        raise InputError("must not be empty", field="identifier")
    return [usage_out(u) for u in svc.holder.usage(client, identifier=identifier)[:limit]]


def _safe(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.]", "", text)
