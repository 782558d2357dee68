"""SQLAlchemy 2 models of the registry. Never API schemas; the domain sees dataclasses.

Invariants: ``events`` is append-only (no code path updates or deletes a row); times are stored
as UTC; ``(department, source_ref)`` is unique, which is what makes issuance idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
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
        Index("ix_licences_holder", "holder_id_type", "holder_id"),
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
    __table_args__ = (Index("ix_usage_identifier", "identifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    client_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("api_clients.id"))
    identifier: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16))
    authenticated: Mapped[bool] = mapped_column(Boolean)


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
