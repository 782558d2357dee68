"""Cases (办件): apply citing e-licences, the workflow, approval with issuance, visits,
uploads, ratings (好差评), complaints and rectification orders.

Routers parse, call one facade method (``svc.hall``), and shape the answer; every rule is the
hall's. An application or a supplement is JSON, or multipart with the JSON in the
``application`` part and each upload in a part named by its material; bodies are read up to
:data:`MAX_BODY_BYTES`, never further (413: ``api/edge.py``), and each upload is held to its
material's limit.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from elicence.api.auth import RequiredClient, Service
from elicence.api.edge import LICENCE, EdgeRoute, decode_json, edge
from elicence.api.hall_schemas import (
    AnswerIn,
    ApplicationIn,
    ApprovalOut,
    CaseOut,
    ComplaintIn,
    ComplaintOut,
    DecisionIn,
    NoteIn,
    RatingIn,
    RatingOut,
    ReasonIn,
    RectificationOut,
    SupplementIn,
    VisitIn,
    case_out,
    complaint_out,
    documented_upload,
    rating_out,
    rectification_out,
)
from elicence.api.inputs import check_upload_name
from elicence.api.schemas import MAX_POSITION, ROW_ID_MAX
from elicence.app.service import Elicence
from elicence.domain.clients import Client
from elicence.domain.inputs import MAX_KEY, check_text
from elicence.errors import InputError
from elicence.hall.cases import Case, UploadIn
from elicence.hall.items import MAX_UPLOAD_BYTES
from elicence.hall.workflow import CaseAction

router = APIRouter(route_class=EdgeRoute, prefix="/api/v1", tags=["hall: cases"])
# the id of a complaint or a rectification order: a positive row id (a larger number would fail
# in the database driver, not in validation)
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]

MAX_BODY_BYTES = 3 * MAX_UPLOAD_BYTES  # every upload of one application, and the envelope
MAX_PARTS = 21  # the application and up to 20 uploads

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "this client may not do this (e.g. another department's case)"},
    404: {"description": "no such case for this client"},
    409: {"description": "the case's status does not allow this (the error says why)"},
    413: {"description": "an upload over its material's limit"},
    422: {"description": "a field breaks a rule: the error names the field and the rule"},
}


class Step(StrEnum):
    """The steps a clerk (or, at depth 2-3, the hall) takes by name."""

    ACCEPT = "accept"
    REJECT = "reject"
    REQUEST_CORRECTION = "request-correction"
    START_REVIEW = "start-review"
    REQUEST_SUPPLEMENT = "request-supplement"
    REFUSE = "refuse"
    COMPLETE = "complete"

    @property
    def action(self) -> CaseAction:
        return CaseAction(self.value.replace("-", "_"))


def _out(svc: Elicence, case: Case) -> CaseOut:
    return case_out(case, today=svc.hall.today(), catalogue=svc.hall.items())


# -- applying -----------------------------------------------------------------------------------


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOut,
    responses=ERRORS,
    openapi_extra=documented_upload(ApplicationIn),
)
@edge(MAX_BODY_BYTES)
async def submit_case(request: Request, client: RequiredClient, svc: Service) -> Any:
    """Apply for a service item. Cited e-licences are verified now (a revoked, suspended,
    expired, superseded, not yet valid, untrusted or forged one is refused, the verdict named in
    the error code); no paper original is asked for what an e-licence covers."""
    raw, uploads = await read_application(request)
    return await run_in_threadpool(_submit, svc, client, raw, uploads)


def _submit(svc: Elicence, client: Client, raw: Any, uploads: list[UploadIn]) -> CaseOut:
    return _out(svc, svc.hall.submit(client, raw, uploads))


@router.get("/cases", response_model=list[CaseOut], responses=ERRORS)
def list_cases(
    client: RequiredClient,
    svc: Service,
    status: str | None = None,
    department: str | None = None,
    item_code: str | None = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
) -> Any:
    """Cases this client may see (a holder its own, a clerk its department's, the hall and
    supervisors all), by status, item, and overdue (超期) flag."""
    found = svc.hall.cases(
        client,
        department=department,
        status=status,
        item_code=item_code,
        overdue=overdue,
        limit=limit,
        offset=offset,
    )
    return [_out(svc, c) for c in found]


@router.get("/cases/{number}", response_model=CaseOut, responses=ERRORS)
def get_case(number: str, client: RequiredClient, svc: Service) -> Any:
    """A case with its timeline."""
    case, events = svc.hall.timeline(client, number)
    hall = svc.hall
    return case_out(case, today=hall.today(), catalogue=hall.items(), events=events)


@router.get(
    "/cases/{number}/uploads/{material}",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"application/pdf": {}, "image/png": {}}}},
)
def get_upload(number: str, material: str, client: RequiredClient, svc: Service) -> Response:
    """An uploaded material's bytes (the case's applicant, clerk, the hall, supervisors)."""
    upload, content = svc.hall.upload(client, number, material)
    ascii_name = re.sub(r"[^0-9A-Za-z._-]", "_", upload.filename) or "upload"
    return Response(
        content,
        media_type=upload.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Content-SHA256": upload.sha256,
        },
    )


# -- the workflow -------------------------------------------------------------------------------


@router.post(
    "/cases/{number}/supplement",
    response_model=CaseOut,
    responses=ERRORS,
    openapi_extra=documented_upload(SupplementIn),
)
@edge(MAX_BODY_BYTES)
async def supplement(number: str, request: Request, client: RequiredClient, svc: Service) -> Any:
    """Hand in what a correction or supplement request (补正) asked; the clock restarts."""
    raw, uploads = await read_application(request)
    return await run_in_threadpool(_supplement, svc, client, number, raw, uploads)


def _supplement(
    svc: Elicence, client: Client, number: str, raw: Any, uploads: list[UploadIn]
) -> CaseOut:
    return _out(svc, svc.hall.supplement(client, number, raw, uploads))


@router.post("/cases/{number}/approve", response_model=ApprovalOut, responses=ERRORS)
@edge(LICENCE)  # it may carry the licence's data items
def approve(
    number: str,
    client: RequiredClient,
    svc: Service,
    body: Annotated[DecisionIn | None, Body()] = None,
) -> Any:
    """Approve (准予). An item that issues a licence issues it now, once, through the issuer
    (``source_ref`` = the case number), and the case links it."""
    raw = body.model_dump(mode="json", exclude_none=True) if body is not None else None
    approval = svc.hall.approve(client, number, raw)
    out = _out(svc, approval.case)
    return ApprovalOut(**out.model_dump(), licence_created=approval.created)


@router.post("/cases/{number}/visits", response_model=CaseOut, responses=ERRORS)
def record_visit(
    number: str,
    client: RequiredClient,
    svc: Service,
    body: Annotated[VisitIn | None, Body()] = None,
) -> Any:
    """Count an on-site visit (到现场) of the applicant (the hall or the handling clerk)."""
    return _out(svc, svc.hall.record_visit(client, number, note=body.note if body else None))


# -- ratings, complaints, rectification ---------------------------------------------------------


@router.post("/cases/{number}/rating", status_code=201, response_model=RatingOut, responses=ERRORS)
def rate(number: str, body: RatingIn, client: RequiredClient, svc: Service) -> Any:
    """Rate a finished case (好差评), once, as its applicant: 1 or 2 stars open a rectification
    work order for the handling department."""
    rating, order = svc.hall.rate(client, number, body.model_dump(exclude_none=True))
    return rating_out(rating, order)


@router.get("/cases/{number}/rating", response_model=RatingOut, responses=ERRORS)
def get_rating(number: str, client: RequiredClient, svc: Service) -> Any:
    return rating_out(svc.hall.rating(client, number))


@router.post(
    "/cases/{number}/complaints", status_code=201, response_model=ComplaintOut, responses=ERRORS
)
def complain(number: str, body: ComplaintIn, client: RequiredClient, svc: Service) -> Any:
    """Complain (投诉) about a case, as its applicant."""
    return complaint_out(svc.hall.complain(client, number, body.model_dump()))


@router.get("/complaints", response_model=list[ComplaintOut], responses=ERRORS)
def complaints(client: RequiredClient, svc: Service, case_number: str | None = None) -> Any:
    """Complaints this client may see (its own, its department's, or all for supervisors)."""
    return [complaint_out(c) for c in svc.hall.complaints(client, number=case_number)]


@router.post("/complaints/{complaint_id}/answer", response_model=ComplaintOut, responses=ERRORS)
def answer(complaint_id: RowId, body: AnswerIn, client: RequiredClient, svc: Service) -> Any:
    """Answer a complaint (the handling department, or a supervisor), saying if it was
    justified (有效投诉: it lowers the satisfaction score)."""
    return complaint_out(svc.hall.answer(client, complaint_id, body.model_dump()))


@router.get("/rectifications", response_model=list[RectificationOut], responses=ERRORS)
def rectifications(client: RequiredClient, svc: Service, status: str | None = None) -> Any:
    """Rectification work orders (整改工单): a clerk its department's, supervisors all."""
    today = svc.hall.today()
    return [
        rectification_out(r, today=today) for r in svc.hall.rectifications(client, status=status)
    ]


@router.post(
    "/rectifications/{order_id}/resolve", response_model=RectificationOut, responses=ERRORS
)
def resolve(order_id: RowId, body: NoteIn, client: RequiredClient, svc: Service) -> Any:
    """Record what was done about a bad rating (the handling department)."""
    order = svc.hall.resolve_rectification(client, order_id, body.note)
    return rectification_out(order, today=svc.hall.today())


# -- the named steps (declared last: {step} would match every other sub-path) -------------


@router.post("/cases/{number}/{step}", response_model=CaseOut, responses=ERRORS)
def take_step(
    number: str,
    step: Step,
    client: RequiredClient,
    svc: Service,
    body: Annotated[ReasonIn | None, Body()] = None,
) -> Any:
    """accept (受理), reject (不予受理), request-correction (受理前补正), start-review,
    request-supplement (补正: the clock stops), refuse (不予许可), complete (办结).
    Reject, refuse and the two requests need a reason."""
    reason = body.reason if body is not None else None
    return _out(svc, svc.hall.act(client, number, step.action, reason=reason))


# -- reading applications -----------------------------------------------------------------------


async def read_application(request: Request) -> tuple[Any, list[UploadIn]]:
    """The JSON application and its uploads, from a JSON or a multipart body (read by the edge,
    ``api/edge.py``, up to :data:`MAX_BODY_BYTES`: 413 past it, read no further)."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return decode_json(body, field="application"), []
    if content_type != "multipart/form-data":
        raise InputError(
            "send the application as JSON, or as multipart/form-data with the JSON in the part "
            "'application' and each upload in a part named by its material",
            field="application",
        )

    async def replay() -> AsyncGenerator[bytes, None]:
        yield bytes(body)
        yield b""

    parser = MultiPartParser(
        request.headers,
        replay(),
        max_files=MAX_PARTS - 1,
        max_fields=2,
        max_part_size=1024 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise InputError(f"the multipart body is malformed: {e.message}", field="uploads") from e
    try:
        application = form.get("application")
        if not isinstance(application, str):
            raise InputError(
                "is required: the application as JSON text in a multipart field",
                field="application",
            )
        uploads: list[UploadIn] = []
        for name, value in form.multi_items():
            if name == "application":
                continue
            if not isinstance(value, UploadFile):
                raise InputError("is not a file part", field=f"uploads.{name}")
            check_text(name, field="uploads (a part name)", max_length=MAX_KEY)
            check_upload_name(value, field=f"uploads.{name}")
            uploads.append(
                UploadIn(
                    material=name,
                    filename=value.filename or "",
                    content_type=(value.content_type or "").lower(),
                    content=await value.read(),
                )
            )
        return decode_json(
            application.encode("utf-8", "surrogatepass"), field="application"
        ), uploads
    finally:
        await form.close()
