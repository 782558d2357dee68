"""Registry: the unit of work: one write transaction on one connection, and the writes use cases
make in it.

Invariants: repositories only execute; :meth:`UnitOfWork.commit` is the one place that commits,
and what is not committed when the ``with`` block ends is rolled back. Appends to the event log are
serialised (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so the hash chain has
one head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from elicence.domain.licence import Licence, LicenceEvent, LicenceStatus
from elicence.errors import RegistryError
from elicence.formats.eventlog import GENESIS, LogEvent, chain
from elicence.registry.pgcopy import (
    PIPELINE_MAX,
    copy_events,
    copy_licences,
    insert_pipelined,
    locked_head,
)
from elicence.registry.tables import (
    DOCUMENTS,
    INSERT_EVENT,
    INSERT_LICENCE,
    LICENCES,
    LOG_HEAD,
    MIRROR,
    RESERVE_STATUS,
    MirrorRecord,
    integrity_error,
    licence_of,
    licence_values,
)

LOG_LOCK = 0x656C6963  # pg_advisory_xact_lock key that serialises appends to the event log


class UnitOfWork:
    """One transaction on one connection (SQLAlchemy Core: issuance is the hot path).

    Repositories only execute; :meth:`commit` is the one place that commits. What is not
    committed when the ``with`` block ends is rolled back.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        # the log's head while this transaction holds the log's lock (appends chain after it)
        self._head: tuple[int, str] | None = None

    def licence_by_source_ref(self, department: str, source_ref: str) -> Licence | None:
        row = self._conn.execute(
            select(LICENCES).where(
                LICENCES.c.department == department, LICENCES.c.source_ref == source_ref
            )
        ).first()
        return licence_of(row) if row else None

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
                found[row.source_ref or ""] = licence_of(row)
        return found

    def add_licences(self, licences: Sequence[Licence], events: Sequence[LicenceEvent]) -> None:
        """Insert licences and their events (chained after the log's head)."""
        postgres = self._conn.dialect.name == "postgresql"
        if postgres and self._head is not None and len(licences) <= PIPELINE_MAX:
            # a group commit holds the log's lock already: licences and chained events in one
            # round trip
            chained = chain(events, head_seq=self._head[0], head_hash=self._head[1])
            insert_pipelined(self._conn, licences, chained)
            if chained:
                self._head = (chained[-1].seq, chained[-1].hash)
            return
        if licences and postgres:
            copy_licences(self._conn, licences)
        elif licences:
            try:
                self._conn.execute(INSERT_LICENCE, [licence_values(lic) for lic in licences]).all()
            except IntegrityError as e:
                raise integrity_error(e) from e
        self.append_events(events)

    # -- the event log ------------------------------------------------------------------------

    def _lock_log(self) -> None:
        """Serialise appends: PostgreSQL takes a transaction-level advisory lock; SQLite writes
        under BEGIN IMMEDIATE, which already excludes every other writer."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOG_LOCK})

    def log_head(self) -> tuple[int, str]:
        """(seq, hash) of the last event; (0, GENESIS) for an empty log."""
        row = self._conn.execute(LOG_HEAD).first()
        return (row[0], row[1] or "") if row else (0, GENESIS)

    def append_events(self, events: Sequence[LicenceEvent]) -> list[LogEvent]:
        """Chain ``events`` after the head (one head read) and insert them."""
        if not events:
            return []
        seq, head = self._head if self._head is not None else self._lock_and_read_head()
        chained = chain(events, head_seq=seq, head_hash=head)
        self._insert_log(chained)
        self._head = (chained[-1].seq, chained[-1].hash)
        return chained

    def _lock_and_read_head(self) -> tuple[int, str]:
        """Take the log's lock (held until the transaction ends) and read its head."""
        if self._conn.dialect.name == "postgresql":
            return locked_head(self._conn, LOG_LOCK)  # one round trip
        self._lock_log()
        return self.log_head()

    def reserve_indices(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Reserve status indices for several departments (department → first index, in
        department order, so writers never dead-lock) and take the log's lock, reading its head
        for the appends of this transaction. (PostgreSQL's group commit has its own:
        :class:`~elicence.registry.pggroup.GroupTransaction`.)"""
        wanted = {d: n for d, n in counts.items() if n > 0}
        first = {d: self.reserve_status_indices(d, wanted[d]) for d in sorted(wanted)}
        self._head = self._lock_and_read_head()
        return first

    def _insert_log(self, events: Sequence[LogEvent]) -> None:
        if not events:
            return
        if self._conn.dialect.name == "postgresql":
            copy_events(self._conn, events)
            return
        try:
            self._conn.execute(
                INSERT_EVENT,
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
            ).all()
        except IntegrityError as e:
            raise integrity_error(e) from e

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
        return [licence_of(r) for r in self._conn.execute(q)]

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
            RESERVE_STATUS, {"department": department, "count": count}
        ).scalar_one()
        return int(after) - count

    # -- re-sealing (a compromised key, ADR 0011) ---------------------------------------------

    def licences_sealed_by(
        self, department: str, kid: str, *, after_id: int, limit: int
    ) -> list[tuple[int, Licence]]:
        """Up to ``limit`` licences of ``department`` sealed by ``kid`` after row ``after_id``,
        locked, in row order (one forward pass over the rows, with no index on the kid)."""
        q = (
            select(LICENCES)
            .where(
                LICENCES.c.department == department,
                LICENCES.c.kid == kid,
                LICENCES.c.id > after_id,
            )
            .order_by(LICENCES.c.id)
            .limit(limit)
            .with_for_update()
        )
        return [(r.id, licence_of(r)) for r in self._conn.execute(q)]

    def replace_seal(self, identifier: str, *, seal: str, kid: str) -> None:
        """Give a licence a new seal; its kept documents (which carry the old one) are dropped."""
        self._conn.execute(
            update(LICENCES).where(LICENCES.c.identifier == identifier).values(seal=seal, kid=kid)
        )
        self._conn.execute(delete(DOCUMENTS).where(DOCUMENTS.c.identifier == identifier))

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
            self._conn.execute(insert(LICENCES), [licence_values(licence)])

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
            raise integrity_error(e) from e

    def commit(self) -> None:
        try:
            self._conn.commit()
        except IntegrityError as e:
            raise integrity_error(e) from e
        except SQLAlchemyError as e:
            raise RegistryError(f"the registry could not commit: {e}") from e
