"""The hall's part of the registry: service-item catalogues, cases, uploads, timelines,
ratings, rectification work orders, complaints, and the facts the metrics are computed from.

:class:`HallStore` shares the registry's engine (and so its SQLite pragmas and write lock);
:class:`HallUnitOfWork` is the hall's :class:`~elicence.hall.service.CaseUnitOfWork`.

Invariants: repositories only execute, the use case commits (Warehouse rule); a row becomes a
hall value only here (``case_of`` …) and a value becomes a row only here (``case_values`` …);
no SQLAlchemy exception leaves (an IntegrityError on a case number or a second rating becomes a
:class:`~elicence.errors.ConflictError`, anything else a :class:`RegistryError`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from elicence.domain.catalogue import HolderIdType
from elicence.domain.licence import HolderRef, LicenceStatus, RegistryRecord, china_today
from elicence.errors import ConflictError, RegistryError
from elicence.hall.cases import (
    Applicant,
    Case,
    CaseEvent,
    Channel,
    Citation,
    CitedLicence,
    Complaint,
    OrderStatus,
    Rating,
    RatingDimension,
    Rectification,
    Upload,
)
from elicence.hall.items import ItemCatalogue, ServiceItem
from elicence.hall.items_file import item_from_dict, item_to_dict, items_from_dict, items_to_dict
from elicence.hall.metrics import CaseFact, ComplaintFact, Facts, ItemFact, RatingFact
from elicence.hall.workflow import ACTIVE, CaseStatus
from elicence.registry.engine import Database, unstorable
from elicence.registry.models import (
    HallCase,
    HallCaseEvent,
    HallComplaint,
    HallItemCatalogue,
    HallRating,
    HallRectification,
    HallUpload,
)
from elicence.registry.tables import LICENCES

ITEM_CATALOGUES = cast(Table, HallItemCatalogue.__table__)
CASES = cast(Table, HallCase.__table__)
UPLOADS = cast(Table, HallUpload.__table__)
EVENTS = cast(Table, HallCaseEvent.__table__)
RATINGS = cast(Table, HallRating.__table__)
RECTIFICATIONS = cast(Table, HallRectification.__table__)
COMPLAINTS = cast(Table, HallComplaint.__table__)

# Statements of the case path, built once (building one costs about as much as running it).
_MUTABLE = (
    "status",
    "form",
    "citations",
    "uploads",
    "accepted_on",
    "due_on",
    "paused_since",
    "paused_days",
    "decided_at",
    "completed_at",
    "reason",
    "licence",
    "issuance",
    "visits",
    "version",
)
INSERT_CASE = insert(CASES)
INSERT_EVENT = insert(EVENTS)
INSERT_UPLOAD = insert(UPLOADS)
CASE_BY_NUMBER = select(CASES).where(CASES.c.number == bindparam("number"))
CASE_FOR_UPDATE = CASE_BY_NUMBER.with_for_update()
# What a citation check reads of each cited licence: the verifier's view and the holder, for all
# of a case's citations in one statement.
CITED = select(
    LICENCES.c.identifier,
    LICENCES.c.seal,
    LICENCES.c.status,
    LICENCES.c.valid_from,
    LICENCES.c.valid_until,
    LICENCES.c.superseded_by,
    LICENCES.c.type_code,
    LICENCES.c.department,
    LICENCES.c.holder_id_type,
    LICENCES.c.holder_id,
).where(LICENCES.c.identifier.in_(bindparam("ids", expanding=True)))
UPDATE_CASE = (
    update(CASES)
    .where(CASES.c.number == bindparam("n"))
    .values({c: bindparam(f"v_{c}") for c in _MUTABLE})
)
UPDATE_CASE_IF = UPDATE_CASE.where(CASES.c.version == bindparam("expected"))
_DOCUMENTS = ("form", "citations", "uploads", "issuance")  # JSON: written only when changed
UPDATE_STATE = (
    update(CASES)
    .where(CASES.c.number == bindparam("n"))
    .values({c: bindparam(f"v_{c}") for c in _MUTABLE if c not in _DOCUMENTS})
)


class _ItemSnapshots:
    """Parsed item snapshots by (catalogue version, code): a case read parses its item once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], ServiceItem] = {}
        self._lock = threading.Lock()

    def get(self, version: int, code: str, document: dict[str, Any]) -> ServiceItem:
        key = (version, code)
        found = self._cache.get(key)
        if found is None:
            found = item_from_dict(document)
            with self._lock:
                if len(self._cache) > 5000:
                    self._cache.clear()
                self._cache[key] = found
        return found


def _citation_out(c: Citation) -> dict[str, Any]:
    return {
        "material": c.material,
        "identifier": c.identifier,
        "licence_type": c.licence_type,
        "presented": c.presented,
        "verdict": c.verdict,
        "checked_at": c.checked_at.isoformat(),
    }


def _citation_in(d: dict[str, Any]) -> Citation:
    return Citation(
        d["material"],
        d["identifier"],
        d["licence_type"],
        d["presented"],
        d["verdict"],
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


def _mutable_values(case: Case) -> dict[str, Any]:
    return {
        "status": str(case.status),
        "form": dict(case.form),
        "citations": [_citation_out(c) for c in case.citations],
        "uploads": [_upload_out(u) for u in case.uploads],
        "accepted_on": case.accepted_on,
        "due_on": case.due_on,
        "paused_since": case.paused_since,
        "paused_days": case.paused_days,
        "decided_at": case.decided_at,
        "completed_at": case.completed_at,
        "reason": case.reason,
        "licence": case.licence,
        "issuance": dict(case.issuance) if case.issuance is not None else None,
        "visits": case.visits,
        "version": case.version,
    }


def _state_values(case: Case) -> dict[str, Any]:
    return {
        "status": str(case.status),
        "accepted_on": case.accepted_on,
        "due_on": case.due_on,
        "paused_since": case.paused_since,
        "paused_days": case.paused_days,
        "decided_at": case.decided_at,
        "completed_at": case.completed_at,
        "reason": case.reason,
        "licence": case.licence,
        "visits": case.visits,
        "version": case.version,
    }


def _same_documents(before: Case, after: Case) -> bool:
    return (
        before.form == after.form
        and before.citations == after.citations
        and before.uploads == after.uploads
        and before.issuance == after.issuance
    )


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
        **_mutable_values(case),
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


def rating_of(r: Any) -> Rating:
    return Rating(
        r.case_number,
        r.at,
        r.stars,
        {RatingDimension(k): int(v) for k, v in r.dimensions.items()},
        r.comment,
    )


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


class HallUnitOfWork:
    """One write transaction of the hall (the use case commits)."""

    def __init__(self, conn: Connection, store: HallStore) -> None:
        self._conn = conn
        self._store = store
        self._read: dict[str, Case] = {}  # cases read in this transaction, as read

    def add_case(
        self, case: Case, uploads: Sequence[tuple[Upload, bytes]], event: CaseEvent
    ) -> None:
        try:
            self._conn.execute(INSERT_CASE, [case_values(case)])
        except IntegrityError as e:
            raise ConflictError(
                f"case number {case.number} is taken", field="case_number", code="duplicate_case"
            ) from e
        self._uploads(case.number, uploads)
        self._conn.execute(INSERT_EVENT, [event_values(event)])

    def _uploads(self, number: str, uploads: Sequence[tuple[Upload, bytes]]) -> None:
        if uploads:
            self._conn.execute(
                INSERT_UPLOAD,
                [
                    {
                        "case_number": number,
                        "material": u.material,
                        "filename": u.filename,
                        "content_type": u.content_type,
                        "size": u.size,
                        "sha256": u.sha256,
                        "uploaded_at": u.uploaded_at,
                        "content": content,
                    }
                    for u, content in uploads
                ],
            )

    def add_items(self, document: dict[str, Any], *, digest: str, now: dt.datetime) -> int:
        result = self._conn.execute(
            insert(ITEM_CATALOGUES).returning(ITEM_CATALOGUES.c.id),
            {"imported_at": now, "digest": digest, "document": document},
        )
        return int(result.scalar_one())

    def case_for_update(self, number: str) -> Case | None:
        """Read and lock a case (SELECT … FOR UPDATE on PostgreSQL; SQLite's writer lock)."""
        row = self._conn.execute(CASE_FOR_UPDATE, {"number": number}).first()
        if row is None:
            return None
        case = self._read[number] = self._store.case_of(row)
        return case

    def save_case(
        self,
        case: Case,
        events: Sequence[CaseEvent],
        uploads: Sequence[tuple[Upload, bytes]] = (),
        *,
        expected_version: int | None = None,
    ) -> bool:
        read = self._read.get(case.number)
        if expected_version is None and read is not None and _same_documents(read, case):
            values = {f"v_{k}": v for k, v in _state_values(case).items()}
            self._conn.execute(UPDATE_STATE, {"n": case.number, **values})
        elif expected_version is None:
            values = {f"v_{k}": v for k, v in _mutable_values(case).items()}
            self._conn.execute(UPDATE_CASE, {"n": case.number, **values})
        else:
            values = {f"v_{k}": v for k, v in _mutable_values(case).items()}
            done = self._conn.execute(
                UPDATE_CASE_IF, {"n": case.number, "expected": expected_version, **values}
            )
            if done.rowcount != 1:
                return False
        if events:
            self._conn.execute(INSERT_EVENT, [event_values(e) for e in events])
        self._uploads(case.number, uploads)
        return True

    def add_rating(self, rating: Rating, *, client_id: str) -> None:
        exists = self._conn.execute(
            select(RATINGS.c.case_number).where(RATINGS.c.case_number == rating.number)
        ).first()
        if exists is not None:
            raise ConflictError(
                f"case {rating.number} was rated already: a case is rated once",
                field="case_number",
                code="already_rated",
            )
        try:
            self._conn.execute(
                insert(RATINGS),
                [
                    {
                        "case_number": rating.number,
                        "at": rating.at,
                        "client_id": client_id,
                        "stars": rating.stars,
                        "dimensions": {str(k): v for k, v in rating.dimensions.items()},
                        "comment": rating.comment,
                    }
                ],
            )
        except IntegrityError as e:  # a concurrent twin won
            raise ConflictError(
                f"case {rating.number} was rated already: a case is rated once",
                field="case_number",
                code="already_rated",
            ) from e

    def add_rectification(self, order: Rectification) -> int:
        result = self._conn.execute(
            insert(RECTIFICATIONS).returning(RECTIFICATIONS.c.id),
            {
                "case_number": order.number,
                "department": order.department,
                "opened_at": order.opened_at,
                "due_on": order.due_on,
                "status": str(order.status),
                "resolved_at": order.resolved_at,
                "note": order.note,
            },
        )
        return int(result.scalar_one())

    def rectification_for_update(self, order_id: int) -> Rectification | None:
        row = self._conn.execute(
            select(RECTIFICATIONS).where(RECTIFICATIONS.c.id == order_id).with_for_update()
        ).first()
        return order_of(row) if row else None

    def save_rectification(self, order: Rectification) -> None:
        self._conn.execute(
            update(RECTIFICATIONS)
            .where(RECTIFICATIONS.c.id == order.id)
            .values(status=str(order.status), resolved_at=order.resolved_at, note=order.note)
        )

    def add_complaint(self, complaint: Complaint, *, client_id: str) -> int:
        result = self._conn.execute(
            insert(COMPLAINTS).returning(COMPLAINTS.c.id),
            {
                "case_number": complaint.number,
                "department": complaint.department,
                "at": complaint.at,
                "client_id": client_id,
                "text": complaint.text,
            },
        )
        return int(result.scalar_one())

    def complaint_for_update(self, complaint_id: int) -> Complaint | None:
        row = self._conn.execute(
            select(COMPLAINTS).where(COMPLAINTS.c.id == complaint_id).with_for_update()
        ).first()
        return complaint_of(row) if row else None

    def save_complaint(self, complaint: Complaint) -> None:
        self._conn.execute(
            update(COMPLAINTS)
            .where(COMPLAINTS.c.id == complaint.id)
            .values(
                answer=complaint.answer,
                answered_at=complaint.answered_at,
                answered_by=complaint.answered_by,
                substantiated=complaint.substantiated,
            )
        )

    def commit(self) -> None:
        try:
            self._conn.commit()
        except SQLAlchemyError as e:
            raise RegistryError(f"the registry could not commit: {e}") from e


class HallStore(Database):
    """The hall's tables, on the registry's engine."""

    def __init__(self, database: Database) -> None:
        super().__init__(database.engine)
        self._checkpoints = None  # the registry's own checkpointer serves the shared engine
        self._snapshots = _ItemSnapshots()

    def dispose(self) -> None:  # the registry owns the engine
        return

    @contextmanager
    def unit_of_work(self) -> Iterator[HallUnitOfWork]:  # type: ignore[override]
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); what is not committed is
        rolled back."""
        try:
            with self._write_lock, self._writer.connect() as conn:
                conn.begin()
                yield HallUnitOfWork(conn, self)
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e
        except UnicodeEncodeError as e:  # a driver's own encoding: rolled back
            raise unstorable() from e

    # -- the item catalogue -----------------------------------------------------------------

    def save_items(self, catalogue: ItemCatalogue, *, now: dt.datetime) -> int:
        document = items_to_dict(catalogue)
        digest = hashlib.sha256(
            json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        with self.unit_of_work() as uow:
            version = uow.add_items(document, digest=digest, now=now)
            uow.commit()
        return version

    def items_version(self) -> int | None:
        with self.read() as c:
            version: int | None = c.scalar(select(func.max(ITEM_CATALOGUES.c.id)))
            return version

    def items(self) -> tuple[int, ItemCatalogue] | None:
        """The item catalogue in force and its version, or None before the first import."""
        with self.read() as c:
            row = c.execute(
                select(ITEM_CATALOGUES).order_by(ITEM_CATALOGUES.c.id.desc()).limit(1)
            ).first()
        return (row.id, items_from_dict(row.document)) if row else None

    def items_at(self, instant: dt.datetime) -> ItemCatalogue | None:
        """The item catalogue that was in force at ``instant`` (None: none was imported yet)."""
        with self.read() as c:
            row = c.execute(
                select(ITEM_CATALOGUES)
                .where(ITEM_CATALOGUES.c.imported_at < instant)
                .order_by(ITEM_CATALOGUES.c.id.desc())
                .limit(1)
            ).first()
        return items_from_dict(row.document) if row else None

    # -- cases ------------------------------------------------------------------------------

    def case_of(self, row: Any) -> Case:
        return Case(
            number=row.number,
            item=self._snapshots.get(row.item_version, row.item_code, row.item),
            item_version=row.item_version,
            division=row.division,
            applicant=Applicant(
                HolderRef(HolderIdType(row.applicant_id_type), row.applicant_id),
                row.applicant_name,
            ),
            channel=Channel(row.channel),
            status=CaseStatus(row.status),
            submitted_at=row.submitted_at,
            form=dict(row.form),
            citations=tuple(_citation_in(d) for d in row.citations),
            uploads=tuple(_upload_in(d) for d in row.uploads),
            applicant_client=row.applicant_client,
            accepted_on=row.accepted_on,
            due_on=row.due_on,
            paused_since=row.paused_since,
            paused_days=row.paused_days,
            decided_at=row.decided_at,
            completed_at=row.completed_at,
            reason=row.reason,
            licence=row.licence,
            issuance=dict(row.issuance) if row.issuance is not None else None,
            visits=row.visits,
            version=row.version,
        )

    def case(self, number: str) -> Case | None:
        with self.read() as c:
            row = c.execute(CASE_BY_NUMBER, {"number": number}).first()
        return self.case_of(row) if row else None

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
        q = select(CASES)
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
        with self.read() as c:
            return [self.case_of(r) for r in c.execute(q)]

    def cited(self, identifiers: Sequence[str]) -> dict[str, tuple[RegistryRecord, CitedLicence]]:
        """The registry's records of cited licences (those it holds), by identifier."""
        if not identifiers:
            return {}
        with self.read() as c:
            rows = c.execute(CITED, {"ids": list(dict.fromkeys(identifiers))}).all()
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

    def events(self, number: str) -> list[CaseEvent]:
        with self.read() as c:
            rows = c.execute(
                select(EVENTS).where(EVENTS.c.case_number == number).order_by(EVENTS.c.id)
            ).all()
        return [event_of(r) for r in rows]

    def upload(self, number: str, material: str) -> tuple[Upload, bytes] | None:
        """The latest upload of a material of a case, with its bytes."""
        with self.read() as c:
            row = c.execute(
                select(UPLOADS)
                .where(UPLOADS.c.case_number == number, UPLOADS.c.material == material)
                .order_by(UPLOADS.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        upload = Upload(
            row.material, row.filename, row.content_type, row.size, row.sha256, row.uploaded_at
        )
        return upload, bytes(row.content)

    def rating(self, number: str) -> Rating | None:
        with self.read() as c:
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
        with self.read() as c:
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
        with self.read() as c:
            return [complaint_of(r) for r in c.execute(q)]

    # -- the facts of the metrics -------------------------------------------------------------

    def facts(self, *, start: dt.datetime, end: dt.datetime) -> Facts:
        """Cases completed, ratings given and complaints filed in [start, end), and the items
        of the catalogue in force at ``end``."""
        with self.snapshot() as c:
            cases = c.execute(
                select(
                    CASES.c.number,
                    CASES.c.department,
                    CASES.c.division,
                    CASES.c.channel,
                    CASES.c.visits,
                    CASES.c.decided_at,
                    CASES.c.due_on,
                ).where(
                    CASES.c.status == str(CaseStatus.COMPLETED),
                    CASES.c.completed_at >= start,
                    CASES.c.completed_at < end,
                )
            ).all()
            ratings = c.execute(
                select(CASES.c.department, CASES.c.division, RATINGS.c.stars)
                .join(CASES, CASES.c.number == RATINGS.c.case_number)
                .where(and_(RATINGS.c.at >= start, RATINGS.c.at < end))
            ).all()
            complaints = c.execute(
                select(CASES.c.department, CASES.c.division, COMPLAINTS.c.substantiated)
                .join(CASES, CASES.c.number == COMPLAINTS.c.case_number)
                .where(and_(COMPLAINTS.c.at >= start, COMPLAINTS.c.at < end))
            ).all()
        case_facts = [
            CaseFact(
                r.number,
                r.department,
                r.division,
                r.channel == str(Channel.ONLINE),
                r.visits,
                None
                if r.due_on is None or r.decided_at is None
                else china_today(r.decided_at) <= r.due_on,
            )
            for r in cases
        ]
        catalogue = self.items_at(end)
        item_facts = []
        if catalogue is not None:
            for i in catalogue.items.values():
                dept = catalogue.departments[i.department]
                item_facts.append(
                    ItemFact(
                        i.code,
                        i.department,
                        dept.division_code,
                        i.depth,
                        i.max_visits,
                        i.promised_days,
                        i.statutory_days,
                    )
                )
        return Facts(
            items=item_facts,
            cases=case_facts,
            ratings=[RatingFact(r[0], r[1], r[2]) for r in ratings],
            complaints=[ComplaintFact(r[0], r[1], bool(r[2])) for r in complaints],
        )
