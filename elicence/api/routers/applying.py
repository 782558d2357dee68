"""The hall's pages for a signed-in holder (事中少走, 事后评议): apply online for an item
(``/services/{code}/apply``: a form generated from the item, with the applicant's name and id
from the sign-in, the values of earlier applications, its own e-licences of each material's type
to cite with one tap and its earlier uploads to reuse), my cases (办事记录, ``/me/cases``) with
each case's timeline, a supplement's form, the result, a rating (星级评价) and complaints, and
the portal's notices (办事提示, ``/me/notices``).

Every submission goes through the hall's facade (``svc.hall``) as the API's does, as the
holder's web principal; an error comes back next to its field, in Chinese with the API's own
English beside it, and nothing is stored (the hall stores a case in one transaction, after
every check passed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Set
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from elicence.api.edge import SMALL, edge
from elicence.api.errors import status_of
from elicence.api.routers.hall_cases import MAX_BODY_BYTES
from elicence.api.routers.hall_views import (
    case_view,
    earlier_uploads,
    item_view,
    licence_choices,
    prefill,
    rule_zh,
    timeline_view,
)
from elicence.api.web import (
    SECURITY_HEADERS,
    HolderGuard,
    HolderPage,
    HtmlRoute,
    Web,
    set_cookie,
)
from elicence.domain.clients import Client
from elicence.domain.licence import china_today
from elicence.errors import Error, InputError, NotFoundError
from elicence.hall.cases import Case, RatingDimension, UploadIn
from elicence.hall.items import LicenceMaterial, ServiceItem
from elicence.templates.web import beijing

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

Me = Annotated[HolderPage, Depends(HolderGuard())]
MeForm = Annotated[HolderPage, Depends(HolderGuard("/me/cases", answer="redirect", form=True))]
ApplyForm = Annotated[
    HolderPage, Depends(HolderGuard("/services/{code}/apply", answer="redirect", form=True))
]
EXPIRING_DAYS = 90
GRANT_LAPSING_DAYS = 7


def signed_in(request: Request) -> Response | None:
    """Before an upload is read: a request without a holder session goes to sign in."""
    w = Web(request)
    return w.to_login("/me/cases") if w.holder() is None else None


def _item(w: Web, code: str) -> ServiceItem:
    item = w.svc.hall.items().items.get(code)
    if item is None:
        raise NotFoundError(f"no service item {code}", field="code")
    return item


def _my_cases(w: Web, me: Client) -> list[Case]:
    return w.svc.hall.cases(me, limit=500)


# -- the application form ------------------------------------------------------------------------


def _form_page(
    w: Web,
    me: Client,
    item: ServiceItem,
    *,
    values: dict[str, str] | None = None,
    chosen: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    cases = _my_cases(w, me)
    view = item_view(item, w.svc.hall.items(), w.svc.catalogue())
    known = prefill(cases)
    mine = w.svc.holder.licences(me)
    granted = w.svc.holder.granted_to_me(me)
    now = w.svc.clock()
    for m in view["materials"]:
        if m["licence"]:
            m["choices"] = licence_choices(m, mine, now, granted)
        else:
            m["earlier"] = earlier_uploads(cases, m["name"])
    filled = {f["name"]: known.get(f["name"], "") for f in view["form"]}
    if values is not None:
        filled = values
    return w.page(
        "hall/apply.html",
        status=status,
        item=view,
        filled=filled,
        remembered={k for k, v in known.items() if v and k in filled},
        chosen=chosen or {},
        error=error,
        applicant_name=me.name,
        applicant_id=me.holder.id_number if me.holder else "",
        applicant_id_type=str(me.holder.id_type) if me.holder else "",
    )


@router.get("/services/{code}/apply")
def apply_page(code: str, h: Me) -> Response:
    return _form_page(h.w, h.me, _item(h.w, code))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


Where = dict[str, str]  # an API field prefix (``licences[0]``, ``reuse[1]``) → the page's field


def scoped(name: str, scope: str, shared: Set[str]) -> str:
    """A field's name on the page: a bundle's item's own field is prefixed with its ``scope``
    (``i1.form.floor_area``); a field its items share (``form.x``, ``m.<material>``) is not."""
    kind, _, rest = name.partition(".")
    key = name if kind == "form" else f"m.{rest}"
    return name if not scope or key in shared else scope + name


async def read_application(
    w: Web,
    me: Client,
    item: ServiceItem,
    form: FormData,
    *,
    partial: bool,
    scope: str = "",
    shared: Set[str] = frozenset(),
) -> tuple[dict[str, Any], list[UploadIn], dict[str, str], dict[str, str], Where]:
    """The page's form as the hall's application (JSON shape) and its uploads; the values and
    choices to show again (by page field); the page field of each citation and reused upload (to
    name an error's field). ``scope`` and ``shared``: a bundle's item's fields (``scoped``)."""
    values = {
        f.name: _text(form, scoped(f"form.{f.name}", scope, shared)).strip() for f in item.form
    }
    chosen: dict[str, str] = {}
    licences: list[dict[str, str]] = []
    where: Where = {}
    uploads: list[UploadIn] = []
    reused: list[dict[str, str]] = []
    for m in item.materials:
        pre = scoped(f"m.{m.name}", scope, shared).removesuffix(f"m.{m.name}")
        if isinstance(m, LicenceMaterial):
            pasted = _text(form, f"{pre}paste.{m.name}").strip()
            picked = _text(form, f"{pre}licence.{m.name}").strip()
            if pasted:
                chosen[pre + m.name] = "paste"
                key = "seal" if ":" in pasted or "/" in pasted else "identifier"
                licences.append({"material": m.name, key: pasted})
            elif picked:
                chosen[pre + m.name] = picked
                licences.append({"material": m.name, "identifier": picked})
            else:
                continue
            where[f"licences[{len(licences) - 1}]"] = f"{pre}licence.{m.name}"
            continue
        file = form.get(f"{pre}upload.{m.name}")
        reuse = _text(form, f"{pre}reuse.{m.name}").strip()
        if isinstance(file, UploadFile) and file.filename:
            content = await file.read()
            uploads.append(UploadIn(m.name, file.filename, file.content_type or "", bytes(content)))
        elif reuse:  # the SHA-256 of an earlier upload: the hall finds it among the holder's own
            chosen[pre + m.name] = reuse
            where[f"reuse[{len(reused)}]"] = f"{pre}upload.{m.name}"
            reused.append({"material": m.name, "sha256": reuse})
    body: dict[str, Any] = {"licences": licences}
    if reused:
        body["reuse"] = reused
    filled = {k: v for k, v in values.items() if v}
    body["form"] = filled if partial else values
    if not partial:
        body["item_code"] = item.code
    return body, uploads, values, chosen, where


def _field_of(e: Error, where: Where) -> str | None:
    """The page's field of an API error: ``licences[1]`` is the second citation's material."""
    field = e.field or ""
    found = re.fullmatch(r"((?:licences|reuse)\[\d+\]).*", field)
    if found and found.group(1) in where:
        return where[found.group(1)]
    if field.startswith("uploads."):
        return "upload." + field.removeprefix("uploads.")
    if field == "licences":
        named = re.search(r"material '([a-z0-9_]+)'", e.message)
        return f"licence.{named.group(1)}" if named else None
    return field or None


def form_error(e: Error, where: Where) -> dict[str, Any]:
    verdict = e.code.removeprefix("cited_licence_") if e.code.startswith("cited_licence_") else None
    return {
        "field": _field_of(e, where),
        "api_field": e.field,
        "message": e.message,
        "zh": rule_zh(e),
        "code": e.code,
        "verdict": verdict,
    }


@router.post("/services/{code}/apply")
@edge(MAX_BODY_BYTES, precheck=signed_in)
async def apply(code: str, request: Request, h: ApplyForm) -> Response:
    w, me = h.w, h.me
    item = _item(w, code)
    form = await request.form()
    cited: Where = {}
    values: dict[str, str] = {}
    chosen: dict[str, str] = {}
    try:
        body, uploads, values, chosen, cited = await read_application(
            w, me, item, form, partial=False
        )
        await run_in_threadpool(w.svc.holder.enrol, me)
        case = await run_in_threadpool(w.svc.hall.submit, me, body, uploads)
    except Error as e:
        err, answer, shown, picked = form_error(e, cited), status_of(e), values or None, chosen
        return await run_in_threadpool(
            lambda: _form_page(w, me, item, values=shown, chosen=picked, error=err, status=answer)
        )
    return w.redirect(f"/me/cases/{case.number}?done=submitted")


# -- my cases ------------------------------------------------------------------------------------


@router.get("/me/cases")
def my_cases(h: Me) -> Response:
    w = h.w
    today, items = w.svc.hall.today(), w.svc.hall.items()
    cases = sorted(_my_cases(w, h.me), key=lambda c: c.submitted_at, reverse=True)
    return w.page(
        "hall/cases.html",
        cases=[case_view(c, today, items) for c in cases],
        tab="cases",
        notices=unread(w, h.me),
    )


DONE = {
    "submitted": "已提交申请。 Application submitted.",
    "supplemented": "已提交补正材料。 Supplement handed in.",
    "rated": "感谢您的评价。 Thank you for rating.",
    "complained": "已提交投诉建议。 Complaint filed.",
}


def _case_page(
    w: Web,
    me: Client,
    number: str,
    *,
    done: str | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    case, events = w.svc.hall.timeline(me, number)
    items = w.svc.hall.items()
    view = case_view(case, w.svc.hall.today(), items)
    rating = None
    if view["finished"]:
        try:
            rating = w.svc.hall.rating(me, case.number)
        except NotFoundError:
            rating = None
    complaints = w.svc.hall.complaints(me, number=case.number)
    rectification = w.svc.hall.rectification_of(me, case.number) if rating else None
    item_page = None
    if view["asks"]:
        item_page = item_view(case.item, items, w.svc.catalogue())
        mine = w.svc.holder.licences(me)
        granted = w.svc.holder.granted_to_me(me, case=case.number)
        for m in item_page["materials"]:
            if m["licence"]:
                m["choices"] = licence_choices(m, mine, w.svc.clock(), granted)
    return w.page(
        "hall/case.html",
        status=status,
        case=view,
        timeline=timeline_view(events),
        rating=rating,
        rectification=rectification,
        complaints=complaints,
        supplement=item_page,
        dimensions=[(str(d), d.label_zh) for d in RatingDimension],
        error=error,
        notice=DONE.get(done or ""),
        tab="cases",
        notices=unread(w, me),
        submitted=done == "submitted",
    )


@router.get("/me/cases/{number}")
def my_case(number: str, h: Me, done: str | None = None) -> Response:
    return _case_page(h.w, h.me, number, done=done)


@router.get("/me/cases/{number}/uploads/{material}")
def my_upload(number: str, material: str, h: Me) -> Response:
    upload, content = h.w.svc.hall.upload(h.me, number, material)
    ascii_name = re.sub(r"[^0-9A-Za-z._-]", "_", upload.filename) or "upload"
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{ascii_name}"',
        "X-Content-SHA256": upload.sha256,
    }
    return h.w.finish(Response(content, media_type=upload.content_type, headers=headers))


@router.post("/me/cases/{number}/supplement")
@edge(MAX_BODY_BYTES, precheck=signed_in)
async def supplement(number: str, request: Request, h: MeForm) -> Response:
    w, me = h.w, h.me
    case = await run_in_threadpool(w.svc.hall.case, me, number)
    form = await request.form()
    cited: Where = {}
    try:
        body, uploads, _values, _chosen, cited = await read_application(
            w, me, case.item, form, partial=True
        )
        note = _text(form, "note").strip()
        if note:
            body["note"] = note
        await run_in_threadpool(w.svc.holder.enrol, me)
        await run_in_threadpool(w.svc.hall.supplement, me, case.number, body, uploads)
    except Error as e:
        err, code = form_error(e, cited), status_of(e)
        return await run_in_threadpool(
            lambda: _case_page(w, me, case.number, error=err, status=code)
        )
    return w.redirect(f"/me/cases/{case.number}?done=supplemented")


@router.post("/me/cases/{number}/rating")
@edge(SMALL)
async def rate(number: str, request: Request, h: MeForm) -> Response:
    w, me = h.w, h.me
    form = await request.form()
    try:
        raw = {
            "stars": _stars(form, "stars"),
            "dimensions": {str(d): _stars(form, f"dim.{d}") for d in RatingDimension},
        }
        comment = _text(form, "comment").strip()
        if comment:
            raw["comment"] = comment
        await run_in_threadpool(w.svc.holder.enrol, me)
        await run_in_threadpool(w.svc.hall.rate, me, number, raw)
    except Error as e:
        err, code = form_error(e, {}), status_of(e)
        return await run_in_threadpool(lambda: _case_page(w, me, number, error=err, status=code))
    return w.redirect(f"/me/cases/{number}?done=rated")


def _stars(form: FormData, name: str) -> int:
    value = _text(form, name)
    if not value:
        raise InputError("is required", field=name)
    if value not in ("1", "2", "3", "4", "5"):
        raise InputError("must be 1 to 5 stars", field=name)
    return int(value)


@router.post("/me/cases/{number}/complaints")
@edge(SMALL)
async def complain(number: str, request: Request, h: MeForm) -> Response:
    w, me = h.w, h.me
    form = await request.form()
    try:
        text = _text(form, "text").strip()
        if not text:
            raise InputError("is required", field="text")
        await run_in_threadpool(w.svc.holder.enrol, me)
        await run_in_threadpool(w.svc.hall.complain, me, number, {"text": text})
    except Error as e:
        err, code = form_error(e, {}), status_of(e)
        return await run_in_threadpool(lambda: _case_page(w, me, number, error=err, status=code))
    return w.redirect(f"/me/cases/{number}?done=complained")


# -- favourites (收藏) ---------------------------------------------------------------------------


@router.post("/me/favourites")
@edge(SMALL)
async def favour(
    request: Request,
    h: Annotated[HolderPage, Depends(HolderGuard("/services", answer="redirect", form=True))],
) -> Response:
    form = await request.form()
    code = _text(form, "code")
    item = _item(h.w, code)
    on = _text(form, "on") != "0"
    await run_in_threadpool(h.w.svc.holder.favour, h.me, item.code, on=on)
    return h.w.redirect(f"/services/{item.code}?done={'favoured' if on else 'unfavoured'}")


# -- notices (办事提示) --------------------------------------------------------------------------


def notices(w: Web, me: Client) -> list[dict[str, Any]]:
    """What the holder should know now: cases that ask something of it or changed lately, its
    licences expiring within 90 days, its grants lapsing within 7 days. Computed on each visit;
    nothing is sent outside the service."""
    now = w.svc.clock()
    today = china_today(now)
    out: list[dict[str, Any]] = []
    for case in _my_cases(w, me):
        if case.status.value in ("awaiting_correction", "awaiting_supplement"):
            out.append(
                {
                    "key": f"ask:{case.number}:{case.status}",
                    "kind": "ask",
                    "zh": f"办件 {case.number}（{case.item.name_zh}）需要补正：{case.reason or ''}",
                    "en": "A supplement is asked.",
                    "href": f"/me/cases/{case.number}",
                }
            )
        elif case.decided_at is not None and now - case.decided_at < dt.timedelta(days=30):
            out.append(
                {
                    "key": f"state:{case.number}:{case.status}",
                    "kind": "state",
                    "zh": f"办件 {case.number}（{case.item.name_zh}）：{case.status.label_zh}",
                    "en": "A case changed state.",
                    "href": f"/me/cases/{case.number}",
                }
            )
    for lic in w.svc.holder.licences(me):
        if lic.valid_until is None or lic.effective_status(today) != "valid":
            continue
        left = (lic.valid_until - today).days
        if 0 <= left <= EXPIRING_DAYS:
            out.append(
                {
                    "key": f"expiring:{lic.identifier}",
                    "kind": "expiring",
                    "zh": f"证照 {lic.licence_number} 将于 {lic.valid_until.isoformat()} 到期"
                    f"（剩 {left} 天）",
                    "en": f"A licence expires in {left} days.",
                    "href": f"/me/licences/{lic.identifier}",
                    "renew": _renewal_item(w, lic.type_code),
                }
            )
    for g in w.svc.holder.grants(me):
        if str(g.state(now)) == "in_force" and g.valid_until - now < dt.timedelta(
            days=GRANT_LAPSING_DAYS
        ):
            out.append(
                {
                    "key": f"grant:{g.id}",
                    "kind": "grant",
                    "zh": f"授权用证（{g.purpose}）将于 {beijing(g.valid_until)}（北京时间）失效",
                    "en": "A grant is about to lapse.",
                    "href": "/me/grants",
                }
            )
    return out


def _renewal_item(w: Web, type_code: str) -> str | None:
    """An item that cites a licence of this type and issues the same type (延续, 换发)."""
    for item in w.svc.hall.items().items.values():
        if item.issues == type_code and any(
            isinstance(m, LicenceMaterial) and m.licence_type == type_code for m in item.materials
        ):
            return item.code
    return None


SEEN_COOKIE = "elicence_seen"  # short digests of the notices this browser's holder has seen
MAX_SEEN = 60


def _digest(me: Client, key: str) -> str:
    return hashlib.sha256(f"{me.id}|{key}".encode()).hexdigest()[:8]


def _seen(w: Web) -> set[str]:
    return set(w.request.cookies.get(SEEN_COOKIE, "").split(".")[:MAX_SEEN])


def unread(w: Web, me: Client) -> int:
    """How many of the holder's current notices it has not seen on ``/me/notices`` (in this
    browser: the seen ones are kept as digests, salted with the holder, in a cookie)."""
    seen = _seen(w)
    return sum(1 for n in notices(w, me) if _digest(me, n["key"]) not in seen)


@router.get("/me/notices")
def my_notices(h: Me) -> Response:
    found = notices(h.w, h.me)
    seen = _seen(h.w)
    for n in found:
        n["new"] = _digest(h.me, n["key"]) not in seen
    response = h.w.page(
        "hall/notices.html", found=found, tab="notices", notices=sum(n["new"] for n in found)
    )
    digests = ".".join(_digest(h.me, n["key"]) for n in found[:MAX_SEEN])
    set_cookie(h.w.request, response, SEEN_COOKIE, digests)
    return response
