"""Registry: the registry side of stock conversion (存量转换): import runs and the chunks they
store.

A run is keyed by the digest of its file and options. Each chunk of rows is stored in one
transaction together with the run's progress (rows done, the error report's length), so a run
killed at any moment resumes from its last committed chunk and neither loses nor repeats a row.

Invariants: licences are inserted with ``ON CONFLICT (department, source_ref) DO NOTHING`` (a row
stored before, by this run or any other path, is never stored twice); their ``issued`` events
are chained in the same transaction (a licence never exists without its event); the run's row is
advanced only from the position the caller read, so two runs of one file cannot interleave.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select, tuple_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from elicence.domain.licence import Licence, LicenceEvent
from elicence.errors import RegistryError, StockImportError
from elicence.formats.eventlog import licence_event_prefix, place
from elicence.registry.engine import Database, unstorable
from elicence.registry.models import ImportRun
from elicence.registry.pgcopy import (
    LICENCE_COLUMNS,
    copy_lines,
    driver,
    event_copy_line,
    event_copy_middle,
    licence_copy_line,
)
from elicence.registry.tables import (
    INSERT_EVENT,
    LICENCES,
    integrity_error,
    licence_of,
    licence_values,
)
from elicence.registry.uow import UnitOfWork

RUNS = cast(Table, ImportRun.__table__)
_PG_SCRATCH = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS elicence_import_licences ("
    "identifier varchar(100), serial varchar(32), type_code varchar(21), department varchar(18), "
    "licence_number varchar(64), holder_name varchar(200), holder_id_type varchar(3), "
    "holder_id varchar(64), valid_from date, valid_until date, data json, status varchar(16), "
    "version integer, issued_at timestamptz, seal text, kid varchar(16), "
    "source_ref varchar(128), request_hash varchar(64), superseded_by varchar(100), "
    "status_index integer)"
)
_PG_INSERT_NEW = (
    f"INSERT INTO licences ({', '.join(LICENCE_COLUMNS)}) "  # noqa: S608 - constant text
    f"SELECT {', '.join(LICENCE_COLUMNS)} FROM elicence_import_licences "
    "ON CONFLICT (department, source_ref) DO NOTHING RETURNING identifier"
)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Where an import run stands."""

    key: str
    source: str
    department: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rows_done: int
    report_bytes: int
    created: int
    existing: int
    failed: int


def _run_of(row: Any) -> RunRecord:
    return RunRecord(
        row.key,
        row.source,
        row.department,
        row.started_at,
        row.finished_at,
        row.rows_done,
        row.report_bytes,
        row.created,
        row.existing,
        row.failed,
    )


# A sealed licence and its ``issued`` event, encoded for the database by :class:`StockRows`:
# (identifier, department, source_ref, request_hash, the licence's row, the event's canonical
# JSON up to its seq (formats.eventlog.licence_event_prefix), the event's row but its place)
EncodedLicence = tuple[str, str, str, str, Any, bytes, Any]


@dataclass(frozen=True, slots=True)
class StockRows:
    """How a stock conversion's worker processes encode each sealed licence and its ``issued``
    event for the registry's database (:meth:`StockRegistry.rows`), so that the process storing
    them only chains the events and sends the rows: on PostgreSQL lines of ``COPY``'s text
    format (:mod:`~elicence.registry.pgcopy`), on SQLite the values of the ``INSERT``.
    Picklable: handed to the worker processes."""

    postgres: bool

    def encode(self, licence: Licence, event: LicenceEvent) -> EncodedLicence:
        if self.postgres:
            try:
                row: Any = licence_copy_line(licence)
                event_row: Any = event_copy_middle(event)
            except UnicodeEncodeError as e:  # what the driver would have refused at COPY
                raise unstorable() from e
        else:
            row = licence_values(licence)
            event_row = {
                "at": event.at,
                "kind": event.kind,
                "identifier": event.identifier,
                "department": event.department,
                "actor": event.actor,
                "detail": dict(event.detail),
            }
        return (
            licence.identifier,
            licence.department_uscc,
            licence.source_ref or "",
            licence.request_hash or "",
            row,
            licence_event_prefix(event),
            event_row,
        )


class StockUnitOfWork(UnitOfWork):
    """The unit of work of one chunk: new licences, their events, and the run's progress."""

    def insert_new_licences(self, licences: Sequence[EncodedLicence]) -> set[str]:
        """Insert the licences whose (department, source_ref) is free; their identifiers.

        PostgreSQL: ``COPY`` into a scratch table, then one ``INSERT … SELECT … ON CONFLICT DO
        NOTHING``; SQLite: one multi-row ``INSERT … ON CONFLICT DO NOTHING``.
        """
        if not licences:
            return set()
        if self._conn.dialect.name == "postgresql":
            return self._copy_new_licences(licences)
        stmt = (
            sqlite.insert(LICENCES)
            .on_conflict_do_nothing(index_elements=[LICENCES.c.department, LICENCES.c.source_ref])
            .returning(LICENCES.c.identifier)
        )
        rows = self._conn.execute(stmt, [lic[4] for lic in licences])
        return {r[0] for r in rows}

    def _copy_new_licences(self, licences: Sequence[EncodedLicence]) -> set[str]:
        with driver(self._conn).cursor() as cur:
            cur.execute(_PG_SCRATCH)
        copy_lines(
            self._conn,
            [lic[4] for lic in licences],
            table="licences",
            into="elicence_import_licences",
        )
        with driver(self._conn).cursor() as cur:
            cur.execute(_PG_INSERT_NEW)
            inserted = {r[0] for r in cur.fetchall()}
            cur.execute("TRUNCATE elicence_import_licences")
        return inserted

    def append_issued(self, licences: Sequence[EncodedLicence]) -> None:
        """Chain the ``issued`` events of these licences after the log's head (taking the
        log's lock) and insert them: the events :meth:`UnitOfWork.append_events` would
        append for them, hashes included."""
        if not licences:
            return
        seq, head = self._head if self._head is not None else self._lock_and_read_head()
        places = place([lic[5] for lic in licences], head_seq=seq, head_hash=head)
        if self._conn.dialect.name == "postgresql":
            lines = [
                event_copy_line(seq, lic[6], prev, h)
                for lic, (seq, prev, h) in zip(licences, places, strict=True)
            ]
            copy_lines(self._conn, lines, table="events", into="events")
        else:
            rows = [
                {**lic[6], "seq": seq, "prev_hash": prev, "hash": h}
                for lic, (seq, prev, h) in zip(licences, places, strict=True)
            ]
            try:
                self._conn.execute(INSERT_EVENT, rows).all()
            except IntegrityError as e:
                raise integrity_error(e) from e
        self._head = (places[-1][0], places[-1][2])

    def stored_under(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Licence]:
        """The licences stored under these (department, source_ref) pairs."""
        found: dict[tuple[str, str], Licence] = {}
        for i in range(0, len(keys), 500):
            rows = self._conn.execute(
                select(LICENCES).where(
                    tuple_(LICENCES.c.department, LICENCES.c.source_ref).in_(keys[i : i + 500])
                )
            )
            for row in rows:
                found[(row.department, row.source_ref)] = licence_of(row)
        return found

    def advance(
        self,
        run: RunRecord,
        *,
        rows_done: int,
        report_bytes: int,
        created: int,
        existing: int,
        failed: int,
        now: dt.datetime,
        finished: bool = False,
    ) -> RunRecord:
        """Move the run on from where ``run`` says it stood (refused if another run moved it)."""
        values = {
            "rows_done": rows_done,
            "report_bytes": report_bytes,
            "created": run.created + created,
            "existing": run.existing + existing,
            "failed": run.failed + failed,
            "updated_at": now,
            "finished_at": now if finished else None,
        }
        done = self._conn.execute(
            update(RUNS)
            .where(RUNS.c.key == run.key, RUNS.c.rows_done == run.rows_done)
            .values(**values)
        )
        if done.rowcount != 1:
            raise StockImportError(
                f"another import of {run.source} moved on meanwhile: stop it, then run this again"
            )
        return RunRecord(
            run.key,
            run.source,
            run.department,
            run.started_at,
            now if finished else None,
            rows_done,
            report_bytes,
            run.created + created,
            run.existing + existing,
            run.failed + failed,
        )


class StockRegistry:
    """Import runs and the chunks they store, on the registry's database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def rows(self) -> StockRows:
        """How the worker processes encode sealed licences for this database."""
        return StockRows(postgres=self._db.dialect == "postgresql")

    def run(self, key: str) -> RunRecord | None:
        try:
            with self._db.read() as c:
                row = c.execute(select(RUNS).where(RUNS.c.key == key)).first()
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e
        return _run_of(row) if row else None

    def start(
        self, *, key: str, source: str, department: str | None, now: dt.datetime
    ) -> RunRecord:
        """The run of ``key``: the one recorded, or a new one at row 0."""
        existing = self.run(key)
        if existing is not None:
            return existing
        with self.unit_of_work() as uow:
            uow.insert(
                RUNS,
                [
                    {
                        "key": key,
                        "source": source[-500:],
                        "department": department,
                        "started_at": now,
                        "updated_at": now,
                        "finished_at": None,
                        "rows_done": 0,
                        "report_bytes": 0,
                        "created": 0,
                        "existing": 0,
                        "failed": 0,
                    }
                ],
            )
            uow.commit()
        made = self.run(key)
        assert made is not None
        return made

    def reserve_status_indices(self, counts: dict[str, int]) -> dict[str, int]:
        """Take status indices for rows about to be sealed (department → first index), in a
        transaction of their own: committed before the rows are, so an interrupted run leaves
        unused indices (bits that stay clear), never an index used twice."""
        with self.unit_of_work() as uow:
            first = {
                d: uow.reserve_status_indices(d, counts[d]) for d in sorted(counts) if counts[d]
            }
            uow.commit()
        return first

    @contextmanager
    def unit_of_work(self) -> Iterator[StockUnitOfWork]:
        """A write transaction for one chunk; what is not committed is rolled back."""
        try:
            with self._db.writing() as conn:
                yield StockUnitOfWork(conn)
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e


__all__ = ["EncodedLicence", "RunRecord", "StockRegistry", "StockRows", "StockUnitOfWork"]
