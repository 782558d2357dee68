"""HTTP: the department console (发证部门): issue with a preview marked 草稿 (nothing is signed
until confirmed), revoke, and bulk import with a progress display.

For a department (or an admin, where the use case allows) signed in with its API key. Issuing and
revoking go through the same facade methods as the API (``Elicence.licences.issue``,
``Elicence.licences.change_status``); the preview through ``Elicence.console.preview``, which
stores and signs nothing. Bulk import: the page's script reads a JSON Lines file and posts it in
chunks of :data:`CHUNK` to ``POST /console/import``, one batch issuance each (idempotent by
``source_ref``, so a stopped import is simply run again); the large-file importer is the CLI's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import JSONResponse, Response

from elicence.api.edge import IMPORT_CHUNK, LICENCE, EdgeRoute, decode_json, edge
from elicence.api.errors import ErrorResponse, render
from elicence.api.schemas import BatchRaw
from elicence.api.web import SECURITY_HEADERS, HtmlRoute, SignInNeededError, Web, error_view
from elicence.domain.catalogue import HolderIdType
from elicence.domain.clients import Client, Role
from elicence.errors import CatalogueError, Error, InputError
from elicence.issuer.lifecycle import Action
from elicence.templates.texts import error_zh

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
api_router = APIRouter(
    route_class=EdgeRoute, include_in_schema=False
)  # the import's JSON endpoint: errors as JSON
CHUNK = 200
Csrf = Annotated[str, Form()]


def _department(w: Web, next_path: str) -> Client:
    """The signed-in department (or admin); without one the request is answered with the
    sign-in page, which comes back to ``next_path``."""
    client = w.client(Role.DEPARTMENT)
    if client is None:
        raise SignInNeededError(w.to_signin(next_path))
    return client


def _posted_draft(request: Request, csrf: str, request_: str) -> tuple[Web, Client, dict[str, Any]]:
    """A form that posts back the previewed draft (edit, PDF, confirm): its CSRF token checked,
    its department signed in, the draft decoded."""
    w = Web(request)
    w.check_csrf(csrf)
    client = _department(w, "/console/issue")
    return w, client, _raw_from_json(request_)


def _raw_from_form(form: dict[str, str]) -> dict[str, Any]:
    """An issuance request (as the API takes it) from the console's form fields."""
    data = {k[5:]: v for k, v in form.items() if k.startswith("data.") and v.strip()}
    return {
        "source_ref": form.get("source_ref", ""),
        "type_code": form.get("type_code", ""),
        "licence_number": form.get("licence_number", ""),
        "holder": {
            "name": form.get("holder_name", ""),
            "id_type": form.get("holder_id_type", ""),
            "id_number": form.get("holder_id", ""),
        },
        "valid_from": form.get("valid_from", ""),
        "valid_until": form.get("valid_until") or None,
        "data": data,
    }


def _raw_from_json(text: str) -> dict[str, Any]:
    try:
        raw = decode_json(text.encode("utf-8", "surrogatepass"))
    except InputError as e:
        raise InputError("the draft is not readable: preview it again", field="request") from e
    if not isinstance(raw, dict):
        raise InputError("the draft is not readable: preview it again", field="request")
    return raw


@router.get("/console")
def console(request: Request) -> Response:
    w = Web(request)
    client = _department(w, "/console")
    dept = w.svc.catalogue().departments.get(client.department or "")
    return w.page("console/index.html", department_name=dept.name_zh if dept else client.name)


def _form_from_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """The issue form's fields from an issuance request (what "back to edit" shows again)."""
    given_holder, given_data = raw.get("holder"), raw.get("data")
    holder: dict[str, Any] = given_holder if isinstance(given_holder, dict) else {}
    data: dict[str, Any] = given_data if isinstance(given_data, dict) else {}
    return {
        "source_ref": str(raw.get("source_ref") or ""),
        "licence_number": str(raw.get("licence_number") or ""),
        "holder_name": str(holder.get("name") or ""),
        "holder_id_type": str(holder.get("id_type") or ""),
        "holder_id": str(holder.get("id_number") or ""),
        "valid_from": str(raw.get("valid_from") or ""),
        "valid_until": str(raw.get("valid_until") or ""),
        "data": {str(k): str(v) for k, v in data.items()},
    }


def _issue_page(
    w: Web,
    client: Client,
    type_code: str | None,
    form: dict[str, Any] | None = None,
    *,
    error: Error | None = None,
) -> Response:
    catalogue = w.svc.catalogue()
    dept = catalogue.department(client.department or "")
    types = [catalogue.licence_types[c] for c in dept.licence_types if c in catalogue.licence_types]
    chosen = next((t for t in types if t.code == type_code), None)
    codes = [
        str(code)
        for code in HolderIdType
        if chosen is None or code.category in (None, chosen.holder_category)
    ]
    blank = {
        "source_ref": "",
        "licence_number": "",
        "holder_name": "",
        "holder_id_type": codes[0] if codes else "",
        "holder_id": "",
        "valid_from": w.svc.hall.today().isoformat(),  # China's date, not UTC's
        "valid_until": "",
        "data": {},
    }
    shown = {**blank, **{k: v for k, v in (form or {}).items() if v}}
    labels = {f"data.{i.name}": i.label_zh for i in chosen.data_items} if chosen else {}
    return w.page(
        "console/issue.html",
        status=422 if error is not None else 200,
        types=types,
        chosen=chosen,
        form=shown,
        id_type_codes=codes,
        error=error_view(error, labels) if error is not None else None,
    )


@router.get("/console/issue")
def issue_form(request: Request, type: str | None = None) -> Response:
    w = Web(request)
    client = _department(w, "/console/issue")
    return _issue_page(w, client, type)


@router.post("/console/edit")
@edge(LICENCE)
def edit(request: Request, csrf: Csrf, request_: Annotated[str, Form(alias="request")]) -> Response:
    """Back from the preview to the form, with every field as it was typed."""
    w, client, raw = _posted_draft(request, csrf, request_)
    return _issue_page(w, client, str(raw.get("type_code") or ""), _form_from_raw(raw))


@router.post("/console/preview")
@edge(LICENCE)
async def preview(request: Request) -> Response:
    """Check the form as issuance will and show it marked 草稿: nothing is signed or stored."""
    from starlette.concurrency import run_in_threadpool

    w = Web(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    w.check_csrf(form.get("csrf"))
    client = _department(w, "/console/issue")
    raw = _raw_from_form(form)
    try:
        draft = await run_in_threadpool(w.svc.console.preview, client, raw)
    except (InputError, CatalogueError) as e:  # shown beside the form, as it was typed
        return _issue_page(w, client, raw["type_code"], _form_from_raw(raw), error=e)
    req = draft.request
    rows = [
        ("证照编号", "Licence number", req.licence_number),
        ("持证主体", "Holder", req.holder.name),
        ("证件号码", "Holder ID", f"{req.holder.id_type} {req.holder.id_number}"),
        *(
            (item.label_zh, item.label_en, req.data[item.name])
            for item in draft.licence_type.data_items
            if item.name in req.data
        ),
        ("有效期", "Validity", f"{req.valid_from} – {req.valid_until or '长期 long-term'}"),
        ("发证机关", "Issued by", draft.department.name_zh),
        ("电子证照标识", "Identifier", "（签发时生成 made at issuance）"),
    ]
    return w.page(
        "console/preview.html",
        draft=draft,
        rows=rows,
        request_json=json.dumps(raw, ensure_ascii=False, separators=(",", ":")),
    )


@router.post("/console/preview.pdf")
@edge(LICENCE)
def preview_pdf(
    request: Request, csrf: Csrf, request_: Annotated[str, Form(alias="request")]
) -> Response:
    """The draft as an unsigned PDF marked 草稿 DRAFT (shown in the browser, never stored)."""
    w, client, raw = _posted_draft(request, csrf, request_)
    draft = w.svc.console.preview(client, raw)
    return w.finish(
        Response(
            draft.pdf,
            media_type="application/pdf",
            headers={**SECURITY_HEADERS, "Content-Disposition": 'inline; filename="draft.pdf"'},
        )
    )


@router.post("/console/confirm")
@edge(LICENCE)
def confirm(
    request: Request, csrf: Csrf, request_: Annotated[str, Form(alias="request")]
) -> Response:
    """Issue the previewed licence through the issuer (sealed, stored, logged)."""
    w, client, raw = _posted_draft(request, csrf, request_)
    result = w.svc.licences.issue(client, raw)
    lic = result.licence
    catalogue = w.svc.catalogue()
    lt = catalogue.licence_types.get(lic.type_code)
    view = {
        "identifier": lic.identifier,
        "type_code": lic.type_code,
        "type_name": lt.name_zh if lt else lic.type_code,
        "licence_number": lic.licence_number,
        "holder_name": lic.holder.name,
        "issued_at": lic.issued_at,
    }
    return w.page("console/issued.html", lic=view, created=result.created)


@router.get("/console/revoke")
def revoke_form(request: Request) -> Response:
    w = Web(request)
    _department(w, "/console/revoke")
    return w.page("console/revoke.html", change=None)


@router.post("/console/revoke")
def revoke(
    request: Request,
    csrf: Csrf,
    identifier: Annotated[str, Form()],
    reason: Annotated[str, Form()],
) -> Response:
    w = Web(request)
    w.check_csrf(csrf)
    client = _department(w, "/console/revoke")
    change = w.svc.licences.change_status(client, identifier.strip(), Action.REVOKE, reason=reason)
    return w.page("console/revoke.html", change={"identifier": change.licence.identifier})


@router.get("/console/import")
def import_page(request: Request) -> Response:
    w = Web(request)
    _department(w, "/console/import")
    return w.page("console/import.html", chunk=CHUNK)


@api_router.post("/console/import")
@edge(IMPORT_CHUNK)
def import_chunk(
    request: Request,
    body: BatchRaw,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Response:
    """One chunk of a bulk import: a batch issuance, answered per item (JSON)."""
    try:
        w = Web(request)
        w.check_csrf(x_csrf_token)
        client = w.client(Role.DEPARTMENT)
        if client is None:
            raise InputError("sign in to the console again", field="session")
        if len(body.items) > CHUNK:
            raise InputError(f"at most {CHUNK} items a chunk", field="items")
        results = w.svc.licences.issue_batch(client, body.items)
    except Error as e:
        status, shaped = render(e)
        shaped["error"]["message_zh"] = error_zh(e.code, e.message, e.field)
        return ErrorResponse(shaped, status)
    out: list[dict[str, Any]] = []
    for r in results:
        if r.result is not None:
            out.append({"index": r.index, "outcome": "created" if r.result.created else "existing"})
        else:
            assert r.error is not None
            out.append(
                {
                    "index": r.index,
                    "outcome": "error",
                    "error": {
                        **render(r.error)[1]["error"],
                        "message_zh": error_zh(r.error.code, r.error.message, r.error.field),
                    },
                }
            )
    return JSONResponse(
        {
            "created": sum(o["outcome"] == "created" for o in out),
            "existing": sum(o["outcome"] == "existing" for o in out),
            "failed": sum(o["outcome"] == "error" for o in out),
            "results": out,
        },
        headers={"Cache-Control": "no-store"},
    )
