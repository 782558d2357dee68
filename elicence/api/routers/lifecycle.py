"""HTTP: lifecycle of issued licences: revoke, suspend, reinstate, amend, renew, and bulk changes.

The issuing department or an admin; every call gives a reason. The rules are the domain's
(``issuer/lifecycle.py``): an illegal transition is 409, another department's licence 403.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from elicence.api.auth import RequiredClient, Service
from elicence.api.edge import BULK, LICENCE, EdgeRoute, edge
from elicence.api.schemas import Day, licence_out
from elicence.app.service import Elicence
from elicence.domain.licence import Licence
from elicence.issuer.lifecycle import MAX_REASON, Action, Change

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1/licences", tags=["lifecycle"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "not the issuing department (nor an admin)"},
    404: {"description": "no such licence"},
    409: {"description": "the licence's status does not allow this change (the error says why)"},
    422: {"description": "a field breaks a rule"},
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonIn(_In):
    reason: str = Field(
        max_length=MAX_REASON,
        description="why (recorded in the event log)",
        examples=["经营者申请注销"],
    )


class AmendChangesIn(_In):
    licence_number: str | None = Field(default=None, max_length=64)
    holder_name: str | None = Field(default=None, max_length=200)
    valid_from: str | None = Field(default=None, description="YYYY-MM-DD")
    valid_until: str | None = Field(default=None, description="YYYY-MM-DD")
    data: dict[str, str | int | None] | None = Field(
        default=None, description="data items to change; null removes an optional item"
    )


class AmendIn(ReasonIn):
    changes: AmendChangesIn


class RenewIn(ReasonIn):
    valid_from: Day | None = Field(
        default=None,
        description="default: today (China time); never later than today: a renewal takes "
        "effect when it is made, and the old version is superseded at once",
    )


class HolderRef(_In):
    id_type: str
    id_number: str


class BulkIn(ReasonIn):
    action: Literal["revoke", "suspend", "reinstate"]
    identifiers: Annotated[list[str], Field(min_length=1, max_length=1000)] | None = None
    holder: HolderRef | None = None


def _out(svc: Elicence, lic: Licence) -> dict[str, Any]:
    return licence_out(
        lic, catalogue=svc.catalogue(), url=svc.licences.verification_url(lic.seal), now=svc.clock()
    )


def _change_out(svc: Elicence, change: Change) -> dict[str, Any]:
    return {
        "licence": _out(svc, change.licence),
        "new_version": _out(svc, change.new_version) if change.new_version else None,
    }


@router.post("/bulk", responses=ERRORS)
@edge(BULK)
def bulk(body: BulkIn, client: RequiredClient, svc: Service) -> Any:
    """Revoke, suspend or reinstate many licences at once (all or none), one event each."""
    holder = (body.holder.id_type, body.holder.id_number.strip().upper()) if body.holder else None
    changes = svc.licences.bulk_change(
        client,
        Action(body.action),
        reason=body.reason,
        identifiers=body.identifiers,
        holder=holder,
    )
    return {
        "changed": len(changes),
        "licences": [
            {"identifier": c.licence.identifier, "status": str(c.licence.status)} for c in changes
        ],
    }


def _status_route(action: Action) -> None:
    def change(identifier: str, body: ReasonIn, client: RequiredClient, svc: Service) -> Any:
        return _change_out(
            svc, svc.licences.change_status(client, identifier, action, reason=body.reason)
        )

    change.__name__ = f"{action}_licence"
    change.__doc__ = {
        Action.REVOKE: "Revoke (注销) a licence: final.",
        Action.SUSPEND: "Suspend a valid licence.",
        Action.REINSTATE: "Reinstate a suspended licence.",
    }[action]
    router.post(f"/{{identifier}}/{action}", responses=ERRORS)(change)


for _action in (Action.REVOKE, Action.SUSPEND, Action.REINSTATE):
    _status_route(_action)


@router.post("/{identifier}/amend", status_code=201, responses=ERRORS)
@edge(LICENCE)
def amend_licence(identifier: str, body: AmendIn, client: RequiredClient, svc: Service) -> Any:
    """A new version with changed content; the old one becomes superseded."""
    changes = body.changes.model_dump(exclude_unset=True)
    return _change_out(svc, svc.licences.amend(client, identifier, changes, reason=body.reason))


@router.post("/{identifier}/renew", status_code=201, responses=ERRORS)
def renew_licence(identifier: str, body: RenewIn, client: RequiredClient, svc: Service) -> Any:
    """A new version with a new validity period under the catalogue's rule, in force from today
    (or an earlier ``valid_from``); the old version is superseded at once."""
    return _change_out(
        svc, svc.licences.renew(client, identifier, reason=body.reason, valid_from=body.valid_from)
    )
