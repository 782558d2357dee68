"""Persistence: the catalogue, licences, the append-only event log, API clients and keys, usage
records, the hall's cases, holders' grants, the audit trail.

The only package that imports SQLAlchemy or Alembic. Its modules: ``models`` (the ORM models and
the schema), ``tables`` (Core tables, hot-path statements, row ↔ value conversions), ``engine``
(opening the database, SQLite pragmas, WAL checkpoints, the writers' turns within and across
processes, the driver-run hot read), ``uow`` (the unit of work), ``queries`` (:class:`Registry`),
``groupwrite`` (usage records committed in groups), ``pgcopy`` (PostgreSQL's ``COPY`` for bulk
writes), ``pggroup`` (PostgreSQL's group-commit writer), ``pgusage`` (usage records on
PostgreSQL, a group in one round trip), ``stock`` (stock conversion runs), ``statecheck`` (the
audit's comparison in the database), ``hall/`` (the hall's ``HallStore``), ``holder`` (grants,
holders' usage records, presentation nonces), ``apikeys`` (API keys with expiry and rotation),
``trail`` (the audit trail), ``backup`` (database dumps and restores), ``migrate`` and
``migrations/`` (Alembic).
Public entry points: :class:`Registry` and :class:`UnitOfWork`.
"""

from elicence.registry.queries import ClientRecord, MirrorRecord, Registry, VerificationLookup
from elicence.registry.uow import UnitOfWork

__all__ = ["ClientRecord", "MirrorRecord", "Registry", "UnitOfWork", "VerificationLookup"]
