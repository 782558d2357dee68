"""Persistence: the catalogue, licences, the append-only event log, API clients, usage records.

The only package that imports SQLAlchemy or Alembic. Public entry point: :class:`Registry`.
"""

from elicence.registry.store import Registry, UnitOfWork

__all__ = ["Registry", "UnitOfWork"]
