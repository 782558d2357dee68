"""SQLAlchemy 2 models of the registry. Never API schemas; the domain sees dataclasses.

Invariants: ``events`` is append-only (no code path updates or deletes a row); times are stored
as UTC; ``(department, source_ref)`` is unique, which is what makes issuance idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class CatalogueVersion(Base):
    """One imported catalogue; the newest row is the catalogue in force."""

    __tablename__ = "catalogue_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    imported_at: Mapped[dt.datetime]
    digest: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]]


class ApiClient(Base):
    """A client of the API: a department, a hall, an admin or a holder, with a hashed key."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(18))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    disabled_at: Mapped[dt.datetime | None]
    # a holder client (role "holder") acts for this holder only
    holder_id_type: Mapped[str | None] = mapped_column(String(3))
    holder_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_api_clients_holder", "holder_id_type", "holder_id"),)


class LicenceRow(Base):
    """One version of one licence."""

    __tablename__ = "licences"
    __table_args__ = (
        UniqueConstraint("department", "source_ref", name="uq_licences_department_source_ref"),
        Index("ix_licences_holder", "holder_id_type", "holder_id", "issued_at"),
        Index("ix_licences_type_code", "type_code"),
        Index("ix_licences_department_issued", "department", "issued_at"),
        Index("ix_licences_serial", "serial"),
        Index("ix_licences_department_status_index", "department", "status_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(100), unique=True)
    serial: Mapped[str] = mapped_column(String(32))
    type_code: Mapped[str] = mapped_column(String(21))
    department: Mapped[str] = mapped_column(String(18))
    licence_number: Mapped[str] = mapped_column(String(64))
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_id_type: Mapped[str] = mapped_column(String(3))
    holder_id: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    data: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime]
    seal: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    superseded_by: Mapped[str | None] = mapped_column(String(100))
    status_index: Mapped[int | None] = mapped_column(Integer)  # its bit in the status lists


class EventRow(Base):
    """One entry of the append-only event log (the change feed reads it in ``seq`` order)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_identifier", "identifier"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(32))
    identifier: Mapped[str] = mapped_column(String(100))
    department: Mapped[str] = mapped_column(String(18))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str | None] = mapped_column(String(64))  # docs/formats.md §7
    hash: Mapped[str | None] = mapped_column(String(64))


class LicenceDocument(Base):
    """A rendered and signed document of a licence (``kind`` "pdf"), made once and kept."""

    __tablename__ = "licence_documents"

    identifier: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[dt.datetime]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class UsageRecord(Base):
    """One verification through the API (用证记录): who checked which licence, and the verdict."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_identifier", "identifier"),
        Index("ix_usage_case_number", "case_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    client_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("api_clients.id"))
    identifier: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(32))  # unsupported_algorithm: 21 (0010)
    authenticated: Mapped[bool] = mapped_column(Boolean)
    case_number: Mapped[str | None] = mapped_column(String(21))  # the case that cited it (hall)


class CheckpointRow(Base):
    """A signed checkpoint of the event log (EL-CP1): its size and head hash."""

    __tablename__ = "checkpoints"

    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime]
    signed: Mapped[bytes] = mapped_column(LargeBinary)


class StatusCounter(Base):
    """The next free status list index of a department (handed out in blocks)."""

    __tablename__ = "status_counters"

    department: Mapped[str] = mapped_column(String(18), primary_key=True)
    next_index: Mapped[int] = mapped_column(Integer)


class ListSequence(Base):
    """The sequence number of a list the service signs (the trust list, each status list), with
    a digest of the content it was last given for: the same content keeps its number, new
    content takes the next one, so every worker and every restart agrees and none goes back."""

    __tablename__ = "list_sequences"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))


class MirrorState(Base):
    """Where a mirror pulls from: the upstream, its pinned root, its trust list and checkpoint."""

    __tablename__ = "mirror_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    upstream: Mapped[str] = mapped_column(String(500))
    root: Mapped[bytes] = mapped_column(LargeBinary)
    trust_list: Mapped[bytes | None] = mapped_column(LargeBinary)
    checkpoint: Mapped[bytes | None] = mapped_column(LargeBinary)
    catalogue_digest: Mapped[str | None] = mapped_column(String(64))
    pulled_at: Mapped[dt.datetime | None]


# -- holders: authorised use (授权用证) and presentation nonces (issue 8) ----------------------


class GrantRow(Base):
    """A holder's grant of one licence version to a hall client or a case (never deleted)."""

    __tablename__ = "grants"
    __table_args__ = (
        Index("ix_grants_holder", "holder_id_type", "holder_id", "created_at"),
        Index("ix_grants_grantee", "grantee_kind", "grantee", "identifier"),
        Index("ix_grants_identifier", "identifier"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(100))
    holder_id_type: Mapped[str] = mapped_column(String(3))
    holder_id: Mapped[str] = mapped_column(String(64))
    grantee_kind: Mapped[str] = mapped_column(String(8))
    grantee: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[dt.datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))


class PresentationNonce(Base):
    """A presentation nonce seen by an online verification, kept until its window has passed."""

    __tablename__ = "presentation_nonces"
    __table_args__ = (Index("ix_presentation_nonces_expires", "expires_at"),)

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)  # hex
    seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class HallFavourite(Base):
    """A service item a holder marked as a favourite (收藏) on the hall's pages (migration 0012)."""

    __tablename__ = "hall_favourites"

    holder_id_type: Mapped[str] = mapped_column(String(3), primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[dt.datetime]


class HallNoticeSeen(Base):
    """A notice (办事提示) a holder has seen on ``/me/notices``, by its key (``ask:<case>:<state>``,
    ``expiring:<identifier>``, …): the read state is the holder's, whichever browser it uses
    (migration 0013). Only the notices current at the holder's last visit are kept."""

    __tablename__ = "hall_notices_seen"

    holder_id_type: Mapped[str] = mapped_column(String(3), primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    notice_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    seen_at: Mapped[dt.datetime]


# -- abuse resistance: API keys with expiry and rotation, the audit trail (migration 0006) ----


class ApiKey(Base):
    """One API key of a client (only its SHA-256). A client has one current key, and during a
    rotation's overlap also the key it replaces, until ``retires_at``."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_client", "client_id"),)

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32), ForeignKey("api_clients.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]  # set by `--expires`
    retires_at: Mapped[dt.datetime | None]  # set by a rotation: the end of the overlap


class AuditRecord(Base):
    """One privileged action: who did what to which target, when, from where, and how it ended.

    Append-only: no code path updates or deletes a row, and database triggers refuse it."""

    __tablename__ = "audit_trail"
    __table_args__ = (
        Index("ix_audit_trail_at", "at"),
        Index("ix_audit_trail_actor", "actor"),
        Index("ix_audit_trail_action", "action"),
        Index("ix_audit_trail_target", "target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]]
    request_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))


# -- the hall's cases (issue 7): service items, cases, uploads, timeline, ratings, orders ---------


class HallItemCatalogue(Base):
    """One imported service-item catalogue (事项目录); the newest row is the one in force."""

    __tablename__ = "hall_item_catalogues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    imported_at: Mapped[dt.datetime]
    digest: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]]


class HallCase(Base):
    """A case (办件), with a snapshot of the service item applied for."""

    __tablename__ = "hall_cases"
    __table_args__ = (
        Index("ix_hall_cases_department_status", "department", "status"),
        Index("ix_hall_cases_applicant", "applicant_id_type", "applicant_id"),
        Index("ix_hall_cases_completed_at", "completed_at"),
        Index("ix_hall_cases_status_due_on", "status", "due_on"),
    )

    number: Mapped[str] = mapped_column(String(21), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(40))
    item_version: Mapped[int] = mapped_column(Integer)  # the item catalogue it was applied under
    item: Mapped[dict[str, Any]]  # the item as it was (its snapshot)
    department: Mapped[str] = mapped_column(String(18))
    division: Mapped[str] = mapped_column(String(6))
    applicant_id_type: Mapped[str] = mapped_column(String(3))
    applicant_id: Mapped[str] = mapped_column(String(64))
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_client: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(24))
    form: Mapped[dict[str, Any]]
    citations: Mapped[list[Any]] = mapped_column(JSON)
    uploads: Mapped[list[Any]] = mapped_column(JSON)  # metadata; the bytes are in hall_uploads
    submitted_at: Mapped[dt.datetime]
    accepted_on: Mapped[dt.date | None] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    paused_since: Mapped[dt.date | None] = mapped_column(Date)
    paused_days: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    licence: Mapped[str | None] = mapped_column(String(100))
    issuance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    visits: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)


class HallBlob(Base):
    """The bytes of an applicant's uploads, stored once per applicant and SHA-256 (content
    addressed): every case that hands in the same file references this one row."""

    __tablename__ = "hall_blobs"
    __table_args__ = (
        UniqueConstraint(
            "holder_id_type", "holder_id", "sha256", name="uq_hall_blobs_holder_sha256"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id_type: Mapped[str] = mapped_column(String(3))
    holder_id: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    content: Mapped[bytes] = mapped_column(LargeBinary)


class HallUpload(Base):
    """An uploaded material of a case: its name, type and hash, and a reference to the
    applicant's blob that holds its bytes (never a file on a path the client chose). Rows from
    before migration 0012 were moved to blobs by it; ``content`` is no longer written."""

    __tablename__ = "hall_uploads"
    __table_args__ = (
        Index("ix_hall_uploads_case_material", "case_number", "material"),
        Index("ix_hall_uploads_blob", "blob_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(21), ForeignKey("hall_cases.number"))
    material: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime]
    blob_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("hall_blobs.id"))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)


class HallCaseEvent(Base):
    """One step of a case's timeline: a transition, a supplement, a visit."""

    __tablename__ = "hall_case_events"
    __table_args__ = (Index("ix_hall_case_events_case", "case_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(21), ForeignKey("hall_cases.number"))
    at: Mapped[dt.datetime]
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class HallRating(Base):
    """The applicant's rating of a finished case (好差评): one per case."""

    __tablename__ = "hall_ratings"
    __table_args__ = (Index("ix_hall_ratings_at", "at"),)

    case_number: Mapped[str] = mapped_column(
        String(21), ForeignKey("hall_cases.number"), primary_key=True
    )
    at: Mapped[dt.datetime]
    client_id: Mapped[str] = mapped_column(String(64))
    stars: Mapped[int] = mapped_column(Integer)
    dimensions: Mapped[dict[str, Any]]
    comment: Mapped[str] = mapped_column(Text)


class HallRectification(Base):
    """A rectification work order (整改工单) opened by a rating of 1 or 2 stars."""

    __tablename__ = "hall_rectifications"
    __table_args__ = (Index("ix_hall_rectifications_department", "department", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(21), ForeignKey("hall_cases.number"))
    department: Mapped[str] = mapped_column(String(18))
    opened_at: Mapped[dt.datetime]
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    resolved_at: Mapped[dt.datetime | None]
    note: Mapped[str] = mapped_column(Text)


class HallComplaint(Base):
    """A complaint (投诉) about a case and its answer."""

    __tablename__ = "hall_complaints"
    __table_args__ = (
        Index("ix_hall_complaints_department", "department"),
        Index("ix_hall_complaints_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(21), ForeignKey("hall_cases.number"))
    department: Mapped[str] = mapped_column(String(18))
    at: Mapped[dt.datetime]
    client_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(64))
    substantiated: Mapped[bool | None] = mapped_column(Boolean)


# -- stock conversion (存量转换, `elicence import`) -----------------------------------------------


class ImportRun(Base):
    """One stock conversion of a file: how far it got, committed with each chunk it stored."""

    __tablename__ = "import_runs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # the file's and options' digest
    source: Mapped[str] = mapped_column(String(500))
    department: Mapped[str | None] = mapped_column(String(18))
    started_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    rows_done: Mapped[int] = mapped_column(Integer)
    report_bytes: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(Integer)
    existing: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
