"""The hall's part of the registry: service-item catalogues, cases, uploads, timelines,
ratings, rectification work orders, complaints, and the facts the metrics are computed from.

Its modules: ``statements`` (the tables and the case path's statements, built once),
``snapshots`` (item snapshots parsed once), ``rows`` (rows ↔ hall values, and :data:`MUTABLE`,
the one list of a case's changing columns), ``uow`` (:class:`HallUnitOfWork`, one write
transaction), ``items`` (the item catalogues), ``cases`` (reading cases and what hangs on them),
``metrics`` (the facts of 三率一数), ``store`` (:class:`HallStore`, over them all).

Invariants: repositories only execute, the use case commits (Warehouse rule); a row becomes a
hall value only in ``rows`` and a value a row only there; no SQLAlchemy exception leaves (an
IntegrityError on a case number or a second rating becomes a
:class:`~elicence.errors.ConflictError`, anything else a :class:`~elicence.errors.RegistryError`).
"""

from elicence.registry.hall.store import HallStore
from elicence.registry.hall.uow import HallUnitOfWork

__all__ = ["HallStore", "HallUnitOfWork"]
