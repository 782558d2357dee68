"""HTTP: the unified licence catalogue, read-only (anyone)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from elicence.api.auth import RATE_LIMITED, PublicLimit, Service
from elicence.api.edge import EdgeRoute
from elicence.api.schemas import catalogue_types_out, departments_out
from elicence.domain.codes import check_type_code
from elicence.errors import NotFoundError
from elicence.formats.catalogue_file import licence_type_to_dict

router = APIRouter(
    route_class=EdgeRoute,
    prefix="/api/v1/catalogue",
    tags=["catalogue"],
    dependencies=[PublicLimit],
    responses=RATE_LIMITED,
)


@router.get("/licence-types")
def licence_types(svc: Service) -> list[dict[str, Any]]:
    """Every licence type of the catalogue in force."""
    return catalogue_types_out(svc.catalogue())


@router.get("/licence-types/{code}")
def licence_type(code: str, svc: Service) -> dict[str, Any]:
    """One licence type by its code."""
    check_type_code(code, field="code")
    found = svc.catalogue().licence_types.get(code)
    if found is None:
        raise NotFoundError(f"no licence type {code} in the catalogue", field="code")
    return licence_type_to_dict(found)


@router.get("/departments")
def departments(svc: Service) -> list[dict[str, Any]]:
    """Every issuing department with what it may issue."""
    return departments_out(svc.catalogue())
