r"""PostgreSQL's group-commit writer: a group of single issuances in one round trip.

The group committer's leader (docs/adr/0008-group-commit.md) writes one group at a time on a
connection of its own, in the driver's autocommit mode, the transaction spelled out:

1. status indices come from this process's blocks (:class:`IndexBlocks`): a round trip only
   once in :data:`BLOCK` licences of a department, and no lock held while the group is sealed;
2. one simple-protocol query: ``BEGIN``; take the log's advisory lock; one prepared statement
   (``PREPARE``\ d once per connection: planned once, not at every group) that inserts the
   licences and their events, each table's rows bound as one JSON value, the events *chained by
   the database* after the log's head (event i's hash is SHA-256 of its predecessor's hash, its
   canonical JSON up to its seq, :func:`~elicence.formats.eventlog.event_body_prefix`, then
   ``<seq>}``: exactly :func:`~elicence.formats.eventlog.event_hash`); ``COMMIT``.

The log's lock is thus held only while the database appends and commits, never while Python
seals or waits for its turn: processes (API workers) appending at once wait for each other's
commits only. Under READ COMMITTED each statement takes its own snapshot, so the head is read
after the lock is held and sees every append committed before.

Invariants: the same rows as the other write paths, in one transaction or not at all; a refused
row raises what they raise (:class:`~elicence.errors.DuplicateSourceRefError` for a taken
``source_ref``); a transaction that did not commit is rolled back before the connection is used
again, and a connection that failed or that the server closed is replaced at the next group;
status indices are unique per department; those of a group the database refused are handed out
again, those a process holds when it stops stay clear bits (as the stock conversion's).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine

from elicence.domain.licence import Licence, LicenceEvent
from elicence.errors import RegistryError
from elicence.formats.eventlog import GENESIS, licence_event_prefix
from elicence.registry.pgcopy import (
    EVENT_COLUMNS,
    LICENCE_COLUMNS,
    RESERVE,
    close_quietly,
    driver_alive,
    own_connection,
    refused_error,
    settled,
)
from elicence.registry.tables import licence_values

BLOCK = 64  # status indices a process reserves at a time, per department


class GroupWriter:
    """The leader's PostgreSQL connection, its blocks of status indices, and the group
    transactions written on it."""

    def __init__(self, engine: Engine, *, lock_key: int, block: int = BLOCK) -> None:
        self._engine = engine
        self._key = lock_key
        self._pg: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()  # one group at a time (the committer has one leader)
        self.blocks = IndexBlocks(block)
        # False once a group found the prepared statement missing: a pooler in transaction mode
        # (pgbouncer) runs each transaction on any of its server connections; the statement is
        # then sent whole with each group (planned each time, slower, correct).
        self.prepared = True

    def _connection(self) -> psycopg.Connection[Any]:
        pg = self._pg
        if pg is not None and not pg.closed and driver_alive(pg):
            return pg
        self.close()
        pg = own_connection(self._engine, failure="registry failure")
        try:
            pg.execute(PREPARE_GROUP)  # the session's, outside any transaction
        except psycopg.errors.DuplicatePreparedStatement:
            pass  # a pooler's server connection that has it already
        except psycopg.Error as e:
            close_quietly(pg)
            raise RegistryError(f"registry failure: {e}") from e
        self._pg = pg
        return pg

    def close(self) -> None:
        pg, self._pg = self._pg, None
        close_quietly(pg)

    @contextmanager
    def group(self) -> Iterator[GroupTransaction]:
        """One group's transaction; rolled back unless it committed."""
        with self._lock:
            pg = self._connection()
            tx = GroupTransaction(psycopg.ClientCursor(pg), self._key, self)
            try:
                yield tx
            except BaseException:
                # Indices go back only if the group surely did not commit: not when the
                # connection broke while it committed (the outcome is unknown).
                if not (tx.committing and (pg.closed or pg.broken)):
                    self.blocks.give_back(tx.taken)
                self._end(pg)
                raise
            self._end(pg)

    def _end(self, pg: psycopg.Connection[Any]) -> None:
        """Roll back what did not commit; drop a connection that cannot be trusted."""
        if not settled(pg):
            self.close()


class IndexBlocks:
    """Status indices reserved ahead, a block per department, handed out in order.

    A block is reserved in a transaction of its own (committed before any of its indices is
    used, so a crash of the database cannot hand them out twice); it continues the block before
    when no other process reserved in between, else the rest of that block stays unused. A
    group that surely did not commit gives its indices back, and the next group takes them (the
    leader writes one group at a time, so they are the last ones taken); indices left in a block
    when the process stops stay unused, clear bits of the status lists."""

    def __init__(self, size: int = BLOCK) -> None:
        self._size = max(1, size)
        self._blocks: dict[str, tuple[int, int]] = {}  # department -> (next index, block end)
        self._lock = threading.Lock()

    def take(self, cur: psycopg.ClientCursor[Any], counts: Mapping[str, int]) -> dict[str, int]:
        """The first of ``counts[d]`` consecutive indices of each department ``d``."""
        wanted = {d: n for d, n in counts.items() if n > 0}
        with self._lock:
            short = {}
            for d, n in wanted.items():
                nxt, end = self._blocks.get(d, (0, 0))
                if end - nxt < n:
                    short[d] = max(n, self._size)
            for d, start in _reserve(cur, short).items():
                nxt, end = self._blocks.get(d, (0, 0))
                if start != end:  # another process reserved since: the rest stays unused
                    nxt = start
                self._blocks[d] = (nxt, start + short[d])
            first = {}
            for d, n in wanted.items():
                nxt, end = self._blocks[d]
                first[d] = nxt
                self._blocks[d] = (nxt + n, end)
            return first

    def give_back(self, taken: Mapping[str, tuple[int, int]]) -> None:
        """Hand out again the ``(first, count)`` indices of each department, if they are still
        the last ones taken."""
        with self._lock:
            for d, (first, n) in taken.items():
                nxt, end = self._blocks.get(d, (0, 0))
                if nxt == first + n:
                    self._blocks[d] = (first, end)


def _reserve(cur: psycopg.ClientCursor[Any], counts: Mapping[str, int]) -> dict[str, int]:
    """Reserve ``counts[d]`` indices of each department (in department order, as every writer
    takes them) in one committed transaction: the first of each."""
    if not counts:
        return {}
    departments = sorted(counts)
    params: list[Any] = []
    for d in departments:
        params += (d, counts[d], counts[d])
    try:
        cur.execute("; ".join(["BEGIN", *([RESERVE] * len(departments)), "COMMIT"]), params)
        first = {}
        for d in departments:
            cur.nextset()
            first[d] = int(cur.fetchone()[0]) - counts[d]  # type: ignore[index]
    except psycopg.Error as e:
        raise RegistryError(f"registry failure: {e}") from e
    return first


class GroupTransaction:
    """The writes of one group (see the module's docstring): take status indices, then insert
    and commit. Implements what :class:`~elicence.issuer.service.IssuanceService` asks of a
    group's unit of work."""

    def __init__(self, cur: psycopg.ClientCursor[Any], lock_key: int, writer: GroupWriter) -> None:
        self._cur = cur
        self._key = lock_key
        self._writer = writer
        self._blocks = writer.blocks
        self.taken: dict[str, tuple[int, int]] = {}  # department -> (first index, count)
        self.committing = False  # the commit was sent
        self._licences: list[Licence] = []
        self._events: list[LicenceEvent] = []

    def reserve_indices(self, counts: Mapping[str, int]) -> dict[str, int]:
        """The first of ``counts[d]`` status indices of each department ``d``, from this
        process's blocks. (The log's lock is taken by :meth:`commit`.)"""
        first = self._blocks.take(self._cur, counts)
        self.taken.update({d: (i, counts[d]) for d, i in first.items()})
        return first

    def add_licences(self, licences: Sequence[Licence], events: Sequence[LicenceEvent]) -> None:
        """Queue licences and their events; they are written by :meth:`commit`."""
        self._licences += licences
        self._events += events

    def commit(self) -> None:
        """``BEGIN``, take the log's lock, insert the licences and their events chained after
        the log's head by the database, ``COMMIT``: one round trip."""
        if self._licences and not self.taken:
            raise RegistryError("a group writes licences only after reserve_indices")
        licences = _json([licence_values(lic) for lic in self._licences])
        events = _json([_unplaced(e) for e in self._events])
        self.committing = True
        params = (self._key, licences, events)
        try:
            if self._writer.prepared:
                try:
                    self._cur.execute(GROUP_TRANSACTION, params)
                except psycopg.errors.InvalidSqlStatementName:  # nothing written: send it whole
                    self._writer.prepared = False
                    self._cur.execute("ROLLBACK")
                    self._cur.execute(GROUP_TRANSACTION_WHOLE, params)
            else:
                self._cur.execute(GROUP_TRANSACTION_WHOLE, params)
        except psycopg.errors.UniqueViolation as e:
            raise refused_error(e) from e
        except psycopg.Error as e:
            raise RegistryError(f"the registry refused the licences: {e}") from e
        self._licences, self._events = [], []


def _unplaced(e: LicenceEvent) -> dict[str, Any]:
    """An event's columns but its place (seq, prev_hash, hash), and ``p``: the hex of its
    canonical JSON up to its seq, from which the database computes its hash."""
    detail = dict(e.detail)
    prefix = licence_event_prefix(e)
    return {
        "at": e.at,
        "kind": e.kind,
        "identifier": e.identifier,
        "department": e.department,
        "actor": e.actor,
        "detail": detail,
        "p": prefix.hex(),
    }


def _insert_json(table: str, columns: Sequence[str], param: str) -> str:
    """An INSERT of the rows of one JSON array of objects (the parameter ``param``), from this
    module's own table and column names (never from input)."""
    names = ", ".join(columns)
    return (
        f"INSERT INTO {table} ({names}) "  # noqa: S608
        f"SELECT {names} FROM json_populate_recordset(NULL::{table}, {param})"
    )


# A group's licences ($1) and events ($2) in one statement (a data-modifying CTE: both or
# neither), the events chained after the log's head: event i's hash is SHA-256 of the previous
# hash, its prefix (its canonical JSON up to the seq, which sorts last) and "<seq>}", exactly
# formats.eventlog.event_hash. Prepared once per connection, as SQL's PREPARE, so that the group's
# one query keeps the simple protocol (BEGIN, the lock and COMMIT around it); a statement the
# driver prepared inside a pipeline that failed (a refused source_ref) was left unknown to the
# server, then reused.
GROUP_STATEMENT = f"""
WITH RECURSIVE
  licences_in AS ({_insert_json("licences", LICENCE_COLUMNS, "$1")}),
  head AS (
    SELECT seq, hash FROM (
      (SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1)
      UNION ALL SELECT 0, '{GENESIS}'
    ) h ORDER BY seq DESC LIMIT 1
  ),
  new AS (SELECT j, i FROM json_array_elements($2) WITH ORDINALITY AS t(j, i)),
  placed(i, seq, hash) AS (
    SELECT 0::bigint, seq, hash FROM head
    UNION ALL
    SELECT placed.i + 1, placed.seq + 1, encode(sha256(
        decode(placed.hash, 'hex') || decode(new.j->>'p', 'hex')
        || convert_to((placed.seq + 1)::text || '}}', 'UTF8')), 'hex')
    FROM placed JOIN new ON new.i = placed.i + 1
  )
INSERT INTO events ({", ".join(EVENT_COLUMNS)})
SELECT e.seq, r.at, r.kind, r.identifier, r.department, r.actor, r.detail, p.hash, e.hash
FROM placed e
JOIN placed p ON p.i = e.i - 1
JOIN new ON new.i = e.i
CROSS JOIN LATERAL json_populate_record(NULL::events, new.j) r
"""  # noqa: S608 - this module's own table and column names, never input

# A group's one query. The head is read by the statement after the lock's (READ COMMITTED: each
# statement its own snapshot), so it sees every append committed before.
GROUP_TRANSACTION = (
    "BEGIN; SELECT pg_advisory_xact_lock(%s); EXECUTE elicence_group(%s, %s); COMMIT"
)
PREPARE_GROUP = f"PREPARE elicence_group(json, json) AS {GROUP_STATEMENT}"
GROUP_TRANSACTION_WHOLE = (
    "BEGIN; SELECT pg_advisory_xact_lock(%s); "
    + GROUP_STATEMENT.replace("$1", "%s::json").replace("$2", "%s::json")
    + "; COMMIT"
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
