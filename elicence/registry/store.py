"""The registry: engine set-up, the unit of work, and the queries the rest of elicence needs.

Invariants: repositories only ``flush``; the caller's use case commits through
:meth:`UnitOfWork.commit`. No SQLAlchemy exception leaves this module: each becomes a
:class:`~elicence.errors.RegistryError` (or :class:`DuplicateSourceRefError`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, create_engine, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from elicence.catalogue import Catalogue, HolderIdType
from elicence.catalogue_file import catalogue_from_dict, catalogue_to_dict
from elicence.errors import DuplicateSourceRefError, RegistryError
from elicence.licence import Holder, Licence, LicenceEvent, LicenceStatus
from elicence.registry.models import (
    ApiClient,
    CatalogueVersion,
    EventRow,
    LicenceDocument,
    LicenceRow,
    UsageRecord,
)
from elicence.verifier.seal import RegistryRecord


@dataclass(frozen=True, slots=True)
class ClientRecord:
    id: str
    name: str
    role: str
    department: str | None
    created_at: dt.datetime
    disabled_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    at: dt.datetime
    kind: str
    identifier: str
    department: str
    actor: str
    detail: dict[str, Any]


def _licence(row: Any) -> Licence:
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
    )


def _licence_values(lic: Licence) -> dict[str, Any]:
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
    }


LICENCES = cast(Table, LicenceRow.__table__)
EVENTS = cast(Table, EventRow.__table__)
CLIENTS = cast(Table, ApiClient.__table__)
USAGE = cast(Table, UsageRecord.__table__)
CATALOGUES = cast(Table, CatalogueVersion.__table__)
DOCUMENTS = cast(Table, LicenceDocument.__table__)


def _integrity(e: IntegrityError) -> RegistryError:
    if "source_ref" in str(e.orig):
        return DuplicateSourceRefError(
            "another licence of this department carries this source_ref", field="source_ref"
        )
    return RegistryError(f"the registry refused the change: {e.orig}")


class UnitOfWork:
    """One transaction on one connection (SQLAlchemy Core: issuance is the hot path).

    Repositories only execute; :meth:`commit` is the one place that commits. What is not
    committed when the ``with`` block ends is rolled back.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def licence_by_source_ref(self, department: str, source_ref: str) -> Licence | None:
        row = self._conn.execute(
            select(LICENCES).where(
                LICENCES.c.department == department, LICENCES.c.source_ref == source_ref
            )
        ).first()
        return _licence(row) if row else None

    def licences_by_source_refs(self, department: str, refs: Sequence[str]) -> dict[str, Licence]:
        found: dict[str, Licence] = {}
        for i in range(0, len(refs), 500):
            rows = self._conn.execute(
                select(LICENCES).where(
                    LICENCES.c.department == department,
                    LICENCES.c.source_ref.in_(refs[i : i + 500]),
                )
            )
            for row in rows:
                found[row.source_ref or ""] = _licence(row)
        return found

    def add_licences(self, licences: Sequence[Licence], events: Sequence[LicenceEvent]) -> None:
        """Insert licences and their events."""
        try:
            if licences:
                self._conn.execute(insert(LICENCES), [_licence_values(lic) for lic in licences])
            if events:
                self._conn.execute(insert(EVENTS), [_event_values(e) for e in events])
        except IntegrityError as e:
            raise _integrity(e) from e

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert plain rows into one of the registry's tables."""
        try:
            self._conn.execute(insert(table), list(rows))
        except IntegrityError as e:
            raise _integrity(e) from e

    def commit(self) -> None:
        try:
            self._conn.commit()
        except IntegrityError as e:
            raise _integrity(e) from e
        except SQLAlchemyError as e:
            raise RegistryError(f"the registry could not commit: {e}") from e


def _event_values(e: LicenceEvent) -> dict[str, Any]:
    return {
        "at": e.at,
        "kind": e.kind,
        "identifier": e.identifier,
        "department": e.department,
        "actor": e.actor,
        "detail": dict(e.detail),
    }


class Registry:
    """The registry database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(elicence_write=True)

    @classmethod
    def from_url(cls, url: str) -> Registry:
        """Open the database at ``url`` (SQLite file, SQLite memory or PostgreSQL)."""
        try:
            if url.startswith("sqlite"):
                memory = url in ("sqlite://", "sqlite:///:memory:")
                engine = create_engine(
                    url,
                    connect_args={"check_same_thread": False, "timeout": 30},
                    poolclass=StaticPool if memory else None,
                )
                _sqlite_pragmas(engine)
            else:
                engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise RegistryError(f"cannot open the database {url!r}: {e}") from e
        return cls(engine)

    def upgrade(self) -> None:
        """Bring the schema up to date (Alembic ``upgrade head``)."""
        from elicence.registry.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A write transaction; what is not committed is rolled back."""
        try:
            with self._writer.connect() as conn:
                conn.begin()
                yield UnitOfWork(conn)
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e

    # -- licences ---------------------------------------------------------------------------

    def licence(self, identifier: str) -> Licence | None:
        with self._read() as c:
            row = c.execute(select(LICENCES).where(LICENCES.c.identifier == identifier)).first()
            return _licence(row) if row else None

    def lookup(self, identifier: str) -> RegistryRecord | None:
        """The :class:`~elicence.verifier.StatusSource` view of a licence."""
        with self._read() as c:
            row = c.execute(
                select(
                    LICENCES.c.seal,
                    LICENCES.c.status,
                    LICENCES.c.valid_from,
                    LICENCES.c.valid_until,
                    LICENCES.c.superseded_by,
                ).where(LICENCES.c.identifier == identifier)
            ).first()
        if row is None:
            return None
        return RegistryRecord(identifier, row[0], row[1], row[2], row[3], row[4])

    def search(
        self,
        *,
        holder_id_type: str | None = None,
        holder_id: str | None = None,
        type_code: str | None = None,
        department: str | None = None,
        issued_from: dt.datetime | None = None,
        issued_until: dt.datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Licence]:
        q = select(LICENCES)
        if holder_id_type is not None:
            q = q.where(LICENCES.c.holder_id_type == holder_id_type)
        if holder_id is not None:
            q = q.where(LICENCES.c.holder_id == holder_id)
        if type_code is not None:
            q = q.where(LICENCES.c.type_code == type_code)
        if department is not None:
            q = q.where(LICENCES.c.department == department)
        if issued_from is not None:
            q = q.where(LICENCES.c.issued_at >= issued_from)
        if issued_until is not None:
            q = q.where(LICENCES.c.issued_at < issued_until)
        q = q.order_by(LICENCES.c.id).limit(limit).offset(offset)
        with self._read() as c:
            return [_licence(r) for r in c.execute(q)]

    def events(self, *, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        with self._read() as c:
            rows = c.execute(
                select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(limit)
            )
            return [
                StoredEvent(
                    r.seq, r.at, r.kind, r.identifier, r.department, r.actor, dict(r.detail)
                )
                for r in rows
            ]

    def count_licences(self) -> int:
        with self._read() as c:
            return c.scalar(select(func.count()).select_from(LICENCES)) or 0

    # -- documents --------------------------------------------------------------------------

    def document(self, identifier: str, kind: str = "pdf") -> bytes | None:
        """A kept document of a licence, or None if none was made yet."""
        with self._read() as c:
            content: bytes | None = c.scalar(
                select(DOCUMENTS.c.content).where(
                    DOCUMENTS.c.identifier == identifier, DOCUMENTS.c.kind == kind
                )
            )
            return content

    def keep_document(
        self, identifier: str, content: bytes, *, now: dt.datetime, kind: str = "pdf"
    ) -> bytes:
        """Keep a document; if a concurrent request kept one first, return that one instead."""
        row = {
            "identifier": identifier,
            "kind": kind,
            "created_at": now,
            "sha256": hashlib.sha256(content).hexdigest(),
            "content": content,
        }
        try:
            with self.unit_of_work() as uow:
                uow.insert(DOCUMENTS, [row])
                uow.commit()
        except RegistryError:
            kept = self.document(identifier, kind)
            if kept is None:
                raise
            return kept
        return content

    # -- catalogue --------------------------------------------------------------------------

    def save_catalogue(self, catalogue: Catalogue, *, now: dt.datetime) -> int:
        """Store ``catalogue`` as the one in force; returns its version id."""
        document = catalogue_to_dict(catalogue)
        digest = hashlib.sha256(
            json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        with self.unit_of_work() as uow:
            uow.insert(CATALOGUES, [{"imported_at": now, "digest": digest, "document": document}])
            uow.commit()
        version = self.catalogue_version()
        assert version is not None
        return version

    def catalogue_version(self) -> int | None:
        with self._read() as c:
            version: int | None = c.scalar(select(func.max(CATALOGUES.c.id)))
            return version

    def catalogue(self) -> tuple[int, Catalogue] | None:
        """The catalogue in force and its version id, or None before any import."""
        with self._read() as c:
            row = c.execute(select(CATALOGUES).order_by(CATALOGUES.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        return row.id, catalogue_from_dict(row.document)

    # -- clients ----------------------------------------------------------------------------

    def add_client(
        self,
        *,
        client_id: str,
        name: str,
        role: str,
        department: str | None,
        key_hash: str,
        now: dt.datetime,
    ) -> ClientRecord:
        with self.unit_of_work() as uow:
            uow.insert(
                CLIENTS,
                [
                    {
                        "id": client_id,
                        "name": name,
                        "role": role,
                        "department": department,
                        "key_hash": key_hash,
                        "created_at": now,
                        "disabled_at": None,
                    }
                ],
            )
            uow.commit()
        return ClientRecord(client_id, name, role, department, now, None)

    def client_by_key_hash(self, key_hash: str) -> ClientRecord | None:
        with self._read() as c:
            row = c.execute(select(CLIENTS).where(CLIENTS.c.key_hash == key_hash)).first()
            return _client(row) if row else None

    def clients(self) -> list[ClientRecord]:
        with self._read() as c:
            return [_client(r) for r in c.execute(select(CLIENTS).order_by(CLIENTS.c.created_at))]

    def disable_client(self, client_id: str, *, now: dt.datetime) -> bool:
        with self._writer.begin() as c:
            result = c.execute(
                update(CLIENTS).where(CLIENTS.c.id == client_id).values(disabled_at=now)
            )
            return bool(result.rowcount)

    # -- usage ------------------------------------------------------------------------------

    def record_usage(
        self,
        *,
        at: dt.datetime,
        client_id: str | None,
        identifier: str | None,
        channel: str,
        verdict: str,
    ) -> None:
        with self.unit_of_work() as uow:
            uow.insert(
                USAGE,
                [
                    {
                        "at": at,
                        "client_id": client_id,
                        "identifier": identifier,
                        "channel": channel,
                        "verdict": verdict,
                        "authenticated": client_id is not None,
                    }
                ],
            )
            uow.commit()

    def usage(self, *, identifier: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(USAGE).order_by(USAGE.c.id.desc()).limit(limit)
        if identifier is not None:
            q = q.where(USAGE.c.identifier == identifier)
        with self._read() as c:
            return [
                {
                    "at": r.at,
                    "client_id": r.client_id,
                    "identifier": r.identifier,
                    "channel": r.channel,
                    "verdict": r.verdict,
                }
                for r in c.execute(q)
            ]


def _client(row: Any) -> ClientRecord:
    return ClientRecord(row.id, row.name, row.role, row.department, row.created_at, row.disabled_at)


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for write transactions (no upgrade deadlocks)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("elicence_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
