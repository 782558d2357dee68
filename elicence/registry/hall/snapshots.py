"""The item snapshots cases carry, parsed once: a case read parses its item once per process
and catalogue version, not at every read."""

from __future__ import annotations

import threading
from typing import Any

from elicence.hall.items import ServiceItem
from elicence.hall.items_file import item_from_dict

MAX_CACHED = 5000


class ItemSnapshots:
    """Parsed item snapshots by (catalogue version, code)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], ServiceItem] = {}
        self._lock = threading.Lock()

    def cached(self, version: int, code: str) -> ServiceItem | None:
        """The parsed snapshot, if this process has parsed it already."""
        return self._cache.get((version, code))

    def get(self, version: int, code: str, document: dict[str, Any]) -> ServiceItem:
        key = (version, code)
        found = self._cache.get(key)
        if found is None:
            found = item_from_dict(document)
            with self._lock:
                if len(self._cache) > MAX_CACHED:
                    self._cache.clear()
                self._cache[key] = found
        return found
