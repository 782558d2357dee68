"""Application layer: the catalogue in force, as the running service sees it: cached, re-read when
it changed.

Invariants: :meth:`CatalogueSource.current` answers the newest imported catalogue, at most
``RECHECK_SECONDS`` late; an import is refused if it would give a seal key another meaning than
any catalogue ever imported gave it (a seal issued under the old one would change its reading).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from elicence.domain.catalogue import Catalogue, check_seal_keys_stable
from elicence.errors import CatalogueUnavailableError
from elicence.registry import Registry


class CatalogueSource:
    """The catalogue in force and its version id."""

    RECHECK_SECONDS = 5.0

    def __init__(self, registry: Registry, *, clock: Callable[[], dt.datetime]) -> None:
        self._registry = registry
        self._clock = clock
        self._current: tuple[int, Catalogue] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> Catalogue:
        return self.current()[1]

    def current(self) -> tuple[int, Catalogue]:
        """(version, catalogue) in force; re-read at most every few seconds when it changed."""
        now = time.monotonic()
        current = self._current
        if current is None or now - self._checked > self.RECHECK_SECONDS:
            with self._lock:
                version = self._registry.catalogue_version()
                if version is None:
                    raise CatalogueUnavailableError(
                        "no catalogue has been imported: run `elicence catalogue import FILE`"
                    )
                if current is None or current[0] != version:
                    loaded = self._registry.catalogue()
                    assert loaded is not None
                    self._current = current = loaded
                self._checked = now
        return current

    def version(self) -> int | None:
        """The version id in force, read now (None before the first import)."""
        return self._registry.catalogue_version()

    def import_(self, catalogue: Catalogue) -> int:
        """Store ``catalogue`` as the one in force; its version id."""
        for previous in self._registry.catalogue_history():  # every seal ever issued counts
            check_seal_keys_stable(previous, catalogue)
        version = self._registry.save_catalogue(catalogue, now=self._clock())
        self._checked = 0.0
        return version
