"""The registry's tables as SQLAlchemy Core objects, the statements of the hot paths (built once),
and the conversions between rows and domain values.

Invariant: a row becomes a domain value only here (``licence_of``, ``log_event_of``,
``client_of``), and a domain value becomes a row only here (``licence_values``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError

from elicence.domain.catalogue import HolderIdType
from elicence.domain.licence import Holder, Licence, LicenceStatus
from elicence.errors import DuplicateSourceRefError, RegistryError
from elicence.formats.eventlog import LogEvent
from elicence.registry.models import (
    ApiClient,
    CatalogueVersion,
    CheckpointRow,
    EventRow,
    LicenceDocument,
    LicenceRow,
    ListSequence,
    MirrorState,
    StatusCounter,
    UsageRecord,
)


@dataclass(frozen=True, slots=True)
class ClientRecord:
    id: str
    name: str
    role: str
    department: str | None
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    holder_id_type: str | None = None
    holder_id: str | None = None


@dataclass(frozen=True, slots=True)
class MirrorRecord:
    """What a mirror keeps about its upstream."""

    upstream: str
    root: bytes  # the pinned root certificate, DER
    trust_list: bytes | None
    checkpoint: bytes | None
    catalogue_digest: str | None
    pulled_at: dt.datetime | None


def licence_of(row: Any) -> Licence:
    return Licence(
        identifier=row.identifier,
        type_code=row.type_code,
        department_uscc=row.department,
        licence_number=row.licence_number,
        holder=Holder(row.holder_name, HolderIdType(row.holder_id_type), row.holder_id),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        data=dict(row.data),
        status=LicenceStatus(row.status),
        version=row.version,
        issued_at=row.issued_at,
        seal=row.seal,
        kid=row.kid,
        source_ref=row.source_ref,
        request_hash=row.request_hash,
        superseded_by=row.superseded_by,
        status_index=row.status_index,
    )


def licence_values(lic: Licence) -> dict[str, Any]:
    ident = lic.identifier.split(".")
    return {
        "identifier": lic.identifier,
        "serial": ident[-3],
        "type_code": lic.type_code,
        "department": lic.department_uscc,
        "licence_number": lic.licence_number,
        "holder_name": lic.holder.name,
        "holder_id_type": str(lic.holder.id_type),
        "holder_id": lic.holder.id_number,
        "valid_from": lic.valid_from,
        "valid_until": lic.valid_until,
        "data": dict(lic.data),
        "status": str(lic.status),
        "version": lic.version,
        "issued_at": lic.issued_at,
        "seal": lic.seal,
        "kid": lic.kid,
        "source_ref": lic.source_ref,
        "request_hash": lic.request_hash,
        "superseded_by": lic.superseded_by,
        "status_index": lic.status_index,
    }


LICENCES = cast(Table, LicenceRow.__table__)
EVENTS = cast(Table, EventRow.__table__)
CLIENTS = cast(Table, ApiClient.__table__)
USAGE = cast(Table, UsageRecord.__table__)
CATALOGUES = cast(Table, CatalogueVersion.__table__)
DOCUMENTS = cast(Table, LicenceDocument.__table__)
CHECKPOINTS = cast(Table, CheckpointRow.__table__)
COUNTERS = cast(Table, StatusCounter.__table__)
MIRROR = cast(Table, MirrorState.__table__)
LIST_SEQUENCES = cast(Table, ListSequence.__table__)
# Statements of the issuance hot path, built once (building one costs as much as running it).
# RETURNING makes SQLAlchemy send many rows as one multi-row INSERT ("insertmanyvalues"), one
# round trip, instead of the driver's one statement per row.
INSERT_LICENCE = insert(LICENCES).returning(LICENCES.c.id)
INSERT_USAGE = insert(USAGE)
LOOKUP = select(
    LICENCES.c.seal,
    LICENCES.c.status,
    LICENCES.c.valid_from,
    LICENCES.c.valid_until,
    LICENCES.c.superseded_by,
).where(LICENCES.c.identifier == bindparam("identifier"))
INSERT_EVENT = insert(EVENTS).returning(EVENTS.c.seq)
LOG_HEAD = select(EVENTS.c.seq, EVENTS.c.hash).order_by(EVENTS.c.seq.desc()).limit(1)
# The same upsert text on SQLite (3.35+) and PostgreSQL.
# The same content keeps its sequence number; new content takes the next, and at least :floor
# (the time in seconds), so that a registry restored from a backup numbers past what it published
# after the backup. One statement; GREATEST is max() on SQLite.
_NEXT_LIST_SEQUENCE = (
    "INSERT INTO list_sequences (name, sequence, digest) VALUES (:name, :floor, :digest) "
    "ON CONFLICT (name) DO UPDATE SET sequence = CASE WHEN list_sequences.digest = "
    "excluded.digest THEN list_sequences.sequence ELSE {greatest}(list_sequences.sequence + 1, "
    ":floor) END, digest = excluded.digest RETURNING sequence"
)
NEXT_LIST_SEQUENCE = {
    "sqlite": text(_NEXT_LIST_SEQUENCE.format(greatest="max")),
    "postgresql": text(_NEXT_LIST_SEQUENCE.format(greatest="GREATEST")),
}

RESERVE_STATUS = text(
    "INSERT INTO status_counters (department, next_index) VALUES (:department, :count) "
    "ON CONFLICT (department) DO UPDATE SET next_index = status_counters.next_index + :count "
    "RETURNING next_index"
)


def log_event_of(r: Any) -> LogEvent:
    return LogEvent(
        r.seq,
        r.at,
        r.kind,
        r.identifier,
        r.department,
        r.actor,
        dict(r.detail),
        r.prev_hash or "",
        r.hash or "",
    )


def integrity_error(e: IntegrityError) -> RegistryError:
    if "source_ref" in str(e.orig):
        return DuplicateSourceRefError(
            "another licence of this department carries this source_ref", field="source_ref"
        )
    return RegistryError(f"the registry refused the change: {e.orig}")


def client_of(row: Any) -> ClientRecord:
    return ClientRecord(
        row.id,
        row.name,
        row.role,
        row.department,
        row.created_at,
        row.disabled_at,
        row.holder_id_type,
        row.holder_id,
    )
