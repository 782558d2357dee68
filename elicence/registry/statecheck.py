"""The audit's comparison of licence states, in bounded memory: the state the log replays to is
written, page by page, to a temporary table, and the database joins it with ``licences``.

An audit of millions of licences must not hold one entry per licence in the process: the caller
keeps at most one page of replayed states, :meth:`StateCheck.record` folds it into the temporary
table (an upsert: the status of the latest event, the last ``superseded_by`` named), and
:meth:`StateCheck.mismatches` streams only the rows where the registry and the log disagree.

Invariants: the temporary table lives on the one connection of a :class:`StateCheck` and is
dropped when it closes; nothing here writes to the registry's own tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from elicence.errors import RegistryError
from elicence.registry.engine import Database

_CREATE = text(
    "CREATE TEMPORARY TABLE elicence_audit_state ("
    "identifier VARCHAR(100) PRIMARY KEY, status VARCHAR(16) NOT NULL, superseded_by VARCHAR(100))"
)
_UPSERT = text(
    "INSERT INTO elicence_audit_state (identifier, status, superseded_by) "
    "VALUES (:identifier, :status, :superseded_by) "
    "ON CONFLICT (identifier) DO UPDATE SET status = excluded.status, "
    "superseded_by = COALESCE(excluded.superseded_by, elicence_audit_state.superseded_by)"
)
# Licences whose stored state differs from the replayed one (or that the log never named), then
# replayed identifiers the registry does not hold.
_MISMATCHES = text(
    "SELECT l.identifier, l.status, l.superseded_by, s.status, s.superseded_by "
    "FROM licences l LEFT JOIN elicence_audit_state s ON s.identifier = l.identifier "
    "WHERE s.identifier IS NULL OR s.status <> l.status "
    "OR COALESCE(s.superseded_by, '') <> COALESCE(l.superseded_by, '') "
    "UNION ALL "
    "SELECT s.identifier, NULL, NULL, s.status, s.superseded_by "
    "FROM elicence_audit_state s LEFT JOIN licences l ON l.identifier = s.identifier "
    "WHERE l.identifier IS NULL "
    "ORDER BY 1"
)

# (identifier, stored status, stored superseded_by, replayed status, replayed superseded_by);
# the stored pair is None for a licence the registry does not hold, the replayed one for a
# licence the log never named.
Mismatch = tuple[str, str | None, str | None, str | None, str | None]


class StateCheck:
    """A temporary table of replayed licence states on one connection of ``database``."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._conn: Connection | None = None

    def __enter__(self) -> StateCheck:
        try:
            conn = self._database.engine.connect()
            conn.begin()
            conn.execute(_CREATE)
        except SQLAlchemyError as e:
            raise RegistryError(f"the audit could not make its scratch table: {e}") from e
        self._conn = conn
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.rollback()  # the temporary table was made in this transaction
                conn.execute(text("DROP TABLE IF EXISTS elicence_audit_state"))
                conn.commit()
            except SQLAlchemyError:
                conn.invalidate()  # a connection with a half-dropped scratch table is not reused
            finally:
                conn.close()

    def _connection(self) -> Connection:
        if self._conn is None:
            raise RegistryError("the audit's scratch table is not open")
        return self._conn

    def record(self, states: Mapping[str, tuple[str, str | None]]) -> None:
        """Fold one page of replayed states (identifier → (status, superseded_by)) into the table.

        Each page holds each identifier once, with the latest status of the page and the last
        ``superseded_by`` it named (None if none): a later page's None keeps an earlier one's.
        """
        if not states:
            return
        rows = [
            {"identifier": ident, "status": status, "superseded_by": by}
            for ident, (status, by) in states.items()
        ]
        try:
            self._connection().execute(_UPSERT, rows)
        except SQLAlchemyError as e:
            raise RegistryError(f"the audit could not record replayed states: {e}") from e

    def mismatches(self) -> Iterator[Mismatch]:
        """Every licence where the registry and the replayed log disagree, by identifier."""
        conn = self._connection()
        try:
            result = conn.execution_options(stream_results=True, yield_per=1000).execute(
                _MISMATCHES
            )
            for row in result:
                yield row[0], row[1], row[2], row[3], row[4]
        except SQLAlchemyError as e:
            raise RegistryError(f"the audit could not compare states: {e}") from e
