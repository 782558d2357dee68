"""Registry: one write transaction of the hall: :class:`HallUnitOfWork`, the hall's
:class:`~elicence.hall.ports.CaseUnitOfWork`.

Invariants: it only executes, the use case commits (Warehouse rule); an IntegrityError on a
case number or a second rating becomes a :class:`~elicence.errors.ConflictError`; a case saved
after it was read in the same transaction writes its JSON documents only if they changed; on
PostgreSQL a case written with its one event is one statement (a data-modifying CTE); the usage
records of a step's citations are written in its transaction, and the usage observers told of
them only once it committed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from elicence.domain.clients import Client, Role
from elicence.errors import ConflictError, RegistryError
from elicence.hall.cases import Case, CaseEvent, Complaint, Rating, Rectification, Upload
from elicence.hall.ports import CitationCheck
from elicence.registry.hall.rows import (
    STATE,
    case_of,
    case_values,
    complaint_of,
    complaint_values,
    event_values,
    mutable_values,
    order_of,
    order_values,
    rating_values,
    same_documents,
    upload_values,
    usage_values,
)
from elicence.registry.hall.snapshots import ItemSnapshots
from elicence.registry.hall.statements import (
    BLOB_OF,
    CASE_FOR_UPDATE,
    COMPLAINTS,
    INSERT_BLOB,
    INSERT_CASE,
    INSERT_CASE_AND_EVENT,
    INSERT_EVENT,
    INSERT_UPLOAD,
    ITEM_CATALOGUES,
    RATINGS,
    RECTIFICATIONS,
    UPDATE_CASE,
    UPDATE_CASE_AND_EVENT,
    UPDATE_CASE_IF,
    UPDATE_CASE_IF_AND_EVENT,
    UPDATE_STATE,
    UPDATE_STATE_AND_EVENT,
    usage_insert,
)
from elicence.registry.holder import web_client_row
from elicence.registry.tables import CLIENTS

log = logging.getLogger("elicence.registry")
# told of usage records once committed, as the usage group commit tells its observers (the
# operators' metrics): the rows and an outcome per row (None: written)
UsageObserver = Callable[[Sequence[dict[str, Any]], Sequence[Any]], None]


def _rated_already(number: str) -> ConflictError:
    return ConflictError(
        f"case {number} was rated already: a case is rated once",
        field="case_number",
        code="already_rated",
    )


class HallUnitOfWork:
    """One write transaction of the hall (the use case commits)."""

    def __init__(
        self,
        conn: Connection,
        snapshots: ItemSnapshots,
        observers: Sequence[UsageObserver] = (),
    ) -> None:
        self._conn = conn
        self._snapshots = snapshots
        self._observers = observers  # told of the usage records this transaction committed
        self._usage: list[dict[str, Any]] = []
        self._read: dict[str, Case] = {}  # cases read in this transaction, as read
        self._one_statement = conn.dialect.name == "postgresql"  # a data-modifying CTE

    def enrol(self, client: Client, at: dt.datetime) -> None:
        """A holder without an ``api_clients`` row (signed in on the web) gets its keyless,
        disabled row in this transaction, so that it exists only if the transaction commits;
        one that has it (or another request of the same holder made it meanwhile) keeps it."""
        if client.role is not Role.HOLDER or client.holder is None:
            return
        row = web_client_row(client_id=client.id, name=client.name, holder=client.holder, now=at)
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        self._conn.execute(dialect.insert(CLIENTS).on_conflict_do_nothing(), [row])

    def add_case(
        self, case: Case, uploads: Sequence[tuple[Upload, bytes]], event: CaseEvent
    ) -> None:
        try:
            if self._one_statement:  # the case and its event in one statement
                values = {f"c_{k}": v for k, v in case_values(case).items()}
                self._conn.execute(INSERT_CASE_AND_EVENT, {**values, **_event_params(event)})
            else:
                self._conn.execute(INSERT_CASE, [case_values(case)])
                self._conn.execute(INSERT_EVENT, [event_values(event)])
        except IntegrityError as e:
            raise ConflictError(
                f"case number {case.number} is taken", field="case_number", code="duplicate_case"
            ) from e
        self._uploads(case, uploads)

    def add_usage(
        self,
        checks: Sequence[CitationCheck],
        *,
        at: dt.datetime,
        client_id: str,
        case_number: str,
    ) -> None:
        """The checks' usage records, in this transaction (one multi-row insert); the usage
        observers (the operators' metrics) are told of them once it commits."""
        if not checks:
            return
        rows = [
            usage_values(
                at=at,
                client_id=client_id,
                identifier=c.identifier,
                channel=c.presented,
                verdict=str(c.verdict),
                case_number=case_number,
            )
            for c in checks
        ]
        params: dict[str, Any] = {
            "at": at,
            "client_id": client_id,
            "authenticated": True,
            "case_number": case_number,
        }
        for i, row in enumerate(rows):
            params.update({f"{k}_{i}": row[k] for k in ("identifier", "channel", "verdict")})
        written = self._conn.execute(usage_insert(len(rows)), params).all()
        if len(written) == len(rows):
            self._usage += rows
        else:  # the client is not stored: its foreign key would refuse them (as record_usage)
            for row in rows:
                log.error("dropped a usage record the registry refuses (no client): %r", row)

    def _uploads(self, case: Case, uploads: Sequence[tuple[Upload, bytes]]) -> None:
        """Each upload's row, referencing the applicant's blob of its content: the bytes are
        stored once per applicant and SHA-256, whatever the number of cases that hand them in."""
        if uploads:
            rows = [upload_values(case.number, u, self._blob(case, u, c)) for u, c in uploads]
            self._conn.execute(INSERT_UPLOAD, rows)

    def _blob(self, case: Case, upload: Upload, content: bytes) -> int:
        holder = case.applicant.ref
        key = {"id_type": str(holder.id_type), "id_number": holder.id_number}
        found = self._conn.execute(BLOB_OF, {**key, "sha256": upload.sha256}).scalar()
        if found is not None:
            return int(found)
        row = {
            "holder_id_type": key["id_type"],
            "holder_id": key["id_number"],
            "sha256": upload.sha256,
            "size": upload.size,
            "created_at": upload.uploaded_at,
            "content": content,
        }
        try:
            return int(self._conn.execute(INSERT_BLOB, row).scalar_one())
        except IntegrityError as e:  # the same file stored by a concurrent submission
            raise ConflictError(
                "the same file was being stored by another request at the same moment; retry",
                field=f"uploads.{upload.material}",
            ) from e

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
        case = self._read[number] = case_of(row, self._snapshots)
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
        state_only = read is not None and same_documents(read, case)
        if len(events) == 1 and self._one_statement:
            # PostgreSQL: the case and its event in one statement (statements._and_event)
            row = mutable_values(case, STATE) if state_only else mutable_values(case)
            params = {"n": case.number, **{f"v_{k}": v for k, v in row.items()}}
            params.update(_event_params(events[0]))
            if expected_version is not None:  # only if the stored case still has that version
                params["expected"] = expected_version
                if self._conn.execute(UPDATE_CASE_IF_AND_EVENT, params).first() is None:
                    return False
            else:
                statement = UPDATE_STATE_AND_EVENT if state_only else UPDATE_CASE_AND_EVENT
                self._conn.execute(statement, params)
            self._uploads(case, uploads)
            return True
        if expected_version is None and state_only:
            values = {f"v_{k}": v for k, v in mutable_values(case, STATE).items()}
            self._conn.execute(UPDATE_STATE, {"n": case.number, **values})
        elif expected_version is None:
            values = {f"v_{k}": v for k, v in mutable_values(case).items()}
            self._conn.execute(UPDATE_CASE, {"n": case.number, **values})
        else:
            values = {f"v_{k}": v for k, v in mutable_values(case).items()}
            done = self._conn.execute(
                UPDATE_CASE_IF, {"n": case.number, "expected": expected_version, **values}
            )
            if done.rowcount != 1:
                return False
        if events:
            self._conn.execute(INSERT_EVENT, [event_values(e) for e in events])
        self._uploads(case, uploads)
        return True

    def add_rating(self, rating: Rating, *, client_id: str) -> None:
        exists = self._conn.execute(
            select(RATINGS.c.case_number).where(RATINGS.c.case_number == rating.number)
        ).first()
        if exists is not None:
            raise _rated_already(rating.number)
        try:
            self._conn.execute(insert(RATINGS), [rating_values(rating, client_id=client_id)])
        except IntegrityError as e:  # a concurrent twin won
            raise _rated_already(rating.number) from e

    def add_rectification(self, order: Rectification) -> int:
        result = self._conn.execute(
            insert(RECTIFICATIONS).returning(RECTIFICATIONS.c.id), order_values(order)
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
            complaint_values(complaint, client_id=client_id),
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
        rows, self._usage = self._usage, []
        for observe in self._observers if rows else ():
            try:
                observe(rows, [None] * len(rows))
            except Exception:  # pragma: no cover - a metrics bug never fails a committed step
                log.exception("a usage observer failed")


def _event_params(event: CaseEvent) -> dict[str, Any]:
    """An event's values as the one-statement forms bind them (``e_<column>``; the case
    number comes from the case's row)."""
    params = {f"e_{k}": v for k, v in event_values(event).items()}
    del params["e_case_number"]
    return params
