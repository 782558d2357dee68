"""The hall's public pages (事前清楚, no login): the service navigation (``/services``: items by
scenario, department, audience and kind, with a search), an item's guide (办事指南,
``/services/{code}``), a scenario bundle (``/services/scenarios/{code}``) and the progress
query (进度查询, ``/progress``: case number and the applicant's id, rate-limited as the API's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from elicence.api.edge import SMALL, Charge, edge
from elicence.api.routers.applying import unread
from elicence.api.routers.hall_views import (
    AUDIENCE,
    case_view,
    item_view,
    rule_zh,
    timeline_view,
)
from elicence.api.web import HtmlRoute, Web
from elicence.domain.catalogue import HolderCategory
from elicence.domain.licence import holder_ref
from elicence.errors import Error, NotFoundError
from elicence.hall.numbers import case_number

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

MAX_QUERY = 50


@router.get("/services")
def services(
    request: Request, q: str = "", audience: str = "", department: str = "", kind: str = ""
) -> Response:
    w = Web(request)
    items, licences = w.svc.hall.items(), w.svc.catalogue()
    q = q.strip()[:MAX_QUERY]
    me = w.holder()
    favourites = [
        item_view(items.items[c], items, licences)
        for c in (w.svc.holder.favourites(me) if me is not None else [])
        if c in items.items
    ]
    views = []
    for code in w.svc.hall.find_items(q):
        item = items.items[code]
        if audience and audience not in item.audience:
            continue
        if department and item.department != department:
            continue
        if kind and str(item.kind) != kind:
            continue
        views.append(item_view(item, items, licences))
    kinds: dict[str, str] = {}
    for item in items.items.values():
        kinds[str(item.kind)] = item.kind.label_zh
    return w.page(
        "hall/services.html",
        items=views,
        q=q,
        audience=audience,
        department=department,
        kind=kind,
        audiences=[(str(a), AUDIENCE[a]) for a in HolderCategory],
        departments=sorted(
            (
                d
                for d in items.departments.values()
                if any(i.department == d.uscc for i in items.items.values())
            ),
            key=lambda d: d.division_code,
        ),
        kinds=sorted(kinds.items()),
        scenarios=list(items.scenarios.values()),
        filtered=bool(q or audience or department or kind),
        favourites=favourites,
        notices=unread(w, me) if me is not None else 0,
    )


@router.get("/services/scenarios/{code}")
def scenario(code: str, request: Request) -> Response:
    w = Web(request)
    items, licences = w.svc.hall.items(), w.svc.catalogue()
    found = items.scenarios.get(code)
    if found is None:
        raise NotFoundError(f"no scenario {code}", field="code")
    views = [item_view(items.items[c], items, licences) for c in found.items]
    online = sum(1 for v in views if v["online"])
    return w.page("hall/scenario.html", scenario=found, items=views, online=online)


@router.get("/services/{code}")
def guide(code: str, request: Request, done: str | None = None) -> Response:
    w = Web(request)
    items = w.svc.hall.items()
    item = items.items.get(code)
    if item is None:
        raise NotFoundError(f"no service item {code}", field="code")
    me = w.holder()
    favoured = None if me is None else item.code in w.svc.holder.favourites(me)
    notice = {"favoured": "已收藏。 Saved.", "unfavoured": "已取消收藏。 Removed."}.get(done or "")
    return w.page(
        "hall/guide.html",
        item=item_view(item, items, w.svc.catalogue()),
        favoured=favoured,
        notice=notice,
    )


# -- progress without a login (进度查询) -----------------------------------------------------------


@router.get("/progress")
def progress_page(request: Request) -> Response:
    return Web(request).page(
        "hall/progress.html", number="", id_type="001", holder_id="", error=None, result=None
    )


@router.post("/progress")
@edge(SMALL, charge=Charge.PROGRESS)
def progress(
    request: Request,
    csrf: Annotated[str, Form()],
    case_no: Annotated[str, Form(alias="case_number")] = "",
    id_type: Annotated[str, Form()] = "001",
    holder_id: Annotated[str, Form()] = "",
) -> Response:
    w = Web(request)
    w.check_csrf(csrf)
    try:
        number = case_number(case_no)
        holder = holder_ref(id_type, holder_id, field="holder_id")
        w.svc.guard.progress_for(case_number=number)
        found = w.svc.hall.progress(number, holder)
    except Error as e:
        if e.code == "rate_limited":
            raise
        return w.page(
            "hall/progress.html",
            status=422 if e.code != "not_found" else 404,
            error={"field": e.field, "message": e.message, "zh": _progress_zh(e)},
            result=None,
            number=case_no,
            id_type=id_type,
            holder_id=holder_id,
        )
    case = case_view(found.case, w.svc.hall.today(), w.svc.hall.items())
    return w.page(
        "hall/progress.html",
        error=None,
        result={"case": case, "timeline": timeline_view(found.events)},
        number=case_no,
        id_type=id_type,
        holder_id=holder_id,
    )


def _progress_zh(e: Error) -> str:
    if e.code == "not_found":
        return "没有该申请人的这个办件编号。"
    if e.field == "case_number":
        return "办件编号有误（21 位，最后一位为校验位）。"
    return rule_zh(e)
