"""A window application (窗口代办) entered at a hall for an applicant present: the item's form,
the applicant's id, its e-licences found by that id — the applicant shows a live presentation
code (scanned into the page, checked against the applicant's id and used up) or grants their use
to this hall on the spot (the hall's grants in force for that holder are offered) — and uploads.

Submitted through the hall's facade (``svc.hall.submit``) with the signed-in client's rights: a
hall for any item, a department clerk for its own items (channel ``window``); the citation rule
is the case API's (the applicant's own licences, or granted ones). Nothing is stored unless the
whole application passes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from elicence.api.edge import edge
from elicence.api.inputs import check_upload_name
from elicence.api.routers.hall_cases import MAX_BODY_BYTES
from elicence.api.routers.queue import QUEUE_ROLES
from elicence.api.web import HtmlRoute, Web, error_view
from elicence.domain.clients import Client, Role
from elicence.domain.licence import HolderRef, holder_ref
from elicence.errors import CatalogueError, Error, InputError, NotFoundError
from elicence.hall.cases import UploadIn
from elicence.hall.items import LicenceMaterial, ServiceItem

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
WINDOW_ROLES = (Role.DEPARTMENT, Role.HALL)
ID_TYPES = ("001", "111", "099", "411", "511", "516", "999")


def _items(w: Web, client: Client) -> list[ServiceItem]:
    catalogue = w.svc.hall.items()
    scope = client.department if client.role is Role.DEPARTMENT else None
    return sorted(
        (i for i in catalogue.items.values() if scope is None or i.department == scope),
        key=lambda i: i.code,
    )


def _granted(w: Web, client: Client, applicant: HolderRef | None) -> list[dict[str, Any]]:
    """The grants in force to this hall from the applicant (授权用证 on the spot)."""
    if client.role is not Role.HALL or applicant is None:
        return []
    out = []
    for g in w.svc.holder.grants(client):
        if g.holder != applicant:
            continue
        try:
            _, lic = w.svc.holder.granted_licence(client, g.id)
        except Error:
            continue
        out.append(
            {
                "id": g.id,
                "identifier": lic.identifier,
                "type_code": lic.type_code,
                "licence_number": lic.licence_number,
                "purpose": g.purpose,
            }
        )
    return out


def _window_page(
    w: Web,
    client: Client,
    item_code: str,
    typed: dict[str, str] | None = None,
    *,
    error: Error | None = None,
) -> Response:
    items = _items(w, client)
    item = next((i for i in items if i.code == item_code), None)
    typed = typed or {}
    applicant: HolderRef | None = None
    if typed.get("id_number", "").strip():
        try:
            applicant = holder_ref(typed.get("id_type", ""), typed["id_number"], field="applicant")
        except InputError:
            applicant = None
    return w.page(
        "queue/window.html",
        status=422 if error is not None else 200,
        items=items,
        item=item,
        typed=typed,
        id_type_codes=ID_TYPES,
        grants=_granted(w, client, applicant),
        is_hall=client.role is Role.HALL,
        error=error_view(error) if error is not None else None,
        terminal_home="/queue",
    )


@router.get("/queue/window")
def window(request: Request, item: str = "", id_type: str = "001", id_number: str = "") -> Response:
    w = Web(request)
    client = w.client(*WINDOW_ROLES)
    if client is None:
        return w.to_signin("/queue/window")
    return _window_page(w, client, item.strip(), {"id_type": id_type, "id_number": id_number})


def _cite(
    w: Web, client: Client, item: ServiceItem, form: dict[str, str], applicant: HolderRef
) -> list[dict[str, str]]:
    """Each licence material's citation, from a live code or a grant the applicant made."""
    granted = {g["id"]: g for g in _granted(w, client, applicant)}
    out = []
    for m in item.materials:
        if not isinstance(m, LicenceMaterial):
            continue
        field = f"licences.{m.name}"
        code = form.get(f"code.{m.name}", "").strip()
        grant = form.get(f"grant.{m.name}", "").strip()
        if code:
            p = w.svc.holder.verify_presentation(code, client=client, holder=applicant)
            if p.verdict != "accepted" or p.seal.licence is None:
                raise InputError(
                    f"the live code was not accepted ({p.verdict}): ask the applicant to show "
                    "the code again",
                    field=field,
                    code="cited_licence_" + str(p.verdict),
                )
            out.append({"material": m.name, "identifier": p.seal.licence.identifier})
        elif grant:
            if grant not in granted:
                raise NotFoundError("no grant in force from this applicant", field=field)
            out.append({"material": m.name, "identifier": granted[grant]["identifier"]})
        elif m.required:
            raise InputError(
                "is required: scan the applicant's live code, or use a grant", field=field
            )
    return out


@router.post("/queue/window")
@edge(MAX_BODY_BYTES)
async def submit_window(request: Request) -> Response:
    w = Web(request)
    parsed = await request.form()
    try:
        fields = {k: v for k, v in parsed.items() if isinstance(v, str)}
        w.check_csrf(fields.get("csrf"))
        client = w.client(*WINDOW_ROLES)
        if client is None:
            return w.to_signin("/queue/window")
        item_code = fields.get("item_code", "")
        item = next((i for i in _items(w, client) if i.code == item_code), None)
        if item is None:
            raise CatalogueError(
                "no such item for this window", field="item_code", code="unknown_item"
            )
        uploads = []
        for name, value in parsed.multi_items():
            if isinstance(value, UploadFile) and value.filename:
                check_upload_name(value, field=f"uploads.{name}")
                uploads.append(
                    UploadIn(
                        material=name,
                        filename=value.filename,
                        content_type=(value.content_type or "").lower(),
                        content=await value.read(),
                    )
                )
        try:
            applicant = holder_ref(
                fields.get("id_type", ""), fields.get("id_number", ""), field="applicant"
            )
            raw = {
                "item_code": item.code,
                "applicant": {
                    "name": fields.get("name", ""),
                    "id_type": str(applicant.id_type),
                    "id_number": applicant.id_number,
                },
                "form": {
                    f.name: fields[f"form.{f.name}"]
                    for f in item.form
                    if fields.get(f"form.{f.name}", "").strip()
                },
                "licences": await run_in_threadpool(_cite, w, client, item, fields, applicant),
            }
            case = await run_in_threadpool(w.svc.hall.submit, client, raw, uploads)
        except (InputError, CatalogueError, NotFoundError) as e:
            return _window_page(w, client, item.code, fields, error=e)
    finally:
        await parsed.close()
    return w.redirect(f"/queue/cases/{case.number}?done=window")


__all__ = ["QUEUE_ROLES", "router"]
