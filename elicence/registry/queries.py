"""The registry: the queries the rest of elicence needs, and the small writes that are their own
use case (a catalogue import, a client, a kept document, usage records).

Invariant: what a query returns is a domain value or a frozen record of :mod:`.tables`, never a
row; no SQLAlchemy exception leaves it (see :mod:`.engine`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from elicence.domain.catalogue import Catalogue
from elicence.domain.grants import GranteeKind
from elicence.domain.licence import Licence, LicenceStatus, RegistryRecord
from elicence.errors import RegistryError
from elicence.formats.catalogue_file import catalogue_from_dict, catalogue_to_dict
from elicence.formats.eventlog import GENESIS, Checkpoint, LogEvent
from elicence.registry.engine import Database, DriverQuery, open_engine
from elicence.registry.groupwrite import RowGroupCommit
from elicence.registry.models import GrantRow
from elicence.registry.pgusage import RefusedRowsError, UsageWriter
from elicence.registry.tables import (
    CATALOGUES,
    CHECKPOINTS,
    CLIENTS,
    COUNTERS,
    DOCUMENTS,
    EVENTS,
    INSERT_USAGE,
    LICENCES,
    LIST_SEQUENCES,
    LOOKUP,
    MIRROR,
    NEXT_LIST_SEQUENCE,
    USAGE,
    ClientRecord,
    MirrorRecord,
    client_of,
    licence_of,
    log_event_of,
)

__all__ = ["ClientRecord", "MirrorRecord", "Registry", "VerificationLookup"]

GRANTS = cast(Table, GrantRow.__table__)
# a client exists and is not disabled (1), else NULL
_USABLE = (
    select(literal(1)).where(CLIENTS.c.id == bindparam("client"), CLIENTS.c.disabled_at.is_(None))
).scalar_subquery()
_GRANTED = (
    select(literal(1))
    .where(
        GRANTS.c.identifier == LICENCES.c.identifier,
        GRANTS.c.grantee_kind == str(GranteeKind.HALL),
        GRANTS.c.grantee == bindparam("hall"),
        GRANTS.c.valid_from <= bindparam("at", type_=GRANTS.c.valid_from.type),
        GRANTS.c.valid_until > bindparam("at", type_=GRANTS.c.valid_until.type),
        or_(
            GRANTS.c.withdrawn_at.is_(None),
            GRANTS.c.withdrawn_at > bindparam("at", type_=GRANTS.c.withdrawn_at.type),
        ),
    )
    .limit(1)
    .scalar_subquery()
)
# Registry.verification_lookup: the licence's record, a hall's grant in force, the client usable
_VERIFICATION_LOOKUP = DriverQuery(
    select(
        LICENCES.c.seal,
        LICENCES.c.status,
        LICENCES.c.valid_from,
        LICENCES.c.valid_until,
        LICENCES.c.superseded_by,
        _GRANTED,
        _USABLE,
    ).where(LICENCES.c.identifier == bindparam("identifier"))
)
_USABLE_ALONE = select(_USABLE)


@dataclass(frozen=True, slots=True)
class VerificationLookup:
    """:meth:`Registry.verification_lookup`'s answer."""

    record: RegistryRecord | None
    granted: bool  # the hall asked about holds a grant of the licence in force
    client_usable: bool  # the client asked about exists and is not disabled


log = logging.getLogger("elicence.registry")


class Registry(Database):
    """The registry database: the queries the rest of elicence needs, and its small writes."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._usage = RowGroupCommit(self._write_usage)
        # PostgreSQL: a group of usage records in one round trip (registry/pgusage.py)
        self._pg_usage = UsageWriter(engine) if engine.dialect.name == "postgresql" else None

    @classmethod
    def from_url(cls, url: str) -> Registry:
        """Open the database at ``url`` (SQLite file, SQLite memory or PostgreSQL)."""
        return cls(open_engine(url))

    def dispose(self) -> None:
        if self._pg_usage is not None:
            self._pg_usage.close()
        super().dispose()

    # -- licences ---------------------------------------------------------------------------

    def licence(self, identifier: str) -> Licence | None:
        with self.read() as c:
            row = c.execute(select(LICENCES).where(LICENCES.c.identifier == identifier)).first()
            return licence_of(row) if row else None

    def lookup(self, identifier: str) -> RegistryRecord | None:
        """The :class:`~elicence.verifier.StatusSource` view of a licence."""
        with self.read() as c:
            row = c.execute(LOOKUP, {"identifier": identifier}).first()
        if row is None:
            return None
        return RegistryRecord(identifier, row[0], LicenceStatus(row[1]), row[2], row[3], row[4])

    def verification_lookup(
        self, identifier: str, *, hall: str | None, client: str | None, at: dt.datetime
    ) -> VerificationLookup:
        """What one verification needs of the registry, in one statement (one round trip): the
        licence's record, whether the hall client ``hall`` holds a grant of it in force at
        ``at`` (授权用证), and whether the client ``client`` may still act (exists and is not
        disabled: the re-check of a cached API key)."""
        with self.read() as c:
            row = _VERIFICATION_LOOKUP.first(
                c, {"identifier": identifier, "hall": hall or "", "client": client or "", "at": at}
            )
            if row is None:  # no such licence: the client is still re-checked
                usable = (
                    client is not None and c.execute(_USABLE_ALONE, {"client": client}).scalar()
                )
                return VerificationLookup(None, False, bool(usable))
        record = RegistryRecord(identifier, row[0], LicenceStatus(row[1]), row[2], row[3], row[4])
        return VerificationLookup(record, hall is not None and bool(row[5]), bool(row[6]))

    def client_usable(self, client: str) -> bool:
        """Whether the client exists and is not disabled (one primary-key read)."""
        with self.read() as c:
            return bool(c.execute(_USABLE_ALONE, {"client": client}).scalar())

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
        with self.read() as c:
            return [licence_of(r) for r in c.execute(q)]

    def events(self, *, after: int = 0, limit: int = 100) -> list[LogEvent]:
        """Events after ``after`` in ``seq`` order, with their hashes."""
        with self.read() as c:
            rows = c.execute(
                select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(limit)
            )
            return [log_event_of(r) for r in rows]

    def iter_events(self, *, page: int = 5000) -> Iterator[LogEvent]:
        """Every event in ``seq`` order, read page by page (for audits of a large log)."""
        after = -1
        while True:
            with self.read() as c:
                rows = c.execute(
                    select(EVENTS).where(EVENTS.c.seq > after).order_by(EVENTS.c.seq).limit(page)
                ).all()
            if not rows:
                return
            for r in rows:
                yield log_event_of(r)
            after = rows[-1].seq

    def log_head(self) -> tuple[int, str]:
        """(seq, hash) of the last event; (0, GENESIS) for an empty log."""
        with self.read() as c:
            row = c.execute(
                select(EVENTS.c.seq, EVENTS.c.hash).order_by(EVENTS.c.seq.desc()).limit(1)
            ).first()
        return (row[0], row[1] or "") if row else (0, GENESIS)

    def event_hash_at(self, seq: int) -> str | None:
        """The hash of event ``seq`` (GENESIS for 0), or None if the log holds no such event."""
        if seq == 0:
            return GENESIS
        with self.read() as c:
            digest: str | None = c.scalar(select(EVENTS.c.hash).where(EVENTS.c.seq == seq))
            return digest

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint (a concurrent one of the same size is as good)."""
        try:
            with self.write() as c:
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
        with self.read() as c:
            row = c.execute(
                select(CHECKPOINTS).order_by(CHECKPOINTS.c.size.desc()).limit(1)
            ).first()
        return Checkpoint(row.size, row.head_hash, row.issued_at, row.signed) if row else None

    def checkpoints(self) -> list[Checkpoint]:
        with self.read() as c:
            rows = c.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.size)).all()
        return [Checkpoint(r.size, r.head_hash, r.issued_at, r.signed) for r in rows]

    def iter_licences(self, *, page: int = 1000) -> Iterator[tuple[str, Licence | str]]:
        """Every stored licence as (its identifier, the value), page by page; a row that cannot
        be read (text that is not UTF-8, JSON that does not parse, a code no value holds) as
        (its identifier, or ``row <id>`` when even that is unreadable, why it cannot be read).
        For the audit: never raises on what a row holds."""
        after = 0
        while True:
            with self.read() as c:
                ids = list(
                    c.execute(
                        select(LICENCES.c.id)
                        .where(LICENCES.c.id > after)
                        .order_by(LICENCES.c.id)
                        .limit(page)
                    ).scalars()
                )
            if not ids:
                return
            try:
                with self.read() as c:
                    rows = c.execute(
                        select(LICENCES).where(LICENCES.c.id.in_(ids)).order_by(LICENCES.c.id)
                    ).all()
                found: list[tuple[str, Licence | str]] = [
                    (r.identifier, licence_of(r)) for r in rows
                ]
            except Exception:
                found = [self._licence_or_why(i) for i in ids]
            yield from found
            after = ids[-1]

    def _licence_or_why(self, row_id: int) -> tuple[str, Licence | str]:
        try:
            with self.read() as c:
                row = c.execute(select(LICENCES).where(LICENCES.c.id == row_id)).one()
                return row.identifier, licence_of(row)
        except Exception as e:
            why = _kind(e)
        try:
            with self.read() as c:
                name = c.execute(
                    select(LICENCES.c.identifier).where(LICENCES.c.id == row_id)
                ).scalar_one()
            if isinstance(name, str) and name.isascii() and name.isprintable():
                return name, why
        except Exception:  # noqa: S110 (named by its row id instead)
            pass
        return f"row {row_id}", why

    def status_entries(self, department: str) -> tuple[int, list[tuple[int, str]]]:
        """(indices handed out, [(status index, status)] of every licence not ``valid``)."""
        with self.snapshot() as c:  # two statements: one snapshot
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

    def list_sequences(self, digests: dict[str, str], *, now: dt.datetime) -> dict[str, int]:
        """The sequence number of each named list for content with the given digest: the one it
        has when the content is the one last numbered, else the next and at least ``now`` in
        Unix seconds (committed before any list is signed with it, so a restart, another worker
        or a restored backup never numbers lower than what was published). Only a change of
        content writes; the custody operations number the new trust list at once, so that a
        worker verifying inside a write transaction (the hall's approval) finds it numbered."""
        with self.read() as c:  # usually the content is the one numbered: no write at all
            held = {
                r.name: (r.sequence, r.digest)
                for r in c.execute(
                    select(LIST_SEQUENCES).where(LIST_SEQUENCES.c.name.in_(sorted(digests)))
                )
            }
        if all(held.get(n, (0, None))[1] == d for n, d in digests.items()):
            return {n: int(held[n][0]) for n in digests}
        statement = NEXT_LIST_SEQUENCE[self.dialect]
        floor = int(now.timestamp())
        found: dict[str, int] = {}
        with self.write() as c:
            for name in sorted(digests):  # a fixed order: concurrent writers never dead-lock
                found[name] = int(
                    c.execute(
                        statement, {"name": name, "digest": digests[name], "floor": floor}
                    ).scalar_one()
                )
        return found

    def mirror(self) -> MirrorRecord | None:
        """The mirror's state, or None for a registry that is not a mirror."""
        with self.read() as c:
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
        with self.read() as c:
            return c.scalar(select(func.count()).select_from(LICENCES)) or 0

    # -- documents --------------------------------------------------------------------------

    def document(self, identifier: str, kind: str = "pdf") -> bytes | None:
        """A kept document of a licence, or None if none was made yet."""
        with self.read() as c:
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
        with self.read() as c:
            rows = c.execute(select(CATALOGUES.c.document).order_by(CATALOGUES.c.id)).all()
        return [catalogue_from_dict(r.document) for r in rows]

    def catalogue_version(self) -> int | None:
        with self.read() as c:
            version: int | None = c.scalar(select(func.max(CATALOGUES.c.id)))
            return version

    def catalogue(self) -> tuple[int, Catalogue] | None:
        """The catalogue in force and its version id, or None before any import."""
        with self.read() as c:
            row = c.execute(select(CATALOGUES).order_by(CATALOGUES.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        return row.id, catalogue_from_dict(row.document)

    # -- clients ----------------------------------------------------------------------------

    def clients(self) -> list[ClientRecord]:
        with self.read() as c:
            return [client_of(r) for r in c.execute(select(CLIENTS).order_by(CLIENTS.c.created_at))]

    def disable_client(self, client_id: str, *, now: dt.datetime) -> bool:
        with self.write() as c:
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
        case_number: str | None = None,
    ) -> None:
        """Write a usage record (用证记录); return once it is committed.

        ``case_number`` names the hall case (办件) that cited the licence, where one did.

        Durable before the answer: a verification is answered only after its record is
        committed, so a killed process loses no record of an answered use. Concurrent records
        share one transaction (:class:`~elicence.registry.groupwrite.RowGroupCommit`), which keeps
        the single SQLite writer mostly free for issuance. A failure to write raises
        :class:`RegistryError`: the use is then not answered as done.
        """
        self._usage.add(
            {
                "at": at,
                "client_id": client_id,
                "identifier": identifier,
                "channel": channel,
                "verdict": verdict,
                "authenticated": client_id is not None,
                "case_number": case_number,
            }
        )

    @property
    def usage_commit(self) -> RowGroupCommit:
        """The group commit of usage records (its observers see each group's rows)."""
        return self._usage

    def flush_usage(self) -> None:
        """Nothing to do: every usage record is committed before :meth:`record_usage` returns
        (kept for callers that flushed the old write-behind queue)."""

    def _write_usage(self, rows: list[dict[str, Any]]) -> None:
        """Write queued usage records in one transaction.

        A row the database refuses for good (an integrity error: say, a client id it does not
        know) must not hold back every record queued behind it forever: the batch is then
        written row by row and the refused rows are logged and dropped. Any other failure (the
        database is away) raises, and every caller of the group gets the error. On PostgreSQL
        the group is one round trip (:class:`~elicence.registry.pgusage.UsageWriter`).
        """
        try:
            if self._pg_usage is not None:
                self._pg_usage.write(rows)
                return
            with self.write() as c:
                c.execute(INSERT_USAGE, rows)
            return
        except (IntegrityError, RefusedRowsError):
            pass
        except SQLAlchemyError as e:
            raise RegistryError(f"could not record verifications: {e}") from e
        for row in rows:
            try:
                with self.write() as c:
                    c.execute(INSERT_USAGE, [row])
            except IntegrityError as e:
                log.error("dropped a usage record the registry refuses (%s): %r", e.orig, row)
            except SQLAlchemyError as e:
                raise RegistryError(f"could not record verifications: {e}") from e

    def usage(
        self,
        *,
        identifier: str | None = None,
        case_number: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        self.flush_usage()
        q = select(USAGE).order_by(USAGE.c.id.desc()).limit(limit)
        if identifier is not None:
            q = q.where(USAGE.c.identifier == identifier)
        if case_number is not None:
            q = q.where(USAGE.c.case_number == case_number)
        with self.read() as c:
            return [
                {
                    "at": r.at,
                    "client_id": r.client_id,
                    "identifier": r.identifier,
                    "channel": r.channel,
                    "verdict": r.verdict,
                    "case_number": r.case_number,
                }
                for r in c.execute(q)
            ]


def _kind(e: BaseException) -> str:
    """What went wrong reading a row, in words that do not echo what the row holds."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, UnicodeError):
            return "its text is not valid UTF-8"
        if isinstance(cause, json.JSONDecodeError):
            return "its JSON does not parse"
        if "decode" in str(cause).lower() and "utf" in str(cause).lower():
            return "its text is not valid UTF-8"  # SQLite: "Could not decode to UTF-8 column"
        cause = cause.__cause__ or cause.__context__
    if isinstance(e, ValueError | KeyError | TypeError):
        return "a value is not one the registry writes"
    return type(e).__name__
