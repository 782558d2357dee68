"""Registry: reading cases and what hangs on them: a case, a filtered list, the records of cited
licences, the timeline, an upload's bytes, the rating, work orders and complaints. Each read is one
statement (no transaction on SQLite: one WAL snapshot)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import select

from elicence.domain.catalogue import HolderIdType
from elicence.domain.licence import HolderRef, LicenceStatus, RegistryRecord
from elicence.hall.cases import (
    Case,
    CaseEvent,
    CitedLicence,
    Complaint,
    OrderStatus,
    Rating,
    Rectification,
    Upload,
)
from elicence.hall.items import ServiceItem
from elicence.hall.workflow import ACTIVE, CaseStatus
from elicence.registry.engine import Database
from elicence.registry.hall.rows import (
    case_of,
    complaint_of,
    event_of,
    order_of,
    rating_of,
    upload_of,
)
from elicence.registry.hall.snapshots import ItemSnapshots
from elicence.registry.hall.statements import (
    BLOBS,
    CASE_BY_NUMBER,
    CASES,
    CITED_PG,
    CITED_SQLITE,
    COMPLAINTS,
    EVENTS,
    ITEM_OF_CASE,
    LIST_COLUMNS,
    RATINGS,
    RECTIFICATIONS,
    REGISTERED_NAME,
    UPLOAD_WITH_BYTES,
    UPLOADS,
)


class CaseReads:
    """The reads of the hall's store (:class:`~elicence.registry.hall.store.HallStore`
    inherits them): over ``_db``, with case rows read through the item ``_snapshots``."""

    _db: Database
    _snapshots: ItemSnapshots

    def case(self, number: str) -> Case | None:
        with self._db.read() as c:
            row = c.execute(CASE_BY_NUMBER, {"number": number}).first()
        return case_of(row, self._snapshots) if row else None

    def cases(
        self,
        *,
        department: str | None = None,
        applicant: HolderRef | None = None,
        status: CaseStatus | None = None,
        item_code: str | None = None,
        overdue_on: dt.date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Case]:
        # every column but the item's snapshot: the list takes each (catalogue version, item)
        # parsed once from the snapshot cache, and reads a snapshot only for the pairs not
        # cached yet (the widest column: decoding it for every row was half a queue's reads)
        q = select(*LIST_COLUMNS)
        if department is not None:
            q = q.where(CASES.c.department == department)
        if applicant is not None:
            q = q.where(
                CASES.c.applicant_id_type == str(applicant.id_type),
                CASES.c.applicant_id == applicant.id_number,
            )
        if status is not None:
            q = q.where(CASES.c.status == str(status))
        if item_code is not None:
            q = q.where(CASES.c.item_code == item_code)
        if overdue_on is not None:
            q = q.where(
                CASES.c.status.in_([str(s) for s in ACTIVE]),
                CASES.c.paused_since.is_(None),
                CASES.c.due_on < overdue_on,
            )
        q = q.order_by(CASES.c.submitted_at, CASES.c.number).limit(limit).offset(offset)
        with self._db.read() as c:
            rows = c.execute(q).all()
        items: dict[tuple[int, str], ServiceItem] = {}
        for r in rows:
            key = (r.item_version, r.item_code)
            if key not in items:
                found = self._snapshots.cached(*key)
                if found is None:
                    with self._db.read() as c:
                        doc = c.execute(ITEM_OF_CASE, {"number": r.number}).scalar_one()
                    found = self._snapshots.get(*key, doc)
                items[key] = found
        return [
            case_of(r, self._snapshots, item=items[(r.item_version, r.item_code)]) for r in rows
        ]

    def cited(self, identifiers: Sequence[str]) -> dict[str, tuple[RegistryRecord, CitedLicence]]:
        """The registry's records of cited licences (those it holds), by identifier."""
        if not identifiers:
            return {}
        ids = list(dict.fromkeys(identifiers))
        with self._db.read() as c:
            if c.dialect.name == "postgresql":
                rows = c.execute(CITED_PG, {"ids": ids}).all()
            else:
                rows = c.execute(CITED_SQLITE, {"ids": json.dumps(ids)}).all()
        return {
            r.identifier: (
                RegistryRecord(
                    r.identifier,
                    r.seal,
                    LicenceStatus(r.status),
                    r.valid_from,
                    r.valid_until,
                    r.superseded_by,
                ),
                CitedLicence(
                    r.identifier,
                    r.type_code,
                    r.department,
                    HolderRef(HolderIdType(r.holder_id_type), r.holder_id),
                ),
            )
            for r in rows
        }

    def registered_name(self, holder: HolderRef) -> str | None:
        """The holder's name on its latest licence in force (None: it holds none)."""
        with self._db.read() as c:
            name: str | None = c.execute(
                REGISTERED_NAME,
                {"id_type": str(holder.id_type), "id_number": holder.id_number},
            ).scalar()
        return name

    def events(self, number: str) -> list[CaseEvent]:
        with self._db.read() as c:
            rows = c.execute(
                select(EVENTS).where(EVENTS.c.case_number == number).order_by(EVENTS.c.id)
            ).all()
        return [event_of(r) for r in rows]

    def upload(self, number: str, material: str) -> tuple[Upload, bytes] | None:
        """The latest upload of a material of a case, with its bytes (from its blob)."""
        with self._db.read() as c:
            row = c.execute(
                UPLOAD_WITH_BYTES.where(
                    UPLOADS.c.case_number == number, UPLOADS.c.material == material
                )
                .order_by(UPLOADS.c.id.desc())
                .limit(1)
            ).first()
        return upload_of(row) if row is not None else None

    def stored_upload(self, holder: HolderRef, sha256: str) -> tuple[Upload, bytes] | None:
        """The holder's latest upload whose blob holds this content (blobs are the holder's
        own: another holder's file of the same hash is never found)."""
        with self._db.read() as c:
            row = c.execute(
                UPLOAD_WITH_BYTES.where(
                    BLOBS.c.holder_id_type == str(holder.id_type),
                    BLOBS.c.holder_id == holder.id_number,
                    BLOBS.c.sha256 == sha256,
                )
                .order_by(UPLOADS.c.id.desc())
                .limit(1)
            ).first()
        return upload_of(row) if row is not None else None

    def rating(self, number: str) -> Rating | None:
        with self._db.read() as c:
            row = c.execute(select(RATINGS).where(RATINGS.c.case_number == number)).first()
        return rating_of(row) if row else None

    def rectifications(
        self, *, department: str | None = None, status: OrderStatus | None = None
    ) -> list[Rectification]:
        q = select(RECTIFICATIONS).order_by(RECTIFICATIONS.c.id)
        if department is not None:
            q = q.where(RECTIFICATIONS.c.department == department)
        if status is not None:
            q = q.where(RECTIFICATIONS.c.status == str(status))
        with self._db.read() as c:
            return [order_of(r) for r in c.execute(q)]

    def complaints(
        self,
        *,
        department: str | None = None,
        applicant: HolderRef | None = None,
        number: str | None = None,
    ) -> list[Complaint]:
        q = select(COMPLAINTS).order_by(COMPLAINTS.c.id)
        if department is not None:
            q = q.where(COMPLAINTS.c.department == department)
        if number is not None:
            q = q.where(COMPLAINTS.c.case_number == number)
        if applicant is not None:
            q = q.join(CASES, CASES.c.number == COMPLAINTS.c.case_number).where(
                CASES.c.applicant_id_type == str(applicant.id_type),
                CASES.c.applicant_id == applicant.id_number,
            )
        with self._db.read() as c:
            return [complaint_of(r) for r in c.execute(q)]
