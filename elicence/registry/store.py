"""The registry: engine set-up, the unit of work, and the queries the rest of elicence needs.

Invariants: repositories only ``flush``; the caller's use case commits through
:meth:`UnitOfWork.commit`. No SQLAlchemy exception leaves this module: each becomes a
:class:`~elicence.errors.RegistryError` (or :class:`DuplicateSourceRefError`).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from elicence.catalogue import Catalogue, HolderIdType
from elicence.catalogue_file import catalogue_from_dict, catalogue_to_dict
from elicence.errors import DuplicateSourceRefError, RegistryError
from elicence.eventlog import GENESIS, Checkpoint, LogEvent, chain
from elicence.licence import Holder, Licence, LicenceEvent, LicenceStatus
from elicence.registry.models import (
    ApiClient,
    CatalogueVersion,
    CheckpointRow,
    EventRow,
    LicenceDocument,
    LicenceRow,
    MirrorState,
    StatusCounter,
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


StoredEvent = LogEvent  # an event as the log holds it, with its place in the hash chain


@dataclass(frozen=True, slots=True)
class MirrorRecord:
    """What a mirror keeps about its upstream."""

    upstream: str
    root: bytes  # the pinned root certificate, DER
    trust_list: bytes | None
    checkpoint: bytes | None
    catalogue_digest: str | None
    pulled_at: dt.datetime | None


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
        status_index=row.status_index,
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
# Statements of the issuance hot path, built once (building one costs as much as running it).
_INSERT_LICENCE = insert(LICENCES)
_INSERT_USAGE = insert(USAGE)
_LOOKUP = select(
    LICENCES.c.seal,
    LICENCES.c.status,
    LICENCES.c.valid_from,
    LICENCES.c.valid_until,
    LICENCES.c.superseded_by,
).where(LICENCES.c.identifier == bindparam("identifier"))
_INSERT_EVENT = insert(EVENTS)
_LOG_HEAD = select(EVENTS.c.seq, EVENTS.c.hash).order_by(EVENTS.c.seq.desc()).limit(1)
# The same upsert text on SQLite (3.35+) and PostgreSQL.
_RESERVE_STATUS = text(
    "INSERT INTO status_counters (department, next_index) VALUES (:department, :count) "
    "ON CONFLICT (department) DO UPDATE SET next_index = status_counters.next_index + :count "
    "RETURNING next_index"
)
log = logging.getLogger("elicence.registry")
USAGE_FLUSH_SECONDS = 0.05
WAL_CHECKPOINT_SECONDS = 1.0
WAL_SAFETY_PAGES = 20_000  # 80 MB: checkpoint inline only if the background one falls behind
LOG_LOCK = 0x656C6963  # pg_advisory_xact_lock key that serialises appends to the event log


def _log_event(r: Any) -> LogEvent:
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


def _integrity(e: IntegrityError) -> RegistryError:
    if "source_ref" in str(e.orig):
        return DuplicateSourceRefError(
            "another licence of this department carries this source_ref", field="source_ref"
        )
    return RegistryError(f"the registry refused the change: {e.orig}")


class WriteBehind:
    """Rows queued by many threads and written by one background thread in batches.

    Invariants: rows are written in the order queued; a failed write keeps its rows queued
    (up to ``MAX_QUEUED``, past which the oldest are dropped and the loss is logged); ``flush``
    returns only when everything queued before it was written or failed.
    """

    MAX_QUEUED = 100_000

    def __init__(self, write: Callable[[list[dict[str, Any]]], None], *, interval: float) -> None:
        self._write = write
        self._interval = interval
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows.append(row)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="elicence-usage-writer", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)  # a CLI run writes its records before exiting
            if len(self._rows) >= 500:
                self._wake.set()

    def flush(self) -> None:
        with self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                self._write(rows)
            except Exception:
                with self._lock:
                    self._rows[:0] = rows
                    if len(self._rows) > self.MAX_QUEUED:
                        lost = len(self._rows) - self.MAX_QUEUED
                        del self._rows[:lost]
                        log.error("dropped %d queued usage records", lost)
                raise

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        with contextlib.suppress(Exception):
            self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("could not write usage records; will retry")


class _WalCheckpointer:
    """A thread that checkpoints SQLite's WAL every ``interval`` seconds (PASSIVE: it never
    waits for, or blocks, a writer), so that issuances do not pay for checkpoint fsyncs."""

    def __init__(self, engine: Engine, *, interval: float) -> None:
        # no BEGIN around the pragma: a checkpoint inside a transaction stops at its snapshot
        self._engine = engine.execution_options(elicence_read_one=True)
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.done = 0  # checkpoints run (for tests and operators)

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="elicence-wal-checkpoint", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self.done += 1
            except Exception:
                log.exception("WAL checkpoint failed; SQLite will checkpoint inline instead")


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
        """Insert licences and their events (chained after the log's head)."""
        try:
            if licences:
                self._conn.execute(_INSERT_LICENCE, [_licence_values(lic) for lic in licences])
        except IntegrityError as e:
            raise _integrity(e) from e
        self.append_events(events)

    # -- the event log ------------------------------------------------------------------------

    def _lock_log(self) -> None:
        """Serialise appends: PostgreSQL takes a transaction-level advisory lock; SQLite writes
        under BEGIN IMMEDIATE, which already excludes every other writer."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOG_LOCK})

    def log_head(self) -> tuple[int, str]:
        """(seq, hash) of the last event; (0, GENESIS) for an empty log."""
        row = self._conn.execute(_LOG_HEAD).first()
        return (row[0], row[1] or "") if row else (0, GENESIS)

    def append_events(self, events: Sequence[LicenceEvent]) -> list[LogEvent]:
        """Chain ``events`` after the head (one head read) and insert them."""
        if not events:
            return []
        self._lock_log()
        seq, head = self.log_head()
        chained = chain(events, head_seq=seq, head_hash=head)
        self._insert_log(chained)
        return chained

    def _insert_log(self, events: Sequence[LogEvent]) -> None:
        if not events:
            return
        try:
            self._conn.execute(
                _INSERT_EVENT,
                [
                    {
                        "seq": e.seq,
                        "at": e.at,
                        "kind": e.kind,
                        "identifier": e.identifier,
                        "department": e.department,
                        "actor": e.actor,
                        "detail": dict(e.detail),
                        "prev_hash": e.prev_hash,
                        "hash": e.hash,
                    }
                    for e in events
                ],
            )
        except IntegrityError as e:
            raise _integrity(e) from e

    # -- lifecycle --------------------------------------------------------------------------

    def licences_for_update(
        self,
        *,
        identifiers: Sequence[str] | None = None,
        department: str | None = None,
        holder: tuple[str, str] | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[Licence]:
        """Read and lock licences (SELECT … FOR UPDATE on PostgreSQL), in a fixed order."""
        q = select(LICENCES)
        if identifiers is not None:
            q = q.where(LICENCES.c.identifier.in_(list(identifiers)))
        if department is not None:
            q = q.where(LICENCES.c.department == department)
        if holder is not None:
            q = q.where(LICENCES.c.holder_id_type == holder[0], LICENCES.c.holder_id == holder[1])
        if statuses is not None:
            q = q.where(LICENCES.c.status.in_(list(statuses)))
        q = q.order_by(LICENCES.c.id).with_for_update()
        return [_licence(r) for r in self._conn.execute(q)]

    def set_status(
        self, identifier: str, status: LicenceStatus, *, superseded_by: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": str(status)}
        if superseded_by is not None:
            values["superseded_by"] = superseded_by
        self._conn.execute(
            update(LICENCES).where(LICENCES.c.identifier == identifier).values(**values)
        )

    def reserve_status_indices(self, department: str, count: int) -> int:
        """Take ``count`` consecutive free status list indices of a department; the first.

        One statement (an upsert returning the new counter): the counter row stays locked
        until this transaction ends, and a rollback gives the indices back.
        """
        if count < 1:
            raise RegistryError("reserve at least one status index")
        after = self._conn.execute(
            _RESERVE_STATUS, {"department": department, "count": count}
        ).scalar_one()
        return int(after) - count

    # -- mirroring --------------------------------------------------------------------------

    def append_mirrored(self, events: Sequence[LogEvent]) -> None:
        """Insert events exactly as the upstream chained them (checked by the caller)."""
        self._insert_log(events)

    def add_mirrored_licence(self, licence: Licence) -> None:
        """Insert a licence learnt from the feed, unless it is already there."""
        exists = self._conn.execute(
            select(LICENCES.c.id).where(LICENCES.c.identifier == licence.identifier)
        ).first()
        if exists is None:
            self._conn.execute(insert(LICENCES), [_licence_values(licence)])

    def save_mirror(self, record: MirrorRecord) -> None:
        values = {
            "upstream": record.upstream,
            "root": record.root,
            "trust_list": record.trust_list,
            "checkpoint": record.checkpoint,
            "catalogue_digest": record.catalogue_digest,
            "pulled_at": record.pulled_at,
        }
        done = self._conn.execute(update(MIRROR).where(MIRROR.c.id == 1).values(**values))
        if not done.rowcount:
            self._conn.execute(insert(MIRROR), [{"id": 1, **values}])

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


class Registry:
    """The registry database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(elicence_write=True)
        self._reader = engine.execution_options(elicence_read_one=True)
        self._usage = WriteBehind(self._write_usage, interval=USAGE_FLUSH_SECONDS)
        # SQLite files: WAL checkpoints (and their fsyncs) off the request path.
        database = engine.url.database
        self._checkpoints = (
            _WalCheckpointer(engine, interval=WAL_CHECKPOINT_SECONDS)
            if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
            else None
        )

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
        self._usage.close()
        if self._checkpoints is not None:
            self._checkpoints.close()
        self.engine.dispose()

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A write transaction; what is not committed is rolled back."""
        if self._checkpoints is not None:
            self._checkpoints.start()
        try:
            with self._writer.connect() as conn:
                conn.begin()
                yield UnitOfWork(conn)
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._reader.connect() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read transaction for several statements that must see one state."""
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
            row = c.execute(_LOOKUP, {"identifier": identifier}).first()
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
        """Events after ``after`` in ``seq`` order, with their hashes."""
        with self._read() as c:
            rows = c.execute(
                select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(limit)
            )
            return [_log_event(r) for r in rows]

    def iter_events(self, *, page: int = 5000) -> Iterator[LogEvent]:
        """Every event in ``seq`` order, read page by page (for audits of a large log)."""
        after = -1
        while True:
            with self._read() as c:
                rows = c.execute(
                    select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(page)
                ).all()
            if not rows:
                return
            for r in rows:
                yield _log_event(r)
            after = rows[-1].seq

    def log_head(self) -> tuple[int, str]:
        """(seq, hash) of the last event; (0, GENESIS) for an empty log."""
        with self._read() as c:
            row = c.execute(
                select(EVENTS.c.seq, EVENTS.c.hash).order_by(EVENTS.c.seq.desc()).limit(1)
            ).first()
        return (row[0], row[1] or "") if row else (0, GENESIS)

    def event_hash_at(self, seq: int) -> str | None:
        """The hash of event ``seq`` (GENESIS for 0), or None if the log holds no such event."""
        if seq == 0:
            return GENESIS
        with self._read() as c:
            digest: str | None = c.scalar(select(EVENTS.c.hash).where(EVENTS.c.seq == seq))
            return digest

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint (a concurrent one of the same size is as good)."""
        try:
            with self._writer.begin() as c:
                c.execute(
                    insert(CHECKPOINTS),
                    [
                        {
                            "size": checkpoint.size,
                            "head_hash": checkpoint.head_hash,
                            "issued_at": checkpoint.issued_at,
                            "signed": checkpoint.signed,
                        }
                    ],
                )
        except IntegrityError:
            return
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._read() as c:
            row = c.execute(
                select(CHECKPOINTS).order_by(CHECKPOINTS.c.size.desc()).limit(1)
            ).first()
        return Checkpoint(row.size, row.head_hash, row.issued_at, row.signed) if row else None

    def checkpoints(self) -> list[Checkpoint]:
        with self._read() as c:
            rows = c.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.size)).all()
        return [Checkpoint(r.size, r.head_hash, r.issued_at, r.signed) for r in rows]

    def licence_states(self) -> Iterator[tuple[str, str, str | None]]:
        """(identifier, status, superseded_by) of every licence, page by page."""
        after = 0
        while True:
            with self._read() as c:
                rows = c.execute(
                    select(
                        LICENCES.c.id,
                        LICENCES.c.identifier,
                        LICENCES.c.status,
                        LICENCES.c.superseded_by,
                    )
                    .where(LICENCES.c.id > after)
                    .order_by(LICENCES.c.id)
                    .limit(5000)
                ).all()
            if not rows:
                return
            for r in rows:
                yield r[1], r[2], r[3]
            after = rows[-1][0]

    def status_entries(self, department: str) -> tuple[int, list[tuple[int, str]]]:
        """(indices handed out, [(status index, status)] of every licence not ``valid``)."""
        with self._snapshot() as c:  # two statements: one snapshot
            size = c.scalar(
                select(COUNTERS.c.next_index).where(COUNTERS.c.department == department)
            )
            rows = c.execute(
                select(LICENCES.c.status_index, LICENCES.c.status).where(
                    LICENCES.c.department == department,
                    LICENCES.c.status != "valid",
                    LICENCES.c.status_index.is_not(None),
                )
            ).all()
        return int(size or 0), [(r[0], r[1]) for r in rows]

    def mirror(self) -> MirrorRecord | None:
        """The mirror's state, or None for a registry that is not a mirror."""
        with self._read() as c:
            row = c.execute(select(MIRROR).where(MIRROR.c.id == 1)).first()
        if row is None:
            return None
        return MirrorRecord(
            row.upstream,
            row.root,
            row.trust_list,
            row.checkpoint,
            row.catalogue_digest,
            row.pulled_at,
        )

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

    def catalogue_history(self) -> list[Catalogue]:
        """Every catalogue ever imported, oldest first."""
        with self._read() as c:
            rows = c.execute(select(CATALOGUES.c.document).order_by(CATALOGUES.c.id)).all()
        return [catalogue_from_dict(r.document) for r in rows]

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
        """Queue a usage record (用证记录); it is written within ``USAGE_FLUSH_SECONDS``.

        Write-behind: one transaction per flush instead of one per verification keeps the
        single SQLite writer free for issuance. The window lost if the process is killed is
        that interval; :meth:`flush_usage` (called on dispose and before reading) empties it.
        """
        self._usage.add(
            {
                "at": at,
                "client_id": client_id,
                "identifier": identifier,
                "channel": channel,
                "verdict": verdict,
                "authenticated": client_id is not None,
            }
        )

    def flush_usage(self) -> None:
        """Write every queued usage record now."""
        self._usage.flush()

    def _write_usage(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self._writer.begin() as c:
                c.execute(_INSERT_USAGE, rows)
        except SQLAlchemyError as e:
            raise RegistryError(f"could not record verifications: {e}") from e

    def usage(self, *, identifier: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        self.flush_usage()
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
        # Checkpoints run in the background (Registry._checkpoints); this is the safety net.
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_SAFETY_PAGES}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("elicence_read_one", False):
            return  # one SELECT: autocommit mode already gives it a consistent WAL snapshot
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("elicence_write", False) else "BEGIN")
