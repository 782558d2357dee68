r"""PostgreSQL's group-commit writer: a group of single issuances in two round trips.

The group committer's leader (docs/adr/0008-group-commit.md) writes one group at a time on a
connection of its own. Through SQLAlchemy a group cost three round trips (``BEGIN`` with the
reservations, the log's lock and head; the inserts; ``COMMIT``) and SQLAlchemy's own work per
statement. Here the leader's psycopg connection is in the driver's autocommit mode and the
transaction is spelled out:

1. one simple-protocol query of several statements, its few values bound by the driver
   (``ClientCursor``): ``BEGIN``; reserve each department's status indices (department order,
   as every writer takes them); take the log's advisory lock; read the log's head. Under READ
   COMMITTED each statement takes its own snapshot, so the head is read after the lock is held
   and sees every append committed before;
2. one query: the licences, then their chained events, each table's rows bound as one JSON value
   (``json_populate_recordset``: encoded in C, where binding ~27 values a row in the driver's
   Python cost as much as the database's work), then ``COMMIT``.

Invariants: the same rows as the other write paths, in one transaction or not at all; a refused
row raises what they raise (:class:`~elicence.errors.DuplicateSourceRefError` for a taken
``source_ref``); a transaction that did not commit is rolled back before the connection is used
again, and a connection that failed or that the server closed is replaced at the next group.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from elicence.domain.licence import Licence, LicenceEvent
from elicence.errors import RegistryError
from elicence.formats.eventlog import GENESIS, chain
from elicence.registry.pgcopy import (
    EVENT_COLUMNS,
    LICENCE_COLUMNS,
    RESERVE,
    driver_alive,
    refused_error,
)
from elicence.registry.tables import licence_values

HEAD = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
LOCK = "SELECT pg_advisory_xact_lock(%s)"


class GroupWriter:
    """The leader's PostgreSQL connection and the group transactions written on it."""

    def __init__(self, engine: Engine, *, lock_key: int) -> None:
        self._engine = engine
        self._key = lock_key
        self._pg: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()  # one group at a time (the committer has one leader)

    def _connection(self) -> psycopg.Connection[Any]:
        pg = self._pg
        if pg is not None and not pg.closed and driver_alive(pg):
            return pg
        self.close()
        try:
            raw = self._engine.raw_connection()  # the engine's URL and connect arguments
            pg = raw.driver_connection
            raw.detach()  # ours now: never handed back to the pool
        except SQLAlchemyError as e:
            raise RegistryError(f"registry failure: {e}") from e
        assert isinstance(pg, psycopg.Connection)
        pg.autocommit = True  # BEGIN and COMMIT are spelled out in the group's queries
        self._pg = pg
        return pg

    def close(self) -> None:
        pg, self._pg = self._pg, None
        if pg is not None:
            with suppress(psycopg.Error):
                pg.close()

    @contextmanager
    def group(self) -> Iterator[GroupTransaction]:
        """One group's transaction; rolled back unless it committed."""
        with self._lock:
            pg = self._connection()
            tx = GroupTransaction(psycopg.ClientCursor(pg), self._key)
            try:
                yield tx
            except BaseException:
                self._end(pg)
                raise
            self._end(pg)

    def _end(self, pg: psycopg.Connection[Any]) -> None:
        """Roll back what did not commit; drop a connection that cannot be trusted."""
        if pg.closed or pg.broken:
            self.close()
            return
        if pg.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            try:
                pg.execute("ROLLBACK")
            except psycopg.Error:
                self.close()


class GroupTransaction:
    """The writes of one group (see the module's docstring): reserve and lock, then insert and
    commit. Implements what :class:`~elicence.issuer.service.IssuanceService` asks of a group's
    unit of work."""

    def __init__(self, cur: psycopg.ClientCursor[Any], lock_key: int) -> None:
        self._cur = cur
        self._key = lock_key
        self._head: tuple[int, str] | None = None
        self._licences: list[Licence] = []
        self._events: list[LicenceEvent] = []

    def reserve_and_lock_log(self, counts: Mapping[str, int]) -> dict[str, int]:
        """``BEGIN``, reserve ``counts[d]`` status indices of each department ``d``, take the
        log's lock and read its head: one round trip. The first index of each department."""
        departments = sorted(d for d, n in counts.items() if n > 0)
        query = "; ".join(["BEGIN", *([RESERVE] * len(departments)), LOCK, HEAD])
        params: list[Any] = []
        for d in departments:
            params += (d, counts[d], counts[d])
        params.append(self._key)
        cur = self._cur
        try:
            cur.execute(query, params)
            first = {}
            for d in departments:
                cur.nextset()
                first[d] = int(cur.fetchone()[0]) - counts[d]  # type: ignore[index]
            cur.nextset()  # the lock
            cur.nextset()
            row = cur.fetchone()
        except psycopg.Error as e:
            raise RegistryError(f"registry failure: {e}") from e
        self._head = (row[0], row[1] or "") if row else (0, GENESIS)
        return first

    def add_licences(self, licences: Sequence[Licence], events: Sequence[LicenceEvent]) -> None:
        """Queue licences and their events; they are written by :meth:`commit`."""
        self._licences += licences
        self._events += events

    def commit(self) -> None:
        """Insert the licences and their events chained after the head, and ``COMMIT``: one
        round trip (one query; each table's rows as one JSON value)."""
        if self._head is None:
            raise RegistryError("a group writes only after reserve_and_lock_log")
        chained = chain(self._events, head_seq=self._head[0], head_hash=self._head[1])
        licences = _json([licence_values(lic) for lic in self._licences])
        events = _json([{c: getattr(e, c) for c in EVENT_COLUMNS} for e in chained])
        try:
            self._cur.execute(f"{INSERT_GROUP}; COMMIT", (licences, events))
        except psycopg.errors.UniqueViolation as e:
            raise refused_error(e) from e
        except psycopg.Error as e:
            raise RegistryError(f"the registry refused the licences: {e}") from e
        self._licences, self._events = [], []
        if chained:
            self._head = (chained[-1].seq, chained[-1].hash)


def _insert_json(table: str, columns: Sequence[str]) -> str:
    """An INSERT of the rows of one JSON array of objects (one value), from this module's own
    table and column names (never from input)."""
    names = ", ".join(columns)
    return (
        f"INSERT INTO {table} ({names}) "  # noqa: S608
        f"SELECT {names} FROM json_populate_recordset(NULL::{table}, %s)"
    )


# One statement for a group's licences and events (a data-modifying CTE: both or neither). Sent
# with the COMMIT as one simple-protocol query, not prepared: a named statement prepared inside a
# pipeline that failed (a refused source_ref) was left unknown to the server, then reused.
INSERT_GROUP = (
    f"WITH licences_in AS ({_insert_json('licences', LICENCE_COLUMNS)}) "
    f"{_insert_json('events', EVENT_COLUMNS)}"
)


def _iso(value: object) -> str:
    if isinstance(value, dt.date):  # dates and times (with their offset, to the microsecond)
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


def _json(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON text: encoded in C by the standard library, then quoted by the driver
    as one value (where ~27 values a row, each dumped and quoted in Python, cost as much as the
    database's work)."""
    return json.dumps(rows, ensure_ascii=False, default=_iso)
