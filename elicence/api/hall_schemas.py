"""Request and response schemas of the hall's case API (``/api/v1``: service items, cases,
progress, ratings, complaints, 三率一数).

Request schemas check shape only; the rules are the hall's (``elicence/hall/``), so the API
and the CLI refuse the same things with the same words. An application and a supplement reach
the hall as the JSON object the client sent (their shape *is* the hall's rule, as an issuance
request is the issuer's): :class:`ApplicationIn` documents it in OpenAPI.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from elicence.api.schemas import Day
from elicence.domain.licence import mask_id, mask_name
from elicence.hall.application import MAX_SEAL_LENGTH
from elicence.hall.cases import Case, CaseEvent, Complaint, Rating, Rectification
from elicence.hall.feedback import MAX_COMMENT, MAX_COMPLAINT, Progress
from elicence.hall.items import ItemCatalogue, LicenceMaterial, ServiceItem
from elicence.hall.items_file import item_to_dict
from elicence.hall.metrics import Metrics, Period, as_row
from elicence.hall.workflow import MAX_REASON, CaseAction, CaseStatus, allowed_actions


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicantIn(_In):
    name: str | None = Field(default=None, examples=["广州市天河区某某餐饮管理有限公司"])
    id_type: str | None = Field(default=None, description="001 USCC, 111 resident ID, …")
    id_number: str | None = None


class CitedLicenceIn(_In):
    material: str = Field(examples=["business_licence"])
    seal: str | None = Field(
        default=None, max_length=MAX_SEAL_LENGTH, description="seal text EL1:… or the QR URL"
    )
    identifier: str | None = Field(
        default=None, max_length=200, description="a GB/T 36904 identifier"
    )


class ApplicationIn(_In):
    """An application (JSON, or the ``application`` part of a multipart body whose other
    parts are the uploads, each named by its material)."""

    item_code: str = Field(examples=["440106-SCJ-0001"])
    applicant: ApplicantIn | None = Field(
        default=None,
        description="online: the holder the client acts for (name optional); window: required",
    )
    form: dict[str, str] = Field(default_factory=dict, description="the item's form fields")
    licences: list[CitedLicenceIn] = Field(
        default_factory=list, description="e-licences cited instead of paper originals"
    )


class SupplementIn(_In):
    form: dict[str, str] = Field(default_factory=dict)
    licences: list[CitedLicenceIn] = Field(default_factory=list)
    note: str | None = Field(default=None, max_length=MAX_REASON)


class ReasonIn(_In):
    reason: str | None = Field(
        default=None,
        max_length=MAX_REASON,
        description="required to reject, refuse or ask for a supplement",
    )


class DecisionIn(_In):
    licence_number: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "the paper licence number (证照编号); default one the issuer makes: the "
            "department's division code, the year and ten random characters"
        ),
    )
    valid_until: Day | None = None
    data: dict[str, str] | None = Field(
        default=None, description="the licence's data items, over the form's values"
    )
    note: str | None = Field(default=None, max_length=MAX_REASON)


class VisitIn(_In):
    note: str | None = Field(default=None, max_length=MAX_REASON)


class RatingIn(_In):
    stars: int = Field(ge=1, le=5, description="5 非常满意 … 1 非常不满意")
    dimensions: dict[str, int] = Field(
        description="stars 1-5 for guidance, application, visits and result"
    )
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


class ComplaintIn(_In):
    text: str = Field(max_length=MAX_COMPLAINT)


class AnswerIn(_In):
    answer: str = Field(max_length=MAX_COMPLAINT)
    substantiated: bool = Field(description="true when found justified (有效投诉)")


class NoteIn(_In):
    note: str = Field(max_length=MAX_REASON)


class ProgressIn(_In):
    case_number: str = Field(examples=["440106261128LB53319BA"])
    holder_id_type: str = Field(examples=["001"])
    holder_id: str = Field(examples=["91350100M000100Y43"])


DOCUMENTED_BODIES: tuple[type[BaseModel], ...] = (ApplicationIn, SupplementIn)


# -- answers ------------------------------------------------------------------------------------


class EventOut(BaseModel):
    at: dt.datetime
    action: str
    from_status: str | None
    to_status: str
    status_zh: str
    actor: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class CaseOut(BaseModel):
    number: str
    item: dict[str, Any]
    applicant: dict[str, str]
    channel: str
    status: str
    status_zh: str
    allowed_actions: list[str]
    submitted_at: dt.datetime
    accepted_on: dt.date | None
    due_on: dt.date | None
    overdue: bool
    paused_since: dt.date | None
    paused_days: int
    decided_at: dt.datetime | None
    completed_at: dt.datetime | None
    reason: str | None
    licence: str | None
    visits: int
    form: dict[str, str]
    citations: list[dict[str, Any]]
    uploads: list[dict[str, Any]]
    events: list[EventOut] | None = None


class ApprovalOut(CaseOut):
    licence_created: bool


class ProgressOut(BaseModel):
    number: str
    item_code: str
    item_name: str
    department: str
    applicant_name: str
    applicant_id: str
    status: str
    status_zh: str
    submitted_at: dt.datetime
    accepted_on: dt.date | None
    due_on: dt.date | None
    overdue: bool
    reason: str | None
    licence: str | None
    timeline: list[EventOut]


class RatingOut(BaseModel):
    case_number: str
    at: dt.datetime
    stars: int
    stars_zh: str
    dimensions: dict[str, int]
    comment: str
    rectification: dict[str, Any] | None = None


class ComplaintOut(BaseModel):
    id: int
    case_number: str
    department: str
    at: dt.datetime
    text: str
    answer: str | None
    answered_at: dt.datetime | None
    substantiated: bool | None


class RectificationOut(BaseModel):
    id: int
    case_number: str
    department: str
    opened_at: dt.datetime
    due_on: dt.date
    overdue: bool
    status: str
    resolved_at: dt.datetime | None
    note: str


def item_out(item: ServiceItem, catalogue: ItemCatalogue) -> dict[str, Any]:
    out = item_to_dict(item)
    dept = catalogue.departments.get(item.department)
    out["department_name"] = dept.name_zh if dept else None
    out["division_code"] = dept.division_code if dept else None
    out["kind_zh"] = item.kind.label_zh
    out["paper_free"] = [m.name for m in item.materials if isinstance(m, LicenceMaterial)]
    return out


def event_out(e: CaseEvent, *, with_actor: bool) -> EventOut:
    return EventOut(
        at=e.at,
        action=str(e.action),
        from_status=str(e.from_status) if e.from_status else None,
        to_status=str(e.to_status),
        status_zh=e.to_status.label_zh,
        actor=e.actor if with_actor else None,
        detail=dict(e.detail) if with_actor else {},
    )


def case_out(
    case: Case,
    *,
    today: dt.date,
    catalogue: ItemCatalogue | None = None,
    events: list[CaseEvent] | None = None,
) -> CaseOut:
    dept = catalogue.departments.get(case.department) if catalogue else None
    return CaseOut(
        number=case.number,
        item={
            "code": case.item.code,
            "name_zh": case.item.name_zh,
            "department": case.department,
            "department_name": dept.name_zh if dept else None,
            "kind": str(case.item.kind),
            "depth": case.item.depth,
            "promised_days": case.item.promised_days,
            "max_visits": case.item.max_visits,
            "issues": case.item.issues,
        },
        applicant={
            "name": case.applicant.name,
            "id_type": str(case.applicant.ref.id_type),
            "id_number": case.applicant.ref.id_number,
        },
        channel=str(case.channel),
        status=str(case.status),
        status_zh=case.status.label_zh,
        allowed_actions=[
            str(a)
            for a in allowed_actions(case.status)
            if a not in (CaseAction.LICENCE_ISSUED, CaseAction.APPROVE_AND_ISSUE)
            or (a is CaseAction.APPROVE_AND_ISSUE and case.item.issues is not None)
        ],
        submitted_at=case.submitted_at,
        accepted_on=case.accepted_on,
        due_on=case.due_on,
        overdue=case.overdue(today),
        paused_since=case.paused_since,
        paused_days=case.paused_days,
        decided_at=case.decided_at,
        completed_at=case.completed_at,
        reason=case.reason,
        licence=case.licence,
        visits=case.visits,
        form=dict(case.form),
        citations=[
            {
                "material": c.material,
                "identifier": c.identifier,
                "licence_type": c.licence_type,
                "presented": c.presented,
                "verdict": c.verdict,
                "checked_at": c.checked_at,
            }
            for c in case.citations
        ],
        uploads=[
            {
                "material": u.material,
                "filename": u.filename,
                "content_type": u.content_type,
                "size": u.size,
                "sha256": u.sha256,
                "uploaded_at": u.uploaded_at,
            }
            for u in case.uploads
        ],
        events=[event_out(e, with_actor=True) for e in events] if events is not None else None,
    )


def progress_out(progress: Progress, *, catalogue: ItemCatalogue | None) -> ProgressOut:
    """What anyone with the case number and the applicant's id sees: no form, no uploads, the
    applicant masked, the timeline without who acted."""
    case = progress.case
    dept = catalogue.departments.get(case.department) if catalogue else None
    return ProgressOut(
        number=case.number,
        item_code=case.item.code,
        item_name=case.item.name_zh,
        department=dept.name_zh if dept else case.department,
        applicant_name=mask_name(case.applicant.name),
        applicant_id=mask_id(case.applicant.ref.id_number),
        status=str(case.status),
        status_zh=case.status.label_zh,
        submitted_at=case.submitted_at,
        accepted_on=case.accepted_on,
        due_on=case.due_on,
        overdue=progress.overdue,
        reason=case.reason if case.status in _SHOW_REASON else None,
        licence=case.licence,
        timeline=[event_out(e, with_actor=False) for e in progress.events],
    )


_SHOW_REASON = frozenset(
    {
        CaseStatus.REJECTED,
        CaseStatus.REFUSED,
        CaseStatus.AWAITING_CORRECTION,
        CaseStatus.AWAITING_SUPPLEMENT,
        CaseStatus.COMPLETED,
    }
)


def rating_out(rating: Rating, order: Rectification | None = None) -> RatingOut:
    from elicence.hall.cases import STAR_LABELS

    return RatingOut(
        case_number=rating.number,
        at=rating.at,
        stars=rating.stars,
        stars_zh=STAR_LABELS[rating.stars],
        dimensions={str(k): v for k, v in rating.dimensions.items()},
        comment=rating.comment,
        rectification=(
            {"id": order.id, "department": order.department, "due_on": order.due_on}
            if order is not None
            else None
        ),
    )


def complaint_out(c: Complaint) -> ComplaintOut:
    assert c.id is not None
    return ComplaintOut(
        id=c.id,
        case_number=c.number,
        department=c.department,
        at=c.at,
        text=c.text,
        answer=c.answer,
        answered_at=c.answered_at,
        substantiated=c.substantiated,
    )


def rectification_out(r: Rectification, *, today: dt.date) -> RectificationOut:
    assert r.id is not None
    return RectificationOut(
        id=r.id,
        case_number=r.number,
        department=r.department,
        opened_at=r.opened_at,
        due_on=r.due_on,
        overdue=r.overdue(today),
        status=str(r.status),
        resolved_at=r.resolved_at,
        note=r.note,
    )


def metrics_rows(rows: list[Metrics], period: Period) -> list[dict[str, Any]]:
    return [as_row(m, period) for m in rows]


def documented_upload(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a body read raw: ``model`` as JSON, or as the ``application`` part
    of a multipart body whose other parts are files named by their material."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": ref},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "application": {
                                "type": "string",
                                "description": f"the {model.__name__} as JSON text",
                            }
                        },
                        "additionalProperties": {"type": "string", "format": "binary"},
                        "required": ["application"],
                    }
                },
            },
        }
    }
