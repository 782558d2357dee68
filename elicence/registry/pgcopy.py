"""PostgreSQL's fast paths for the writes of issuance: ``COPY`` of licences and events, and a
pipeline of ``INSERT`` statements for a few rows (a group commit's, see
:mod:`~elicence.registry.pggroup`).

A batch or an import chunk writes its licences and their events with one ``COPY … FROM STDIN``
each. The statement text never changes, so nothing is parsed per row count (a multi-row
``INSERT`` is new text for every row count, parsed by the driver each time), and the driver
encodes the rows in C. A group commit's few rows go instead as one-row ``INSERT`` statements in one
pipeline (:func:`insert_pipelined`): one round trip where two ``COPY`` statements take four, and the
statements are prepared once per connection. Either way the rows are the same.

Invariant: a refused row (the unique ``(department, source_ref)`` index, a reused identifier or
``seq``) raises what SQLAlchemy's ``IntegrityError`` would have become
(:func:`~elicence.registry.tables.integrity_error`), and the transaction is left for the caller
to roll back.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import select
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from elicence.domain.licence import Licence, LicenceEvent
from elicence.errors import DuplicateSourceRefError, RegistryError
from elicence.formats.eventlog import GENESIS, LogEvent
from elicence.registry.tables import LICENCES, licence_values

LICENCE_COLUMNS = tuple(c.name for c in LICENCES.columns if c.name != "id")  # id: numbered by PG
COPY_LICENCES = f"COPY licences ({', '.join(LICENCE_COLUMNS)}) FROM STDIN"
EVENT_COLUMNS = (
    "seq",
    "at",
    "kind",
    "identifier",
    "department",
    "actor",
    "detail",
    "prev_hash",
    "hash",
)
COPY_EVENTS = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"


def _insert(table: str, columns: Sequence[str]) -> str:
    """An INSERT of one row, from this module's own table and column names (never from input)."""
    names, marks = ", ".join(columns), ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608


INSERT_LICENCES = _insert("licences", LICENCE_COLUMNS)
INSERT_EVENTS = _insert("events", EVENT_COLUMNS)
# Up to this many licences go in one pipeline of INSERTs (one round trip, statements prepared
# once per connection); more go by COPY (two round trips per table, but rows encoded in C).
PIPELINE_MAX = 64


def driver(conn: Connection) -> Any:
    """The psycopg connection under ``conn`` (statements on it join ``conn``'s transaction)."""
    return conn.connection.driver_connection


def is_alive(conn: Connection) -> bool:
    """Whether an idle PostgreSQL connection is still open, without a round trip: a connection
    the server closed (a restart, a failover, an administrator) has data or EOF waiting."""
    return driver_alive(driver(conn))


def driver_alive(pg: Any) -> bool:
    """:func:`is_alive` for a psycopg connection (the pool's check at checkout)."""
    pgconn = pg.pgconn
    if pgconn.status != psycopg.pq.ConnStatus.OK:
        return False
    try:
        # poll, not select: select refuses a descriptor over 1023 (FD_SETSIZE), and a process
        # holding many files and sockets would then find every connection "dead" and exhaust
        # the pool's reconnection attempts on each checkout
        waiting = select.poll()
        waiting.register(pgconn.socket, select.POLLIN | select.POLLPRI)
        readable = waiting.poll(0)
    except (psycopg.Error, OSError, ValueError):
        return False
    # An idle connection (no LISTEN here) is sent nothing; anything waiting is the server's
    # goodbye ("terminating connection …") or the end of the stream (POLLHUP, POLLERR).
    return not readable


def own_connection(engine: Engine, *, failure: str) -> psycopg.Connection[Any]:
    """A psycopg connection of ``engine``'s URL and connect arguments, detached from its pool
    (the caller's own, for its group transactions: never handed back), in autocommit mode:
    ``BEGIN`` and ``COMMIT`` are spelled out in the caller's queries. ``failure`` begins the
    words of the :class:`RegistryError` raised when it cannot be opened."""
    try:
        raw = engine.raw_connection()
        pg = raw.driver_connection
        raw.detach()
    except SQLAlchemyError as e:
        raise RegistryError(f"{failure}: {e}") from e
    assert isinstance(pg, psycopg.Connection)
    pg.autocommit = True
    return pg


def settled(pg: psycopg.Connection[Any]) -> bool:
    """Roll back what did not commit on a connection of :func:`own_connection`; False when the
    connection cannot be trusted any more (closed, broken, or its rollback failed): the caller
    then drops it (:func:`close_quietly`) and opens another for its next group."""
    if pg.closed or pg.broken:
        return False
    if pg.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        try:
            pg.execute("ROLLBACK")
        except psycopg.Error:
            return False
    return True


def close_quietly(pg: psycopg.Connection[Any] | None) -> None:
    """Close a connection being dropped; it failing to close is no news."""
    if pg is not None:
        with suppress(psycopg.Error):
            pg.close()


def locked_head(conn: Connection, key: int) -> tuple[int, str]:
    """Take the log's advisory lock (until the transaction ends) and read its head: (seq, hash),
    (0, GENESIS) for an empty log.

    Both statements go in one pipeline (one round trip); the server runs them in order, and the
    head is read by a statement that starts after the lock is held, so it sees every append
    committed before.
    """
    pg = driver(conn)
    try:
        with pg.cursor() as lock, pg.cursor() as head:
            with pg.pipeline():
                lock.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                head.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
            row = head.fetchone()
    except psycopg.Error as e:
        raise RegistryError(f"registry failure: {e}") from e
    return (row[0], row[1] or "") if row else (0, GENESIS)


RESERVE = (
    "INSERT INTO status_counters (department, next_index) VALUES (%s, %s) "
    "ON CONFLICT (department) DO UPDATE SET next_index = status_counters.next_index + %s "
    "RETURNING next_index"
)


# json.dumps(value, ensure_ascii=False), without making an encoder at every call
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


def licence_row(licence: Licence) -> list[Any]:
    """A licence as the values of :data:`LICENCE_COLUMNS` (JSON as text)."""
    values = licence_values(licence)
    return [_JSON_TEXT(values[c]) if c == "data" else values[c] for c in LICENCE_COLUMNS]


# -- COPY's text format, written out (rows encoded where they are made, in other processes) ------

_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: Any) -> str:
    """A column value in ``COPY``'s text format: ``\\N`` for NULL, text with its backslash, tab,
    newline and carriage return escaped, dates and times in ISO 8601 (with their offset), and
    numbers as text: what the server reads back as the value the driver would have sent."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value
    if isinstance(value, dt.datetime):  # with its offset
        last = _last_time
        if last[0] is value:  # the same object as the last call's (a chunk's rows share one)
            return last[1]
        text = value.isoformat()
        _remember_time(value, text)
        return text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a COPY text value")


# the last (time, text) of copy_text(): the time object is held, so its identity is not reused
_last_time: tuple[object, str] = (None, "")


def _remember_time(value: dt.datetime, text: str) -> None:
    global _last_time  # noqa: PLW0603 - one tuple, swapped whole (threads read either)
    _last_time = (value, text)


def copy_text_line(values: list[Any]) -> str:
    """Values as one row of ``COPY``'s text format (tab-separated :func:`copy_text`, without
    the newline).

    Most rows need no escape: they are joined as they are, and escaped value by value only when
    the line shows a character to escape (more tabs than separators, a backslash that is not
    one of the NULLs' ``\\N``, a newline or a carriage return)."""
    texts = ["\\N" if v is None else v if type(v) is str else copy_text(v) for v in values]
    line = "\t".join(texts)
    if (
        line.count("\t") != len(values) - 1
        or line.count("\\") != values.count(None)
        or "\n" in line
        or "\r" in line
    ):
        line = "\t".join([copy_text(v) for v in values])
    return line


def licence_copy_line(licence: Licence) -> bytes:
    """A licence as one line of ``COPY licences (LICENCE_COLUMNS)`` in the text format: the
    row :func:`copy_licences` writes."""
    return (copy_text_line(licence_row(licence)) + "\n").encode()


def event_copy_middle(event: LicenceEvent) -> bytes:
    """The columns of a new event's row between its ``seq`` and its ``prev_hash`` (``at`` to
    ``detail``) in ``COPY``'s text format: the event's place is added when it is chained
    (:func:`event_copy_line`)."""
    detail = _JSON_TEXT(dict(event.detail))
    values = [event.at, event.kind, event.identifier, event.department, event.actor, detail]
    return copy_text_line(values).encode()


def event_copy_line(seq: int, middle: bytes, prev_hash: str, hash_: str) -> bytes:
    """A chained event as one line of ``COPY events (EVENT_COLUMNS)``: the row
    :func:`copy_events` writes for it."""
    return b"%d\t%s\t%s\t%s\n" % (seq, middle, prev_hash.encode(), hash_.encode())


def copy_lines(conn: Connection, lines: Sequence[bytes], *, table: str, into: str) -> None:
    """``COPY`` rows given as lines of the text format (from :func:`licence_copy_line` or
    :func:`event_copy_line`) into ``table``'s columns of ``into`` (the table itself or a
    scratch table of the same columns): one write of the whole data."""
    columns = {"licences": LICENCE_COLUMNS, "events": EVENT_COLUMNS}[table]
    statement = f"COPY {into} ({', '.join(columns)}) FROM STDIN"
    with _refusals(table), driver(conn).cursor() as cur, cur.copy(statement) as copy:
        copy.write(b"".join(lines))


def copy_licences(conn: Connection, licences: Sequence[Licence], *, into: str = "licences") -> None:
    """``COPY`` licences into ``licences`` (or a scratch table of the same columns)."""
    statement = COPY_LICENCES if into == "licences" else COPY_LICENCES.replace("licences", into, 1)
    with _refusals("licences"), driver(conn).cursor() as cur, cur.copy(statement) as copy:
        for lic in licences:
            copy.write_row(licence_row(lic))


def event_row(e: LogEvent) -> tuple[Any, ...]:
    """A chained event as the values of :data:`EVENT_COLUMNS` (JSON as text)."""
    detail = json.dumps(dict(e.detail), ensure_ascii=False)
    return (e.seq, e.at, e.kind, e.identifier, e.department, e.actor, detail, e.prev_hash, e.hash)


def insert_pipelined(
    conn: Connection, licences: Sequence[Licence], events: Sequence[LogEvent]
) -> None:
    """Insert a few licences and their chained events in one pipeline (one round trip): what a
    group commit writes. The rows are exactly what :func:`copy_licences` and
    :func:`copy_events` would write."""
    pg = driver(conn)
    with _refusals("licences"), pg.cursor() as cur, pg.pipeline():
        if licences:
            cur.executemany(INSERT_LICENCES, [licence_row(lic) for lic in licences])
        if events:
            cur.executemany(INSERT_EVENTS, [event_row(e) for e in events])


def copy_events(conn: Connection, events: Sequence[LogEvent]) -> None:
    """``COPY`` chained events into ``events``, exactly as given."""
    with _refusals("events"), driver(conn).cursor() as cur, cur.copy(COPY_EVENTS) as copy:
        for e in events:
            copy.write_row(event_row(e))


@contextmanager
def _refusals(what: str) -> Iterator[None]:
    """The driver's refusals of a write of ``what`` as the registry's errors."""
    try:
        yield
    except psycopg.errors.UniqueViolation as e:
        raise refused_error(e) from e
    except psycopg.Error as e:
        raise RegistryError(f"the registry refused the {what}: {e}") from e


def refused_error(e: psycopg.errors.UniqueViolation) -> RegistryError:
    """What a refused row means: a taken ``source_ref``, or another refusal of the registry."""
    if "source_ref" in str(e):
        return DuplicateSourceRefError(
            "another licence of this department carries this source_ref", field="source_ref"
        )
    return RegistryError(f"the registry refused the change: {e}")
