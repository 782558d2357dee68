"""Registry: a group of usage records (用证记录) on PostgreSQL in one round trip.

Through SQLAlchemy a group took three round trips — ``BEGIN``, the ``INSERT``, ``COMMIT`` — each
waited for by every verification of the group (issue 20). Here the group commit's leader
(``registry/groupwrite.py``) sends one simple-protocol query on a connection of its own, in the
driver's autocommit mode, the transaction spelled out: ``BEGIN``; one ``INSERT … SELECT`` of the
group's rows bound as one JSON value; ``COMMIT``. The query returns once the commit is durable
(as ``COMMIT`` does), so a verification is still answered only after its record is committed.

Invariants: the rows are written in one transaction or not at all; a transaction that did not
commit is rolled back before the connection is used again; a connection that failed or that the
server closed is replaced at the next group; a row the database refuses (an integrity error)
raises :class:`RefusedRowsError`, and the caller writes the group row by row.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import psycopg
from sqlalchemy import Engine

from elicence.errors import RegistryError
from elicence.registry.pgcopy import close_quietly, driver_alive, own_connection, settled

COLUMNS = ("at", "client_id", "identifier", "channel", "verdict", "authenticated", "case_number")
INSERT_GROUP = (
    "BEGIN; INSERT INTO usage_records "
    "(at, client_id, identifier, channel, verdict, authenticated, case_number) "
    "SELECT at, client_id, identifier, channel, verdict, authenticated, case_number "
    "FROM json_populate_recordset(NULL::usage_records, %s); COMMIT"
)


class RefusedRowsError(Exception):
    """The database refused a row of the group (nothing of it was written)."""


class UsageWriter:
    """The usage records' own PostgreSQL connection, one group at a time."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pg: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` in one transaction, in one round trip; return once committed."""
        data = json.dumps([{c: row[c] for c in COLUMNS} for row in rows], default=_iso)
        with self._lock:
            pg = self._connection()
            try:
                psycopg.ClientCursor(pg).execute(INSERT_GROUP, (data,))
            except psycopg.IntegrityError as e:
                self._end(pg)
                raise RefusedRowsError(str(e)) from e
            except psycopg.Error as e:
                self._end(pg)
                raise RegistryError(f"could not record verifications: {e}") from e
            self._end(pg)  # a commit that failed leaves the transaction open: rolled back

    def close(self) -> None:
        with self._lock:
            pg, self._pg = self._pg, None
            close_quietly(pg)

    def _connection(self) -> psycopg.Connection[Any]:
        pg = self._pg
        if pg is not None and not pg.closed and driver_alive(pg):
            return pg
        close_quietly(pg)
        self._pg = None
        self._pg = own_connection(self._engine, failure="could not record verifications")
        return self._pg

    def _end(self, pg: psycopg.Connection[Any]) -> None:
        """Roll back what did not commit; drop a connection that cannot be trusted."""
        if not settled(pg):
            self._pg = None
            close_quietly(pg)


def _iso(value: object) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry")
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a usage record")
