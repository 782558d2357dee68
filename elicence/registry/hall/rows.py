"""Rows ↔ hall values: a row becomes a hall value only here (``case_of`` …) and a value
becomes a row only here (``case_values`` …).

:data:`MUTABLE` is the one list of the columns a case's steps change: each column's name (the
:class:`~elicence.hall.cases.Case` field of the same name), how its value is written and read,
and whether it is a JSON document (written only when it changed). The update statements, the
values they are given and the reading of a case are all made from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from elicence.domain.catalogue import HolderIdType
from elicence.domain.licence import Holder, HolderRef, LicenceDraft, Verdict
from elicence.hall.cases import (
    Applicant,
    Case,
    CaseEvent,
    Channel,
    Citation,
    Complaint,
    OrderStatus,
    Rating,
    RatingDimension,
    Rectification,
    Upload,
)
from elicence.hall.items import ServiceItem
from elicence.hall.items_file import item_to_dict
from elicence.hall.workflow import CaseStatus
from elicence.registry.hall.snapshots import ItemSnapshots


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Column:
    """A mutable column of ``hall_cases``, named as the :class:`Case` field it stores."""

    name: str
    to_row: Callable[[Any], Any] = _same
    from_row: Callable[[Any], Any] = _same
    document: bool = False  # JSON: written only when it changed


def _citation_out(c: Citation) -> dict[str, Any]:
    return {
        "material": c.material,
        "identifier": c.identifier,
        "licence_type": c.licence_type,
        "presented": c.presented,
        "verdict": str(c.verdict),
        "checked_at": c.checked_at.isoformat(),
    }


def _citation_in(d: dict[str, Any]) -> Citation:
    return Citation(
        d["material"],
        d["identifier"],
        d["licence_type"],
        d["presented"],
        Verdict(d["verdict"]),
        dt.datetime.fromisoformat(d["checked_at"]),
    )


def _upload_out(u: Upload) -> dict[str, Any]:
    return {
        "material": u.material,
        "filename": u.filename,
        "content_type": u.content_type,
        "size": u.size,
        "sha256": u.sha256,
        "uploaded_at": u.uploaded_at.isoformat(),
    }


def _upload_in(d: dict[str, Any]) -> Upload:
    return Upload(
        d["material"],
        d["filename"],
        d["content_type"],
        d["size"],
        d["sha256"],
        dt.datetime.fromisoformat(d["uploaded_at"]),
    )


def _draft_out(draft: LicenceDraft | None) -> dict[str, Any] | None:
    """A draft as the issuance request it stands for (the JSON an issuer takes)."""
    if draft is None:
        return None
    return {
        "source_ref": draft.source_ref,
        "type_code": draft.type_code,
        "licence_number": draft.licence_number,
        "holder": {
            "name": draft.holder.name,
            "id_type": str(draft.holder.id_type),
            "id_number": draft.holder.id_number,
        },
        "valid_from": draft.valid_from.isoformat(),
        "valid_until": draft.valid_until.isoformat() if draft.valid_until else None,
        "data": dict(draft.data),
    }


def _draft_in(d: dict[str, Any] | None) -> LicenceDraft | None:
    if d is None:
        return None
    holder = d["holder"]
    return LicenceDraft(
        source_ref=d["source_ref"],
        type_code=d["type_code"],
        holder=Holder(holder["name"], HolderIdType(holder["id_type"]), holder["id_number"]),
        valid_from=dt.date.fromisoformat(d["valid_from"]),
        licence_number=d.get("licence_number"),
        valid_until=dt.date.fromisoformat(d["valid_until"]) if d.get("valid_until") else None,
        data=dict(d.get("data") or {}),
    )


MUTABLE: tuple[Column, ...] = (
    Column("status", str, CaseStatus),
    Column("form", dict, dict, document=True),
    Column(
        "citations",
        lambda cs: [_citation_out(c) for c in cs],
        lambda ds: tuple(_citation_in(d) for d in ds),
        document=True,
    ),
    Column(
        "uploads",
        lambda us: [_upload_out(u) for u in us],
        lambda ds: tuple(_upload_in(d) for d in ds),
        document=True,
    ),
    Column("accepted_on"),
    Column("due_on"),
    Column("paused_since"),
    Column("paused_days"),
    Column("decided_at"),
    Column("completed_at"),
    Column("reason"),
    Column("licence"),
    Column("issuance", _draft_out, _draft_in, document=True),
    Column("visits"),
    Column("version"),
)
DOCUMENTS = tuple(c for c in MUTABLE if c.document)
STATE = tuple(c for c in MUTABLE if not c.document)


def mutable_values(case: Case, columns: tuple[Column, ...] = MUTABLE) -> dict[str, Any]:
    """The row values of ``columns`` (every mutable one by default) of ``case``."""
    return {c.name: c.to_row(getattr(case, c.name)) for c in columns}


def same_documents(before: Case, after: Case) -> bool:
    return all(getattr(before, c.name) == getattr(after, c.name) for c in DOCUMENTS)


def case_values(case: Case) -> dict[str, Any]:
    return {
        "number": case.number,
        "item_code": case.item.code,
        "item_version": case.item_version,
        "item": item_to_dict(case.item),
        "department": case.department,
        "division": case.division,
        "applicant_id_type": str(case.applicant.ref.id_type),
        "applicant_id": case.applicant.ref.id_number,
        "applicant_name": case.applicant.name,
        "applicant_client": case.applicant_client,
        "channel": str(case.channel),
        "submitted_at": case.submitted_at,
        **mutable_values(case),
    }


def case_of(row: Any, snapshots: ItemSnapshots, *, item: ServiceItem | None = None) -> Case:
    """A case of its row; ``item``, its item's snapshot where the caller has it parsed already
    (a list reads rows without the snapshot column)."""
    return Case(
        number=row.number,
        item=item if item is not None else snapshots.get(row.item_version, row.item_code, row.item),
        item_version=row.item_version,
        division=row.division,
        applicant=Applicant(
            HolderRef(HolderIdType(row.applicant_id_type), row.applicant_id),
            row.applicant_name,
        ),
        channel=Channel(row.channel),
        submitted_at=row.submitted_at,
        applicant_client=row.applicant_client,
        **{c.name: c.from_row(getattr(row, c.name)) for c in MUTABLE},
    )


def upload_values(number: str, upload: Upload, blob_id: int) -> dict[str, Any]:
    return {
        "case_number": number,
        "material": upload.material,
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": upload.size,
        "sha256": upload.sha256,
        "uploaded_at": upload.uploaded_at,
        "blob_id": blob_id,
    }


def upload_of(row: Any) -> tuple[Upload, bytes]:
    upload = Upload(
        row.material, row.filename, row.content_type, row.size, row.sha256, row.uploaded_at
    )
    return upload, bytes(row.content)


def usage_values(
    *,
    at: dt.datetime,
    client_id: str,
    identifier: str | None,
    channel: str,
    verdict: str,
    case_number: str,
) -> dict[str, Any]:
    """A usage record (用证记录) of a cited licence's check, as ``Registry.record_usage`` writes
    one by itself (an authenticated client's, naming the case)."""
    return {
        "at": at,
        "client_id": client_id,
        "identifier": identifier,
        "channel": channel,
        "verdict": verdict,
        "authenticated": True,
        "case_number": case_number,
    }


def event_values(e: CaseEvent) -> dict[str, Any]:
    return {
        "case_number": e.number,
        "at": e.at,
        "action": str(e.action),
        "from_status": str(e.from_status) if e.from_status is not None else None,
        "to_status": str(e.to_status),
        "actor": e.actor,
        "detail": dict(e.detail),
    }


def event_of(r: Any) -> CaseEvent:
    return CaseEvent(
        r.case_number,
        r.at,
        r.action,
        CaseStatus(r.from_status) if r.from_status else None,
        CaseStatus(r.to_status),
        r.actor,
        dict(r.detail),
    )


def rating_values(rating: Rating, *, client_id: str) -> dict[str, Any]:
    return {
        "case_number": rating.number,
        "at": rating.at,
        "client_id": client_id,
        "stars": rating.stars,
        "dimensions": {str(k): v for k, v in rating.dimensions.items()},
        "comment": rating.comment,
    }


def rating_of(r: Any) -> Rating:
    return Rating(
        r.case_number,
        r.at,
        r.stars,
        {RatingDimension(k): int(v) for k, v in r.dimensions.items()},
        r.comment,
    )


def order_values(order: Rectification) -> dict[str, Any]:
    return {
        "case_number": order.number,
        "department": order.department,
        "opened_at": order.opened_at,
        "due_on": order.due_on,
        "status": str(order.status),
        "resolved_at": order.resolved_at,
        "note": order.note,
    }


def order_of(r: Any) -> Rectification:
    return Rectification(
        r.id,
        r.case_number,
        r.department,
        r.opened_at,
        r.due_on,
        OrderStatus(r.status),
        r.resolved_at,
        r.note,
    )


def complaint_values(complaint: Complaint, *, client_id: str) -> dict[str, Any]:
    return {
        "case_number": complaint.number,
        "department": complaint.department,
        "at": complaint.at,
        "client_id": client_id,
        "text": complaint.text,
    }


def complaint_of(r: Any) -> Complaint:
    return Complaint(
        r.id,
        r.case_number,
        r.department,
        r.at,
        r.text,
        r.answer,
        r.answered_at,
        r.answered_by,
        r.substantiated,
    )
