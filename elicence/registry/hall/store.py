"""Registry: the hall's store: :class:`HallStore`, on the registry's :class:`Database` (its engine,
and so its SQLite pragmas, write lock and WAL checkpoints). It is the hall's
:class:`~elicence.hall.ports.CaseStore`, and what ``app/hall.py`` reads lists and facts from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from elicence.errors import RegistryError
from elicence.hall.items import ItemCatalogue
from elicence.hall.metrics import Facts
from elicence.registry.engine import Database, unstorable
from elicence.registry.hall import cases, items, metrics
from elicence.registry.hall.snapshots import ItemSnapshots
from elicence.registry.hall.uow import HallUnitOfWork, UsageObserver


class HallStore(cases.CaseReads):
    """The hall's tables, on the registry's database (which owns, and disposes of, the engine);
    its case reads are inherited from :class:`~elicence.registry.hall.cases.CaseReads`."""

    def __init__(
        self, database: Database, *, usage_observers: Sequence[UsageObserver] = ()
    ) -> None:
        self._db = database
        self._snapshots = ItemSnapshots()
        # told of the usage records a case's step committed, as the registry's usage group
        # commit tells its own (the composition root hands its observers' list)
        self._usage_observers = usage_observers

    @contextmanager
    def unit_of_work(self) -> Iterator[HallUnitOfWork]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); what is not committed is
        rolled back."""
        try:
            with self._db.writing() as conn:
                yield HallUnitOfWork(conn, self._snapshots, self._usage_observers)
        except IntegrityError as e:  # one the unit of work did not turn into a ConflictError
            raise RegistryError(f"registry failure: {e}") from e
        except UnicodeEncodeError as e:  # a driver's own encoding: rolled back
            raise unstorable() from e

    # -- the item catalogue -----------------------------------------------------------------

    def save_items(self, catalogue: ItemCatalogue, *, now: dt.datetime) -> int:
        document, digest = items.document_of(catalogue)
        with self.unit_of_work() as uow:
            version = uow.add_items(document, digest=digest, now=now)
            uow.commit()
        return version

    def items_version(self) -> int | None:
        return items.version(self._db)

    def items(self) -> tuple[int, ItemCatalogue] | None:
        """The item catalogue in force and its version, or None before the first import."""
        return items.latest(self._db)

    def items_at(self, instant: dt.datetime) -> ItemCatalogue | None:
        """The item catalogue that was in force at ``instant`` (None: none was imported yet)."""
        return items.at(self._db, instant)

    # -- the facts of the metrics -------------------------------------------------------------

    def facts(self, *, start: dt.datetime, end: dt.datetime) -> Facts:
        """Cases completed, ratings given and complaints filed in [start, end), and the items
        of the catalogue in force at ``end``."""
        return metrics.facts(self._db, start=start, end=end)
