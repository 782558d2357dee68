"""Rows written behind the request: queued by many threads, written by one thread in batches.

Used for usage records (用证记录), so that a verification does not wait for a write transaction.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("elicence.registry")


class WriteBehind:
    """Rows queued by many threads and written by one background thread in batches.

    Invariants: rows are written in the order queued; a failed write keeps its rows queued
    (up to ``MAX_QUEUED``, past which the oldest are dropped and the loss is logged); ``flush``
    returns only when everything queued before it was written or failed.
    """

    MAX_QUEUED = 100_000

    def __init__(self, write: Callable[[list[dict[str, Any]]], None], *, interval: float) -> None:
        self._write = write
        self._interval = interval
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows.append(row)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="elicence-usage-writer", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)  # a CLI run writes its records before exiting
            if len(self._rows) >= 500:
                self._wake.set()

    def flush(self) -> None:
        with self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                self._write(rows)
            except Exception:
                with self._lock:
                    self._rows[:0] = rows
                    if len(self._rows) > self.MAX_QUEUED:
                        lost = len(self._rows) - self.MAX_QUEUED
                        del self._rows[:lost]
                        log.error("dropped %d queued usage records", lost)
                raise

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        with contextlib.suppress(Exception):
            self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("could not write usage records; will retry")
