"""The clerk's work queue (办件工作台): the cases waiting on a department's clerk or a hall
window, and a case page to work one — for a department, a hall (or an admin, reading) signed in
with its API key at ``/signin``, as the console and the desk are.

Every step goes through the hall's facade (``svc.hall``) with exactly the signed-in client's
rights, as the case API does: a department sees and acts on its own items' cases only (another's
is 404), the hall at depth 2-3 accepts and completes. Every POST carries the session's CSRF
token; a refused step stores nothing and shows the error in Chinese beside the API's words.

The case page re-checks each cited e-licence when it opens (each check a usage record under the
clerk's client, naming the case) and again on the re-check button; uploads are shown inside the
page: an image as it is, a PDF as its first pages rendered to one PNG on the server
(``templates/preview.py``, ADR 0017); each served with a sandboxing policy of its own.

At a hall's self-service or window terminal (a browser ``/terminal`` marked) the pages take the
terminal layout, as the citizens' do: large targets, nothing opened in another tab, the idle
sign-out returning to ``/queue``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from elicence.api.edge import LICENCE, edge
from elicence.api.web import SECURITY_HEADERS, HtmlRoute, Web, error_view
from elicence.app.service import Elicence
from elicence.domain.clients import Client, Role
from elicence.errors import Error, InputError
from elicence.hall.cases import Case
from elicence.hall.roles import check_may_act, check_may_record_visit
from elicence.hall.workflow import CaseAction, CaseStatus, allowed_actions
from elicence.templates.preview import MAX_PAGES, pdf_preview_png

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
QUEUE_ROLES = (Role.DEPARTMENT, Role.HALL, Role.ADMIN)
Csrf = Annotated[str, Form()]
PAGE = 200  # cases on one page of the queue
HOME = "/queue"  # where a terminal's idle sign-out returns a clerk's page to
# an upload, or its preview, in the browser: its own policy, no script, no plugin, sandboxed
UPLOAD_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}

# the states in which a case waits on a clerk or a window, in the order a case moves through them
WAITING = (
    CaseStatus.SUBMITTED,
    CaseStatus.ACCEPTED,
    CaseStatus.UNDER_REVIEW,
    CaseStatus.ISSUING,
    CaseStatus.APPROVED,
    CaseStatus.REFUSED,
    CaseStatus.AWAITING_CORRECTION,
    CaseStatus.AWAITING_SUPPLEMENT,
)


@dataclass(frozen=True, slots=True)
class StepView:
    """A step the clerk may take now: its form action, its words, whether it needs a reason."""

    action: str
    zh: str
    en: str
    reason: bool
    primary: bool = False


STEPS: dict[CaseAction, StepView] = {
    CaseAction.ACCEPT: StepView("accept", "受理", "Accept", False, True),
    CaseAction.REJECT: StepView("reject", "不予受理", "Reject", True),
    CaseAction.REQUEST_CORRECTION: StepView(
        "request_correction", "告知补正（受理前）", "Ask for a correction", True
    ),
    CaseAction.START_REVIEW: StepView("start_review", "开始审查", "Start the review", False, True),
    CaseAction.REQUEST_SUPPLEMENT: StepView(
        "request_supplement", "告知补正（计时暂停）", "Ask for a supplement", True
    ),
    CaseAction.REFUSE: StepView("refuse", "不予许可", "Refuse", True),
    CaseAction.COMPLETE: StepView("complete", "办结", "Complete", False, True),
}


def _clerk(w: Web) -> Client | None:
    return w.client(*QUEUE_ROLES)


def days_left(svc: Elicence, case: Case, today: dt.date) -> int | None:
    """Working days to the promised day (negative: overdue by that many); None without one."""
    if case.due_on is None or case.final:
        return None
    cal = svc.hall.calendar
    if today <= case.due_on:
        return cal.working_days_between(today, case.due_on)
    return -cal.working_days_between(case.due_on, today)


def _row(svc: Elicence, case: Case, today: dt.date) -> dict[str, Any]:
    return {
        "number": case.number,
        "item": case.item.name_zh,
        "item_code": case.item.code,
        "applicant": case.applicant.name,
        "channel": str(case.channel),
        "status": str(case.status),
        "status_zh": case.status.label_zh,
        "submitted_at": case.submitted_at,
        "due_on": case.due_on,
        "days_left": days_left(svc, case, today),
        "paused": case.paused_since is not None,
        "overdue": case.overdue(today),
    }


@router.get("/queue")
def queue(request: Request, item: str = "", status: str = "") -> Response:
    """The cases waiting on this clerk: overdue first and marked, then by working days left."""
    w = Web(request)
    client = _clerk(w)
    if client is None:
        return w.to_signin("/queue")
    svc = w.svc
    today = svc.hall.today()
    item_code = item.strip() or None
    wanted = status.strip() or None
    if wanted is not None and wanted not in {str(s) for s in CaseStatus}:
        raise InputError(f"must be one of {', '.join(CaseStatus)}", field="status")
    # one query a state, so that finished cases never crowd waiting ones out of the page
    states = [wanted] if wanted is not None else [str(s) for s in WAITING]
    rows = [
        _row(svc, c, today)
        for state in states
        for c in svc.hall.cases(client, status=state, item_code=item_code, limit=PAGE)
    ]

    def order(r: dict[str, Any]) -> tuple[int, int, str]:
        left = r["days_left"]
        return (0 if r["overdue"] else 1, left if left is not None else 10**6, r["number"])

    rows.sort(key=order)
    shown = (CaseStatus(wanted),) if wanted is not None else WAITING
    late = [r for r in rows if r["overdue"]]
    groups = [("overdue", "已超期", "Overdue", late)] + [
        (
            str(s),
            s.label_zh,
            str(s),
            [r for r in rows if r["status"] == str(s) and not r["overdue"]],
        )
        for s in shown
    ]
    catalogue = svc.hall.items()
    scope = client.department if client.role is Role.DEPARTMENT else None
    items = sorted(
        (i for i in catalogue.items.values() if scope is None or i.department == scope),
        key=lambda i: i.code,
    )
    return w.page(
        "queue/index.html",
        groups=[g for g in groups if g[3]],
        total=len(rows),
        overdue=sum(r["overdue"] for r in rows),
        items=items,
        states=[(str(s), s.label_zh) for s in CaseStatus],
        chosen_item=item_code or "",
        chosen_status=wanted or "",
        today=today,
        clerk=client.name,
        terminal_home=HOME,
    )


def _citation_checks(svc: Elicence, client: Client, case: Case) -> list[dict[str, Any]]:
    """Each cited e-licence verified again now (a usage record each, as every check is, naming
    the case)."""
    out = []
    for c in case.citations:
        report = svc.verification.verify(
            identifier=c.identifier, client=client, case_number=case.number
        )
        lic = report.licence
        out.append(
            {
                "material": c.material,
                "label": _material_label(case, c.material),
                "identifier": c.identifier,
                "at_submission": c.verdict,
                "verdict": str(report.verdict),
                "checks": list(report.checks),
                "licence_number": lic.licence_number if lic is not None else "",
                "valid_until": lic.valid_until if lic is not None else None,
            }
        )
    return out


def _material_label(case: Case, name: str) -> str:
    for m in case.item.materials:
        if m.name == name:
            return m.label_zh
    return name


def _steps(client: Client, case: Case) -> list[StepView]:
    steps = []
    for action in allowed_actions(case.status):
        view = STEPS.get(action)
        if view is None:
            continue
        try:
            check_may_act(client, case, action)
        except Error:
            continue
        steps.append(view)
    return steps


def _may(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except Error:
        return False
    return True


def _approval_form(svc: Elicence, case: Case) -> dict[str, Any] | None:
    """What approving asks for, pre-filled from the application: the licence's data items from
    the form's values of the same name (the issuer's checks run again on approval)."""
    if case.item.issues is None:
        return None
    lt = svc.catalogue().licence_types.get(case.item.issues)
    if lt is None:
        return None
    return {
        "type_name": lt.name_zh,
        "long_term": lt.validity.long_term,
        "data": [
            (i.name, i.label_zh, i.label_en, case.form.get(i.name, ""), i.max_length, i.required)
            for i in lt.data_items
        ],
    }


def _case_page(
    w: Web,
    client: Client,
    number: str,
    *,
    error: Error | None = None,
    notice: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    svc = w.svc
    case, events = svc.hall.timeline(client, number)
    today = svc.hall.today()
    approving = _may(check_may_act, client, case, CaseAction.APPROVE_AND_ISSUE) and (
        CaseAction.APPROVE_AND_ISSUE in allowed_actions(case.status)
        or CaseAction.APPROVE in allowed_actions(case.status)
    )
    approval = _approval_form(svc, case) if approving else None
    if approval is not None and typed:
        approval["data"] = [
            (n, zh, en, typed.get(f"data.{n}", v), m, r) for n, zh, en, v, m, r in approval["data"]
        ]
    dept = svc.hall.items().departments.get(case.department)
    return w.page(
        "queue/case.html",
        status=422 if error is not None else 200,
        case=case,
        row=_row(svc, case, today),
        department_name=dept.name_zh if dept else case.department,
        form_labels={f.name: f.label_zh for f in case.item.form},
        citations=_citation_checks(svc, client, case),
        uploads=[
            {
                "material": u.material,
                "label": _material_label(case, u.material),
                "filename": u.filename,
                "content_type": u.content_type,
                "size_kb": max(1, u.size // 1024),
                "sha256": u.sha256,
                "image": u.content_type in ("image/png", "image/jpeg"),
                "pdf": u.content_type == "application/pdf",
            }
            for u in case.uploads
        ],
        events=events,
        steps=_steps(client, case),
        approving=approving,
        approve_plain=approving and case.item.issues is None,
        approval=approval,
        licence_number=(typed or {}).get("licence_number", ""),
        valid_until=(typed or {}).get("valid_until", ""),
        may_visit=_may(check_may_record_visit, client, case),
        error=error_view(error) if error is not None else None,
        notice=notice,
        preview_pages=MAX_PAGES,
        terminal_home=HOME,
    )


@router.get("/queue/cases/{number}")
def case_page(number: str, request: Request, done: str = "") -> Response:
    w = Web(request)
    client = _clerk(w)
    if client is None:
        return w.to_signin(f"/queue/cases/{number}")
    notice = DONE.get(done)
    return _case_page(w, client, number, notice=notice)


DONE = {
    "accept": "已受理。 Accepted.",
    "reject": "已不予受理。 Rejected.",
    "request_correction": "已告知补正。 Correction requested.",
    "start_review": "已开始审查。 Review started.",
    "request_supplement": "已告知补正，计时暂停。 Supplement requested; the clock stops.",
    "refuse": "已不予许可。 Refused.",
    "complete": "已办结。 Completed.",
    "approve": "已准予许可。 Approved.",
    "visit": "已记录一次到现场。 Visit counted.",
    "recheck": "已重新核验引用的证照。 Cited licences checked again.",
    "window": "已代办提交申请。 Window application submitted.",
}


@router.post("/queue/cases/{number}/step")
def step(
    number: str,
    request: Request,
    csrf: Csrf,
    action: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """One workflow step, with its reason where the step needs one."""
    w = Web(request)
    w.check_csrf(csrf)
    client = _clerk(w)
    if client is None:
        return w.to_signin(f"/queue/cases/{number}")
    try:
        chosen = CaseAction(action)
        if chosen not in STEPS:
            raise ValueError(action)
    except ValueError:
        raise InputError(
            f"must be one of {', '.join(v.action for v in STEPS.values())}", field="action"
        ) from None
    try:
        w.svc.hall.act(client, number, chosen, reason=reason.strip() or None)
    except InputError as e:  # a missing or bad reason: the page again, with the error
        return _case_page(w, client, number, error=e)
    return w.redirect(f"/queue/cases/{number}?done={chosen}")


@router.post("/queue/cases/{number}/approve")
@edge(LICENCE)
async def approve(number: str, request: Request) -> Response:
    """Approve; an item that issues a licence issues it now, with the data shown (pre-filled
    from the application, editable)."""
    w = Web(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    w.check_csrf(form.get("csrf"))
    client = _clerk(w)
    if client is None:
        return w.to_signin(f"/queue/cases/{number}")
    raw: dict[str, Any] = {}
    if form.get("licence_number", "").strip():
        raw["licence_number"] = form["licence_number"].strip()
    if form.get("valid_until", "").strip():
        raw["valid_until"] = form["valid_until"].strip()
    data = {k[5:]: v for k, v in form.items() if k.startswith("data.") and v.strip()}
    if data:
        raw["data"] = data
    if form.get("note", "").strip():
        raw["note"] = form["note"].strip()
    try:
        await run_in_threadpool(w.svc.hall.approve, client, number, raw or None)
    except InputError as e:
        return _case_page(w, client, number, error=e, typed=form)
    return w.redirect(f"/queue/cases/{number}?done=approve")


@router.post("/queue/cases/{number}/visit")
def visit(number: str, request: Request, csrf: Csrf, note: Annotated[str, Form()] = "") -> Response:
    """Count an on-site visit (到现场) of the applicant."""
    w = Web(request)
    w.check_csrf(csrf)
    client = _clerk(w)
    if client is None:
        return w.to_signin(f"/queue/cases/{number}")
    w.svc.hall.record_visit(client, number, note=note.strip() or None)
    return w.redirect(f"/queue/cases/{number}?done=visit")


@router.post("/queue/cases/{number}/recheck")
def recheck(number: str, request: Request, csrf: Csrf) -> Response:
    """Verify every cited e-licence again (the case page does it at every opening too)."""
    w = Web(request)
    w.check_csrf(csrf)
    client = _clerk(w)
    if client is None:
        return w.to_signin(f"/queue/cases/{number}")
    return _case_page(w, client, number, notice=DONE["recheck"])


@router.get("/queue/cases/{number}/uploads/{material}")
def upload(number: str, material: str, request: Request) -> Response:
    """An upload shown in the browser (an image inline, a PDF in the browser's own viewer):
    only the types its material took, whose content was checked at upload, sandboxed."""
    w = Web(request)
    client = _clerk(w)
    if client is None:
        return w.to_signin(f"/queue/cases/{number}")
    found, content = w.svc.hall.upload(client, number, material)
    ascii_name = re.sub(r"[^0-9A-Za-z._-]", "_", found.filename) or "upload"
    return w.finish(
        Response(
            content,
            media_type=found.content_type,
            headers={**UPLOAD_HEADERS, "Content-Disposition": f'inline; filename="{ascii_name}"'},
        )
    )


@router.get("/queue/cases/{number}/uploads/{material}/preview.png")
async def upload_preview(number: str, material: str, request: Request) -> Response:
    """A PDF upload's first pages as one PNG image, shown inside the case page (ADR 0017):
    rendered here, so that no browser needs a PDF viewer of its own and no page frames one."""
    w = Web(request)
    client = _clerk(w)
    if client is None:
        return w.to_signin(f"/queue/cases/{number}")
    found, content = await run_in_threadpool(w.svc.hall.upload, client, number, material)
    if found.content_type != "application/pdf":
        raise InputError("only a PDF upload has a preview", field="material")
    png, pages = await run_in_threadpool(pdf_preview_png, content, field=f"uploads.{material}")
    return w.finish(
        Response(
            png,
            media_type="image/png",
            headers={
                **UPLOAD_HEADERS,
                "Content-Disposition": 'inline; filename="preview.png"',
                "X-PDF-Pages": str(pages),
            },
        )
    )
