"""A scenario bundle (专项"一条龙"服务, e.g. 我要开餐馆) applied for in one guided flow by a
signed-in holder: ``/services/scenarios/{code}/apply`` is one form built from the bundle's
items — the fields and materials two or more items share (same name) asked once, each item's
own ones grouped under it — submitted as one case per item through ``Hall.submit_many``, all or
none: a refused item stores nothing of any, and its error is shown beside its field, in Chinese
with the API's English. The receipt (``…/receipt``) lists each case number with its check
character and promised working days.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from elicence.api.edge import edge
from elicence.api.errors import status_of
from elicence.api.routers.applying import (
    Where,
    form_error,
    read_application,
    scoped,
    signed_in,
)
from elicence.api.routers.hall_cases import MAX_BODY_BYTES
from elicence.api.routers.hall_views import (
    bundle_view,
    case_view,
    earlier_uploads,
    licence_choices,
    prefill,
)
from elicence.api.web import HolderGuard, HolderPage, HtmlRoute, Web
from elicence.domain.clients import Client
from elicence.errors import Error, NotFoundError
from elicence.hall.items import Scenario

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

Me = Annotated[HolderPage, Depends(HolderGuard())]
BundleForm = Annotated[
    HolderPage,
    Depends(HolderGuard("/services/scenarios/{code}/apply", answer="redirect", form=True)),
]
MAX_RECEIPT = 20


def _scenario(w: Web, code: str) -> Scenario:
    found = w.svc.hall.items().scenarios.get(code)
    if found is None:
        raise NotFoundError(f"no scenario {code}", field="code")
    return found


def _page(
    w: Web,
    me: Client,
    scenario: Scenario,
    *,
    filled: dict[str, str] | None = None,
    chosen: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    view = bundle_view(scenario, w.svc.hall.items(), w.svc.catalogue())
    cases = w.svc.hall.cases(me, limit=500)
    known = prefill(cases)
    mine, granted = w.svc.holder.licences(me), w.svc.holder.granted_to_me(me)
    now = w.svc.clock()
    materials = [*view["shared_materials"], *(m for v in view["items"] for m in v["own_materials"])]
    for m in materials:
        if m["licence"]:
            m["choices"] = licence_choices(m, mine, now, granted)
        else:
            m["earlier"] = earlier_uploads(cases, m["name"])
    if filled is None:
        filled = {f"form.{f['name']}": known.get(f["name"], "") for f in view["shared_form"]}
        for v in view["items"]:
            for f in v["own_form"]:
                filled[f"{v['scope']}form.{f['name']}"] = known.get(f["name"], "")
    return w.page(
        "hall/bundle.html",
        status=status,
        bundle=view,
        filled=filled,
        chosen=chosen or {},
        error=error,
        applicant_name=me.name,
        applicant_id=me.holder.id_number if me.holder else "",
        applicant_id_type=str(me.holder.id_type) if me.holder else "",
    )


@router.get("/services/scenarios/{code}/apply")
def bundle_page(code: str, h: Me) -> Response:
    return _page(h.w, h.me, _scenario(h.w, code))


def _bundle_error(e: Error, view: dict[str, Any], wheres: list[Where]) -> dict[str, Any]:
    """The page's error for the hall's ``items[i].<field>``: the field of item ``i`` on the
    page (its own, or the shared one), and the item named."""
    api_field = e.field
    found = re.fullmatch(r"items\[(\d+)\](?:\.(.*))?", api_field or "")
    if found is None or int(found.group(1)) >= len(view["items"]):
        return form_error(e, {})
    n = int(found.group(1))
    item = view["items"][n]
    e.field = found.group(2)
    err = form_error(e, wheres[n] if n < len(wheres) else {})
    e.field = api_field
    field = err["field"]
    if field and field.split(".")[0] in ("form", "licence", "upload"):
        field = scoped(field, item["scope"], view["shared"])
    return {**err, "field": field, "api_field": api_field, "item": item["name"]}


@router.post("/services/scenarios/{code}/apply")
@edge(MAX_BODY_BYTES, precheck=signed_in)
async def apply_bundle(code: str, request: Request, h: BundleForm) -> Response:
    w, me = h.w, h.me
    scenario = _scenario(w, code)
    catalogue = w.svc.hall.items()
    view = bundle_view(scenario, catalogue, w.svc.catalogue())
    form = await request.form()
    filled: dict[str, str] = {}
    chosen: dict[str, str] = {}
    wheres: list[Where] = []
    try:
        applications = []
        for v in view["items"]:
            item = catalogue.items[v["code"]]
            body, uploads, values, picked, where = await read_application(
                w, me, item, form, partial=False, scope=v["scope"], shared=view["shared"]
            )
            for name, value in values.items():
                filled[scoped(f"form.{name}", v["scope"], view["shared"])] = value
            chosen.update(picked)
            wheres.append(where)
            applications.append((body, uploads))
        await run_in_threadpool(w.svc.holder.enrol, me)
        cases = await run_in_threadpool(w.svc.hall.submit_many, me, applications)
    except Error as e:
        err, answer = _bundle_error(e, view, wheres), status_of(e)
        return await run_in_threadpool(
            lambda: _page(w, me, scenario, filled=filled, chosen=chosen, error=err, status=answer)
        )
    numbers = "&".join(f"n={c.number}" for c in cases)
    return w.redirect(f"/services/scenarios/{scenario.code}/receipt?{numbers}")


@router.get("/services/scenarios/{code}/receipt")
def receipt(code: str, h: Me, n: Annotated[list[str], Query(max_length=MAX_RECEIPT)]) -> Response:
    """Each case of the bundle: its number with the check character, the item and the promised
    working days (the due date is set at acceptance). Only the holder's own cases are shown."""
    w = h.w
    scenario = _scenario(w, code)
    today, items = w.svc.hall.today(), w.svc.hall.items()
    shown = []
    for number in n[:MAX_RECEIPT]:
        try:
            shown.append(case_view(w.svc.hall.case(h.me, number), today, items))
        except Error:
            continue  # not a case of this holder (or not a case number): not shown
    return w.page("hall/receipt.html", scenario=scenario, cases=shown, tab="cases")
