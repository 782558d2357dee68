"""The service-item catalogue (事项目录), its three catalogues and scenario bundles (anyone)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from elicence.api.auth import Service
from elicence.api.edge import EdgeRoute
from elicence.api.hall_schemas import item_out
from elicence.domain.catalogue import HolderCategory
from elicence.domain.codes import check_uscc
from elicence.errors import NotFoundError
from elicence.hall.items import ItemKind

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1", tags=["hall: service items"])


@router.get("/service-items")
def service_items(
    svc: Service,
    department: str | None = None,
    kind: ItemKind | None = None,
    audience: HolderCategory | None = None,
    min_depth: Annotated[int | None, Query(ge=1, le=3)] = None,
) -> list[dict[str, Any]]:
    """Every service item in force, with filters (department USCC, kind, audience, depth)."""
    catalogue = svc.hall.items()
    if department is not None:
        department = check_uscc(department, field="department")
    return [
        item_out(i, catalogue)
        for i in catalogue.items.values()
        if (department is None or i.department == department)
        and (kind is None or i.kind is kind)
        and (audience is None or audience in i.audience)
        and (min_depth is None or i.depth >= min_depth)
    ]


@router.get("/service-items/{code}")
def service_item(code: str, svc: Service) -> dict[str, Any]:
    """One service item: its materials (e-licences and uploads), form, depth and promises."""
    catalogue = svc.hall.items()
    item = catalogue.items.get(code)
    if item is None:
        raise NotFoundError(f"no service item {code}", field="code")
    return item_out(item, catalogue)


@router.get("/service-catalogues/{department}")
def service_catalogues(department: str, svc: Service) -> dict[str, Any]:
    """A department's three catalogues (三个目录): 本级应进驻, 应规整下级, 协同服务专项."""
    uscc = check_uscc(department, field="department")
    catalogue = svc.hall.items()
    dept = catalogue.departments.get(uscc)
    if dept is None:
        raise NotFoundError(
            f"no department {uscc} in the service-item catalogue", field="department"
        )
    return {
        "department": uscc,
        "name_zh": dept.name_zh,
        "division_code": dept.division_code,
        "catalogues": {
            str(name): {"name_zh": name.label_zh, "items": [item_out(i, catalogue) for i in items]}
            for name, items in catalogue.catalogues_of(uscc).items()
        },
    }


@router.get("/scenarios")
def scenarios(svc: Service) -> list[dict[str, Any]]:
    """Scenario bundles (专项"一条龙"服务, e.g. 我要开餐馆, 我要生小孩)."""
    catalogue = svc.hall.items()
    return [
        {
            "code": s.code,
            "name_zh": s.name_zh,
            "description_zh": s.description_zh,
            "items": list(s.items),
        }
        for s in catalogue.scenarios.values()
    ]


@router.get("/scenarios/{code}")
def scenario(code: str, svc: Service) -> dict[str, Any]:
    """One scenario bundle with its items in full."""
    catalogue = svc.hall.items()
    found = catalogue.scenarios.get(code)
    if found is None:
        raise NotFoundError(f"no scenario {code}", field="code")
    return {
        "code": found.code,
        "name_zh": found.name_zh,
        "description_zh": found.description_zh,
        "items": [item_out(catalogue.items[c], catalogue) for c in found.items],
    }
