"""Persistence: the catalogue, licences, the append-only event log, API clients, usage records.

The only package that imports SQLAlchemy or Alembic. Its modules: ``models`` (the ORM models and
the schema), ``tables`` (Core tables, hot-path statements, row ↔ value conversions), ``engine``
(opening the database, SQLite pragmas and WAL checkpoints), ``uow`` (the unit of work),
``queries`` (:class:`Registry`), ``groupwrite`` (usage records committed in groups), ``pgcopy``
(PostgreSQL's ``COPY`` for bulk writes), ``stock`` (stock conversion runs), ``statecheck`` (the
audit's comparison in the database), ``migrate`` and ``migrations/`` (Alembic). Public entry
points: :class:`Registry` and :class:`UnitOfWork`.
"""

from elicence.registry.queries import ClientRecord, MirrorRecord, Registry
from elicence.registry.uow import UnitOfWork

__all__ = ["ClientRecord", "MirrorRecord", "Registry", "UnitOfWork"]
